"""Numbers people write in a known format, checked by python-stdnum where a check exists.

A ``NumberFormat`` is a candidate pattern (as people write the number, separators included),
the python-stdnum module whose ``is_valid`` checks its length, structure and check digits (or
a function that checks the candidate), and
the labels of which one must stand at most a few words before it (as in
``LabelledValueRecognizer``); a format without labels stands alone. Each kind of number
(``NationalIdFormat``, ``BankNumberFormat``) is a subclass naming its entity.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

from docveil.stages.detect.recognizers import CASE_SENSITIVE, LabelledValueRecognizer

SCORE = 0.85  # validated matches score 1.0
# The words that may stand between a label and a number that has no shape of its own
# ("Account number is 3192 6819"), where any other word parts them ("Account balance 1 250 000").
CLOSE_GAP_WORDS = frozenset({"is", "was", "no", "nr", "num", "number", "nummer", "numéro", "número", "numero", "id"})
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class NumberFormat:
    """One kind of number: its name, candidate pattern, stdnum module and labels."""

    entity: ClassVar[str]
    gap_words: ClassVar[frozenset[str] | None] = None  # the only words allowed after the label; None: any

    name: str
    pattern: str
    validator: str | Callable[[str], bool] | None  # a python-stdnum module or a check; None: no check
    labels: tuple[str, ...] = ()  # empty: unmistakable without a label
    max_gap_words: int = 3  # words allowed between the label and the number
    # Shorter readings, matched too: a regex keeps its longest match even when that one fails
    # the check ("AB12 CDE MOT" is no plate, "AB12 CDE" is). Overlapping results keep the longest.
    shorter: tuple[str, ...] = ()

    def recognizer(self, language: str) -> PatternRecognizer:
        name = f"{type(self).__name__.removesuffix('Format')} {self.name}"
        patterns = [Pattern(self.name, pattern, SCORE) for pattern in (self.pattern, *self.shorter)]
        if self.labels:
            return _LabelledNumber(self, patterns, name, language)
        return _Number(self, patterns, name, language)

    def accept_gap(self, gap: str) -> bool:
        """Whether the text between a label and its number keeps them together."""
        return self.gap_words is None or all(word.lower() in self.gap_words for word in _WORD.findall(gap))


class _Checked:
    """``validate_result`` by the format's stdnum module (True: certain; False: dropped)."""

    _validator: Callable[[str], bool] | None

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if self._validator is None else bool(self._validator(pattern_text))


def _validator(number_format: NumberFormat) -> Callable[[str], bool] | None:
    if number_format.validator is None or callable(number_format.validator):
        return number_format.validator
    is_valid: Callable[[str], bool] = importlib.import_module(number_format.validator).is_valid
    return is_valid


class _Number(_Checked, PatternRecognizer):
    def __init__(self, number_format: NumberFormat, patterns: list[Pattern], name: str, language: str) -> None:
        super().__init__(supported_entity=number_format.entity, patterns=patterns, name=name,
                         supported_language=language, global_regex_flags=CASE_SENSITIVE)
        self._validator = _validator(number_format)


class _LabelledNumber(_Checked, LabelledValueRecognizer):
    def __init__(self, number_format: NumberFormat, patterns: list[Pattern], name: str, language: str) -> None:
        super().__init__(number_format.entity, patterns, number_format.labels,
                         max_gap_words=number_format.max_gap_words, name=name, supported_language=language)
        self._format = number_format
        self._validator = _validator(number_format)

    def accept(self, text: str, label: re.Match[str], result: RecognizerResult) -> bool:
        window_start = max(0, result.start - self.WINDOW)
        return self._format.accept_gap(text[window_start + label.end():result.start])


def number_recognizers(formats: Sequence[NumberFormat], language: str = "en") -> list[PatternRecognizer]:
    """One recognizer per format."""
    return [number_format.recognizer(language) for number_format in formats]
