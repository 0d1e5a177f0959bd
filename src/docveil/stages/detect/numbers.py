"""Numbers people write in a known format, checked by python-stdnum where a check exists.

A ``NumberFormat`` is a candidate pattern (as people write the number, separators included),
the python-stdnum module whose ``is_valid`` checks its length, structure and check digits, and
the labels of which one must stand at most a few words before it (as in
``LabelledValueRecognizer``); a format without labels stands alone. Each kind of number
(``NationalIdFormat``, ``BankNumberFormat``) is a subclass naming its entity.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

from docveil.stages.detect.recognizers import CASE_SENSITIVE, LabelledValueRecognizer

SCORE = 0.85  # validated matches score 1.0


@dataclass(frozen=True)
class NumberFormat:
    """One kind of number: its name, candidate pattern, stdnum module and labels."""

    entity: ClassVar[str]

    name: str
    pattern: str
    validator: str | None  # a python-stdnum module; None: the pattern and a label decide
    labels: tuple[str, ...] = ()  # empty: unmistakable without a label
    max_gap_words: int = 3  # words allowed between the label and the number

    def recognizer(self, language: str) -> PatternRecognizer:
        name = f"{type(self).__name__.removesuffix('Format')} {self.name}"
        patterns = [Pattern(self.name, self.pattern, SCORE)]
        if self.labels:
            return _LabelledNumber(self, patterns, name, language)
        return _Number(self, patterns, name, language)

    def accept_gap(self, gap: str) -> bool:
        """Whether the text between a label and its number keeps them together (any, here)."""
        return True


class _Checked:
    """``validate_result`` by the format's stdnum module (True: certain; False: dropped)."""

    _validator: Any

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if self._validator is None else bool(self._validator.is_valid(pattern_text))


def _validator(number_format: NumberFormat) -> Any:
    return importlib.import_module(number_format.validator) if number_format.validator else None


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
