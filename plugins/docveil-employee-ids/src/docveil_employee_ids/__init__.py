"""docveil plugin: employee IDs and internal project code names as PII.

Two Presidio recognizers, contributed through the ``docveil_text_recognizers`` hook:

- ``EMPLOYEE_ID``: ``EMP-`` followed by 6 digits, more certain near words like "employee".
- ``PROJECT_CODENAME``: a deny-list of internal code names, read from the environment variable
  ``DOCVEIL_PROJECT_CODENAMES`` (comma separated) when the analyzer is built, else
  :data:`DEFAULT_CODENAMES`. Matching ignores case.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from presidio_analyzer import Pattern, PatternRecognizer

from docveil.hookspecs import hookimpl

__version__ = "0.1.0"

CODENAMES_ENV = "DOCVEIL_PROJECT_CODENAMES"
DEFAULT_CODENAMES: tuple[str, ...] = ("BLUE HERON", "Project Nightjar", "Kestrel", "Operation Tern")

EMPLOYEE_ID_PATTERNS = [
    # Case-sensitive: "emp-123456" in a file name is not an employee ID.
    Pattern("employee id", r"\bEMP-\d{6}\b", 0.6),
]
EMPLOYEE_ID_CONTEXT = ["employee", "staff", "personnel", "badge", "emp", "id", "hr"]


def codenames(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The code names to find: ``$DOCVEIL_PROJECT_CODENAMES`` if set and not blank, else the defaults."""
    raw = (os.environ if env is None else env).get(CODENAMES_ENV, "")
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    return names or DEFAULT_CODENAMES


def employee_id_recognizer(language: str = "en") -> PatternRecognizer:
    return PatternRecognizer(
        supported_entity="EMPLOYEE_ID", name="EmployeeIdRecognizer",
        patterns=list(EMPLOYEE_ID_PATTERNS), context=list(EMPLOYEE_ID_CONTEXT),
        supported_language=language, global_regex_flags=re.MULTILINE)


def codename_recognizer(names: tuple[str, ...], language: str = "en") -> PatternRecognizer:
    return PatternRecognizer(
        supported_entity="PROJECT_CODENAME", name="ProjectCodenameRecognizer",
        deny_list=list(names), deny_list_score=0.9,
        supported_language=language, global_regex_flags=re.MULTILINE | re.IGNORECASE)


@hookimpl
def docveil_text_recognizers(context) -> list[PatternRecognizer]:
    language = context.settings.language
    return [employee_id_recognizer(language), codename_recognizer(codenames(), language)]
