"""NATIONAL_ID: each format is found as people write it, checked by python-stdnum, labelled where
its digits alone could be anything."""

from __future__ import annotations

import pytest
from findings_of import found

from docveil.context import StageContext
from docveil.stages.detect.national_ids import FORMATS
from docveil.stages.redact.pseudonyms import Pseudonymizer

# One labelled sentence per format, with a number that passes its checks.
EXAMPLES = {
    "DE Steuer-IdNr": ("Steuer-ID: 36 574 261 809", "36 574 261 809"),
    "FR NIR": ("N° de sécurité sociale 2 95 10 99 126 111 93.", "2 95 10 99 126 111 93"),
    "NL BSN": ("BSN 1112.22.333", "1112.22.333"),
    "BE NN": ("Rijksregisternummer: 85.07.30-033 28", "85.07.30-033 28"),
    "PL PESEL": ("PESEL 44051401359", "44051401359"),
    "IT codice fiscale": ("Codice fiscale RCCMNL83S18D969H", "RCCMNL83S18D969H"),
    "ES DNI": ("DNI 54362315-K", "54362315-K"),
    "ES NIE": ("Su NIE es X-2482300-W.", "X-2482300-W"),
    "SE personnummer": ("Personnummer: 880320-0016", "880320-0016"),
    "DK CPR": ("CPR-nr. 211062-5629", "211062-5629"),
    "FI HETU": ("Henkilötunnus 131052-308T", "131052-308T"),
    "NO fødselsnummer": ("Fødselsnummer 151086 95088", "151086 95088"),
    "IE PPS": ("PPS No: 6433435F", "6433435F"),
    "AT SV-Nummer": ("SV-Nummer 1237 010180", "1237 010180"),
    "DE Rentenversicherungsnummer": ("SV-Nummer: 65 140762 V 512", "65 140762 V 512"),
    "PT NIF": ("Cliente: João Figueiredo\nNIF: 187 934 029", "187 934 029"),
    "CH AHV": ("AHV-Nr. 756.9217.0769.85", "756.9217.0769.85"),
    "UK NHS": ("NHS number 943 476 5919", "943 476 5919"),
    "UK NINO": ("National Insurance number: AB 12 34 56 C", "AB 12 34 56 C"),
    "UK UTR": ("Tax reference (UTR): 19558 39661", "19558 39661"),
    "IN Aadhaar": ("Aadhaar 2341 2341 2346", "2341 2341 2346"),
    "IN PAN": ("PAN ACUPA7085R on file", "ACUPA7085R"),
    "TR TC Kimlik": ("T.C. Kimlik No: 17291716060", "17291716060"),
    "ZA ID": ("SA ID number 800101 5009 087", "800101 5009 087"),
    "AU TFN": ("Tax file number (TFN): 123 456 782", "123 456 782"),
    "CA SIN": ("SIN: 130-692-544", "130-692-544"),
    "BR CPF": ("CPF: 123.456.789-09", "123.456.789-09"),
    "MX CURP": ("Su CURP es BOXW310820HNERXN09.", "BOXW310820HNERXN09"),
    "MX RFC": ("RFC GODE561231GR8", "GODE561231GR8"),
}



def test_every_format_has_an_example() -> None:
    assert {number_format.name for number_format in FORMATS} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_a_valid_number_isfound(name: str, detect_context: StageContext) -> None:
    text, number = EXAMPLES[name]
    assert ("NATIONAL_ID", number) in found(text, detect_context)


@pytest.mark.parametrize("text", [
    "PESEL 44051401358",  # wrong check digit
    "Steuer-ID: 36 574 261 808",
    "Codice fiscale RCCMNL83S18D969A",
    "AHV-Nr. 756.9217.0769.84",
    "Order 44051401359 shipped on Monday.",  # passes PESEL's check, but has no label
    "Reference AB123456C is closed.",  # a NINO's shape, no label
    "SKU ABCPD1234E is in stock.",  # a PAN's shape (PAN has no check character)
    "Barcode 7561234567897 scanned.",  # passes the AHV check
    "Version X1234567L was released.",  # passes the NIE check
    "Order 130 692 544 shipped.",  # passes the SIN check, but has no label
    "Factura sin IVA: 130 692 544",  # "sin" is Spanish for "without"
    "Tracking 8001015009087 delivered.",  # passes the South African ID check, no label
    "Rentenversicherungsnummer 65 149962 V 512",  # no date inside
    "NIF: 187 934 028",  # wrong check digit
])
def test_an_invalid_or_unlabelled_number_is_not_a_national_id(text: str, detect_context: StageContext) -> None:
    assert "NATIONAL_ID" not in {entity_type for entity_type, _ in found(text, detect_context)}


def test_separators_do_not_change_the_token() -> None:
    pseudonymizer = Pseudonymizer(bytes(range(32)))
    assert (pseudonymizer.token("36 574 261 809", "NATIONAL_ID") == pseudonymizer.token("36574261809", "NATIONAL_ID")
            == pseudonymizer.token("36-574-261-809", "NATIONAL_ID"))
