"""Given names: the evidence that proper nouns spaCy's small model mislabels are a person.

The model labels many names it has not seen as organisations ("Ulrich Stavenhagen" is an ORG
to it), loses a surname on the next line, and knows nothing of "UlrichStavenhagenCV" or
"Stavenhagen, Ulrich". ``GivenNames`` finds where a given name opens a name in a spaCy doc;
``ProperNounSpacyRecognizer`` turns those spans into persons. The names come from Faker's person
providers (MIT): about 24,000 across its 80-odd locales, loaded in a tenth of a second.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import regex

from docveil.stages.detect.overlaps import SpanIndex

Span = tuple[int, int]

_PROVIDER_LISTS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")
# A name as it is written in running text: letters, an apostrophe or hyphen joining two parts.
_WRITTEN_NAME = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
# Words between the parts of a name ("Marta van Dijk", "Ana de la Cruz").
NAME_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "del", "della", "la", "le", "du", "dos",
                            "das", "bin", "binti", "al", "el", "ter", "ten", "zu", "af"})
# Who a greeting or signature names when it names no person ("Hi Team,", "Dear Hiring Manager,").
ADDRESSEES = frozenset({
    "all", "everyone", "everybody", "team", "teams", "folks", "guys", "there", "sir", "sirs", "madam", "madame",
    "colleagues", "colleague", "friends", "friend", "customer", "customers", "client", "clients", "partner",
    "partners", "member", "members", "staff", "support", "desk", "helpdesk", "service", "services", "department",
    "dept", "office", "group", "committee", "board", "management", "manager", "managers", "hr", "it", "admin",
    "administrator", "world", "both", "again", "inc", "ltd", "llc", "gmbh", "corp", "company",
})
# Titles before a name, in lower case and without a dot; never part of the name ("Ms Okafor" is
# Okafor), and a title makes the words after it a name.
TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "herr", "frau", "mme", "mlle",
    "monsieur", "madame", "sr", "sra", "srta", "señor", "señora", "sig", "dott", "dhr", "mevr",
})
# Words that follow a given name in the name of a place, a body or a thing, not in a person's.
NOT_SURNAMES = frozenset({
    "street", "st", "road", "rd", "avenue", "ave", "lane", "square", "place", "park", "gardens", "station",
    "airport", "port", "harbour", "harbor", "hospital", "clinic", "university", "college", "school", "academy",
    "institute", "church", "cathedral", "chapel", "hall", "house", "hotel", "centre", "center", "office", "offices",
    "branch", "campus", "tower", "building", "bridge", "river", "lake", "mountain", "mount", "valley", "bay",
    "beach", "island", "county", "city", "town", "district", "region", "state", "province", "group", "team",
    "project", "programme", "program", "fund", "foundation", "trust", "bank", "capital", "partners", "holdings",
    "company", "labs", "lab", "systems", "solutions", "services", "consulting", "technologies", "media", "studio",
    "studios", "records", "airlines", "airways", "motors", "energy", "health", "care", "insurance", "pharma",
    "restaurant", "cafe", "café", "bar", "pub", "shop", "store", "market", "mall", "library", "museum", "theatre",
    "theater", "cinema", "arena", "stadium", "club", "association", "society", "council", "committee", "board",
    "award", "prize", "day", "week", "festival", "conference", "summit", "release", "version", "edition", "model",
    "series", "template", "policy", "plan", "report", "account", "card", "app", "cloud", "platform", "engine",
    "football", "rugby", "cricket", "united", "rovers", "athletic", "wanderers", "fc",
})
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})  # spaCy's labels for places
_HYPHENS = frozenset({"-", "\u2010"})
_LINE_BREAK = re.compile(r"[ \t]*\r?\n[ \t]*")
# A word in capitals ("MARIE-CLAIRE", "O'NEILL"), and runs of them on one line: possessive
# repeats, and no start after an apostrophe or hyphen, so a long run of "AB'AB'AB'..." is read
# once (each start would otherwise read the rest again).
_CAPS = r"(?<![\p{L}\d'\u2019-])\p{Lu}{2,}+(?:['\u2019-]\p{Lu}{2,}+)*+(?![\p{L}\d])"
_UPPER_CASE_WORD = regex.compile(_CAPS)
_UPPER_CASE_RUN = regex.compile(rf"{_CAPS}(?:[ \t]++{_CAPS})++")
# "DUBOIS, MARIE-CLAIRE", "KOWALCZYK, Marek"; not "JSON, Mark them as done".
_UPPER_CASE_SURNAME_FIRST = regex.compile(
    rf"(?P<surname>{_CAPS}),[ \t]*"
    r"(?P<given>\p{Lu}(?:\p{Lu}++|\p{Ll}++)(?:['\u2019-]\p{Lu}(?:\p{Lu}++|\p{Ll}++))*+)(?![\p{L}\d])"
    r"(?![ \t]+\p{Ll})")
_UPPER_CASE_TITLED = regex.compile(
    r"(?<![\p{L}\d])(?:" + "|".join(sorted((title.upper() for title in TITLES), key=len, reverse=True)) + r")\.?[ \t]+"
    rf"(?P<name>(?:\p{{Lu}}\.?[ \t]+){{0,3}}{_CAPS}(?:[ \t]+(?:\p{{Lu}}\.?[ \t]+){{0,3}}{_CAPS}){{0,2}})")
# Particles before a surname ("de Vries", "ap Gwilym", "Ó Conaill"); not "zu", "ten" or "af",
# common words before a noun in German, Dutch and Swedish ("Anna zu Hause").
SURNAME_PARTICLES = (NAME_PARTICLES - {"zu", "ten", "af"}) | {"ap", "ab", "ó", "ní"}
# One to three particles as they stand between a given name and a surname; "der", "den" and
# "das" only after another ("van der Merwe"; "Anna den Schlüssel" is German for "Anna the key").
_ARTICLES = frozenset({"der", "den", "das"})
PARTICLE_RUN = (r"(?<![\p{L}'\u2019-])(?:" + "|".join(sorted(SURNAME_PARTICLES - _ARTICLES, key=len, reverse=True))
                + r")(?:[ \t]+(?:" + "|".join(sorted(SURNAME_PARTICLES, key=len, reverse=True)) + r")){0,2}"
                + r"(?![\p{L}'\u2019-])")
# A capitalised word, particles, then a capitalised surname: "Femke de Vries-Bakker".
_GIVEN_PARTICLES_SURNAME = regex.compile(
    r"(?<![\p{L}\d'\u2019-])(?P<given>\p{Lu}\p{Ll}++(?:-\p{Lu}\p{Ll}++)?)"
    rf"[ \t]+{PARTICLE_RUN}[ \t]+\p{{Lu}}\p{{Ll}}++(?:['\u2019-]\p{{Lu}}?\p{{Ll}}++)*+(?![\p{{L}}\d])")
_VOWEL = re.compile(r"[aeiouyAEIOUYÀ-ÖØ-öø-ÿ]")
_CAMEL_HUMP = re.compile(r"[A-Z\u00c0-\u00d6\u00d8-\u00de][a-z\u00df-\u00f6\u00f8-\u00ff]+")


@functools.cache
def faker_given_names() -> frozenset[str]:
    """Every given name in Faker's person providers, as written (capitalised); loaded once."""
    return _faker_names(_PROVIDER_LISTS)


@functools.cache
def faker_surnames() -> frozenset[str]:
    """Every surname in Faker's person providers, as written (capitalised); loaded once."""
    return _faker_names(("last_names",))


def _faker_names(attributes: Sequence[str]) -> frozenset[str]:
    import faker.providers.person as person_providers

    names: set[str] = set()
    for module_info in pkgutil.iter_modules(person_providers.__path__):
        module = importlib.import_module(f"{person_providers.__name__}.{module_info.name}")
        provider = getattr(module, "Provider", None)
        for attribute in attributes:
            value = vars(provider).get(attribute) if provider is not None else None
            if isinstance(value, (tuple, list, set, frozenset, dict)):
                names.update(_written(value))
    return frozenset(names)


def _written(values: Iterable[object]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str) and value[:1].isupper() and _WRITTEN_NAME.fullmatch(value):
            yield value


def _written_as_name(word: str) -> bool:
    """Capitalised letters, not all capitals."""
    return word[:1].isupper() and not word.isupper() and _WRITTEN_NAME.fullmatch(word) is not None


def name_like(token: Any) -> bool:
    """A spaCy token that may be part of a name: a capitalised proper noun of letters."""
    return token.pos_ == "PROPN" and _written_as_name(token.text)


_JOINTS = frozenset({"and", "&", "or", ","})


def _possessive(token: Any) -> bool:
    """A capitalised word of letters followed by a possessive: "Olga's laptop", "Tom's badge"."""
    following = token.nbor(1) if token.i + 1 < len(token.doc) else None
    return following is not None and following.tag_ == "POS" and _written_as_name(token.text)


def _field_value(token: Any) -> bool:
    """A capitalised word that is all a field holds: after "label:", alone on the rest of its
    line ("Approved by: Fernanda")."""
    doc = token.doc
    before = doc[token.i - 1] if token.i > 0 else None
    after = doc[token.i + 1] if token.i + 1 < len(doc) else None
    return (_written_as_name(token.text) and before is not None and before.text == ":"
            and (after is None or (after.is_space and "\n" in after.text)))


def _subject_of_verb(token: Any) -> bool:
    """A capitalised word of letters followed by an auxiliary or a verb in the past tense: "Ingrid
    will", "Tomasz reacted" (not "Julia benchmarks", a verb in the present to the tagger)."""
    if not _written_as_name(token.text):
        return False
    following = token.nbor(1) if token.i + 1 < len(token.doc) else None
    return following is not None and (following.pos_ == "AUX" or following.tag_ == "VBD")


class GivenNames:
    """Spans of a spaCy doc where a given name opens a person's name.

    A name is a given name followed by name words that are not English words (``dictionary``)
    or are given names too: "Ulrich Stavenhagen", "Marguerite Okonkwo-Bell", but not "Grace
    Church". See ``spans`` for where such words may stand, and ``lone`` for a given name alone.
    """

    def __init__(self, names: frozenset[str], dictionary: frozenset[str]) -> None:
        self.names = names
        self.dictionary = dictionary

    def is_given_name(self, word: str) -> bool:
        return word in self.names or word.split("-")[0] in self.names

    def is_english(self, word: str) -> bool:
        """``word`` (lower case) or its singular is in ``dictionary``."""
        candidates = {word}
        # A plural the lemmatizer leaves alone in a proper noun: "-ies", "-es", "-s" (only its
        # own ending is taken off, so "Tobias" is not "toby" and "Tomás" not "tom").
        if word.endswith("ies"):
            candidates |= {word[:-3] + "y", word[:-1]}  # "companies", "calories"
        elif word.endswith("es"):
            candidates |= {word[:-1], word[:-2]}
        elif word.endswith("s"):
            candidates.add(word[:-1])
        return not candidates.isdisjoint(self.dictionary)

    def is_person(self, words: Sequence[str], titled: bool = False) -> bool:
        """Whether ``words`` that a greeting or signature names can be a person's name: written
        as names, no word that addresses a group or a function ("Team", "Manager"), and, without
        a title before them, a given name or a word that is not English among them ("Marta",
        "Okafor"; not "Hiring Manager" or "Finance")."""
        names = [word for word in words if word not in NAME_PARTICLES]
        if not names or any(not word[:1].isupper() or (word.isupper() and len(word) > 2) for word in names):
            return False
        if any(word.rstrip(".").lower() in ADDRESSEES for word in names):
            return False
        if titled:
            return True
        return any(len(word) > 2 and (self.is_given_name(word) or not self.is_english_text(word))
                   for word in names)

    def is_english_text(self, word: str) -> bool:
        """Every part of ``word`` (split at hyphens) is an English word."""
        return all(self.is_english(part.lower()) for part in word.split("-"))

    def spans(self, doc: Any) -> list[Span]:
        """Names in runs of proper nouns (a line break may come after the given names, before
        the surname), inside CamelCase words ("UlrichStavenhagenCV"), written surname first
        ("Stavenhagen, Ulrich") and in capitals ("ACCOUNT HOLDER ELENA PETROVA"), and a given
        name with a surname after particles ("Femke de Vries-Bakker", "Anouk le Roux")."""
        spans = [*self._camel_case(doc), *self._surname_first(doc), *self._upper_case(doc.text),
                 *self._particle_surnames(doc.text)]
        for run in self._runs(doc):
            spans.extend(self._names_in(run, text=doc.text))
        return spans

    def _particle_surnames(self, text: str) -> list[Span]:
        return [match.span() for match in _GIVEN_PARTICLES_SURNAME.finditer(text)
                if self.is_given_name(match.group("given"))]

    def lone(self, doc: Any, claimed: Iterable[int], taken: SpanIndex) -> list[Span]:
        """Given names alone ("Priya joined") that are no English word ("Will", "Grace"), outside
        the tokens ``claimed`` (token indices) and the character spans ``taken``."""
        claimed = set(claimed)
        # The model calls many a first name alone an organisation ("Ingrid will send the slides")
        # or a common noun ("Tomasz reacted"): as the subject of a verb it is a person's.
        # So is one listed with a person ("reviewed by Adriana and Lorenzo"), and one who owns
        # something ("Priya’s desk", an organisation to the model; a brand named like a person,
        # "Zara's profits", is then redacted too: the safer mistake).
        lone_orgs = {entity.start for entity in doc.ents if entity.label_ == "ORG" and len(entity) == 1}
        persons = {token.i for entity in doc.ents if entity.label_ == "PERSON" for token in entity}
        return [(token.idx, token.idx + len(token)) for token in doc
                if self.is_given_name(token.text) and not self.is_english(token.lower_)
                and not taken.overlaps(token.idx, token.idx + len(token))
                and ((token.i not in claimed and name_like(token))
                     or ((token.i not in claimed or token.i in lone_orgs)
                         and (_subject_of_verb(token) or _possessive(token) or _field_value(token)
                              or self._listed_with_a_person(token, persons))))]

    def _listed_with_a_person(self, token: Any, persons: set[int]) -> bool:
        """``token`` and a person or a given name joined by "and", "&", "or" or a comma."""
        if not _written_as_name(token.text):
            return False
        doc = token.doc
        for joint, other in ((token.i + 1, token.i + 2), (token.i - 1, token.i - 2)):
            if 0 <= other < len(doc) and doc[joint].lower_ in _JOINTS and (
                    other in persons or (_written_as_name(doc[other].text) and self.is_given_name(doc[other].text))):
                return True
        return False

    def _names_in(self, words: list[tuple[str, int, int]], name_word: Callable[[str], bool] | None = None,
                  before: bool = False, text: str = "") -> list[Span]:
        """In a run of ``(word, start, end)``, each given name and the name words after it (and,
        with ``before``, the name words before it that are no given name). A name word is a given
        name or a word that is not English, unless ``name_word`` says otherwise."""
        surname = (lambda run, at: False) if name_word or not text else (
            lambda run, at: self._surname_after(run, at, text))
        name_word = name_word or (lambda word: self.is_given_name(word) or not self.is_english_text(word))
        spans = []
        i = 0
        while i < len(words):
            j = i + 1
            if self.is_given_name(words[i][0]):
                while j < len(words) and (name_word(words[j][0])
                                          or (j == i + 1 and surname(words, j))):
                    j += 1
            if j - i >= 2:
                first = i
                while (before and first > 0 and not self.is_given_name(words[first - 1][0])
                       and name_word(words[first - 1][0])):
                    first -= 1
                spans.append((words[first][1], words[j - 1][2]))
            i = j
        return spans

    def _surname_after(self, words: list[tuple[str, int, int]], at: int, text: str) -> bool:
        """``words[at]``, a surname that is also an English word ("Fernanda Costa"), right after a
        given name that is none, on the same line and not a label ("Fernanda\nSupplier: ..."):
        neither it nor the word after it a place's or a body's word ("Sofia Airport", "Chelsea
        Football Club")."""
        start, end = words[at][1], words[at][2]
        return (text[words[at - 1][2]:start] == " " and text[end:end + 1] != ":"
                and not self.is_english_text(words[at - 1][0]) and words[at][0].lower() not in NOT_SURNAMES
                and (at + 1 == len(words) or words[at + 1][0].lower() not in NOT_SURNAMES))

    def _runs(self, doc: Any) -> list[list[tuple[str, int, int]]]:
        """Runs of name-like words ``(word, start, end)``: proper nouns joined by a space, a
        hyphen within a word, or a line break after given names only and before a word that is
        not one (so a list of first names, one per line, stays a list)."""
        text = doc.text
        runs: list[list[tuple[str, int, int]]] = []
        run: list[tuple[str, int, int]] = []
        tokens = list(doc)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if not name_like(token):
                if not (token.is_space and run and _LINE_BREAK.fullmatch(token.text)):
                    runs.append(run)
                    run = []
                i += 1
                continue
            start, end = token.idx, token.idx + len(token)
            # "Okonkwo-Bell": spaCy splits at the hyphen.
            while (i + 2 < len(tokens) and tokens[i + 1].text in _HYPHENS and tokens[i + 1].idx == end
                   and tokens[i + 2].idx == end + 1 and name_like(tokens[i + 2])):
                i += 2
                end = tokens[i].idx + len(tokens[i])
            word = text[start:end]
            if run:
                gap = text[run[-1][2]:start]
                joined = gap == " " or ("\n" in gap and _LINE_BREAK.fullmatch(gap) is not None
                                        and all(self.is_given_name(w) for w, _, _ in run)
                                        and not self.is_given_name(word))
                if not joined:
                    runs.append(run)
                    run = []
            run.append((word, start, end))
            i += 1
        runs.append(run)
        return [run for run in runs if len(run) >= 2]

    def _upper_case(self, text: str) -> list[Span]:
        """Names in runs of words in capitals, read as if capitalised: "MARIA GONZALEZ" in
        "CUSTOMER NAME: MARIA GONZALEZ", with the name words before a given name ("RAJESH KUMAR
        SHARMA" when only "Kumar" is known), and "DUBOIS, MARIE-CLAIRE". A name word that is
        not a given name must not be English and have three letters or more and a vowel, so an
        acronym ("HOPE NHS TRUST") is no surname."""
        spans = []
        for run in _UPPER_CASE_RUN.finditer(text):
            words = [(word.group().capitalize(), word.start(), word.end())
                     for word in _UPPER_CASE_WORD.finditer(text, run.start(), run.end())]
            spans.extend(self._names_in(words, self._upper_case_name_word, before=True))
        for match in _UPPER_CASE_SURNAME_FIRST.finditer(text):
            surname, given = match.group("surname").capitalize(), match.group("given").capitalize()
            if self._upper_case_name_word(surname) and not self.is_given_name(surname) and self.is_given_name(given):
                spans.append(match.span())
        for match in _UPPER_CASE_TITLED.finditer(text):  # "MR ADEOLA BANKOLE": the title tells
            words = [(word.group().capitalize(), word.start(), word.end())
                     for word in _UPPER_CASE_WORD.finditer(text, *match.span("name"))]
            j = 0
            while j < len(words) and self._upper_case_name_word(words[j][0]):
                j += 1
            if j:  # not "MS SQL", "DR SITE FAILOVER"; initials before and between ("MS A J NDLOVU")
                spans.append((match.start("name"), words[j - 1][2]))
        return spans

    def _upper_case_name_word(self, word: str) -> bool:
        """A capitalised word from capitals that may be part of a name: capitals are headings and
        log messages as often as names, so an inflected English word ("REACHED", "FAILING") is
        English here too."""
        if self.is_given_name(word):
            return True
        if len(word) < 3 or _VOWEL.search(word) is None or self.is_english_text(word):
            return False
        lower = word.lower()
        stems = ({lower[:-2], lower[:-1]} if lower.endswith("ed") else
                 {lower[:-3], lower[:-3] + "e"} if lower.endswith("ing") else set())
        return stems.isdisjoint(self.dictionary)

    def _camel_case(self, doc: Any) -> list[Span]:
        spans = []
        for token in doc:
            humps = list(_CAMEL_HUMP.finditer(token.text))
            # Humps that touch, as words; a gap ("McX-Y") starts a new run.
            runs: list[list[tuple[str, int, int]]] = [[]]
            for hump in humps:
                if runs[-1] and runs[-1][-1][2] != token.idx + hump.start():
                    runs.append([])
                runs[-1].append((hump.group(), token.idx + hump.start(), token.idx + hump.end()))
            for run in runs:
                spans.extend(self._names_in(run))
        return spans

    def _surname_first(self, doc: Any) -> list[Span]:
        """A surname that is no English word, a comma and given names ("Stavenhagen, Ulrich");
        not a given name that is an English word the model calls a place ("Müller, Berlin" is a
        list; to the small model "Ulrich" is a place there too)."""
        places = {token.i for entity in doc.ents if entity.label_ in PLACE_LABELS for token in entity}
        spans = []
        tokens = list(doc)
        for i in range(len(tokens) - 2):
            surname, comma, given = tokens[i:i + 3]
            if (comma.text != "," or comma.idx != surname.idx + len(surname) or given.idx != comma.idx + 2
                    or not name_like(surname) or self.is_english_text(surname.text)
                    or (given.i in places and self.is_english(given.lower_))
                    or not name_like(given) or not self.is_given_name(given.text)):
                continue
            end = i + 2
            while (end + 1 < len(tokens) and tokens[end + 1].idx == tokens[end].idx + len(tokens[end]) + 1
                   and name_like(tokens[end + 1]) and self.is_given_name(tokens[end + 1].text)):
                end += 1
            spans.append((surname.idx, tokens[end].idx + len(tokens[end])))
        return spans
