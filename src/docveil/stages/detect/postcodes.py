"""Postcodes that say where someone lives even when the street is not beside them
(``LOCATION``): a UK postcode anywhere ("Truro, Cornwall TR1 3QE", "Last known address 23 Lillie
Road, SW6 1TS"), a US town, a comma, its state and ZIP code ("Falls Church, VA 22041"), an Australian
suburb with its state and postcode ("Bondi NSW 2026"), a Canadian postal code ("K1A 0B1"), an
Irish Eircode ("D02 X285"), a Dutch postcode with its town in an address ("Kerkstraat 4, 2402 NE
Alphen aan den Rijn", "Postcode: 1016 GV Amsterdam").

A UK postcode's shape is its own: an outward code of one or two letters, a digit and perhaps a
letter or digit, a space, then a digit and two letters from the twenty that postcodes use
("SW1A 1AA", "LS16 5JX"); written in capitals with its space. Five-digit postcodes of other
countries look like any number and count only inside an address (``STREET_ADDRESS``). US and
Australian states are the postal abbreviations, in capitals, and the code must open as that
state's codes do (a ZIP code in Idaho with 8, a postcode in South Australia with 5): "Order ID
48213", "Airbus SA 2023" and "Windows NT 2000" are no places. Canadian postal codes alternate
letter and digit around their space, with the letters Canada Post uses; an Eircode's four
characters after its routing key come from sixteen letters and the digits, with a letter and a
digit among them ("F12 2024" is no Eircode), after one of the 139 routing keys ("A30 A303" is
a road). A Dutch postcode counts with its town where addresses put it: after a house number and
a comma, on the line after one, or after a label ("Postcode:", "Adres", "Postbus 85"), so
"2024 HR Policy Update" and "In total, 1500 US Dollars" are none.
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
# An Eircode opens with one of the 139 routing keys (Dublin's districts, then the rest of the
# country; A65 is Eircode's own example). Without the list, "A30 A303", "K80 P100" and "N47
# D20A" (roads, GPUs, engines) would be Eircodes.
_EIRCODE_ROUTING_KEYS = (
    "D01 D02 D03 D04 D05 D06 D6W D07 D08 D09 D10 D11 D12 D13 D14 D15 D16 D17 D18 D20 D22 D24 "
    "A41 A42 A45 A63 A65 A67 A75 A81 A82 A83 A84 A85 A86 A91 A92 A94 A96 A98 C15 E21 E25 E32 E34 E41 E45 E53 "
    "E91 F12 F23 F26 F28 F31 F35 F42 F45 F52 F56 F91 F92 F93 F94 H12 H14 H16 H18 H23 H53 H54 H62 H65 H71 H91 "
    "K32 K34 K36 K45 K56 K67 K78 N37 N39 N41 N91 P12 P14 P17 P24 P25 P31 P32 P36 P43 P47 P51 P56 P61 P67 P72 "
    "P75 P81 P85 R14 R21 R32 R35 R42 R45 R51 R56 R93 R95 T12 T23 T34 T45 T56 V14 V15 V23 V31 V35 V42 V92 V93 "
    "V94 V95 W12 W23 W34 W91 X35 X42 X91 Y14 Y21 Y25 Y34 Y35").split()
_EIRCODE_CHARACTER = "[0-9ACDEFHKNPRTVWXY]"
_EIRCODE = (rf"(?<![\w-])(?:{'|'.join(_EIRCODE_ROUTING_KEYS)})[ \t]?(?={_EIRCODE_CHARACTER}{{0,3}}[A-Z])"
            rf"(?={_EIRCODE_CHARACTER}{{0,3}}\d){_EIRCODE_CHARACTER}{{4}}(?![\w-])")
# PostNL leaves out SA, SD and SS.
_NL_LETTERS = r"(?!SA|SD|SS)[A-Z]{2}"
_NL_WORD = r"(?:IJ|[A-Z])[a-z\u00e0-\u00ff]++"
_NL_TOWN = (rf"(?:'s-)?{_NL_WORD}(?:[ \t-](?:(?:aan|den|de|op|bij|en|in)[ \t]){{0,2}}{_NL_WORD}){{0,4}}"
            r"|(?:'S-)?[A-Z]{2,}+(?:[ \t-][A-Z]{2,}+){0,4}")
# Where an address puts it: after a house number and a comma, on the line after one (a year
# is no house number), or after a label ("Postcode:", "Adres:", "Postbus 85").
_NL_CONTEXT = (r"(?<=(?<![\d-])(?!(?:19|20)\d\d(?!\d))\d{1,4}[A-Za-z]?(?:-\d{1,4})?,[ \t]*"
               r"|(?<![\d-])(?!(?:19|20)\d\d(?!\d))\d{1,4}[A-Za-z]?(?:-\d{1,4})?[ \t]*\r?\n[ \t]*"
               r"|(?i:postcode|postcode en woonplaats|postcode/plaats|adres|postadres|bezoekadres|retouradres"
               r"|woonadres|correspondentieadres|woonplaats|address)[ \t]*:?[ \t]*(?:\r?\n[ \t]*)?"
               r"|(?i:postbus)[ \t]+\d+,?[ \t]*(?:\r?\n[ \t]*)?)")
_NL_POSTCODE_TOWN = rf"{_NL_CONTEXT}[1-9]\d{{3}}[ \t]?{_NL_LETTERS}[ \t]++(?:{_NL_TOWN})(?![\w-])"

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
