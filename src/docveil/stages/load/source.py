"""Turning a file or an upload into a ``Source``, and a ``Source`` into a ``Document``.

Every check that does not need a parser happens here, before any loader sees a byte: the file
exists and is regular, it is not empty, and it is within ``max_bytes`` (checked on the size the
file system reports, so an oversized file is never read).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import replace
from pathlib import Path, PurePath

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError, PluginError, UnsupportedFormatError
from docveil.stages.load.sniff import OCTET_STREAM, describe_media_type, is_text_media_type, sniff_media_type
from docveil.types import Document, Source

logger = logging.getLogger(__name__)

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)

# Names that promise text: binary content behind them is reported as "not text".
_TEXT_SUFFIXES = frozenset({
    ".txt", ".text", ".md", ".markdown", ".html", ".htm", ".xhtml", ".csv", ".tsv", ".log",
    ".json", ".xml", ".yaml", ".yml", ".rst", ".eml",
})


def read_source(path: Path | str, settings: Settings, *, within: Path | None = None) -> Source:
    """Read a file into a ``Source`` named after ``path``, enforcing ``settings.max_bytes``.
    With ``within`` (the folder a walk found ``path`` in), a symbolic link is followed only to
    a file inside that folder: a link to anywhere else (``/etc/passwd``, docveil's own secrets)
    is refused.

    Raises ``LoadError`` (missing, not a regular file, unreadable, empty, a link out of the
    folder) or ``LimitExceededError`` (too large, decided from the file's size before reading it).
    """
    name = source_name(path)
    if not os.fspath(path).strip():
        raise LoadError(repr(os.fspath(path)), "an empty path names no file")
    try:
        # Non-blocking, so a named pipe cannot hang the open; the checks then run on the opened
        # file itself, not on whatever the path pointed to a moment earlier.
        fd = os.open(path, _OPEN_FLAGS)
    except ValueError:  # a NUL, or a lone surrogate no file system name can hold
        raise LoadError(name, "not a valid file name (it holds a NUL or an unpaired surrogate)") from None
    except FileNotFoundError:
        raise LoadError(name, "no such file") from None
    except (IsADirectoryError, PermissionError):
        if os.path.isdir(path):
            raise LoadError(name, "not a regular file (a directory)") from None
        raise LoadError(name, "permission denied") from None
    except OSError as exc:
        raise LoadError(name, _os_reason(exc)) from None
    try:
        info = os.fstat(fd)
        if within is not None and not _opened_within(path, info, within):
            raise LoadError(name, "a symbolic link to a file outside the folder (or to a hidden one) is not followed")
        if stat.S_ISDIR(info.st_mode):
            raise LoadError(name, "not a regular file (a directory)")
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(name, "not a regular file")
        _check_size(name, info.st_size, settings)
        # One byte more than allowed tells a file that grew since fstat() from one that fits.
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(settings.max_bytes + 1)
    except OSError as exc:
        raise LoadError(name, _os_reason(exc)) from None
    finally:
        os.close(fd)
    return _make_source(name, data, settings)


def _opened_within(path: Path | str, opened: os.stat_result, folder: Path) -> bool:
    """Whether the file opened from ``path`` lies inside ``folder``: its real path is under the
    folder's, and is the very file that was opened (not a link swapped in between)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    if os.path.commonpath([real, root]) != root:
        return False
    if any(part.startswith(".") for part in Path(os.path.relpath(real, root)).parts):
        return False  # a hidden file, which the walk itself skips
    try:
        there = os.stat(real)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino)


def source_from_bytes(name: str, data: bytes, settings: Settings) -> Source:
    """A ``Source`` for content that did not come from a file (an upload), with the same checks."""
    if not name:
        raise ValueError("a source needs a name")
    return _make_source(source_name(name), bytes(data), settings)


def source_name(path: str | Path) -> str:
    """``path`` as text that can be printed and stored: a file name that is not valid UTF-8
    keeps its odd bytes as ``\\xNN`` escapes instead of failing later."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:  # bytes the file system gave that are not UTF-8 (os.fsdecode's surrogates)
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def load_document(source: Source, context: StageContext) -> Document:
    """Ask the registered loaders for a ``Document``; raise ``UnsupportedFormatError`` if none
    can, and ``LoadError`` naming the file if one fails."""
    try:
        document: Document | None = context.hook.docveil_load_document(source=source, context=context)
    except PluginError as exc:
        if exc.__cause__ is None:  # not a loader's own failure
            raise
        if isinstance(exc.__cause__, RecursionError):
            raise LoadError(source.name, "structure nested too deeply to be read") from exc
        raise LoadError(source.name, str(exc)) from exc
    if document is None:
        raise unsupported_format_error(source)
    return storable_document(document)


# What PostgreSQL text and UTF-8 cannot hold: NUL, and surrogates (a decoder such as
# unicode_escape can make them). One character each, so character boxes stay aligned.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_document(document: Document) -> Document:
    """``document`` with NUL and lone surrogates in its text and metadata replaced by U+FFFD."""
    def clean(text: str) -> str:
        return _UNSTORABLE.sub("\ufffd", text)

    if not any(_UNSTORABLE.search(page.text) for page in document.pages) and not any(
            _UNSTORABLE.search(key) or _UNSTORABLE.search(value) for key, value in document.metadata.items()):
        return document
    return replace(document, pages=tuple(replace(page, text=clean(page.text)) for page in document.pages),
                   metadata={clean(key): clean(value) for key, value in document.metadata.items()})


# What tools write as a document's author when nobody is named: not a person.
_NO_AUTHOR = frozenset({"anonymous", "unknown", "user", "admin", "administrator", "author", "owner",
                        "microsoft office user", "windows user"})


def author_values(*names: str) -> tuple[tuple[str, str], ...]:
    """A document's authors as ``Document.personal_values``, placeholders left out."""
    kept = (name.strip() for name in names)
    return tuple(("PERSON", name) for name in dict.fromkeys(kept)
                 if any(c.isalpha() for c in name) and name.casefold() not in _NO_AUTHOR)


def unsupported_format_error(source: Source) -> UnsupportedFormatError:
    """The error for a source no loader accepts, saying what the content looks like."""
    return UnsupportedFormatError(source.name, _unsupported_reason(source))


def content_hash(data: bytes) -> str:
    """The SHA-256 of the raw bytes, hex: what ``Document.content_hash`` holds."""
    return hashlib.sha256(data).hexdigest()


def format_size(size: int) -> str:
    """A byte count for people: ``"120.0 MiB"``."""
    if size < 1024:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} TiB"


def _os_reason(exc: OSError) -> str:
    # strerror only: str(exc) repeats the path, which the error already carries as its source.
    return f"cannot read file ({exc.strerror or type(exc).__name__})"


def _make_source(name: str, data: bytes, settings: Settings) -> Source:
    _check_size(name, len(data), settings)
    media_type = sniff_media_type(data, name)
    logger.debug("sniffed %s (%d bytes)", media_type, len(data))
    return Source(name=name, data=data, media_type=media_type)


def _check_size(name: str, size: int, settings: Settings) -> None:
    if size == 0:
        raise LoadError(name, "empty file")
    if size > settings.max_bytes:
        actual, limit = format_size(size), format_size(settings.max_bytes)
        if actual == limit:  # rounding would make "100.0 MiB, over the 100.0 MiB limit"
            actual, limit = f"{size:,} bytes", f"{settings.max_bytes:,} bytes"
        raise LimitExceededError(name, f"file is {actual}, over the {limit} limit (max_bytes)")


def _unsupported_reason(source: Source) -> str:
    media_type = source.media_type
    described = describe_media_type(media_type)
    if is_text_media_type(media_type):
        return f"no installed loader accepts {described} ({media_type})"
    claims_text = PurePath(source.name).suffix.lower() in _TEXT_SUFFIXES
    if media_type == OCTET_STREAM:
        return "binary content of an unrecognised format, not text" if claims_text else \
            "unsupported format: binary content of an unrecognised format"
    if claims_text:
        return f"binary content (looks like {described}), not text"
    return f"unsupported format: {described} ({media_type}); no installed loader accepts it"
