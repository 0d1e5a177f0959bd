"""Payees and payers on bank statements (``PERSON``): "FASTER PAYMENT TO M KOWALCZYK", "DD TO J
SMITH", "TFR FROM MRS A J NOWAK", "FPO TO M DE LA CRUZ", "Transfer to J. O'Neill".

A statement line names the kind of payment, then "TO" or "FROM", then whom: a person as initials
and a surname, mostly in capitals, which spaCy's small model takes for an organisation or
nothing at all. A firm is written without initials ("BGC FROM ACME PAYROLL LTD"), so only a
surname after one to three initials (and perhaps a title, not part of the finding) counts, and
not a word that names a firm, a place or a part of a firm's name ("DD TO E ON NEXT ENERGY",
"PAYMENT TO B AND Q", "transfer to B Ward"), nor one a firm's word follows ("U S BANK"). The
short codes ("DD", "SO", "FP") count in capitals only. A lone "A" or "I" is an article or a
pronoun as well: after it, without a title, the surname must be a known surname or no English
word ("TRANSFER TO A KHAN" names someone, "TRANSFER TO A SAVINGS ACCOUNT" no one).
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.given_names import NOT_SURNAMES, SURNAME_PARTICLES, TITLES, GivenNames, faker_surnames
from docveil.stages.detect.recognizers import NameAwareRecognizer

ENTITY = "PERSON"
NAME = "PayeeRecognizer"
SCORE = 0.85
_CODES = ("FPO", "FPI", "FPS", "FP", "BP", "DD", "SO", "STO", "BGC", "TFR", "TRF", "CR", "BACS", "CHAPS")
_KINDS = ("faster payments?", "faster pymt", "bill payment", "bill pymt", "payment", "paymt", "pymt", "transfer",
          "direct debit", "standing order", "bank giro credit", "credit")
_TITLES = rf"(?i:{'|'.join(sorted(TITLES, key=len, reverse=True))})\.?[ \t]+"
_PARTICLES = rf"(?:(?i:{'|'.join(sorted(SURNAME_PARTICLES, key=len, reverse=True))})[ \t]+){{0,3}}+"
_PAYEE = regex.compile(
    rf"(?<![\p{{L}}\d])(?:{'|'.join(_CODES)}|(?i:{'|'.join(_KINDS)}))"
    r"(?:[ \t]+(?i:received|sent|out|in))?[ \t]+(?i:to|from):?[ \t]+(?P<title>" + _TITLES + ")?"
    r"(?P<name>(?P<initials>(?:\p{Lu}(?:\.[ \t]*+|[ \t]+)){1,3}+)" + _PARTICLES + "(?P<surname>"
    # In capitals or capitalised; each part ends in a letter of its case, taken whole (no
    # backtracking inside a long run of letters).
    r"\p{Lu}[\p{Lu}'\u2019]*+(?<=\p{Lu})(?:-\p{Lu}[\p{Lu}'\u2019]*+(?<=\p{Lu}))*+"
    r"|\p{Lu}[\p{L}'\u2019]*+(?<=\p{Ll})(?:-\p{Lu}[\p{L}'\u2019]*+(?<=\p{Ll}))*+))"
    r"(?![\p{L}\d'\u2019-])(?P<after>[ \t]+[\p{L}&]++)?")
# Besides the words that name a place or a body (``NOT_SURNAMES``): words that join a firm's
# name, and firms', wards' and accounts' words of statement lines.
_NOT_PAYEES = frozenset({
    "and", "on", "of", "the", "for", "to", "in", "at", "banks", "revenue", "corp", "corporation", "mobile", "ward",
    "wards", "drive", "block", "floor", "wing", "ltd", "limited", "plc", "llc", "inc", "co", "gas", "water", "power",
    "telecom", "stores", "service", "savings", "loan", "mortgage", "pension", "coli",
})
_FIRM_WORDS = frozenset({"LTD", "LIMITED", "PLC", "LLC", "INC", "CO", "GROUP", "BANK", "ENERGY", "UK", "STORES",
                         "SPORTS", "HOLDINGS", "SERVICES", "INSURANCE", "TELECOM", "MOBILE", "&"})


class PayeeRecognizer(NameAwareRecognizer):
    """A person paid or paying on a statement line (``PERSON``)."""

    def __init__(self, given_names: GivenNames, supported_language: str = "en") -> None:
        super().__init__(ENTITY, NAME, given_names, supported_language)
        self.surnames = faker_surnames()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _PAYEE.finditer(text):
            surname = match.group("surname")
            after = (match.group("after") or "").strip()
            if surname.lower() in NOT_SURNAMES or surname.lower() in _NOT_PAYEES or after.upper() in _FIRM_WORDS:
                continue
            article = match.group("initials").strip(" \t.") in {"A", "I"} and match.group("title") is None
            if article and surname.capitalize() not in self.surnames and self.given_names.is_english_text(surname):
                continue
            results.append(self.finding(match.start("name"), match.end("name"), SCORE))
        return EntityRecognizer.remove_duplicates(results)
