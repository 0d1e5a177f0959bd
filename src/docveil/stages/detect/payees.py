"""Payees and payers on bank statements (``PERSON``): "FASTER PAYMENT TO M KOWALCZYK", "DD TO J
SMITH", "TFR FROM MRS A J NOWAK", "Transfer to J. O'Neill".

A statement line names the kind of payment, then "TO" or "FROM", then whom: a person as initials
and a surname, mostly in capitals, which spaCy's small model takes for an organisation or
nothing at all. A firm is written without initials ("BGC FROM ACME PAYROLL LTD"), so only a
surname after one to three initials (and perhaps a title, not part of the finding) counts. A
lone "A" or "I" is an article or a pronoun as well: "TRANSFER TO A SAVINGS ACCOUNT" names no one,
so after it the surname must be no English word.
"""

from __future__ import annotations

import regex
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.given_names import GivenNames
from docveil.stages.detect.recognizers import NameAwareRecognizer

ENTITY = "PERSON"
NAME = "PayeeRecognizer"
SCORE = 0.85
_KINDS = ("faster payments?", "faster pymt", "fpo", "fpi", "fp", "fps", "bill payment", "bill pymt", "bp", "payment",
          "paymt", "pymt", "tfr", "trf", "transfer", "dd", "direct debit", "so", "sto", "standing order", "bgc",
          "bank giro credit", "bacs", "chaps", "credit", "cr")
_TITLES = r"(?:MR|MRS|MS|MISS|MX|DR|Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+"
_PAYEE = regex.compile(
    rf"(?<![\p{{L}}\d])(?i:{'|'.join(_KINDS)})[ \t]+(?i:to|from)[ \t]+(?:{_TITLES})?"
    r"(?P<name>(?P<initials>(?:\p{Lu}\.?[ \t]+){1,3})(?P<surname>"
    r"\p{Lu}[\p{Lu}'\u2019]*\p{Lu}(?:-\p{Lu}[\p{Lu}'\u2019]*\p{Lu})*"  # in capitals
    r"|\p{Lu}[\p{L}'\u2019]*\p{Ll}(?:-\p{Lu}[\p{L}'\u2019]*\p{Ll})*))"  # or capitalised
    r"(?![\p{L}\d'\u2019-])")


class PayeeRecognizer(NameAwareRecognizer):
    """A person paid or paying on a statement line (``PERSON``)."""

    def __init__(self, given_names: GivenNames, supported_language: str = "en") -> None:
        super().__init__(ENTITY, NAME, given_names, supported_language)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _PAYEE.finditer(text):
            article = match.group("initials").strip(" \t.") in {"A", "I"}
            if article and self.given_names.is_english_text(match.group("surname")):
                continue
            results.append(RecognizerResult(ENTITY, match.start("name"), match.end("name"), SCORE, recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: NAME, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return EntityRecognizer.remove_duplicates(results)
