"""The machine-readable zone of a passport or identity card (``PASSPORT``).

A scanned or photographed travel document carries its holder's name, document number, date of
birth, sex and expiry in two or three lines of capitals, digits and ``<`` fillers (ICAO 9303):
two lines of 44 characters in a passport (TD3), two of 36 (TD2) or three of 30 on an identity
card (TD1). No label stands before them and nothing in them reads as a name or a date to other
recognizers ("P<NGAFASHOLA<<ADEBAYO<OLUWASEGUN<<<<<<<<<<<<"). Each line that has one of those
shapes exactly is redacted whole; the shapes (fixed lengths, fields of digits where the dates
go, ``<<`` between surname and given names) are specific enough without the check digits, which
OCR often misreads.
"""

from __future__ import annotations

import re

from presidio_analyzer import Pattern, PatternRecognizer

ENTITY = "PASSPORT"
SCORE = 0.85
_NAME = r"(?=[A-Z<]*[A-Z]<<)"  # the name field: surname, "<<", given names
_END = r"(?=[ \t]*$)"
LINES = {
    "passport (TD3), names": rf"^P[A-Z<][A-Z<]{{3}}{_NAME}[A-Z<]{{39}}{_END}",
    "passport (TD3), numbers": rf"^[A-Z0-9<]{{9}}\d[A-Z<]{{3}}\d{{6}}\d[MFX<]\d{{6}}\d[A-Z0-9<]{{14}}[\d<]\d{_END}",
    "identity document (TD2), names": rf"^[ACIV][A-Z<][A-Z<]{{3}}{_NAME}[A-Z<]{{31}}{_END}",
    "identity document (TD2), numbers": rf"^[A-Z0-9<]{{9}}\d[A-Z<]{{3}}\d{{6}}\d[MFX<]\d{{6}}\d[A-Z0-9<]{{7}}\d{_END}",
    "identity card (TD1), document": rf"^[ACI][A-Z<][A-Z<]{{3}}[A-Z0-9<]{{9}}[\d<][A-Z0-9<]{{15}}{_END}",
    "identity card (TD1), dates": rf"^\d{{6}}\d[MFX<]\d{{6}}\d[A-Z<]{{3}}[A-Z0-9<]{{11}}\d{_END}",
    "identity card (TD1), names": rf"^{_NAME}[A-Z<]{{30}}{_END}",
}


def machine_readable_zone_recognizer(language: str = "en") -> PatternRecognizer:
    return PatternRecognizer(supported_entity=ENTITY, name="MachineReadableZoneRecognizer",
                             patterns=[Pattern(f"MRZ {name}", regex, SCORE) for name, regex in LINES.items()],
                             supported_language=language, global_regex_flags=re.MULTILINE)
