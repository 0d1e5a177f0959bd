"""RECORD_ID and LICENSE_PLATE in text: record numbers and plates right after their label."""

from __future__ import annotations

import pytest
from findings_of import found

from docveil.context import StageContext
from docveil.stages.detect import plate_numbers, record_ids
from docveil.stages.redact.pseudonyms import Pseudonymizer

RECORDS = {
    "medical record number": ("Patient MRN: 00412345, admitted 3 March.", "00412345"),
    "insurance number": ("Insurance policy number: POL-99812374 renewed.", "POL-99812374"),
    "customer number": ("Customer ID: CUST-004512 asked for a refund.", "CUST-004512"),
    "student number": ("Student number: s1234567", "s1234567"),
    "travel number": ("Frequent flyer number: BA48291736 on the booking.", "BA48291736"),
    "booking reference": ("Booking reference: QX7PLM (two passengers).", "QX7PLM"),
    "staff number": ("Payroll no. P-20931 for March.", "P-20931"),
    "professional registration": ("Registered pharmacist (GPhC 2087412).", "2087412"),
    "vehicle identification number": ("Chassis number: VF1RFB00X56789012 on the logbook.", "VF1RFB00X56789012"),
    "vehicle identification number with its check digit": ("Towed: 1M8GDM9AXKP042788, no keys.",
                                                            "1M8GDM9AXKP042788"),
}
PLATES = {
    "vehicle registration": ("Vehicle registration: AB12 CDE (silver Ford Focus).", "AB12 CDE"),
    "vehicle registration, national format": ("A black Audi A3, VRM LR19 XKD, was smashed.", "LR19 XKD"),
}



def test_every_format_has_an_example() -> None:
    assert {record_format.name for record_format in record_ids.FORMATS} == set(RECORDS)
    assert {plate_format.name for plate_format in plate_numbers.FORMATS} == set(PLATES)


@pytest.mark.parametrize(("text", "value"), [
    *RECORDS.values(),
    ("Medical record number 7734521 was merged.", "7734521"),
    ("Member ID W123456789, group 5", "W123456789"),
    ("Health insurance no. A123456780 (Krankenversicherung).", "A123456780"),
    ("Customer number is 004512 and the client ID: C-7781-X.", "C-7781-X"),
    ("Claim no. 2024/118734 filed.", "2024/118734"),
    ("Kundennummer 88123-04", "88123-04"),
    ("MRN: 0041 2345 on file", "0041 2345"),  # digits in groups, all of them
    ("Policy number: POL 99812374", "POL 99812374"),
    ("Employee number: 004417, staff no 00912871", "004417"),
    ("Employee number: 004417, staff no 00912871", "00912871"),
    ("Personalnummer: 4471-220", "4471-220"),
    ("Dr Amy Stone, GMC 7293184", "7293184"),
    ("NMC PIN: 19I4402O", "19I4402O"),
])
def test_a_labelled_record_number_isfound(text: str, value: str, detect_context: StageContext) -> None:
    assert ("RECORD_ID", value) in found(text, detect_context)


@pytest.mark.parametrize(("text", "value"), [
    *PLATES.values(),
    ("Kennzeichen M-KR 4821, Halter unbekannt.", "M-KR 4821"),
    ("License plate: 7ABC123 (California)", "7ABC123"),
    ("Immatriculation : AB-123-CD", "AB-123-CD"),
    ("Vehicle registration mark: YF68 KWZ   Make: VOLKSWAGEN", "YF68 KWZ"),
    ("Registration: YF68 KWZ", "YF68 KWZ"),
    ("Spedition Kühne, Fahrzeug HH-JK 2291", "HH-JK 2291"),
])
def test_a_labelled_plate_isfound(text: str, value: str, detect_context: StageContext) -> None:
    assert ("LICENSE_PLATE", value) in found(text, detect_context)


@pytest.mark.parametrize("text", [
    "Policy number: see below.",  # no digits
    "Student ID card 2 of 3 is lost.",  # too few digits
    "Order 00412345 shipped; patient satisfaction 98%.",  # no record label before the number
    "The MRN field was left empty for 12345678 rows.",  # words between label and number
    "Registration number 2024 opens in May.",  # no plate: digits only
    "Plate number: ABC",  # no plate: letters only
    "Vehicle registration renewed in 2023.",
    "Company Reg No: SC123456",  # a company, not a car
    "Company reg SC123456; Registration: 2024-03-12",  # loose labels take national plate formats only
    "The GMC published 2024 figures: 1,234 doctors.",
    "Plate ID: PL00123",  # a lab's plate
    "Policy no 12.5% increase; Student ID 3.14159",  # a percentage, a decimal number
])
def test_unlabelled_or_shapeless_values_are_left_alone(text: str, detect_context: StageContext) -> None:
    types = {entity_type for entity_type, _ in found(text, detect_context)}
    assert not types & {"RECORD_ID", "LICENSE_PLATE"}


def test_separators_do_not_change_the_token() -> None:
    pseudonymizer = Pseudonymizer(bytes(range(32)))
    assert pseudonymizer.token("AB12 CDE", "LICENSE_PLATE") == pseudonymizer.token("AB12CDE", "LICENSE_PLATE")
    assert pseudonymizer.token("POL-99812374", "RECORD_ID") == pseudonymizer.token("POL 99812374", "RECORD_ID")
