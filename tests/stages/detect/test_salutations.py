"""Names in greetings, thanks and signatures are persons, whatever the small model calls them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from docveil.context import StageContext
from docveil.stages.detect.pii_text import analyze_texts
from docveil.stages.detect.salutations import addressed_names


def persons(text: str, context: StageContext) -> set[str]:
    return {text[f.start:f.end] for f in analyze_texts([text], context)[0] if f.entity_type == "PERSON"}


def any_words(words: Sequence[str], titled: bool) -> bool:
    return True


@pytest.mark.parametrize(("text", "names"), [
    ("Hi Marta,\n\nPlease find the invoice attached.", ["Marta"]),  # a place to the model
    ("Great work on the audit. Thanks, Ulrich!", ["Ulrich"]),  # an organisation to the model
    ("Dear Ms Okafor,\nthank you for your letter.", ["Okafor"]),
    ("Hi Marta and Ulrich,\nsee below.", ["Marta", "Ulrich"]),
    ("> Hi Priya,\n> can you check the figures?", ["Priya"]),
    ("Best regards,\nLindiwe Dlamini\nSenior Accountant | Contoso", ["Lindiwe Dlamini"]),
    ("Kind regards,\n\n-- Thabo", ["Thabo"]),
    ("Thanks for your help,\nSun-hee Park", ["Sun-hee Park"]),
    ("Hi Grace, Will and June,\nthe agenda is attached.", ["Grace", "Will", "June"]),  # English words too
    ("Approved.\n\nThanks,\nDimitris", ["Dimitris"]),  # a place and a verb to the model
    ("Slide 7 still says 2023.\n-- Matteo", ["Matteo"]),
    ("All good from my side.\n\n\u2014 Tomás", ["Tomás"]),
    ("Looping in legal.\n\nBR,\nHenrik", ["Henrik"]),
    ("The invoice is now correct.\nAbraços,\nCamila", ["Camila"]),
    ("Best regards,\r\nLindiwe Dlamini\r\nFinance", ["Lindiwe Dlamini"]),  # email line breaks
    ("Looks good.\n-- \nMatteo Rossi\nACME Ltd", ["Matteo Rossi"]),  # an email's signature separator
    ("ok thanks Ulrich, will do", ["Ulrich"]),  # thanks inside a chat line
])
def test_an_addressed_name_is_a_person(text: str, names: list[str], detect_context: StageContext) -> None:
    assert set(names) <= persons(text, detect_context)


@pytest.mark.parametrize("text", [
    "Hi Team,\nthe release is out.",
    "Dear Hiring Manager,\nplease find my application attached.",
    "Hi all, quick update on the migration.",
    "Best regards,\nThe Finance Team",
    "Thanks, Finance!",
    "Hi Marta how are you?\n",  # no punctuation after the name: the greeting proves nothing
    "Thanksgiving is coming. Thanks again for everything.",
    "Section 2 -- Overview\n-- End of message\n\u2014 Marketing",  # a dash line that holds no name
    "We picked the best Kubernetes, Terraform and Ansible tools.",  # a closing word inside a sentence
])
def test_a_greeting_to_no_person_adds_no_person(text: str, detect_context: StageContext) -> None:
    found = persons(text, detect_context)
    assert not found - {"Marta"}  # the model itself may call "Marta" a person in a sentence


def test_titles_are_left_out_and_lists_read_to_the_end_of_the_line() -> None:
    text = "Dear Dr. Anna de la Cruz, Mr Baker & Zoë Łukasiewicz:\nHi Jo how are you"
    assert [text[s:e] for s, e in addressed_names(text, any_words)] == ["Anna de la Cruz", "Baker", "Zoë Łukasiewicz"]


def test_a_signature_is_the_first_line_under_a_closing() -> None:
    text = "Many thanks,\nJ. R. Okafor\nHead of Payroll\n\nYours sincerely\n\n\n\nAnn Lee"
    # Three blank lines are too many: "Ann Lee" is no longer the closing's signature.
    assert [text[s:e] for s, e in addressed_names(text, any_words)] == ["J. R. Okafor"]
