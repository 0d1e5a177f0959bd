"""BANK_ACCOUNT: account numbers and bank codes right after their label, nowhere else."""

from __future__ import annotations

import pytest
from findings_of import found

from docveil.context import StageContext
from docveil.stages.detect.bank_accounts import FORMATS
from docveil.stages.detect.pii_text import analyze_texts
from docveil.stages.redact.pseudonyms import Pseudonymizer

# One labelled sentence per format.
EXAMPLES = {
    "account number": ("Please pay into account number 31926819 by Friday.", "31926819"),
    "UK sort code": ("Sort code: 20-00-00", "20-00-00"),
    "AU BSB": ("BSB 062-000, then the account.", "062-000"),
    "US routing number": ("Routing number: 021000021", "021000021"),
    "DE Bankleitzahl": ("BLZ 370 400 44", "370 400 44"),
}



def test_every_format_has_an_example() -> None:
    assert {number_format.name for number_format in FORMATS} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_labelled_number_isfound(name: str, detect_context: StageContext) -> None:
    text, number = EXAMPLES[name]
    assert ("BANK_ACCOUNT", number) in found(text, detect_context)


@pytest.mark.parametrize(("text", "number"), [
    ("Bank details: Account no: 0123-4567-89, BSB 062-000.", "0123-4567-89"),
    ("Your account number is 4412 8890 12.", "4412 8890 12"),
    ("Routing number: 021000021 Account #: 000123456789", "000123456789"),
    ("Kontonummer 532013000, BLZ 370 400 44", "532013000"),
    ("Numéro de compte : 00012345678", "00012345678"),
    ("Número de cuenta: 0049 1500 05 1234567892", "0049 1500 05 1234567892"),
    ("Acct 12345678 500.00 CR", "12345678"),  # not the amount after it
    ("Account no: 12 34 56 78 RBS", "12 34 56 78"),  # three capitals that are no currency
    ("Account number: 12345678 01/02/2024", "12345678"),  # nor the date
    ("Bank for reimbursement: HSBC, acc 81920374", "81920374"),
    ("acc no 81920374", "81920374"),
])
def test_account_numbers_as_people_write_them(text: str, number: str, detect_context: StageContext) -> None:
    assert ("BANK_ACCOUNT", number) in found(text, detect_context)


@pytest.mark.parametrize("text", [
    "Account balance 1 250 000 as of today.",  # an amount: "balance" parts label and number
    "Account opened 2019-05-12 for the client.",  # a date
    "Acct 2019-05-12 statement attached.",  # a date right after the label
    "The routing number 123456789 is wrong.",  # fails the ABA check
    "Order number 12345678 shipped on Monday.",  # no bank label
    "The account was closed in 2021 after 123456 complaints.",
    "Sort code 20-00-00-00 is not a sort code.",
    "Transfer to savings account 250 000 SEK.",  # an amount
    "Bank account 100 000 EUR",
    "Account 12 34 56 78 USD",  # an amount: no shorter account inside it
    "Savings account 125 000 000 EUR",
    "The acc 2019 figures; account 20-45-77 is a range, account 12-05-2019 39910442 a date",
])
def test_unlabelled_or_other_numbers_are_not_bank_accounts(text: str, detect_context: StageContext) -> None:
    assert "BANK_ACCOUNT" not in {entity_type for entity_type, _ in found(text, detect_context)}


def bank_numbers(text: str, context: StageContext) -> set[str]:
    return {value for entity_type, value in found(text, context) if entity_type == "BANK_ACCOUNT"}


@pytest.mark.parametrize(("text", "numbers"), [
    ("Sort code / account: 20-00-00 / 12345678", {"20-00-00", "12345678"}),
    ("Sort code/account: 20-00-00/31926819", {"20-00-00", "31926819"}),
    ("Account / sort code: 31926819 / 20-00-00", {"31926819", "20-00-00"}),
    ("Bank details: sort code 20-00-00, account 31926819.", {"20-00-00", "31926819"}),
    ("sort code 20-00-00 and account number 31926819", {"20-00-00", "31926819"}),
    ("sort code 20-00-00 | account 31926819", {"20-00-00", "31926819"}),
    ("sort code 20-00-00. Account 31926819.", {"20-00-00", "31926819"}),
    ("Account: 12345678 (sort code 20-00-00)", {"12345678", "20-00-00"}),
    ("Account & BSB: 12345678 / 062-000", {"12345678", "062-000"}),
    ("Account 12345678 BSB 062-000", {"12345678", "062-000"}),  # a code's label is no currency
    ("Acct 12345678 RTN 021000021", {"12345678", "021000021"}),
    ("Routing / account: 021000021 / 123456789012", {"021000021", "123456789012"}),
    ("BSB 062 000 account 1234 5678", {"062 000", "1234 5678"}),
    ("Konto 12345678 BLZ 370 400 44", {"12345678", "370 400 44"}),
    ("sort code 20-00-00, account 12345678 500.00 GBP", {"20-00-00", "12345678"}),  # not the amount
    ("sort code 20 00 00, account 12 34 56 78 RBS", {"20 00 00", "12 34 56 78"}),  # a bank's initials: whole
    ("My half can go to account 20-45-77 39910442. Thanks!!", {"20-45-77", "39910442"}),  # a sort code's dashes
])
def test_a_bank_code_and_an_account_written_together_are_both_found(
        text: str, numbers: set[str], detect_context: StageContext) -> None:
    assert bank_numbers(text, detect_context) == numbers


@pytest.mark.parametrize(("text", "numbers"), [
    ("Sort code: 20-00-00. Account opened 2019-05-12.", {"20-00-00"}),  # "opened" parts them
    ("sort code 20-00-00, account 2019-05-12", {"20-00-00"}),  # a date is no account
    ("sort code 20-00-00, account balance 1 250 000", {"20-00-00"}),  # an amount
    ("Account 2019 review, then the sort code list.", set()),
    ("Account 12345678, routing 12-30", set()),  # no routing number's shape
    ("Account 2019 2020 and ABA 2021 2022", set()),
    ("Routing / account: 123456789 / 12345678", set()),  # fails the ABA check: no bank code there
])
def test_a_bare_account_word_labels_only_a_number_beside_a_real_bank_code(
        text: str, numbers: set[str], detect_context: StageContext) -> None:
    assert bank_numbers(text, detect_context) == numbers


def test_an_iban_stays_an_iban(detect_context: StageContext) -> None:
    text = "Account number: DE89 3704 0044 0532 0130 00"
    assert found(text, detect_context) == {("IBAN_CODE", "DE89 3704 0044 0532 0130 00")}


def test_separators_do_not_change_the_token() -> None:
    pseudonymizer = Pseudonymizer(bytes(range(32)))
    assert (pseudonymizer.token("3192 6819", "BANK_ACCOUNT") == pseudonymizer.token("31926819", "BANK_ACCOUNT")
            == pseudonymizer.token("3192-6819", "BANK_ACCOUNT"))


def test_every_digit_of_a_26_digit_account_is_covered(detect_context: StageContext) -> None:
    # A Polish account (NRB); a card number read inside it wins its part, the rest stays an account.
    text = "Numer konta: 61 1090 1014 0000 0712 1981 2874"
    findings = analyze_texts([text], detect_context)[0]
    covered = {i for f in findings for i in range(f.start, f.end)}
    assert all(i in covered for i, ch in enumerate(text) if ch.isdigit())
    assert {f.entity_type for f in findings} <= {"BANK_ACCOUNT", "CREDIT_CARD"}
