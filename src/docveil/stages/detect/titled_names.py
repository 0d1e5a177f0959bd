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

``CuedNameRecognizer`` reads names after a word that says a person comes next though it is no
title: a relative or a person close to someone before a given name ("mum Tracey", "neighbour
Kasia"), or before one that is an English word as well when whose relative it is comes first
("my partner Will", "her daughter Grace"; not "partner Program", "our partner April launch"),
and an alias ("aka
Bran", "also known as "Tommo"", "goes by Beth") before a quoted word, a given name or a word
that is no English word. The cue is not part of the finding.
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.given_names import NOT_SURNAMES, TITLES, GivenNames
from docveil.stages.detect.recognizers import NAME_RUN, NAME_WORD, NameAwareRecognizer

ENTITY = "PERSON"
NAME = "TitledNameRecognizer"
CUED_NAME = "CuedNameRecognizer"
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
_KIN = ("mum", "mom", "mam", "mother", "dad", "father", "wife", "husband", "partner", "spouse", "son", "daughter",
        "brother", "sister", "stepson", "stepdaughter", "stepmother", "stepfather", "grandson", "granddaughter",
        "grandmother", "grandfather", "grandma", "grandpa", "gran", "nan", "nana", "nanna", "uncle", "aunt",
        "auntie", "nephew", "niece", "cousin", "fiancé", "fiancée", "fiance", "fiancee", "boyfriend", "girlfriend",
        "friend", "neighbour", "neighbor", "carer", "caregiver", "landlord", "landlady", "flatmate", "housemate",
        "roommate")
# Given names that are dates as well ("our partner April launch").
_MONTHS = frozenset({"January", "February", "March", "April", "May", "June", "July", "August"})
_ALIASES = ("aka", "a.k.a.", "a/k/a", "also known as", "goes by", "nicknamed", "known to friends as",
            "known to family as", "known to everyone as")
_CUED = regex.compile(
    rf"(?<![\p{{L}}\d.])(?:(?P<owner>(?i:my|his|her|their|your|our)[ \t]+|\p{{L}}+['\u2019]s[ \t]+)?"
    rf"(?P<kin>(?i:{'|'.join(_KIN)}))|(?P<alias>(?i:{'|'.join(map(regex.escape, _ALIASES))})))"
    rf"[ \t]+(?P<quote>[\"\u201c'\u2018](?=\p{{Lu}}))?(?P<name>{NAME_RUN}|{NAME_WORD})")


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


class CuedNameRecognizer(NameAwareRecognizer):
    """A person's name after a relation or an alias (``PERSON``)."""

    def __init__(self, given_names: GivenNames, supported_language: str = "en") -> None:
        super().__init__(ENTITY, CUED_NAME, given_names, supported_language)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _CUED.finditer(text):
            words = _WORD.findall(match.group("name"))
            if not words or any(word.lower() in NOT_SURNAMES for word in words):
                continue
            first = words[0]
            if match.group("kin") is not None:
                # A given name that is an English word too ("Will", "Grace") only after whose
                # relative it is: "my partner Will", not "partner Program".
                named = self.given_names.is_given_name(first) and (
                    not self.given_names.is_english_text(first)
                    or (match.group("owner") is not None and first not in _MONTHS))
            else:
                named = (match.group("quote") is not None or self.given_names.is_given_name(first)
                         or not self.given_names.is_english_text(first))
            if named:
                results.append(RecognizerResult(
                    ENTITY, match.start("name"), match.end("name"), SCORE, recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: CUED_NAME,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return EntityRecognizer.remove_duplicates(results)
