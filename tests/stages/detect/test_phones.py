"""PHONE_NUMBER in the national formats of more countries, read after a phone label."""

from __future__ import annotations

import pytest
from findings_of import found

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import ConfigError
from docveil.stages.detect.phones import LabelledPhoneRecognizer


@pytest.mark.parametrize(("text", "numbers"), [
    ("Call me on 612 34 56 78 tomorrow.", ["612 34 56 78"]),  # Spain, mobile
    ("Mobil: 070-123 45 67", ["070-123 45 67"]),  # Sweden
    ("Telefono 347 123 4567", ["347 123 4567"]),  # Italy
    ("Telefoon: 06-12345678", ["06-12345678"]),  # Netherlands
    ("tel 0471 12 34 56", ["0471 12 34 56"]),  # Belgium
    ("telefon 501 234 567", ["501 234 567"]),  # Poland
    ("puhelin 040 123 4567", ["040 123 4567"]),  # Finland
    ("Tlf 20 12 34 56", ["20 12 34 56"]),  # Denmark
    ("M: 0412 345 678\nT: 02 9374 4000", ["0412 345 678", "02 9374 4000"]),  # Australia, a signature
    ("Tel: 612 34 56 78 / 91 123 45 67", ["612 34 56 78", "91 123 45 67"]),  # a list after one label
    ("Phone 2: 612 34 56 78, Mobile (2nd): 612 345 678", ["612 34 56 78", "612 345 678"]),  # indexed labels
    ("Anna Nowak | M: 612 345 678 | E: anna@acme.es", ["612 345 678"]),  # a letter label after a separator
])
def test_a_labelled_national_number_isfound(text: str, numbers: list[str], detect_context: StageContext) -> None:
    assert {("PHONE_NUMBER", number) for number in numbers} <= found(text, detect_context)


@pytest.mark.parametrize("text", [
    "Order 123 456 789 shipped.",  # a valid Polish number, but no label
    "Please call the service desk about ticket 482 113 990.",  # the label is too far away
    "Call 2023 results were published.",  # too short for a phone number
    "Phone: 12.03.2024",
    "M. Dupont signed the form.",
    "Call ID 48213977 was escalated. Mobile build 20240312 is ready.",  # an identifier, a date
    "Ticket T: 123456789 was closed.",  # a letter labels a number only at the start of a line
    "Tel: 2023 / order 612345678",  # a number between the label and this one
])
def test_an_unlabelled_or_implausible_number_is_not_a_phone_number(
        text: str, detect_context: StageContext) -> None:
    assert not {value for entity_type, value in found(text, detect_context) if entity_type == "PHONE_NUMBER"}


def test_the_regions_are_a_setting() -> None:
    spanish = "Call me on 612 34 56 78 tomorrow."
    assert LabelledPhoneRecognizer(["es"]).analyze(spanish, ["PHONE_NUMBER"])
    assert not LabelledPhoneRecognizer(["AT"]).analyze(spanish, ["PHONE_NUMBER"])  # not a valid Austrian number
    assert not LabelledPhoneRecognizer([]).analyze(spanish, ["PHONE_NUMBER"])
    assert Settings.load(env={"DOCVEIL_PHONE_REGIONS": "es, se"}).phone_regions == ("ES", "SE")


@pytest.mark.parametrize("regions", [("Spain",), ("XX",)])
def test_an_unknown_region_is_a_config_error(regions: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match="region"):
        Settings(phone_regions=regions)
    with pytest.raises(ConfigError, match="region"):
        LabelledPhoneRecognizer(regions)
