"""docveil: privacy-first document processing."""

from docveil.errors import (
    AccessDeniedError,
    DocveilError,
    LoadError,
    UnredactedContentError,
)
from docveil.hookspecs import hookimpl
from docveil.types import Hit, Principal

__all__ = [
    "AccessDeniedError",
    "DocveilError",
    "Hit",
    "LoadError",
    "Principal",
    "UnredactedContentError",
    "hookimpl",
]
__version__ = "0.1.0"

import logging as _logging

_logging.getLogger("docveil").addHandler(_logging.NullHandler())
