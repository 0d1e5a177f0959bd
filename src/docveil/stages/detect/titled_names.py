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
title. After a close relative ("mum Tracey", "Mum: Tracey", "her mother-in-law Siobhan"), a given
name and the surnames after it; after someone close ("partner", "friend", "neighbour",
"landlord"...) only when whose they are comes first ("her partner Declan"; "our partner Sage" and
"dealer partner Kia" are firms). A given name that is an English word too counts only after
whose relative it is, and not before a capitalised word that is no surname ("my partner Will",
not "My Son Will Not Sleep"). After an alias ("aka", "also known as", "goes by"), a quoted word,
a given name or a word that is no English word, not in capitals and not a firm, product or place
to spaCy, when a person comes before it in its sentence (a name, a given name, a pronoun:
"Brandon Hughes, aka Brannigan", "she goes by Beth"; not "aka SSL", "Kubernetes, aka Kube" or
"the bus goes by Milton Keynes"); or any quoted word ("also known as 'Tommo'"). The cue is not
part of the finding.
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.given_names import NOT_SURNAMES, PLACE_LABELS, TITLES, GivenNames, faker_surnames
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
# Close relatives, named without saying whose ("mum Tracey"); "ex-", "step" and "-in-law" too.
_KIN = ("mum", "mummy", "mom", "mommy", "mam", "mother", "dad", "daddy", "father", "wife", "husband", "spouse", "son",
        "daughter", "brother", "sister", "stepson", "stepdaughter", "stepmother", "stepfather", "stepmum", "stepmom",
        "stepdad", "grandson", "granddaughter", "grandmother", "grandfather", "grandma", "grandpa", "granny", "gran",
        "nan", "nana", "nanna", "uncle", "aunt", "auntie", "nephew", "niece", "cousin", "fiancé", "fiancée", "fiance",
        "fiancee", "boyfriend", "girlfriend")
# People close to someone, named so only after whose they are: "partner Mercedes-Benz" and
# "our partner Sage" are firms, "her partner Declan" a person.
_CLOSE = ("partner", "friend", "neighbour", "neighbor", "carer", "caregiver", "landlord", "landlady", "flatmate",
          "housemate", "roommate")
_OWNER = r"(?:(?i:my|his|her|their)|\p{Lu}\p{Ll}+['\u2019]s)[ \t]+(?i:ex-?)?"
# Given names that are dates as well.
_MONTHS = frozenset({"January", "February", "March", "April", "May", "June", "July", "August"})
_ALIASES = (r"a\.?k\.?a\.?", "a/k/a", "also known as", "goes by", "nicknamed", "known to friends as",
            "known to family as", "known to everyone as")
_SEPARATOR = r"(?:[ \t]*+[:,(\u2013\u2014][ \t]*+|[ \t]++)"
_CUED = regex.compile(
    rf"(?<![\p{{L}}\d.-])(?:(?P<owner>{_OWNER})?(?P<kin>(?i:(?:ex-|step-)?(?:{'|'.join(_KIN)})(?:-in-law)?"
    rf"|(?P<close>{'|'.join(_CLOSE)})))|(?P<alias>(?i:{'|'.join(_ALIASES)})):?)(?![\p{{L}}-]){_SEPARATOR}"
    rf"(?:[\"\u201c'\u2018](?P<quoted>\p{{Lu}}[\p{{L}}'\u2019-]*+)(?=[\"\u201d'\u2019])|(?P<name>{NAME_RUN}|{NAME_WORD}))")
_PRONOUNS = frozenset({"he", "she", "they", "him", "her", "his", "them", "their", "i", "me", "my", "we"})
# What spaCy calls a firm, a product, a place or a thing is no alias of a person ("aka Zara").
_NOT_PERSONS = PLACE_LABELS | {"ORG", "PRODUCT", "NORP", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}


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
            results.append(self.finding(match.start("name"), match.end("name"), SCORE))
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
        self.surnames = faker_surnames()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _CUED.finditer(text):
            if match.group("quoted") is not None:
                span = None if match.group("quoted").isupper() else match.span("quoted")
            elif match.group("alias") is not None:
                span = self._alias(match, nlp_artifacts)
            elif match.group("close") is not None and match.group("owner") is None:
                span = None
            else:
                span = self._relative(match)
            if span is not None:
                results.append(self.finding(span[0], span[1], SCORE))
        return EntityRecognizer.remove_duplicates(results)

    def _relative(self, match: regex.Match[str]) -> tuple[int, int] | None:
        """A given name and the surnames after it. One that is an English word too ("Will",
        "Grace") counts only after whose relative it is, and not before a capitalised word
        that is no surname: "My Son Will Not Sleep" is a heading."""
        words = list(_WORD.finditer(match.group("name")))
        if not words:
            return None
        first = words[0].group().removesuffix("'s").removesuffix("\u2019s")
        if not self.given_names.is_given_name(first):
            return None
        end = words[0].start() + len(first)
        for word in words[1:]:
            if not self._surname(word.group()):
                if self.given_names.is_english_text(first):
                    return None
                break
            end = word.end()
        if self.given_names.is_english_text(first) and (match.group("owner") is None or first in _MONTHS):
            return None
        return match.start("name"), match.start("name") + end

    def _alias(self, match: regex.Match[str], nlp_artifacts: NlpArtifacts | None) -> tuple[int, int] | None:
        """A given name or a word that is no English word, not in capitals ("aka SSL") and not a
        firm, product or place to spaCy; after "goes by" ("goes by Heathrow"), a given name."""
        start, end = match.span("name")
        first = _WORD.match(match.group("name"))
        if first is None or first.group().isupper():
            return None
        given = self.given_names.is_given_name(first.group())
        if not given and (match.group("alias").lower() == "goes by" or self.given_names.is_english_text(first.group())):
            return None
        entities = nlp_artifacts.entities if nlp_artifacts is not None else []
        if any(entity.label_ in _NOT_PERSONS and entity.start_char < end and start < entity.end_char
               for entity in entities):
            return None
        # An alias is a person's when a person comes before it in its sentence: a name, a given
        # name or a pronoun ("Brandon Hughes, aka Brannigan", "she goes by Beth"; not
        # "Kubernetes, aka Kube" or "the bus goes by Milton Keynes").
        cue = match.start("alias")
        opening = max(match.string.rfind(stop, 0, cue) for stop in (".", "!", "?", ";", "\n")) + 1
        if not any(entity.label_ == "PERSON" and opening <= entity.start_char < cue for entity in entities) and not any(
                word.group().lower() in _PRONOUNS or (word.group()[:1].isupper() and self.given_names.is_given_name(
                    word.group())) for word in _WORD.finditer(match.string, opening, cue)):
            return None
        return start, end

    def _surname(self, word: str) -> bool:
        return (word.lower() not in NOT_SURNAMES and not word.isupper()
                and (word in self.surnames or not self.given_names.is_english_text(word)))
