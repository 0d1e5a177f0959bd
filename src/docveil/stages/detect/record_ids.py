"""Identifiers of one person's record: medical record, insurance, customer, student and pupil
numbers, staff and payroll numbers, professional registrations (a doctor's GMC number), frequent
flyer and ticket numbers, booking references, vehicle identification numbers (``RECORD_ID``).

Each organisation numbers its records its own way ("00412345", "POL-99812374", "W123456789"),
so a record number is known only by its label, right before it: at most one word between them,
and only a word such as "is", "no" or "ID" ("Patient MRN: 00412345", "member ID W123456789").
The value is letters, digits and ``- / .`` (a space before a digit) with at least three digits, four to twenty-five
characters long: "Policy number: see below" or "Student ID card" hold none.

A vehicle identification number (VIN, ISO 3779) names its vehicle, and so its keeper, for life:
seventeen capitals and digits without I, O or Q. After its label ("VIN", "chassis number",
"Fahrgestellnummer") any such VIN counts; without one, only a VIN whose ninth character is its
check digit, as North American VINs carry (a random code of that shape passes about one time in 150).
"""

from __future__ import annotations

import re

from docveil.stages.detect.numbers import CLOSE_GAP_WORDS, NumberFormat

ENTITY = "RECORD_ID"

_MEDICAL = (
    "MRN", "medical record number", "medical record no", "medical record", "hospital number", "hospital no",
    "patient ID", "patient number", "patient no", "chart number", "case file number", "Patientennummer",
    "numéro de patient", "número de historia clínica"
)
_INSURANCE = (
    "member ID", "member number", "member no", "membership number", "membership no", "policy number", "policy no",
    "policy #", "insurance number", "insurance no", "insurance ID", "health plan ID", "subscriber ID",
    "beneficiary ID", "claim number", "claim no", "Versichertennummer", "Krankenversichertennummer",
    "Policennummer", "numéro d'adhérent", "numéro de police", "número de afiliado", "número de póliza",
    "numero di polizza"
)
_CUSTOMER = (
    "customer ID", "customer number", "customer no", "client ID", "client number", "client no", "loyalty number",
    "Kundennummer", "Kunden-Nr", "numéro client", "número de cliente", "codice cliente", "klantnummer"
)
_STUDENT = (
    "student ID", "student number", "student no", "matriculation number", "Matrikelnummer", "enrolment number",
    "enrollment number", "numéro étudiant", "número de estudiante", "UPN", "unique pupil number", "pupil number"
)
_STAFF = (
    "employee number", "employee no", "staff number", "staff no", "staff ID", "payroll number", "payroll no",
    "payroll ID", "personnel number", "personnel no", "Personalnummer", "Personal-Nr", "Mitarbeiternummer",
    "numéro de matricule", "matricule", "número de empleado", "numero di matricola", "personeelsnummer",
)
# Registers of professionals: doctors, nurses, pharmacists, health professions, US prescribers.
_PROFESSIONAL = ("GMC number", "GMC no", "GMC", "NMC PIN", "NMC", "GPhC number", "GPhC", "HCPC", "NPI",
                 "DEA number")
_TRAVEL = (
    "frequent flyer number", "frequent flyer no", "frequent flyer", "frequent flier number", "loyalty card number",
    "e-ticket number", "e-ticket", "eticket", "ticket number", "ticket no", "Miles & More", "Flying Blue",
)
# A booking reference (PNR): six letters and digits, mostly letters ("QX7PLM").
_BOOKING = (r"(?<![\w-])(?![A-Z]{6}(?![\w-]))(?=[A-Z0-9]{6}(?![\w-]))(?:[A-Z]*\d){1,3}[A-Z]*(?<![\w-]\d{6})"
            r"(?![\w-])")
_BOOKING_LABELS = ("booking reference", "booking ref", "booking code", "booking number", "reservation code",
                   "reservation number", "PNR", "record locator", "Buchungscode", "Buchungsnummer",
                   "référence de réservation", "localizador")

_VIN = r"(?<![\w-])(?=[A-HJ-NPR-Z0-9]{0,16}[A-HJ-NPR-Z])(?=[A-HJ-NPR-Z0-9]{0,16}\d)[A-HJ-NPR-Z0-9]{17}(?![\w-])"
_VIN_LABELS = ("VIN", "VIN number", "VIN no", "vehicle identification number", "chassis number", "chassis no",
               "frame number", "Fahrgestellnummer", "Fahrzeug-Identifizierungsnummer", "FIN", "numéro VIN",
               "numéro de châssis", "número de bastidor", "numero di telaio", "telaio", "chassisnummer")
# The check digit's values and weights (49 CFR 565.15).
_VIN_VALUES = {character: value for characters, first in (("0123456789", 0), ("ABCDEFGH", 1), ("JKLMN", 1),
                                                          ("STUVWXYZ", 2))
               for value, character in enumerate(characters, first)} | {"P": 7, "R": 9}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit_valid(vin: str) -> bool:
    """Whether the ninth character of a seventeen-character VIN is its check digit."""
    if len(vin) != 17 or any(character not in _VIN_VALUES for character in vin):
        return False
    remainder = sum(_VIN_VALUES[character] * weight for character, weight in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    return vin[8] == ("X" if remainder == 10 else str(remainder))


# Not starting at a label's own word (in any case): in "MRN 00412345" or "patient ID 00412345" the
# record is the number (a capital and a space before a digit would otherwise join them).
_LABEL_WORDS = "|".join(sorted({word.upper() for label in (*_MEDICAL, *_INSURANCE, *_CUSTOMER, *_STUDENT,
                                                             *_TRAVEL, *_STAFF, *_PROFESSIONAL, *_VIN_LABELS,
                                                             *CLOSE_GAP_WORDS)
                                 for word in re.findall(r"\w+", label) if len(word) >= 2}, key=len, reverse=True))
# Letters and digits, joined by single separators (a space only between a capital or digit and
# a digit: "0041 2345", "POL 99812374", not "number 7734521"), with three digits among them;
# not a decimal number or a percentage.
_RECORD = (rf"(?<![\w/.-])(?!(?i:{_LABEL_WORDS})\b)(?=(?:[A-Za-z/.-]*(?:(?<=[A-Z0-9]) )?\d){{3}})(?!\d+[.,]\d+(?![\w/-]))"
           r"[A-Za-z0-9](?:[A-Za-z0-9]|[-/.](?=[A-Za-z0-9])|(?<=[A-Z0-9]) (?=\d)){3,24}(?![\w%]|[-/.]\w)")


class RecordIdFormat(NumberFormat):
    """An identifier of a person's record after its label (``RECORD_ID``)."""

    entity = ENTITY
    gap_words = CLOSE_GAP_WORDS


FORMATS: tuple[RecordIdFormat, ...] = (
    RecordIdFormat("medical record number", _RECORD, None, _MEDICAL, max_gap_words=1),
    RecordIdFormat("insurance number", _RECORD, None, _INSURANCE, max_gap_words=1),
    RecordIdFormat("customer number", _RECORD, None, _CUSTOMER, max_gap_words=1),
    RecordIdFormat("student number", _RECORD, None, _STUDENT, max_gap_words=1),
    RecordIdFormat("travel number", _RECORD, None, _TRAVEL, max_gap_words=1),
    RecordIdFormat("staff number", _RECORD, None, _STAFF, max_gap_words=1),
    RecordIdFormat("professional registration", _RECORD, None, _PROFESSIONAL, max_gap_words=1),
    RecordIdFormat("booking reference", _BOOKING, None, _BOOKING_LABELS, max_gap_words=1),
    RecordIdFormat("vehicle identification number", _VIN, None, _VIN_LABELS, max_gap_words=1),
    RecordIdFormat("vehicle identification number with its check digit", _VIN, vin_check_digit_valid),
)
