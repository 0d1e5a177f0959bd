"""Bank account numbers and the bank codes written beside them (``BANK_ACCOUNT``).

An IBAN is ``IBAN_CODE``; this is the rest of a payment's details: a domestic account number
("Account no: 31926819"), a UK sort code, an Australian BSB, a US routing number (checked by
python-stdnum) and a German Bankleitzahl. None of them has a shape of its own (an account
number is six to thirty digits), so each counts only right after its label: at most one
word between them, and only a word that keeps the two together ("Account number is 3192 6819",
not "Account balance 1 250 000" or "account opened 2019-05-12"). A bank code and an account
written together ("Sort code / account: 20-00-00 / 12345678", "sort code 20-00-00, account
31926819", "account 20-45-77 39910442") are both found by ``BankDetailsRecognizer``: there the
bank code's label, or a sort code's dashed shape before eight digits, makes a bare "account" a
label too.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from faker.providers.currency import Provider as Currencies
from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from stdnum.us import rtn

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
# Not an amount: "savings account 250 000 SEK". Only currency codes count: a bank's initials or
# a bank code's label may follow an account ("12 34 56 78 RBS", "12345678 BSB 062-000").
_CURRENCY_CODES = "|".join(sorted({code for code, _ in Currencies.currencies} | {"RMB", "CNH", "BTC", "ETH", "HRK"}))
# Tested on the whole run of digits from where a number starts, so that an amount is not read
# as a shorter account either ("125 000 000 EUR" holds no "125 000").
_NOT_AN_AMOUNT = rf"(?!\d(?:[ -]?\d)*+[ \t]?(?:(?:{_CURRENCY_CODES})\b|[$€£¥%]))"
# Six to thirty digits: a Polish account (NRB) has 26, in groups of four.
_ACCOUNT_DIGITS = r"\d(?:[ -]?\d){5,29}"
_ACCOUNT = _START + _NOT_AN_AMOUNT + r"(?!(?:" + _DATE.pattern + r")" + _END + r")" + _ACCOUNT_DIGITS + _END
_SORT_CODE, _BSB, _ROUTING, _BLZ = r"\d{2}[- ]?\d{2}[- ]?\d{2}", r"\d{3}[- ]?\d{3}", r"\d{9}", r"\d{3} ?\d{3} ?\d{2}"
_SORT_CODE_LABELS = ("sort code", "sort-code", "sortcode")
_ROUTING_LABELS = ("routing number", "routing no", "routing #", "routing", "ABA", "RTN", "routing transit number")
_BLZ_LABELS = ("BLZ", "Bankleitzahl")

FORMATS: tuple[BankNumberFormat, ...] = (
    BankNumberFormat("account number", _ACCOUNT, None, (
        "account number", "account no", "account #", "acct no", "acct #", "acct", "acc no", "acc. no", "acc #", "acc",
        "a/c", "a/c no",
        "bank account", "checking account", "savings account", "Kontonummer", "Konto-Nr", "Kto-Nr",
        "numéro de compte", "n° de compte", "número de cuenta", "numero di conto", "conto corrente",
        "rekeningnummer", "numer konta", "nr konta", "kontonr"), max_gap_words=1),
    BankNumberFormat("UK sort code", _START + _SORT_CODE + _END, None, _SORT_CODE_LABELS, max_gap_words=1),
    BankNumberFormat("AU BSB", _START + _BSB + _END, None, ("BSB",), max_gap_words=1),
    BankNumberFormat("US routing number", _START + _ROUTING + _END, "stdnum.us.rtn", _ROUTING_LABELS,
                     max_gap_words=1),
    BankNumberFormat("DE Bankleitzahl", _START + _BLZ + _END, None, _BLZ_LABELS, max_gap_words=1),
)


# A bank code and an account written together: "Sort code / account: 20-00-00 / 12345678",
# "sort code 20-00-00, account 31926819", "Account 12345678 (BSB 062-000)". The bank code's
# label makes a bare "account" an account label, and one label may name both values. Each code
# is read in its own format (and checked, a routing number).
_BANK_CODES: dict[str, tuple[tuple[str, ...], str, Callable[[str], bool] | None]] = {
    "sort_code": (_SORT_CODE_LABELS, _SORT_CODE, None),
    "bsb": (("BSB",), _BSB, None),
    "routing": (_ROUTING_LABELS, _ROUTING, rtn.is_valid),
    "blz": (_BLZ_LABELS, _BLZ, None),
}
_ACCOUNT_WORDS = r"(?i:account|acct|acc|a/c|Kontonummer|Konto)(?i:\.?\s*(?:number|no\.?|nr\.?|#))?"
_AND = r"\s*(?:/|&|\+|\band\b)\s*"
# Written without nested optional spaces: "\s*(?:x)?\s*" would try every split of a long run of
# spaces between the two stars, a time quadratic in its length.
_THEN = r"\s*(?:(?:[/,;&+|(.]|\band\b)\s*)?"
_IS = r"\s*(?:(?:[:=-]|\bis\b)\s*)?"
# A value ends where no word goes on (a "/" may follow: "20-00-00/31926819").
_VALUE_END = r"(?![\w]|[-.,]\w)"


def _value(name: str, pattern: str, *, account: bool = False) -> str:
    return rf"(?<![\w-]){_NOT_AN_AMOUNT if account else ''}(?P<{name}>{pattern}){_VALUE_END}"


def _bank_details_pattern() -> re.Pattern[str]:
    forms = []
    for kind, (labels, code, _) in _BANK_CODES.items():
        label = "(?i:" + "|".join(r"\s+".join(map(re.escape, word.split()))
                                  for word in sorted(labels, key=len, reverse=True)) + r")(?!\w)"
        code_a, code_b = _value(f"{kind}_code_a", code), _value(f"{kind}_code_b", code)
        code_c, code_d = _value(f"{kind}_code_c", code), _value(f"{kind}_code_d", code)
        account_a, account_b = (_value(f"{kind}_account_a", _ACCOUNT_DIGITS, account=True),
                                _value(f"{kind}_account_b", _ACCOUNT_DIGITS, account=True))
        account_c, account_d = (_value(f"{kind}_account_c", _ACCOUNT_DIGITS, account=True),
                                _value(f"{kind}_account_d", _ACCOUNT_DIGITS, account=True))
        forms += [
            # one label for both: "Sort code / account: 20-00-00 / 12345678", "Account & BSB: ..."
            rf"{label}{_AND}{_ACCOUNT_WORDS}{_IS}{code_a}{_THEN}{account_a}",
            rf"{_ACCOUNT_WORDS}{_AND}{label}{_IS}{account_b}{_THEN}{code_b}",
            # one after the other: "sort code 20-00-00, account 31926819"
            rf"{label}{_IS}{code_c}{_THEN}{_ACCOUNT_WORDS}{_IS}{account_c}",
            rf"{_ACCOUNT_WORDS}{_IS}{account_d}{_THEN}{label}{_IS}{code_d}",
        ]
    # A UK sort code in its dashes and an eight-digit account after a bare "account": "my half
    # can go to account 20-45-77 39910442" (the dashed pair is no other number's shape).
    eight_digits = _value("sort_code_account_e", r"\d{8}", account=True)
    forms.append(rf"{_ACCOUNT_WORDS}{_IS}(?<![\w-])(?P<sort_code_code_e>\d{{2}}-\d{{2}}-\d{{2}})[ \t]+{eight_digits}")
    return re.compile(r"(?<!\w)(?:" + "|".join(forms) + ")")


_BANK_DETAILS = _bank_details_pattern()
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
            values = {group: value for group, value in match.groupdict().items() if value is not None}
            # Groups are named "<kind>_<code|account>_<form>"; one form matched, of one kind.
            kind = next(iter(values)).rsplit("_", 2)[0] if values else ""
            check = _BANK_CODES[kind][2] if kind in _BANK_CODES else None
            code = next((value for group, value in values.items() if "_code_" in group), "")
            if check is not None and not check(re.sub(r"\D", "", code)):
                continue  # "routing 123456789" fails the ABA check: no bank code, no account label
            for group, value in values.items():
                if _DATE.fullmatch(value):
                    continue
                results.append(RecognizerResult(ENTITY, match.start(group), match.end(group), SCORE,
                                                recognition_metadata={
                                                    RecognizerResult.RECOGNIZER_NAME_KEY: BANK_DETAILS_NAME,
                                                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                                    RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True}))
        return EntityRecognizer.remove_duplicates(results)
