"""Bank account numbers and the bank codes written beside them (``BANK_ACCOUNT``).

An IBAN is ``IBAN_CODE``; this is the rest of a payment's details: a domestic account number
("Account no: 31926819"), a UK sort code, an Australian BSB, a US routing number (checked by
python-stdnum) and a German Bankleitzahl. None of them has a shape of its own (an account
number is six to twenty-four digits), so each counts only right after its label: at most one
word between them, and only a word that keeps the two together ("Account number is 3192 6819",
not "Account balance 1 250 000" or "account opened 2019-05-12").
"""

from __future__ import annotations

import re

from docveil.stages.detect.numbers import CLOSE_GAP_WORDS, NumberFormat

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

