"""Phone numbers written in the national format of more countries, when labelled as phone numbers.

Presidio's ``PhoneRecognizer`` reads numbers in international form ("+34 612 34 56 78") and
the national forms of eight regions (US, GB, DE, FR, IL, IN, CA, BR). A Spanish mobile written
"612 34 56 78" or a Swedish one written "070-123 45 67" passed unseen. Read without a label,
nine digits in groups could be anything (an order number is a valid Polish phone number), so
here a number counts only after a phone label ("Tel:", "mobile", "call me on", "M:") with at
most three words and no digit between; further numbers listed after it ("Tel: 612 34 56 78 /
91 123 45 67") count too. python-phonenumbers decides what a valid number of a region is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers
from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from docveil.config import DEFAULT_PHONE_REGIONS
from docveil.errors import ConfigError

ENTITY = "PHONE_NUMBER"
NAME = "LabelledPhoneRecognizer"
SCORE = 0.75
PHONE_LABELS = (
    "phone", "telephone", "tel", "mobile", "mob", "cell", "cellphone", "fax", "call", "whatsapp",
    "contact number", "tlf", "telefon", "telefoon", "téléphone", "tél", "portable", "teléfono", "móvil",
    "telefono", "cellulare", "handy", "mobil", "mobiel", "puhelin", "komórka", "telemóvel",
)
# Signature blocks label numbers with one letter at the start of a line or after a separator:
# "T: 612 34 56 78", "M. 0412 345 678", "Anna Nowak | M: 612 345 678" (not "Ticket T: 123456789").
_LETTER_LABEL = r"(?:(?m:^)|(?<=[|\u00b7,;]))[ \t>]*[TMPF](?=[ \t]*[:.])"
# Words that make the number after a phone label something else: "Call ID 48213977".
_NOT_PHONE_WORDS = frozenset({"id", "ref", "reference", "ticket", "case", "order", "build", "version", "invoice",
                              "account", "pin", "code", "queue", "count", "duration", "minutes"})
WINDOW = 64  # characters after a label (or a number) searched for the next number
_MAX_GAP_WORDS = 3
_MIN_DIGITS = 7
# Dates (20240312 too) and IPv4 addresses, which some regions' numbering plans would take as phone numbers.
_NOT_A_PHONE = re.compile(r"\d{1,2}([./-])\d{1,2}\1\d{2,4}|\d{4}([./-])\d{1,2}\2\d{1,2}|\d{1,3}(?:\.\d{1,3}){3}"
                          r"|(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])")  # and 20240312
# A number as written: digits, spaces, dots, dashes and parentheses, a plus before it.
_CANDIDATE = re.compile(r"\+?\(?\d(?:[\d.\-]|[ ()](?=[\d(]))*\d")


def check_regions(regions: Sequence[str]) -> tuple[str, ...]:
    """``regions`` as upper-case region codes; ConfigError names one phonenumbers does not know."""
    codes = tuple(region.strip().upper() for region in regions)
    unknown = sorted(set(codes) - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ConfigError(f"phone_regions: unknown region codes {', '.join(unknown)} "
                          "(ISO 3166 alpha-2 codes, as python-phonenumbers knows them)")
    return codes


class LabelledPhoneRecognizer(LocalRecognizer):
    """``PHONE_NUMBER`` in the national format of ``regions``, after a phone label."""

    def __init__(self, regions: Sequence[str] = DEFAULT_PHONE_REGIONS, supported_language: str = "en") -> None:
        self.regions = check_regions(regions)
        words = "|".join(re.escape(label) for label in sorted(PHONE_LABELS, key=len, reverse=True))
        self._label = re.compile(rf"(?<!\w)(?i:{words})(?!\w)|{_LETTER_LABEL}")
        super().__init__(supported_entities=[ENTITY], supported_language=supported_language,
                         name=NAME)

    def load(self) -> None:
        pass

    @property
    def label_pattern(self) -> re.Pattern[str]:
        """Any one of the phone labels (tables read a column under such a header: ``columns``)."""
        return self._label

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        if not self.regions:
            return []
        results = []
        cursor = 0
        for label in self._label.finditer(text):
            if label.start() < cursor:
                continue  # inside the list of numbers an earlier label opened
            cursor = label.end()
            while (number := self._next_number(text, cursor)) is not None:
                start, end = number
                results.append(RecognizerResult(
                    ENTITY, start, end, SCORE, recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: NAME,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        # The label was the context: Presidio's enhancer must not add to the score.
                        RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
                    }))
                cursor = end
        return EntityRecognizer.remove_duplicates(results)

    def _next_number(self, text: str, cursor: int) -> tuple[int, int] | None:
        """The number that follows ``cursor`` closely enough, if it is a valid number of one of
        the regions; None otherwise."""
        window = text[cursor:cursor + WINDOW]
        candidate = _CANDIDATE.search(window)
        if candidate is None or (candidate.end() == WINDOW and cursor + WINDOW < len(text)):
            return None  # none, or cut by the window
        gap = window[:candidate.start()]
        words = [word.lower() for word in re.findall(r"[^\W\d_]+", gap)]
        if (len(re.findall(r"\w+", gap)) > _MAX_GAP_WORDS or not _NOT_PHONE_WORDS.isdisjoint(words)
                or any(len(digits) > 2 for digits in re.findall(r"\d+", gap))):  # "Phone 2:" may index it
            return None
        number = candidate.group()
        if (sum(ch.isdigit() for ch in number) < _MIN_DIGITS or _NOT_A_PHONE.fullmatch(number)
                or not self._valid(number)):
            return None
        return cursor + candidate.start(), cursor + candidate.end()

    def _valid(self, number: str) -> bool:
        for region in self.regions:
            try:
                parsed = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return True
        return False


# A date with dots, slashes or dashes: "07.05.2024", "30/06/2024", "2024-05-07".
_DATE = re.compile(r"(?<!\d)(?:(?:0?[1-9]|[12]\d|3[01])([./-])(?:0?[1-9]|1[0-2])\1(?:19|20)\d{2}"
                   r"|(?:19|20)\d{2}([./-])(?:0?[1-9]|1[0-2])\2(?:0?[1-9]|[12]\d|3[01]))(?!\d)")


class DatelessPhoneRecognizer(PhoneRecognizer):
    """Presidio's ``PhoneRecognizer`` without the dates it reads as numbers: python-phonenumbers
    takes "07.05.2024" for a German number, and "17\n04.03.2024" (an amount's cents, a line
    break, a date in a bank statement) for one number."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        return [result for result in super().analyze(text, entities, nlp_artifacts)  # type: ignore[arg-type]
                if not _DATE.search(text, result.start, result.end)]
