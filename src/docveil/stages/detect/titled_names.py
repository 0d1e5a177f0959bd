"""Names after a title: "Mrs O. Ashworth-Pryce", "Cllr J. R. R. Hetherington", "Mr Liam Ó Conaill", "Prof. Hendrik "Henk" Steenkamp".

A title says that the words after it name a person, so initials, particles, capitals and a
nickname in quotes are read as parts of the name: spaCy's small model, which sees most titled
names, stops at an initial, a particle or a quote and leaves the surname in clear. The title
is capitalised ("Mrs", "Cllr."), not in lower case ("the dr said") nor in capitals ("MS Teams",
"DR SITE": names in capitals after a title are ``GivenNames``' to judge), and is not part of
the finding.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from docveil.stages.detect.given_names import TITLES
from docveil.stages.detect.recognizers import CASE_SENSITIVE, NAME_RUN, NAME_WORD

# The titles of the greeting rules and those of public office, clergy and ranks ("Sr" is left
# out: "Sr Software Engineer" is a job).
_TITLE_WORDS = sorted((TITLES - {"sr"}) | {"cllr", "councillor", "rev", "revd", "lord", "lady", "capt", "sgt",
                                           "insp", "supt", "det", "judge", "rabbi", "imam"},
                      key=len, reverse=True)
_TITLE = "(?:" + "|".join(word.capitalize() for word in _TITLE_WORDS) + "|M(?=\\.))"  # French "M. Girard"


def _after(title: str) -> str:
    return rf"(?<![\p{{L}}\d]){title}\.?[ \t]+"


TITLED_NAME_PATTERNS = [
    Pattern("titled name",
            rf"(?<={_after(_TITLE)})(?:{NAME_RUN}|{NAME_WORD})", 0.85),
]


class TitledNameRecognizer(PatternRecognizer):
    """A person's name after their title (``PERSON``)."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entity="PERSON", patterns=list(TITLED_NAME_PATTERNS), name="TitledNameRecognizer",
                         supported_language=supported_language, global_regex_flags=CASE_SENSITIVE)
