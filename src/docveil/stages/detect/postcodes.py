"""Postcodes that say where someone lives even when the street is not beside them
(``LOCATION``): a UK postcode anywhere ("Truro, Cornwall TR1 3QE", "Last known address 23 Lillie
Road, SW6 1TS"), a US town, a comma, its state and ZIP code ("Falls Church, VA 22041"), an Australian
suburb with its state and postcode ("Bondi NSW 2026"), a Canadian postal code ("K1A 0B1"), an
Irish Eircode ("D02 X285"), a Dutch postcode with its town at the start of a line or after a
comma ("Prinsengracht 263, 1016 GV Amsterdam").

A UK postcode's shape is its own: an outward code of one or two letters, a digit and perhaps a
letter or digit, a space, then a digit and two letters from the twenty that postcodes use
("SW1A 1AA", "LS16 5JX"); written in capitals with its space. Five-digit postcodes of other
countries look like any number and count only inside an address (``STREET_ADDRESS``). US and
Australian states are the postal abbreviations, in capitals, and the code must open as that
state's codes do (a ZIP code in Idaho with 8, a postcode in South Australia with 5): "Order ID
48213", "Airbus SA 2023" and "Windows NT 2000" are no places. Canadian postal codes alternate
letter and digit around their space, with the letters Canada Post uses; an Eircode's four
characters after its routing key come from sixteen letters and the digits, with a letter and a
digit among them ("F12 2024" is no Eircode). A Dutch postcode's letters are no unit or era
("4096 MB", "2000 AD"), and it stands where addresses put it, so "Report 2048 XL Pro" is none.
"""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from docveil.stages.detect.recognizers import CASE_SENSITIVE

ENTITY = "LOCATION"

# Royal Mail: no Q, V, X first; no I, J, Z second; the inward letters leave out C, I, K, M, O, V.
_UK_POSTCODE = (r"(?<![\w-])(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?|GIR)[ \t]\d[ABD-HJLNP-UW-Z]{2}(?![\w-])")
# The first digit of each state's ZIP codes (USPS national areas).
_US_ZIP_AREAS = {
    "0": "CT|MA|ME|NH|NJ|PR|RI|VT", "1": "DE|NY|PA", "2": "DC|MD|NC|SC|VA|WV", "3": "AL|FL|GA|MS|TN",
    "4": "IN|KY|MI|OH", "5": "IA|MN|MT|ND|SD|WI", "6": "IL|KS|MO|NE", "7": "AR|LA|OK|TX",
    "8": "AZ|CO|ID|NM|NV|UT|WY", "9": "AK|CA|HI|OR|WA",
}
_US_STATE_ZIP = "(?:" + "|".join(rf"(?:{states})[ \t]+{digit}\d{{4}}" for digit, states in _US_ZIP_AREAS.items()) + ")"
# Australia Post's ranges by their first digits (the ACT's are 02xx, 26xx and 29xx; the NT's
# 08xx and 09xx).
_AU_STATE_POSTCODE = (r"(?:NSW[ \t]+[12]\d{3}|ACT[ \t]+(?:02|26|29)\d\d|VIC[ \t]+[38]\d{3}|QLD[ \t]+[49]\d{3}"
                      r"|SA[ \t]+5\d{3}|WA[ \t]+6\d{3}|TAS[ \t]+7\d{3}|NT[ \t]+0[89]\d\d)")
_TOWN = r"(?<![\w-])[A-Z][a-z]+(?:[ \t-][A-Z][a-z]+){0,2}"
# Canada Post: no D, F, I, O, Q or U anywhere, and no W or Z first.
_CA_POSTAL_CODE = r"(?<![\w-])[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ \t]\d[ABCEGHJ-NPRSTV-Z]\d(?![\w-])"
_EIRCODE_CHARACTER = "[0-9ACDEFHKNPRTVWXY]"
_EIRCODE = (rf"(?<![\w-])(?:[ACDEFHKNPRTVWXY]\d\d|D6W)[ \t](?={_EIRCODE_CHARACTER}{{0,3}}[A-Z])"
            rf"(?={_EIRCODE_CHARACTER}{{0,3}}\d){_EIRCODE_CHARACTER}{{4}}(?![\w-])")
# PostNL leaves out SA, SD and SS; the other pairs left out are units and eras.
_NL_LETTERS = r"(?!SA|SD|SS|AD|BC|CE|AM|PM|KB|MB|GB|TB|HD|HP|KW|MW|GW|PS|AC|DC|GT|XL)[A-Z]{2}"
_NL_TOWN = r"(?:'s-)?[A-Z][a-z\u00e0-\u00ff]+(?:[ \t-](?:(?:aan|den|op)[ \t])*[A-Z][a-z\u00e0-\u00ff]+)*"
# At the start of a line or after a comma (and a space): where an address puts it.
_NL_POSTCODE_TOWN = rf"(?<![^\n,][ \t])(?<![^\n, \t])[1-9]\d{{3}}[ \t]?{_NL_LETTERS}[ \t]+{_NL_TOWN}(?![\w-])"

POSTCODE_PATTERNS = [
    Pattern("UK postcode", _UK_POSTCODE, 0.6),
    Pattern("US town, state and ZIP code", rf"{_TOWN},[ \t]+{_US_STATE_ZIP}(?:-\d{{4}})?(?![\w-])", 0.6),
    Pattern("Australian suburb, state and postcode", rf"{_TOWN},?[ \t]+{_AU_STATE_POSTCODE}(?![\w-])", 0.6),
    Pattern("Canadian postal code", _CA_POSTAL_CODE, 0.6),
    Pattern("Eircode", _EIRCODE, 0.6),
    Pattern("Dutch postcode and town", _NL_POSTCODE_TOWN, 0.6),
]


class PostcodeRecognizer(PatternRecognizer):
    """Postcodes of a shape no other number has, and towns with their state and postcode."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entity=ENTITY, patterns=list(POSTCODE_PATTERNS), name="PostcodeRecognizer",
                         supported_language=supported_language, global_regex_flags=CASE_SENSITIVE)
