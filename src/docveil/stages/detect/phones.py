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
# Signature blocks label numbers with one letter: "T: 612 34 56 78", "M. 0412 345 678".
_LETTER_LABEL = r"(?<!\S)[TMPF](?=[ \t]*[:.])"
WINDOW = 64  # characters after a label (or a number) searched for the next number
_MAX_GAP_WORDS = 3
_MIN_DIGITS = 7


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

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
                ) -> list[RecognizerResult]:
        if not self.regions:
            return []
        results = []
        for label in self._label.finditer(text):
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
        """The first valid number of any region (the longest of those that start there) that
        follows ``cursor`` closely enough; None when there is none."""
        window = text[cursor:cursor + WINDOW]
        best: tuple[int, int] | None = None
        for region in self.regions:
            for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
                gap = window[:match.start]
                if any(ch.isdigit() for ch in gap) or len(re.findall(r"\w+", gap)) > _MAX_GAP_WORDS:
                    break  # later matches have this gap and more
                if sum(ch.isdigit() for ch in match.raw_string) < _MIN_DIGITS:
                    continue  # "call 2023": a short number of some region, not a phone number here
                if match.end == len(window) and text[cursor + match.end:cursor + match.end + 1].isdigit():
                    break  # the window cut the number
                if best is None or (match.start, -match.end) < (best[0] - cursor, -(best[1] - cursor)):
                    best = (cursor + match.start, cursor + match.end)
                break
        return best
