"""Names after a title: "Mrs O. Ashworth-Pryce", "Cllr J. R. R. Hetherington", "Mr Liam Ó
Conaill", "Prof. Hendrik "Henk" Steenkamp".

A title says that the words after it name a person, so initials, particles, capitals and a
nickname in quotes are read as parts of the name: spaCy's small model, which sees most titled
names, stops at an initial, a particle or a quote and leaves the surname in clear. The title
is capitalised ("Mrs", "Cllr."), not in lower case ("the dr said") nor in capitals ("MS Teams",
"DR SITE": names in capitals after a title are ``GivenNames``' to judge), and is not part of
the finding. Titles that are also ordinary words or name offices ("Lord Mayor", "Rev B",
"Notre Dame Cathedral", "Judge Business School") count only before a word that is no English
word and names no place or body.
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.given_names import NOT_SURNAMES, TITLES, GivenNames
from docveil.stages.detect.recognizers import NAME_RUN, NAME_WORD, NameAwareRecognizer

ENTITY = "PERSON"
NAME = "TitledNameRecognizer"
SCORE = 0.85
# The greeting rules' titles and those of public office, clergy and ranks ("Sr" is left out:
# "Sr Software Engineer" is a job). The second set are ordinary words or offices as well.
_OFFICE_TITLES = frozenset({"sir", "dame", "lord", "lady", "judge", "rev", "revd", "capt", "sgt", "insp", "supt",
                            "det", "rabbi", "imam"})
_TITLE_WORDS = sorted((TITLES - {"sr"}) | {"cllr", "councillor"} | _OFFICE_TITLES, key=len, reverse=True)
_TITLED = regex.compile(
    r"(?<![\p{L}\d])(?P<title>" + "|".join(word.capitalize() for word in _TITLE_WORDS) + r"|M(?=\.))\.?[ \t]+"
    rf"(?P<name>{NAME_RUN}|{NAME_WORD})")
_WORD = regex.compile(r"\p{L}{2,}(?:['\u2019-]\p{L}+)*")


class TitledNameRecognizer(NameAwareRecognizer):
    """A person's name after their title (``PERSON``)."""

    def __init__(self, given_names: GivenNames, supported_language: str = "en") -> None:
        super().__init__(ENTITY, NAME, given_names, supported_language)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _TITLED.finditer(text):
            if match.group("title").lower() in _OFFICE_TITLES and not self._names_someone(match.group("name")):
                continue
            results.append(RecognizerResult(ENTITY, match.start("name"), match.end("name"), SCORE, recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: NAME, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return EntityRecognizer.remove_duplicates(results)

    def _names_someone(self, name: str) -> bool:
        """A word in ``name`` that is no English word, and none that names a place or a body."""
        words = _WORD.findall(name)
        return (any(not self.given_names.is_english_text(word) for word in words)
                and not any(word.lower() in NOT_SURNAMES for word in words))
