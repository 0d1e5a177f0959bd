"""docveil's own Presidio recognizers: patterns, context words and small validations.

Every recognizer here is declarative (regex patterns plus context words); the code around
them only says *where* a context word must be for a match to count. Patterns are compiled
case-sensitively (Presidio's default is case-insensitive, which would let ``[A-Z]`` match any
letter); the parts that may be written in any case use inline ``(?i:...)`` groups.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import regex
import tldextract
from presidio_analyzer import EntityRecognizer, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer, SpacyRecognizer

from docveil.stages.detect.given_names import (
    ADDRESSEES,
    NAME_PARTICLES,
    PARTICLE_RUN,
    PLACE_LABELS,
    SURNAME_PARTICLES,
    TITLES,
    GivenNames,
    name_like,
)
from docveil.stages.detect.mrz import machine_readable_zone_recognizer
from docveil.stages.detect.obfuscated_email import OBFUSCATED_EMAIL, email_address, is_obfuscated
from docveil.stages.detect.overlaps import SpanIndex, merged_spans
from docveil.stages.detect.salutations import addressed_names
from docveil.types import Finding

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

# Case-sensitive; ``^``/``$`` per line. No DOTALL: a value never spans a line break here.
CASE_SENSITIVE = re.MULTILINE
# The words of a line, without the bullets and punctuation around them.
_LINE = re.compile(r"[^\W\d_](?:[^\n]*[^\W\d_])?")
_NEXT_WORD = re.compile(r"\s+")
# A word of a name as written: capitalised letters, an apostrophe or hyphen joining parts.
_WORD_OF_NAME = re.compile(r"(?<![\w'\u2019-])[A-ZÀ-ÖØ-Þ][^\W\d_]+(?:['\u2019-][^\W\d_]+)*(?![\w-])")

# ---------------------------------------------------------------------------------------------
# Email, offline


# tldextract's module-level extractor, which Presidio's EmailRecognizer calls, downloads the
# public-suffix list on first use. This one reads only the snapshot bundled with tldextract and
# keeps no disk cache. A subclass (rather than replacing ``email_recognizer.tldextract``) keeps
# the change inside docveil's registry instead of altering the process for everyone else.
_OFFLINE_TLD = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating domains against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return _real_domain(pattern_text)


def _real_domain(address: str) -> bool:
    """The address's domain ends in a public suffix of the bundled list and has a name of its
    own, or is a host under a wildcard suffix ("oakwood.sch.uk": "*.sch.uk" makes the whole
    host a suffix)."""
    host = address.rpartition("@")[2]
    parts = _OFFLINE_TLD(host)
    return parts.fqdn != "" or (parts.suffix != "" and parts.suffix.count(".") >= 2)


class ObfuscatedEmailRecognizer(PatternRecognizer):
    """Addresses with "at" or "dot" spelled out (``jane [at] example [dot] org``), whose domain
    is a real one once read back; the pseudonym is the address's own (see ``obfuscated_email``)."""

    SCORE = 0.9

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entity="EMAIL_ADDRESS", name="ObfuscatedEmailRecognizer",
                         patterns=[Pattern("email, at or dot spelled out", OBFUSCATED_EMAIL.pattern, self.SCORE)],
                         supported_language=supported_language, global_regex_flags=CASE_SENSITIVE)

    def validate_result(self, pattern_text: str) -> bool:
        return is_obfuscated(pattern_text) and _real_domain(email_address(pattern_text))

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        """Each address once; where a match is no address, the next word may open one: in
        "contact me at jane dot roe at gmail dot com" the first match, "me at jane dot roe",
        has no real domain, and the address starts at "jane"."""
        results = []
        position = 0
        while (match := OBFUSCATED_EMAIL.search(text, position)) is not None:
            if self.validate_result(match.group(0)):
                # Validated, so scored as Presidio scores a validated pattern match.
                results.append(RecognizerResult(
                    "EMAIL_ADDRESS", match.start(), match.end(), EntityRecognizer.MAX_SCORE,
                    analysis_explanation=self.build_regex_explanation(
                        type(self).__name__, "email, at or dot spelled out", OBFUSCATED_EMAIL.pattern, self.SCORE,
                        True, CASE_SENSITIVE),
                    recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
                                          RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
                position = match.end()
                continue
            space = _NEXT_WORD.search(text, match.start())
            if space is None:
                break
            position = space.end()
        return results


# ---------------------------------------------------------------------------------------------
# spaCy names and places, with the small model's cheapest false positives removed


class ProperNounSpacyRecognizer(SpacyRecognizer):
    """spaCy's named entities, checked against spaCy's own tagger, plus names its NER missed.

    - PERSON and LOCATION spans are kept only when they contain a proper noun: the small model
      sometimes labels a capitalised common word ("Driver") as a person, and its tagger then
      calls it NOUN. Spans without a letter (a number taken for a place) are dropped.
    - A PERSON span loses the opening words like "Ask", "Dear" and titles ("Dear Ms Okafor" is
      "Okafor"), and is dropped if it holds a digit ("Q3\\nSubject").
    - The small model's NER misses names its tagger sees, e.g. after an imperative ("Call Jane
      Roe at ..."). A run of two or more capitalised proper nouns that no entity covers becomes
      a PERSON (score 0.5) when one of its words is not in ``dictionary``, the English words
      the model's lemmatizer knows; so "Customer Service" or "Annual Report" is not a name.
    - The model labels many names it has not seen as organisations or places ("Ulrich
      Stavenhagen" is an ORG to it), and loses a surname on the next line. A given name from
      ``given_names`` followed by name words that are not English words (or are given names
      too) is a PERSON (score 0.6) whatever the model's label, which it replaces, unless the
      model saw exactly that run as a place ("Santa Clara"). "Grace Church" stays as it was;
      firms named after people ("Morgan Stanley") become persons. Words joined by a hyphen are
      one word ("Okonkwo-Bell"); a line break may come after the given names, before the surname.
      The same holds inside a CamelCase word ("UlrichStavenhagenCV") and for a surname that is
      no English word followed by a comma and given names ("Stavenhagen, Ulrich"). A given name
      alone that is no English word is a PERSON (score 0.5) where nothing else claims it.
      See ``given_names.GivenNames``.
    - A name that a greeting, thanks or signature addresses ("Hi Marta,", "Thanks, Ulrich!") is
      a PERSON (score 0.6) whatever the model's label, if it can be one (``GivenNames.is_person``).
      See ``salutations.addressed_names``.
    """

    CHECKED = frozenset({"PERSON", "LOCATION"})
    UNLABELLED_NAME_SCORE = 0.5
    GIVEN_NAME_SCORE = 0.6
    # Words that open a line before a name and get swallowed into it ("Ask Jan Novak"); cut so
    # that the name gets the same pseudonym wherever it appears.
    LEADING_NON_NAMES = frozenset({
        "ask", "call", "tell", "email", "e-mail", "mail", "text", "contact", "ping", "meet",
        "invite", "thank", "thanks", "dear", "hi", "hello", "hey", "cc", "attn", "from", "to",
        # Titles: "Ms Okafor" gets the token of "Okafor", as after a greeting.
        *TITLES, *(f"{title}." for title in TITLES), "m.",  # the French "M. Girard"
    })

    def __init__(self, supported_language: str = "en", supported_entities: list[str] | None = None,
                 dictionary: frozenset[str] = frozenset(), given_names: frozenset[str] = frozenset()) -> None:
        super().__init__(supported_language=supported_language, supported_entities=supported_entities)
        self.dictionary = dictionary
        self.given_names = GivenNames(given_names - {word.capitalize() for word in self.LEADING_NON_NAMES},
                                      dictionary)

    def analyze(self, text: str, entities: list[str],
                nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        if nlp_artifacts is None or nlp_artifacts.tokens is None:
            return results
        doc = nlp_artifacts.tokens
        kept = []
        for result in results:
            value = text[result.start:result.end]
            if not any(ch.isalpha() for ch in value):
                continue
            if result.entity_type in self.CHECKED:
                span = doc.char_span(result.start, result.end, alignment_mode="expand")
                if span is not None and not any(token.pos_ == "PROPN" for token in span):
                    continue
                if result.entity_type == "PERSON":
                    if any(ch.isdigit() for ch in value):  # "Q3\nSubject"
                        continue
                    if span is not None:
                        first = 0
                        while first < len(span) - 1 and span[first].lower_ in self.LEADING_NON_NAMES:
                            first += 1  # "Dear Ms Okafor" is Okafor
                        result.start = span[first].idx if first else result.start
                    if "\n" in text[result.start:result.end]:
                        kept.extend(self._lines_of(result, text, doc))
                        continue
            kept.append(result)
        if "PERSON" in entities and self.given_names.names:
            kept = self._with_given_name_runs(kept, doc)
        if "PERSON" in entities and self.dictionary:
            kept.extend(self._unlabelled_names(doc))
        if "PERSON" in entities:
            kept.extend(self._parts_of_names(text, kept))
        return kept

    def _parts_of_names(self, text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
        """Where a text names "Sipho Ndlovu", "Sipho" or "Ndlovu" alone is that person too
        ("Sipho will present", "ask Ndlovu"): a part of a full name found in the same text, written
        as a name, that is no English word ("Will", "Rose", "Costa" are left alone)."""
        parts: set[str] = set()
        for result in results:
            if result.entity_type != "PERSON":
                continue
            words = _WORD_OF_NAME.findall(text, result.start, result.end)
            if len(words) >= 2:
                parts.update(word for word in words if len(word) >= 3 and word.lower() not in NAME_PARTICLES
                             and word.lower() not in TITLES and not self.given_names.is_english(word.lower()))
        if not parts:
            return []
        taken = SpanIndex((r.start, r.end) for r in results)
        alone = re.compile(r"(?<![\w'\u2019-])(?:" + "|".join(map(re.escape, sorted(parts, key=len, reverse=True)))
                           + r")(?![\w-])")
        return [self._person(m.start(), m.end(), self.UNLABELLED_NAME_SCORE, "A part of a name found in full")
                for m in alone.finditer(text) if not taken.overlaps(m.start(), m.end())]

    def _lines_of(self, result: RecognizerResult, text: str, doc: Any) -> list[RecognizerResult]:
        """A person the model reads across line breaks. A line that is one English word after a
        whole name, or before a colon, is the next line's label, left out ("Aisha Rahman\nSupplier:
        Contoso", "Yusuf Abdullah\nPassport (tenant 1)"). When every
        line left names someone in two words or more, each line is a person of its own (a list:
        "- Ahmad bin Ismail\n- Jean-Luc de la Fontaine"); otherwise the lines stay one person
        ("Mary\nSmith", a name wrapped at the end of a line)."""
        lines: list[tuple[int, int, int]] = []  # start, end, words
        for line in _LINE.finditer(text, result.start, result.end):
            span = doc.char_span(line.start(), line.end(), alignment_mode="contract")
            if span is None or not any(token.pos_ == "PROPN" for token in span):
                continue
            words = [token for token in span if token.is_alpha]
            if len(words) == 1 and lines and self._is_word(words[0]) and not self.given_names.is_given_name(
                    words[0].text) and (lines[-1][2] >= 2 or text[line.end():line.end() + 3].lstrip(" \t")[:1] in ":("):
                continue  # the next line's label, after a whole name ("Aisha Rahman\nSupplier: ...")
            lines.append((line.start(), line.end(), len(words)))
        if len(lines) > 1 and all(words >= 2 for _, _, words in lines):
            spans = [(start, end) for start, end, _ in lines]
        elif lines:
            spans = [(lines[0][0], lines[-1][1])]
        else:
            spans = []
        return [RecognizerResult(result.entity_type, start, end, result.score,
                                 analysis_explanation=result.analysis_explanation,
                                 recognition_metadata=result.recognition_metadata) for start, end in spans]

    def _with_given_name_runs(self, results: list[RecognizerResult], doc: Any) -> list[RecognizerResult]:
        """``results`` with a PERSON for each name opened by a given name, unless a PERSON
        result or a place of the model ("Santa Clara County") holds it already. Results it
        overlaps are taken into it, so the PERSON covers at least what they covered. Then given
        names alone, where no result and no entity of the model but a person has them."""
        places = SpanIndex((e.start_char, e.end_char) for e in doc.ents if e.label_ in PLACE_LABELS)
        persons = SpanIndex((r.start, r.end) for r in results if r.entity_type == "PERSON")
        named = [span for span in merged_spans(self.given_names.spans(doc)) if not places.holds(*span)]
        # A greeting, thanks or signature makes a name a person's, whatever the model called it
        # ("Hi Marta," is a place to it, and "Thanks,\nDimitris" a place and a verb).
        addressed = addressed_names(doc.text, self.given_names.is_person)
        spans = [span for span in merged_spans(named + addressed) if not persons.holds(*span)]
        results, spans = _taken_into(results, spans)
        results += [self._person(start, end, self.GIVEN_NAME_SCORE, "A given name followed by name words")
                    for start, end in spans]
        claimed = (token.i for entity in doc.ents if entity.label_ != "PERSON" for token in entity)
        lone = self.given_names.lone(doc, claimed, SpanIndex((r.start, r.end) for r in results))
        return results + [self._person(start, end, self.UNLABELLED_NAME_SCORE, "A given name alone")
                          for start, end in lone]

    def _person(self, start: int, end: int, score: float, reason: str) -> RecognizerResult:
        return RecognizerResult(
            "PERSON", start, end, score,
            analysis_explanation=self.build_explanation(score, reason),
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})

    def _unlabelled_names(self, doc: Any) -> list[RecognizerResult]:
        covered = {token.i for entity in doc.ents for token in entity}
        found = []
        run: list[Any] = []
        for token in [*doc, None]:
            if token is not None and token.i not in covered and name_like(token):
                run.append(token)
                continue
            titled = False
            while run and run[0].lower_ in self.LEADING_NON_NAMES:
                titled = run[0].lower_.rstrip(".") in TITLES
                run = run[1:]
            # "Frau Schneider", "Dr Ferreira": after a title, one name word is a person too.
            if (((len(run) >= 2 and not all(self._is_word(t) for t in run)) or (titled and len(run) == 1))
                    and not any(t.lower_ in ADDRESSEES for t in run)):  # "Hiring Manager"
                found.append(self._person(run[0].idx, run[-1].idx + len(run[-1]), self.UNLABELLED_NAME_SCORE,
                                          "Proper nouns not labelled by spaCy's NER"))
            run = []
        return found

    def _is_word(self, token: Any) -> bool:
        return self.given_names.is_english(token.lower_) or token.lemma_.lower() in self.dictionary


def _taken_into(results: list[RecognizerResult], spans: list[tuple[int, int]]
                ) -> tuple[list[RecognizerResult], list[tuple[int, int]]]:
    """``spans`` (sorted, disjoint) grown over the ``results`` they overlap, and the results
    left; repeated while a grown span reaches another result."""
    while spans:
        starts = [start for start, _ in spans]
        grown = list(spans)
        left = []
        for result in results:
            i = bisect_left(starts, result.end) - 1  # spans that start before the result ends
            hit = False
            while i >= 0 and spans[i][1] > result.start:
                grown[i] = (min(grown[i][0], result.start), max(grown[i][1], result.end))
                hit, i = True, i - 1
            if not hit:
                left.append(result)
        if len(left) == len(results):
            break
        results, spans = left, merged_spans(grown)
    return results, spans


def english_words(nlp: Any) -> frozenset[str]:
    """The words a spaCy pipeline's rule lemmatizer knows (WordNet's index); empty if none."""
    try:
        index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
    except (KeyError, AttributeError, ValueError):
        return frozenset()
    return frozenset(word for key in index for word in index[key])


# ---------------------------------------------------------------------------------------------
# Values that count only when a context word labels them


class LabelledValueRecognizer(PatternRecognizer):
    """A pattern recognizer whose matches count only when a context word labels them.

    A match is kept when one of ``context`` occurs at most ``max_gap_words`` words before it,
    with no digit in between (so the label belongs to this value, not an earlier one). Kept
    matches get the pattern's score as is; Presidio's own context boost is not applied again.
    Presidio's lemma-based boost is not used because the lemma of "born" is "bear".
    """

    WINDOW = 64

    def __init__(self, supported_entity: str, patterns: list[Pattern], context: Sequence[str],
                 max_gap_words: int = 3, name: str | None = None, supported_language: str = "en"):
        super().__init__(supported_entity=supported_entity, patterns=patterns, context=list(context),
                         name=name or type(self).__name__, supported_language=supported_language,
                         global_regex_flags=CASE_SENSITIVE)
        words = sorted(context, key=len, reverse=True)
        self._label = re.compile(
            r"(?<!\w)(?:" + "|".join(_phrase(word) for word in words) + r")(?!\w)", re.IGNORECASE)
        self._max_gap_words = max_gap_words

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        kept = []
        for result in results:
            label = self._label_of(text, result.start)
            if label is not None and self.accept(text, label, result):
                # Tell Presidio's enhancer the context was already taken into account.
                result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
                kept.append(result)
        return kept

    @property
    def label_pattern(self) -> re.Pattern[str]:
        """Any one of the labels (tables read a column under such a header: ``columns``)."""
        return self._label

    def accept(self, text: str, label: re.Match[str], result: RecognizerResult) -> bool:
        """A last say on a labelled match; ``label`` is matched in ``text[result.start - WINDOW:]``."""
        return True

    def _label_of(self, text: str, start: int) -> re.Match[str] | None:
        before = text[max(0, start - self.WINDOW):start]
        labels = list(self._label.finditer(before))
        if not labels:
            return None
        gap = before[labels[-1].end():]
        if any(ch.isdigit() for ch in gap) or len(re.findall(r"\w+", gap)) > self._max_gap_words:
            return None
        return labels[-1]


class NameAwareRecognizer(LocalRecognizer):
    """A recognizer of one entity type that asks ``GivenNames`` which words can be names."""

    name: str

    def __init__(self, entity: str, name: str, given_names: GivenNames, supported_language: str = "en") -> None:
        self.given_names = given_names
        super().__init__(supported_entities=[entity], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def finding(self, start: int, end: int, score: float) -> RecognizerResult:
        """A finding of this recognizer's entity type, named as this recognizer's."""
        return RecognizerResult(self.supported_entities[0], start, end, score, recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})


def _phrase(words: str) -> str:
    """A context phrase as a regex: its words separated by any run of whitespace."""
    return r"\s+".join(re.escape(part) for part in words.split())


# ---------------------------------------------------------------------------------------------
# Patterns

_MONTH = (r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_ORDINAL = r"(?:st|nd|rd|th)?"
# Months in French, German, Dutch, Spanish, Italian and Portuguese, written after the day
# ("2 mars 1951", "14. Juli 1962", "17 de septiembre de 1985", "5 juni 1990").
_OTHER_MONTH = (
    r"(?i:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre"
    r"|decembre|januar|jänner|februar|märz|maerz|april|juni|juli|august|september|oktober|november|dezember"
    r"|januari|februari|maart|mei|augustus|december|enero|febrero|marzo|abril|mayo|junio|julio|agosto"
    r"|septiembre|setiembre|octubre|noviembre|diciembre|gennaio|febbraio|aprile|maggio|giugno|luglio"
    r"|settembre|ottobre|dicembre|janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro"
    r"|dezembro)"
)

DATE_PATTERNS = [
    Pattern("date numeric d/m/y or m/d/y", r"\b\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})\b", 0.85),
    Pattern("date ISO", r"\b\d{4}[./-]\d{1,2}[./-]\d{1,2}\b", 0.85),
    Pattern("date day month year", rf"\b\d{{1,2}}{_ORDINAL}[ \t]+(?:(?i:of)[ \t]+)?{_MONTH},?[ \t]+\d{{4}}\b", 0.85),
    Pattern("date month day year", rf"\b{_MONTH}[ \t]+\d{{1,2}}{_ORDINAL},?[ \t]+\d{{4}}\b", 0.85),
    # Forms and travel documents: "11JUN85", "11-JUN-1985", "11 Jun 85".
    Pattern("date day month short year", rf"\b\d{{1,2}}[ -]?{_MONTH}[ -]?(?:\d{{4}}|\d{{2}})\b", 0.85),
    Pattern("date day month year, other languages",
            rf"\b\d{{1,2}}(?:\.|er|º|°)?[ \t]+(?:(?i:de)[ \t]+)?{_OTHER_MONTH}[ \t]+(?:(?i:de)[ \t]+)?\d{{4}}\b", 0.85),
]
DATE_OF_BIRTH_CONTEXT = (
    "born", "birth", "birthdate", "birth date", "birthday", "date of birth", "DOB", "D.O.B", "Geburtsdatum",
    "date de naissance", "fecha de nacimiento", "data di nascita", "geboortedatum",
    "geboren", "geb.", "né", "née", "naissance", "nacimiento", "nata il", "nato il", "nata a", "nato a",
    "nascita", "nacido", "nacida", "nascido", "nascida", "data de nascimento",
)

# A passport number: 6 to 9 upper-case letters and digits with at least one digit
# ("X12345678", "C01X00T47", "12AB34567", "123456789").
PASSPORT_PATTERNS = [
    Pattern("passport number", r"\b(?=[A-Z0-9]{6,9}\b)[A-Z]{0,3}\d[A-Z0-9]*\b", 0.6),
]
PASSPORT_CONTEXT = ("passport", "passeport", "reisepass", "pasaporte", "passaporto", "paspoort")

# A licence number: 5 to 20 upper-case letters, digits and dashes with at least one digit.
DRIVER_LICENSE_PATTERNS = [
    Pattern("driver licence number",
            r"\b(?=[A-Z0-9-]{5,20}\b)[A-Z0-9]*\d[A-Z0-9-]*[A-Z0-9]\b", 0.6),
]
DRIVER_LICENSE_CONTEXT = (
    "driver license", "driver licence", "driver's license", "driver's licence", "drivers license",
    "driving license", "driving licence", "licence number", "license number", "license no",
    "licence no", "DL", "DLN", "führerschein", "permis de conduire", "carnet de conducir",
)

_STREET_TYPES = ("Street|Avenue|Road|Boulevard|Lane|Drive|Court|Place|Way|Terrace|Parkway|Highway"
                 "|Circle|Square|Trail|Loop|Alley|Crescent|Close|Row|Walk|Plaza|Gardens|Grove|Hill|Mews"
                 "|Pike|Turnpike|Expressway|Freeway")
_STREET_ABBREVIATIONS = "St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Pkwy|Hwy|Cir|Sq|Trl"
# As written, or in capitals on a shipping label ("455 WEST 43RD STREET"): only the types that
# are no common word in capitals ("2 DOORS CLOSE", "RESULTS OF 2 HEAD CT" are no streets).
_STREET_TYPES_IN_CAPITALS = "STREET|AVENUE|ROAD|BOULEVARD|LANE|DRIVE|TERRACE|PARKWAY|HIGHWAY|CRESCENT|PLAZA"
_STREET_ABBREVIATIONS_IN_CAPITALS = "ST|AVE|RD|BLVD|PKWY|HWY"
_STREET_TYPE = (
    rf"(?:(?:{_STREET_TYPES}|{_STREET_TYPES_IN_CAPITALS})\b"
    rf"|(?:{_STREET_ABBREVIATIONS}|{_STREET_ABBREVIATIONS_IN_CAPITALS})\b\.?)"
)
_US_TAIL = (  # ", Washington, DC 20500"
    r"(?:,[ \t]*[A-Z][A-Za-z.'-]{0,30}(?:[ \t]+[A-Z][A-Za-z.'-]{0,30}){0,2},?[ \t]+[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?)?"
)
# ", Leeds LS1 4DL", " London SW1A 1AA": a UK town and postcode.
_UK_TAIL = (
    r"(?:(?:,[ \t]*|[ \t]+)[A-Z][A-Za-z'-]{0,30}(?:[ \t]+[A-Z][A-Za-z'-]{0,30}){0,2},?[ \t]+"
    r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}\b)?"
)
# "10115", "D-10115", "1016 GV" (Netherlands), "00-514" (Poland), "1100-053" (Portugal).
_EU_POSTCODE = r"(?:(?:[A-Z]{1,2}-)?\d{4,5}(?:[ \t]?[A-Z]{2}\b)?|\d{2}-\d{3}|\d{4}-\d{3})"
# A floor and door between the street and the postcode: "3º izq.", "2.º Esq.".
_FLOOR = r"\d{1,2}\.?[ºª°][ \t]*(?:[A-Za-z]{1,5}\.?)?"
# ", 10115 Berlin", ", 60-834 Poznań", ", 3º izq., 28005 Madrid", or the postcode and town on the
# next line, as a letter's address block writes them (a line break before a digit reaches the
# recognizers as a space: ``pii_text._join_wrapped_numbers``).
_EU_TAIL = (rf"(?:(?:,[ \t]*(?:{_FLOOR},[ \t]*)?|[ \t]*\r?\n[ \t]*|[ \t]+(?!(?:19|20)\d\d\b)){_EU_POSTCODE}"
            r"[ \t]+[A-ZÄÖÜ][\w-]{1,40})?")
_EU_SUFFIX = (
    # Not "ring" or "gade": "During 2020" and "Brigade 3" are no addresses.
    r"(?i:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee|straat|laan"
    r"|gracht|plein|steeg|kade|gatan|vägen|vej|veien)"
)
_ROMANCE_TYPES = ("rue|avenue|boulevard|chemin|impasse|allée|quai|via|viale|piazza|corso|calle"
                  "|avenida|plaza|paseo|carrer|rua|travessa")
# Capitalised when it starts the address ("Via Roma 12"; "sent via Email 2" is no address),
# lower case allowed after the number ("10 rue de Rivoli").
_ROMANCE_TYPE_FIRST = "(?:" + "|".join(t.capitalize() for t in _ROMANCE_TYPES.split("|")) + ")"
_ROMANCE_TYPE = f"(?i:{_ROMANCE_TYPES})"
_ROMANCE_NAME = (
    r"(?:[ \t]+(?:(?i:de|del|della|di|da|do|dos|du|des|la|le|les)|l'|d'))*"
    r"[ \t]*[A-ZÀ-Ý][\w'-]{0,30}(?:[ \t]+[A-ZÀ-Ý][\w'-]{0,30}){0,3}"
)

# Words that number the parts of a document or a process, not streets ("Order 12, 10000 Units").
_NUMBERED_PARTS = ("(?:Chapter|Section|Part|Page|Article|Clause|Paragraph|Table|Figure|Appendix|Annex|Item"
                   "|Step|Phase|Stage|Level|Room|Floor|Unit|Version|Release|Order|Invoice|Ticket|Case|Lot|Batch"
                   "|Week|Day|Year|Quarter|Sprint|Build|Issue|Slide|Line|Row|Column|Question|Q)")
# A street of any name with its number, and a town after a postcode.
_ANY_STREET = r"[A-ZÀ-Ž][\w'-]{1,40}[ \t]+\d{1,4}[a-zA-Z]?(?:/\d{1,4})?,[ \t]*"
_TOWN = r"[ \t]+[A-ZÀ-Ž][\w-]{1,40}"
# Postcodes that a number of another kind seldom looks like: five digits, Polish, Dutch.
_DISTINCT_POSTCODE = r"(?:\d{5}|\d{2}-\d{3}|\d{4}-\d{3}|\d{4}[ \t]?[A-Z]{2}\b)"
# A house number next to a street-type word is as telling as spaCy's named entities (0.85), so a
# whole address outranks a street name that spaCy mistook for a person ("Via Roma").
_ADDRESS_SCORE = 0.85

STREET_ADDRESS_PATTERNS = [
    # "1600 Pennsylvania Avenue NW", "221B Baker Street", "350 5th Ave, Apt 4"
    Pattern("street address (number first)",
            r"(?:\b(?:Flat|Apartment|Apt|Unit|Suite)\.?[ \t]+[A-Za-z0-9-]{1,5},?[ \t]+)?"  # "Flat 2, 18 Kingsland Road"
            r"\b\d{1,6}[A-Za-z]?"
            r"(?:[ \t]+(?:N|S|E|W|North|South|East|West)\.?)?"
            r"(?:[ \t]+(?:[A-Z][A-Za-z'.-]{0,30}|\d{1,3}(?:st|nd|rd|th|ST|ND|RD|TH))){1,4}"
            rf"[ \t]+{_STREET_TYPE}"
            r"(?:[ \t]+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
            r"(?:,?[ \t]+(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|\#)\.?[ \t]*[A-Za-z0-9-]+)?"
            + _US_TAIL + _UK_TAIL,
            _ADDRESS_SCORE),
    # "Hauptstraße 5", "Kalverstraat 92", "Lindenweg 12a, 10115 Berlin"
    Pattern("street address (compound name, number after)",
            rf"\b[A-ZÄÖÜ][\wäöüß-]{{0,40}}{_EU_SUFFIX}[ \t]+\d{{1,4}}(?:[ \t]?[a-zA-Z])?\b" + _EU_TAIL,
            _ADDRESS_SCORE),
    # "Via Roma 12", "Calle Mayor 5"
    Pattern("street address (type first, number after)",
            rf"\b{_ROMANCE_TYPE_FIRST}{_ROMANCE_NAME},?[ \t]+\d{{1,4}}(?:[ \t]?[a-zA-Z])?\b" + _EU_TAIL,
            _ADDRESS_SCORE),
    # Without a label, a street of any name with a postcode of five digits, a Polish or a Dutch
    # one ("Contact Marta at Mickiewicza 10/4, 60-834 Poznań"); not "Order 12, 10000 Units".
    Pattern("street address (name, number, postcode of five digits or letters, town)",
            rf"\b(?!{_NUMBERED_PARTS}\b){_ANY_STREET}{_DISTINCT_POSTCODE}{_TOWN}",
            _ADDRESS_SCORE),
    # "ul. Marszałkowska 84/92 m. 12", "C/ Mayor 5": Polish and Spanish abbreviations first
    # (not the "al." of "Kowalski et al. Nature 2019").
    Pattern("street address (abbreviated type first)",
            r"(?<!\w)(?<!et )(?:ul\.|al\.|os\.|C/)[ \t]*[A-ZÀ-Ž][\w'-]{0,30}(?:[ \t]+[A-ZÀ-Ž][\w'-]{0,30}){0,3}[ \t]+\d{1,4}[a-zA-Z]?"
            r"(?:/\d{1,4})?(?:[ \t]+m\.[ \t]*\d{1,4})?" + _EU_TAIL,
            _ADDRESS_SCORE),
    # "10 rue de Rivoli"
    Pattern("street address (number, then type first)",
            rf"\b\d{{1,4}}(?:[ \t]?(?:bis|ter|[a-zA-Z]))?,?[ \t]+{_ROMANCE_TYPE}{_ROMANCE_NAME}\b" + _EU_TAIL,
            _ADDRESS_SCORE),
]
# A street of any name with a postcode of four digits ("Prinsengracht 263, 1016 Amsterdam")
# counts only right after an address label: without one, this shape is as often "Table 2, 1500
# Respondents". Up to three words before the street are taken in: they may be the addressee's
# name ("Address: Anna Schmidt Linden 5, 10115 Berlin"). A year is no postcode.
LABELLED_ADDRESS_PATTERNS = [
    Pattern("street address (name, number, postcode, town)",
            r"\b(?:[A-ZÀ-Ž][\w'-]{1,40}[ \t]+){0,3}" + _ANY_STREET
            + rf"(?:{_DISTINCT_POSTCODE}|(?!(?:19|20)\d\d\b)\d{{4}})" + _TOWN,
            _ADDRESS_SCORE),
]
ADDRESS_LABELS = (
    "address", "home address", "postal address", "mailing address", "ship to", "deliver to", "bill to",
    "lives at", "resides at", "residing at", "adres", "adresse", "anschrift", "wohnhaft", "dirección",
    "direccion", "domicilio", "indirizzo", "endereço", "morada", "adresa", "osoite", "adress", "siedziba",
)
STREET_ADDRESS_CONTEXT = [
    "address", "street", "live", "reside", "residence", "home", "mail", "ship", "bill", "deliver",
    "anschrift", "adresse", "wohnhaft", "dirección", "indirizzo",
]

# A URL; what makes it personal is checked by PersonalUrlRecognizer.validate_result.
URL_PATTERNS = [
    Pattern("url", r"(?i:\b(?:https?://|www\.))[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]", 0.5),
    # Without a scheme: a domain and a path ("linkedin.com/in/marta-kowalska").
    Pattern("url without scheme",
            r"(?<![\w@./-])(?i:(?:[a-z0-9-]+\.)+[a-z]{2,})/[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]}]", 0.5),
]

_PERSONAL_URL_MARKERS = re.compile(
    r"""
      [\w.+-]+@[\w-]+(?:\.[\w-]+)+                                # an email address anywhere
    | /(?:users?|u|people|person|persons|members?|profiles?|employees?|staff|customers?
        |patients?|accounts?|in|author|authors)/[^/?#\s]+          # /users/<name>, /in/<name>
    | /profile(?:[/?#]|$)                                         # /profile/, /profile?id=
    | /~[^/?#\s]+                                                 # /~jdoe
    | /@[^/?#\s]+                                                 # /@jdoe
    | [?&;](?:e-?mail|mail|name|first_?name|last_?name|full_?name|surname|user|user_?name
        |user_?id|uid|login|phone|tel|mobile|ssn|dob|birth_?date|address)=[^&#\s]
    | (?:^|//|\.)(?:facebook|instagram|twitter|x|tiktok|threads)\.(?:com|net)/  # a social profile
        (?!(?:groups|pages|events|hashtag|explore|search|share|sharer|intent|home|login|about|help|policies
        |legal|privacy|terms|settings|watch|reel|reels|p|i|tv)(?:[/?#]|$))[^/?#\s]+
    | (?:^|//|\.)(?:github|gitlab)\.com/  # a user's page: one path segment
        (?!(?:features|about|pricing|login|orgs|topics|marketplace|sponsors|enterprise|explore|settings
        |notifications|security|apps|collections|trending|search|site|readme|team|join|signup|contact)(?:[/?#]|$))
        [^/?#\s]+/?(?:[?#]|$)
    """,
    re.IGNORECASE | re.VERBOSE,
)


# A name word: a capital of any script and small letters, or capitals only ("Guðmundsdóttir",
# "PENHALIGON-WRIGHT"), after a prefix ("O'Driscoll", "McIntyre", "MacLeòid", "Ó Conaill").
# Possessive, and never starting inside a hyphenated word: "Ab-Ab-Ab-..." is read once.
NAME_WORD = (r"(?<![\p{L}'’-])(?:Mc|Mac|O['’]|D['’]|Ó[ \t]|Ní[ \t])?"
             r"(?:\p{Lu}\p{Ll}++(?:['’-]\p{Lu}?\p{Ll}++)*+|\p{Lu}{2,}+(?:['’-]\p{Lu}{2,}+)*+)(?![\p{L}\d])")
_PARTICLE = r"(?<![\p{L}'’-])(?:" + "|".join(sorted(NAME_PARTICLES | SURNAME_PARTICLES | {"y"})) + ")"
# Before the last word: a name word, an initial ("J. R. R.", "A J"), a particle ("van der") or
# a nickname in quotes (Kwabena "Kobby" Mensah-Bonsu).
_NAME_PART = (rf"(?:{NAME_WORD}[ \t]+|\p{{Lu}}\.[ \t]*|\p{{Lu}}[ \t]+(?=\p{{Lu}})|{_PARTICLE}[ \t]+"
              r"|[\"“'\u2018]\p{L}+[\"”'\u2019][ \t]+)")
NAME_RUN = rf"{_NAME_PART}{{1,5}}{NAME_WORD}"
# The rest of a name that a detector cut at a particle: "Joost" of "Joost van den Heuvel", "Merwe"
# of "Pieter-Jan van der Merwe".
_PARTICLES_THEN_WORD = regex.compile(rf"[ \t]+{PARTICLE_RUN}[ \t]+{NAME_WORD}")
_WORD_THEN_PARTICLES = regex.compile(rf"(?:{NAME_WORD}[ \t]+)?{PARTICLE_RUN}[ \t]+$")


def with_whole_surnames(findings: Sequence[Finding], text: str) -> list[Finding]:
    """``findings`` with each ``PERSON`` grown over the particles and name words around it on
    its line."""
    grown = []
    for finding in findings:
        if finding.entity_type == "PERSON":
            after = _PARTICLES_THEN_WORD.match(text, finding.end)
            before = _WORD_THEN_PARTICLES.search(text, max(0, finding.start - 80), finding.start)
            if after or before:
                finding = replace(finding, start=before.start() if before else finding.start,
                                  end=after.end() if after else finding.end)
        grown.append(finding)
    return grown


# A title between a field's label and the name, in any case; no part of the name ("Name: MR
# ADEOLA BANKOLE" is ADEOLA BANKOLE).
_FIELD_TITLE = r"(?i:Dr|Mr|Mrs|Ms|Mx|Prof)\.?[ \t]"
LABELLED_NAME_PATTERNS = [
    # Two to six parts on one line, the last a whole word ("Siobhan O'Driscoll", "Joost van den
    # Heuvel", "A J PENHALIGON-WRIGHT").
    Pattern("labelled name", rf"(?<![\p{{L}}\d])(?!{_FIELD_TITLE}){NAME_RUN}", 0.85),
    # Surname first, as registers and spreadsheets write it ("Roe, Jane", "Hardy, Tom Edward").
    Pattern("labelled name, surname first", rf"{NAME_WORD},[ \t]+{NAME_WORD}(?:[ \t]+{NAME_WORD})?", 0.85),
]
# Form fields that hold a person's name, and phrases that name who did something.
NAME_FIELD_LABELS = (
    "name", "full name", "patient", "patient name", "employee", "employee name", "customer",
    "customer name", "client", "client name", "applicant", "applicant name", "account holder",
    "cardholder", "contact", "contact person", "attendee", "attendees",
    # People in a role: leases, trips, schools, claims, incident reports, interviews.
    "landlord", "tenant", "tenants", "tenant(s)", "guest", "passenger", "traveller", "traveler", "pupil",
    "guardian", "next of kin", "emergency contact", "beneficiary", "policyholder", "claimant", "complainant",
    "witness", "victim", "suspect", "defendant", "plaintiff", "interviewee", "interviewer",
    # Who a letter or a parcel goes to, and who signs.
    "recipient", "addressee", "consignee", "signatory",
)
NAME_BY_LABELS = ("signed by", "countersigned by", "prepared by", "approved by", "submitted by",
                  "reported by", "requested by", "reviewed by")
_FIELD_GAP = re.compile(rf"[ \t]*(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*(?:{_FIELD_TITLE}[ \t]*)?")
_LINE_START = re.compile(r"(?:^|\n)[ \t]*(?:[-*\u2022][ \t]+)?(?:\*\*|__)?$")
_BY_GAP = re.compile(rf"[ \t]+(?:{_FIELD_TITLE}[ \t]*)?")


class LabelledNameRecognizer(LabelledValueRecognizer):
    """Names in form fields ("Name: Jane Roe", "- **Patient:** Jane Roe") and after "signed
    by", "prepared by" and the like, which the small NER model misses in headers and lists.

    A field label counts only at the start of a line (after a list marker or bold markup) and
    followed by a colon, so "Project name: Apollo" in a sentence is not a field; a "... by"
    phrase counts when the name follows it directly (a title like "Dr." may come between)."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__("PERSON", list(LABELLED_NAME_PATTERNS), NAME_FIELD_LABELS + NAME_BY_LABELS,
                         max_gap_words=1, name="LabelledNameRecognizer", supported_language=supported_language)

    def accept(self, text: str, label: re.Match[str], result: RecognizerResult) -> bool:
        before = text[max(0, result.start - self.WINDOW):result.start]
        gap = before[label.end():]
        if label.group(0).lower().endswith(" by"):
            return _BY_GAP.fullmatch(gap) is not None
        return _FIELD_GAP.fullmatch(gap) is not None and _LINE_START.search(before[:label.start()]) is not None


# Fields and columns that hold one part of a name ("first_name", "Nachname").
NAME_PART_LABELS = (
    "first name", "firstname", "given name", "given names", "forename", "forenames", "middle name",
    "last name", "lastname", "surname", "family name", "Vorname", "Nachname", "Familienname", "prénom",
    "nom de famille", "apellido", "apellidos", "voornaam", "achternaam", "cognome", "imię", "nazwisko",
)
# One or two words of letters (any script), as a name part is written: "Jürgen", "Ayşe", "Maria José".
_NAME_PART = r"(?<![\w'\u2019-])[^\W\d_]+(?:['\u2019-][^\W\d_]+)*(?:[ \t]+[^\W\d_]+(?:['\u2019-][^\W\d_]+)*)?(?![\w-])"


class LabelledNamePartRecognizer(LabelledNameRecognizer):
    """A given name or a surname alone in its own field or column ("Vorname: Jürgen", a CSV
    column "last_name"), where the field names a part of a name: capitalised words only."""

    def __init__(self, supported_language: str = "en") -> None:
        LabelledValueRecognizer.__init__(self, "PERSON", [Pattern("labelled name part", _NAME_PART, 0.85)],
                                         NAME_PART_LABELS, max_gap_words=0, name="LabelledNamePartRecognizer",
                                         supported_language=supported_language)

    def accept(self, text: str, label: re.Match[str], result: RecognizerResult) -> bool:
        value = text[result.start:result.end]
        return (all(word[:1].isupper() for word in value.split() if word.lower() not in NAME_PARTICLES)
                and super().accept(text, label, result))


class PersonalUrlRecognizer(PatternRecognizer):
    """URLs that carry personal data: an email address, a profile path or a personal query field.

    Non-personal URLs are rejected by validation; personal ones are certain once validated.
    """

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entity="PERSONAL_URL", patterns=list(URL_PATTERNS),
                         supported_language=supported_language, global_regex_flags=CASE_SENSITIVE)

    def validate_result(self, pattern_text: str) -> bool:
        return _PERSONAL_URL_MARKERS.search(unquote(pattern_text)) is not None


class PassportRecognizer(LabelledValueRecognizer):
    """A passport number labelled as such ("Passport no. C01X00T47").

    A number in US format labelled as a US passport is left to Presidio's US_PASSPORT.
    """

    US_QUALIFIER = re.compile(r"(?<!\w)(?:US|U\.S\.?|USA|United States|American)[\s-]*$")
    US_FORMAT = re.compile(r"\d{9}|[A-Z]\d{8}")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__("PASSPORT", list(PASSPORT_PATTERNS), PASSPORT_CONTEXT, max_gap_words=3,
                         supported_language=supported_language)

    def accept(self, text: str, label: re.Match[str], result: RecognizerResult) -> bool:
        window_start = max(0, result.start - self.WINDOW)
        qualifier = text[max(0, window_start + label.start() - 24):window_start + label.start()]
        us_format = self.US_FORMAT.fullmatch(text[result.start:result.end]) is not None
        return not (us_format and self.US_QUALIFIER.search(qualifier))


class DateOfBirthRecognizer(LabelledValueRecognizer):
    """A date labelled as a birth date ("born 14 March 1985", "DOB: 1985-03-14")."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__("DATE_OF_BIRTH", list(DATE_PATTERNS), DATE_OF_BIRTH_CONTEXT,
                         max_gap_words=4, supported_language=supported_language)

    def invalidate_result(self, pattern_text: str) -> bool:
        """Reject numeric dates that cannot be a calendar date in any common order."""
        groups = re.findall(r"\d+", pattern_text)
        if len(groups) != 3:  # a month name, then only the day (always first) needs checking
            return not 1 <= int(groups[0]) <= 31
        if len(groups[0]) == 4:  # year first: y-m-d
            month, day = int(groups[1]), int(groups[2])
            return not (1 <= month <= 12 and 1 <= day <= 31)
        first, second = int(groups[0]), int(groups[1])
        day_month = 1 <= first <= 31 and 1 <= second <= 12
        month_day = 1 <= first <= 12 and 1 <= second <= 31
        return not (day_month or month_day)


def docveil_recognizers(language: str = "en") -> list[PatternRecognizer]:
    """docveil's own recognizers for ``language`` (the Presidio ones come from Presidio)."""
    return [
        PatternRecognizer(supported_entity="STREET_ADDRESS", name="StreetAddressRecognizer",
                          patterns=list(STREET_ADDRESS_PATTERNS), context=list(STREET_ADDRESS_CONTEXT),
                          supported_language=language, global_regex_flags=CASE_SENSITIVE),
        DateOfBirthRecognizer(supported_language=language),
        PassportRecognizer(supported_language=language),
        LabelledValueRecognizer("DRIVER_LICENSE", list(DRIVER_LICENSE_PATTERNS), DRIVER_LICENSE_CONTEXT,
                                max_gap_words=3, name="DriverLicenseRecognizer",
                                supported_language=language),
        LabelledValueRecognizer("STREET_ADDRESS", list(LABELLED_ADDRESS_PATTERNS), ADDRESS_LABELS,
                                max_gap_words=0, name="LabelledAddressRecognizer", supported_language=language),
        PersonalUrlRecognizer(supported_language=language),
        LabelledNameRecognizer(supported_language=language),
        LabelledNamePartRecognizer(supported_language=language),
        ObfuscatedEmailRecognizer(supported_language=language),
        machine_readable_zone_recognizer(language),
    ]
