"""Bank account numbers and the bank codes written beside them (``BANK_ACCOUNT``).

An IBAN is ``IBAN_CODE``; this is the rest of a payment's details: a domestic account number
("Account no: 31926819"), a UK sort code, an Australian BSB, a US routing number (checked by
python-stdnum) and a German Bankleitzahl. None of them has a shape of its own (an account
number is six to twenty-four digits), so each counts only right after its label: at most one
word between them, and only a word that keeps the two together ("Account number is 3192 6819",
not "Account balance 1 250 000" or "account opened 2019-05-12"). A bank code and an account
written together ("Sort code / account: 20-00-00 / 12345678", "sort code 20-00-00, account
31926819") are both found by ``BankDetailsRecognizer``: there the bank code's label makes a
bare "account" a label too.
"""

from __future__ import annotations

import re

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from docveil.stages.detect.numbers import CLOSE_GAP_WORDS, SCORE, NumberFormat

ENTITY = "BANK_ACCOUNT"

# A date written with dashes or spaces reads as digits too: 2019-05-12, 12-05-2019.
_DATE = re.compile(r"(?:19|20)\d{2}[- ](?:0?[1-9]|1[0-2])[- ](?:0?[1-9]|[12]\d|3[01])"
                   r"|(?:0?[1-9]|[12]\d|3[01])[- ](?:0?[1-9]|1[0-2])[- ](?:19|20)\d{2}")


class BankNumberFormat(NumberFormat):
    """A bank account number or bank code after its label (``BANK_ACCOUNT``)."""

    entity = ENTITY
    gap_words = CLOSE_GAP_WORDS


# Not part of a longer number or a date: "20-00-00-00" holds no sort code, "12345678 500.00"
# only the account, "12345678 01/02/2024" too.
_START, _END = r"(?<![\w-])", r"(?![\w]|[-/.,]\w)"
# Not an amount: "savings account 250 000 SEK".
_NO_CURRENCY = r"(?![ \t]?(?:[A-Z]{3}\b|[$€£¥%]))"
_ACCOUNT = (_START + r"(?!(?:" + _DATE.pattern + r")" + _END + r")\d(?:[ -]?\d){5,23}" + _END
            + _NO_CURRENCY)

FORMATS: tuple[BankNumberFormat, ...] = (
    BankNumberFormat("account number", _ACCOUNT, None, (
        "account number", "account no", "account #", "acct no", "acct #", "acct", "a/c", "a/c no",
        "bank account", "checking account", "savings account", "Kontonummer", "Konto-Nr", "Kto-Nr",
        "numéro de compte", "n° de compte", "número de cuenta", "numero di conto", "conto corrente",
        "rekeningnummer", "numer konta", "nr konta", "kontonr"), max_gap_words=1),
    BankNumberFormat("UK sort code", _START + r"\d{2}[- ]?\d{2}[- ]?\d{2}" + _END, None,
                     ("sort code", "sort-code", "sortcode"), max_gap_words=1),
    BankNumberFormat("AU BSB", _START + r"\d{3}[- ]?\d{3}" + _END, None, ("BSB",), max_gap_words=1),
    BankNumberFormat("US routing number", _START + r"\d{9}" + _END, "stdnum.us.rtn",
                     ("routing number", "routing no", "routing #", "routing", "ABA", "RTN",
                      "routing transit number"), max_gap_words=1),
    BankNumberFormat("DE Bankleitzahl", _START + r"\d{3} ?\d{3} ?\d{2}" + _END, None, ("BLZ", "Bankleitzahl"), max_gap_words=1),
)



# A bank code and an account written together: "Sort code / account: 20-00-00 / 12345678",
# "sort code 20-00-00, account 31926819", "Account / BSB: 12345678 / 062-000". The bank code's
# label makes a bare "account" an account label, and one label may name both values.
_CODE_LABEL = (r"(?i:sort[- ]?code|BSB|routing(?:\s+(?:number|no\.?|#))?|ABA|BLZ|Bankleitzahl)")
_ACCOUNT_LABEL = r"(?i:account|acct|a/c|Konto)(?i:\s*(?:number|no\.?|nr\.?|#))?"
_AND = r"\s*(?:/|&|\+|\band\b)\s*"
_THEN = r"\s*(?:[/,;&+]|\band\b)?\s*"
_IS = r"\s*(?:[:=-]|\bis\b)?\s*"
_CODE = r"\d{2,3}(?:[- ]?\d{2,3}){1,2}"
_NUMBER = r"\d(?:[- ]?\d){5,23}"


def _value(name: str, pattern: str) -> str:
    return rf"{_START}(?P<{name}>{pattern}){_END}{_NO_CURRENCY}"


_BANK_DETAILS = re.compile("|".join((
    # one label for both: "Sort code / account: 20-00-00 / 12345678", "Account & BSB: ..."
    rf"{_CODE_LABEL}{_AND}{_ACCOUNT_LABEL}{_IS}{_value('code_a', _CODE)}{_THEN}{_value('account_a', _NUMBER)}",
    rf"{_ACCOUNT_LABEL}{_AND}{_CODE_LABEL}{_IS}{_value('account_b', _NUMBER)}{_THEN}{_value('code_b', _CODE)}",
    # one after the other: "sort code 20-00-00, account 31926819"
    rf"{_CODE_LABEL}{_IS}{_value('code_c', _CODE)}{_THEN}{_ACCOUNT_LABEL}{_IS}{_value('account_c', _NUMBER)}",
    rf"{_ACCOUNT_LABEL}{_IS}{_value('account_d', _NUMBER)}{_THEN}{_CODE_LABEL}{_IS}{_value('code_d', _CODE)}",
)))
BANK_DETAILS_NAME = "BankDetailsRecognizer"


class BankDetailsRecognizer(LocalRecognizer):
    """``BANK_ACCOUNT``: a bank code and an account number written together under their labels."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entities=[ENTITY], supported_language=supported_language, name=BANK_DETAILS_NAME)

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        results = []
        for match in _BANK_DETAILS.finditer(text):
            for group, value in match.groupdict().items():
                if value is not None and not _DATE.fullmatch(value):
                    results.append(RecognizerResult(ENTITY, match.start(group), match.end(group), SCORE,
                                                    recognition_metadata={
                                                        RecognizerResult.RECOGNIZER_NAME_KEY: BANK_DETAILS_NAME,
                                                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                                        RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True}))
        return results
