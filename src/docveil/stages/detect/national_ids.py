"""National identity, tax and social security numbers of European countries, the UK, India,
Turkey, South Africa, Australia, Canada, Brazil and Mexico (``NATIONAL_ID``), checked by
python-stdnum.

Each format is a candidate pattern (as people write the number, separators included) and the
python-stdnum module whose ``is_valid`` checks its length, its structure (dates, regions) and
its check digits. A check digit passes by chance once in ten to a hundred tries, so a number
counts only after one of its labels ("BSN", "PESEL", "Steuer-ID"…), as in
``LabelledValueRecognizer``; only a format whose structure and check character make it
unmistakable stands alone (an Italian codice fiscale, a Finnish HETU, a Mexican CURP). The UK National Insurance
number has no check digit and no stdnum module, the German pension insurance number
(Rentenversicherungsnummer) no stdnum module, and the Indian PAN only a structure: their
pattern and a label decide (a birth date inside the German number must be a date).
"""

from __future__ import annotations

from docveil.stages.detect.numbers import NumberFormat

ENTITY = "NATIONAL_ID"


class NationalIdFormat(NumberFormat):
    """A national identity, tax or social security number (``NATIONAL_ID``)."""

    entity = ENTITY


def _pension_number(text: str) -> bool:
    """A German pension insurance number's structure: area, birth date (DDMMYY), the initial
    of the birth name, a serial number and a check digit ("65 140762 V 512")."""
    digits = "".join(ch for ch in text if ch.isdigit())
    day, month = int(digits[2:4]), int(digits[4:6])
    return 1 <= day <= 31 and 1 <= month <= 12


FORMATS: tuple[NationalIdFormat, ...] = (
    NationalIdFormat("DE Steuer-IdNr", r"\b\d{2} ?\d{3} ?\d{3} ?\d{3}\b", "stdnum.de.idnr",
                     ("Steuer-ID", "Steuer-IdNr", "Steuer-Identifikationsnummer", "Steueridentifikationsnummer",
                      "Identifikationsnummer", "IdNr", "tax ID", "tax identification number", "TIN")),
    NationalIdFormat("FR NIR", r"\b[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b", "stdnum.fr.nir",
                     ("NIR", "sécurité sociale", "securite sociale", "numéro de sécu", "n° de sécu", "INSEE",
                      "social security")),
    NationalIdFormat("NL BSN", r"\b\d{4}\.?\d{2}\.?\d{3}\b", "stdnum.nl.bsn",
                     ("BSN", "burgerservicenummer", "sofinummer", "sofi-nummer", "citizen service number")),
    NationalIdFormat("BE NN", r"\b\d{2}\.?\d{2}\.?\d{2}[- ]?\d{3}\.? ?\d{2}\b", "stdnum.be.nn",
                     ("rijksregisternummer", "rijksregister", "numéro national", "registre national", "NISS",
                      "INSZ", "RRN", "national number")),
    NationalIdFormat("PL PESEL", r"\b\d{11}\b", "stdnum.pl.pesel", ("PESEL",)),
    NationalIdFormat("IT codice fiscale", r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b",
                     "stdnum.it.codicefiscale"),
    NationalIdFormat("ES DNI", r"\b\d{8}-?[A-Z]\b", "stdnum.es.dni",
                     ("DNI", "NIF", "documento nacional de identidad", "documento de identidad")),
    NationalIdFormat("ES NIE", r"\b[XYZ]-?\d{7}-?[A-Z]\b", "stdnum.es.nie",
                     ("NIE", "N.I.E.", "número de identidad de extranjero", "número de identificación de extranjero")),
    NationalIdFormat("PT NIF", r"\b[1-9]\d{2} ?\d{3} ?\d{3}\b", "stdnum.pt.nif",
                     ("NIF", "contribuinte", "número de contribuinte", "numero de contribuinte", "NIPC")),
    NationalIdFormat("DE Rentenversicherungsnummer", r"\b\d{2} ?\d{6} ?[A-Z] ?\d{3}\b", _pension_number,
                     ("Rentenversicherungsnummer", "Sozialversicherungsnummer", "SV-Nummer", "RV-Nummer", "RVNR",
                      "Versicherungsnummer")),
    NationalIdFormat("SE personnummer", r"\b(?:19|20)?\d{6}[-+]?\d{4}\b", "stdnum.se.personnummer",
                     ("personnummer", "personnr", "samordningsnummer")),
    NationalIdFormat("DK CPR", r"\b\d{6}-?\d{4}\b", "stdnum.dk.cpr",
                     ("CPR", "CPR-nr", "CPR-nummer", "personnummer")),
    NationalIdFormat("FI HETU", r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-FHJ-NPR-Y]\b", "stdnum.fi.hetu"),
    NationalIdFormat("NO fødselsnummer", r"\b\d{6} ?\d{5}\b", "stdnum.no.fodselsnummer",
                     ("fødselsnummer", "fodselsnummer", "personnummer", "f.nr", "fnr")),
    NationalIdFormat("IE PPS", r"\b\d{7}[A-W][A-IW]?\b", "stdnum.ie.pps",
                     ("PPS", "PPSN", "PPS number", "PPS no", "personal public service")),
    NationalIdFormat("AT SV-Nummer", r"\b\d{4} ?\d{6}\b", "stdnum.at.vnr",
                     ("Sozialversicherungsnummer", "Versicherungsnummer", "SV-Nummer", "SVNR", "VSNR")),
    NationalIdFormat("CH AHV", r"\b756\.?\d{4}\.?\d{4}\.?\d{2}\b", "stdnum.ch.ssn",
                     ("AHV", "AHV-Nr", "AVS", "AVS-Nr", "Sozialversicherungsnummer", "numéro AVS", "social security")),
    NationalIdFormat("UK NHS", r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b", "stdnum.gb.nhs", ("NHS",)),
    NationalIdFormat("UK NINO", r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
                     None, ("National Insurance", "NI number", "NI no", "NINO")),
    NationalIdFormat("UK UTR", r"\b\d{5} ?\d{5}\b", "stdnum.gb.utr",
                     ("UTR", "unique taxpayer reference", "tax reference", "taxpayer reference")),
    NationalIdFormat("IN Aadhaar", r"\b[2-9]\d{3} ?\d{4} ?\d{4}\b", "stdnum.in_.aadhaar", ("Aadhaar", "UIDAI", "UID")),
    NationalIdFormat("IN PAN", r"\b[A-Z]{3}[ABCFGHJLPT][A-Z]\d{4}[A-Z]\b", "stdnum.in_.pan",
                     ("PAN", "permanent account number")),
    NationalIdFormat("TR TC Kimlik", r"\b[1-9]\d{10}\b", "stdnum.tr.tckimlik",
                     ("TC Kimlik", "T.C. Kimlik", "TCKN", "Kimlik No", "kimlik numaras\u0131", "Turkish ID")),
    NationalIdFormat("ZA ID", r"\b\d{6} ?\d{4} ?\d{2} ?\d\b", "stdnum.za.idnr",
                     ("SA ID", "RSA ID", "South African ID", "ID number", "identity number", "ID no")),
    NationalIdFormat("AU TFN", r"\b\d{3} ?\d{3} ?\d{2,3}\b", "stdnum.au.tfn", ("TFN", "tax file number")),
    NationalIdFormat("CA SIN", r"\b\d{3}[ -]?\d{3}[ -]?\d{3}\b", "stdnum.ca.sin",
                     # Not "SIN" alone: Spanish "sin" is "without" ("Factura sin IVA: ...").
                     ("SIN:", "SIN #", "SIN no", "SIN number", "social insurance number", "NAS:",
                      "numéro d'assurance sociale")),
    NationalIdFormat("BR CPF", r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b", "stdnum.br.cpf", ("CPF",)),
    NationalIdFormat("MX CURP", r"\b[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z0-9]\d\b", "stdnum.mx.curp"),
    NationalIdFormat("MX RFC", r"\b[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}\b", "stdnum.mx.rfc", ("RFC",)),
)

