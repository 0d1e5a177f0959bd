"""Vehicle registration numbers written in text (``LICENSE_PLATE``), after their label.

A plate in a photo is found by ``plates``; in text ("Vehicle registration: AB12 CDE",
"Kennzeichen M-KR 4821") a plate is the longest run of one to three groups of capitals and
digits right after a vehicle label that reads as a plate of one of ``plates.PLATE_FORMATS``
(US, German, UK, French and Italian, Spanish, or five to nine letters and digits with both):
"AB12 CDE" in "Vehicle registration AB12 CDE MOT due". Vehicle labels are words such as
"vehicle registration", "licence plate", "Kennzeichen", "immatriculation", "matrícula", "targa"
or "kenteken" (not "Reg No" or "Plate ID": companies and labs number things that way too).
After words that name other registrations as well ("Registration:", "reg", "VRM", "rego",
"Fahrzeug") the plate must read as a British, French or Italian plate, a Spanish one (consonants
only) or a German one with its two letter groups apart: "Registration: YF68 KWZ" is a plate,
"Company reg SC123456", "Registration: ISO 9001" and "Reg: 2024 ABC reports" are not.
"""

from __future__ import annotations

import re

from docveil.stages.detect.numbers import CLOSE_GAP_WORDS, NumberFormat
from docveil.stages.detect.plates import LABEL, plate_format

_LABELS = (
    "vehicle registration", "vehicle reg", "vehicle registration number", "vehicle registration mark",
    "registration plate",
    "licence plate", "license plate", "number plate", "vehicle plate", "car plate", "Kennzeichen",
    "Kfz-Kennzeichen", "immatriculation", "plaque d'immatriculation", "matrícula", "targa", "kenteken")
_LOOSE_LABELS = ("registration", "registration mark", "reg", "car reg", "VRM", "rego", "vehicle rego",
                 "Fahrzeug")
# A plate starts at none of its label's words, which read as groups too when written in
# capitals: in "LICENCE PLATE NUMBER AB12 CDE" the plate starts at AB12. (Short words such as
# "D" or "NR" are also plates' first groups: Düsseldorf, Neuwied.)
_LABEL_WORDS = sorted({word.upper() for text in (*_LABELS, *_LOOSE_LABELS) for word in re.findall(r"\w+", text)
                       if len(word) >= 3}, key=len, reverse=True)
_GROUP = r"[A-Z0-9\u00c4\u00d6\u00dc]{1,9}"
_START = rf"(?<![\w-])(?!(?:{'|'.join(_LABEL_WORDS)})(?![\w-]))"
# Three, two or one groups: in "AB12 CDE MOT due" the plate is the first two.
_THREE, _TWO, _ONE = (rf"{_START}{_GROUP}(?:[ -]{_GROUP}){{{more}}}(?![\w]|-\w)" for more in (2, 1, 0))


def reads_as_plate(text: str) -> bool:
    return plate_format(text) is not None


# After a loose label, the shapes that few other codes have: British and French or Italian
# plates whole, Spanish ones with their consonants only ("2024 ABC" is a year and a word),
# German ones with both letter groups apart ("HH-JK 2291"; "ISO 9001" and "EU 2016" are not).
_SPANISH_LETTERS = re.compile(r"[BCDFGHJKLMNPRSTVWXYZ]{3}")
_GERMAN_GROUPS = re.compile(r"[A-ZÄÖÜ]{1,3}[- ][A-Z]{1,2}[ -]?\d{1,4}[EH]?")


def reads_as_national_plate(text: str) -> bool:
    found = plate_format(text)
    if found in ("UK", "FR_IT"):
        return True
    if found == "ES":
        return _SPANISH_LETTERS.fullmatch(re.sub(r"[^A-Z]", "", text)) is not None
    return found == "DE" and _GERMAN_GROUPS.fullmatch(text.strip()) is not None


class PlateNumberFormat(NumberFormat):
    """A vehicle registration number after its label (``LICENSE_PLATE``)."""

    entity = LABEL
    gap_words = CLOSE_GAP_WORDS


FORMATS: tuple[PlateNumberFormat, ...] = (
    # Vehicle words only: "Company Reg No: SC123456" or a lab's "Plate ID: PL00123" is no car.
    PlateNumberFormat("vehicle registration", _THREE, reads_as_plate, _LABELS,
                      max_gap_words=1, shorter=(_TWO, _ONE)),
    PlateNumberFormat("vehicle registration, national format", _THREE, reads_as_national_plate, _LOOSE_LABELS,
                      max_gap_words=1, shorter=(_TWO, _ONE)),
)

