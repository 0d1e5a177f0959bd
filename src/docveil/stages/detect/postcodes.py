"""Postcodes that say where someone lives even when the street is not beside them
(``LOCATION``): a UK postcode anywhere ("Truro, Cornwall TR1 3QE", "Last known address 23 Lillie
Road, SW6 1TS"), a US town with its state and ZIP code ("Falls Church, VA 22041"), an Australian
suburb with its state and postcode ("Bondi NSW 2026").

A UK postcode's shape is its own: an outward code of one or two letters, a digit and perhaps a
letter or digit, a space, then a digit and two letters from the twenty that postcodes use
("SW1A 1AA", "LS16 5JX"); written in capitals with its space. Five-digit postcodes of other
countries look like any number and count only inside an address (``STREET_ADDRESS``). US states
and Australian states are the postal abbreviations, in capitals.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from docveil.stages.detect.recognizers import CASE_SENSITIVE

ENTITY = "LOCATION"

# Royal Mail: no Q, V, X first; no I, J, Z second; the inward letters leave out C, I, K, M, O, V.
_UK_POSTCODE = (r"(?<![\w-])(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?|GIR)[ \t]\d[ABD-HJLNP-UW-Z]{2}(?![\w-])")
_US_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ"
              "|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|PR")
_AU_STATES = "NSW|VIC|QLD|SA|WA|TAS|NT|ACT"
_TOWN = r"(?<![\w-])[A-Z][a-z]+(?:[ \t-][A-Z][a-z]+){0,2}"

POSTCODE_PATTERNS = [
    Pattern("UK postcode", _UK_POSTCODE, 0.6),
    Pattern("US town, state and ZIP code", rf"{_TOWN},?[ \t]+(?:{_US_STATES})[ \t]+\d{{5}}(?:-\d{{4}})?(?![\w-])", 0.6),
    Pattern("Australian suburb, state and postcode", rf"{_TOWN},?[ \t]+(?:{_AU_STATES})[ \t]+\d{{4}}(?![\w-])", 0.6),
]


class PostcodeRecognizer(PatternRecognizer):
    """Postcodes of a shape no other number has, and towns with their state and postcode."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entity=ENTITY, patterns=list(POSTCODE_PATTERNS), name="PostcodeRecognizer",
                         supported_language=supported_language, global_regex_flags=CASE_SENSITIVE)
