"""The one exception hierarchy of docveil.

Messages name what failed (a file, a hook, a setting) and what to do; they never carry
personal data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class DocveilError(Exception):
    """Root of every error docveil raises on purpose."""


class ConfigError(DocveilError):
    """A setting is missing or invalid."""


class MissingDependencyError(DocveilError):
    """An optional dependency is not installed; the message gives the pip command."""

    def __init__(self, what: str, pip_install: str) -> None:
        super().__init__(f"{what} needs an optional dependency: pip install {pip_install}")
        self.pip_install = pip_install


class PluginError(DocveilError):
    """A plugin is misconfigured, cannot be blocked, or a hook failed."""


class LoadError(DocveilError):
    """A source file could not be loaded; ``source`` names it, ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class UnsupportedFormatError(LoadError):
    """No loader accepts this content."""


class LimitExceededError(LoadError):
    """The source exceeds a configured limit (bytes, pages, pixels)."""


class UnredactedContentError(DocveilError):
    """Un-redacted content was handed to an encoder or a store."""


class StoreError(DocveilError):
    """The database could not be reached, started or migrated."""


class EncoderError(DocveilError):
    """An encoder could not be loaded or failed on its input."""


@contextmanager
def encoder_errors(what: str) -> Iterator[None]:
    """Errors of model code (torch, a plugin's encoder) as an EncoderError naming only their
    type, since their messages may quote what the model was given; docveil's own pass as they are."""
    try:
        yield
    except DocveilError:
        raise
    except Exception as exc:
        raise EncoderError(f"{what} failed ({type(exc).__name__})") from exc


class NotFoundError(DocveilError):
    """The document (or other object) does not exist for this principal."""


class AccessDeniedError(DocveilError):
    """The principal may not perform this action."""


class CryptoError(DocveilError):
    """A ciphertext failed to decrypt or a key is missing or destroyed."""


class AuditError(DocveilError):
    """The audit log could not be written or does not verify."""


class AnswerError(DocveilError):
    """An answerer (a language model or the server in front of it) failed to answer."""
