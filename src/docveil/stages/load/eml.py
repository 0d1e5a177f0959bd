"""Loader for email messages (.eml, RFC 822 / MIME): headers, body and attachments, as one
document.

Page 1 is the message: its Subject, From, To, Cc, Reply-To and Date headers, one per line (they
name people, so they go through PII detection like the body), a blank line, then the body:
the text/plain part, or the visible text of the text/html part when there is no plain one.

Attachments are pages of the same document, after the message, so that the email is stored
whole or not at all, under one ACL. Each attachment of a supported kind (PDF, Word, image,
text, HTML, another email) is loaded by the same loaders as a file would be, and its pages
follow in order. The message page ends with one ``Attachment N: <file name> (pages a-b)``
line per attachment read, so file names (often a person's name) go through detection too.
Attachments of other kinds (archives, calendars, executables...) are not read; their number is
in ``metadata["attachments_not_read"]``. An attachment of a supported kind that fails to
load fails the whole email: what cannot be checked must not be stored half-checked.

Limits: ``max_attachments`` per message (counted before any is decoded), ``max_nesting``
levels of emails inside emails, ``max_pages`` and ``max_chars`` over the whole message, and
the pictures of all attachments share the message's pixel budget (``max_document_pixels``).
Metadata: ``subject``, ``from``, ``to``, ``date`` and ``attachments`` (names and pages).
The display names and addresses of the address headers (of attached emails too) are the
document's ``personal_values``: redacted wherever the message names them.
"""

from __future__ import annotations

import email
import logging
from contextvars import ContextVar
from dataclasses import replace
from email import policy
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import Any

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError, LoadError, UnsupportedFormatError
from docveil.hookspecs import hookimpl
from docveil.stages.load.html import html_text, parse_html
from docveil.stages.load.pictures import PixelBudget, shared_budget
from docveil.stages.load.sniff import EMAIL, describe_media_type, sniff_media_type
from docveil.stages.load.source import content_hash, load_document
from docveil.stages.load.text import check_char_count, normalise_newlines
from docveil.stages.redact.pseudonyms import given_first
from docveil.types import Document, Page, Source

logger = logging.getLogger(__name__)

MEDIA_TYPE = EMAIL
HEADERS = ("Subject", "From", "To", "Cc", "Reply-To", "Date")
_METADATA_HEADERS = ("Subject", "From", "To", "Date")
_ADDRESS_HEADERS = ("From", "To", "Cc", "Bcc", "Reply-To", "Sender")

# How deep the current load is inside emails: 0 for a file, 1 for an attachment of it...
_DEPTH: ContextVar[int] = ContextVar("docveil_email_depth", default=0)


@hookimpl
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    if source.media_type != MEDIA_TYPE:
        return None
    return load_email(source, context)


def load_email(source: Source, context: StageContext) -> Document:
    settings = context.settings
    depth = _DEPTH.get()
    if depth >= settings.max_nesting:
        raise LimitExceededError(source.name, f"emails nested more than {settings.max_nesting} deep (max_nesting)")
    message = email.message_from_bytes(source.data, policy=policy.default)
    if message.defects and not message.keys():
        raise LoadError(source.name, "corrupt email: no readable headers")
    body_part, attachments = _parts(message)
    if len(attachments) > settings.max_attachments:
        raise LimitExceededError(source.name, f"email has {len(attachments):,} attachments, over the "
                                              f"{settings.max_attachments:,} attachment limit (max_attachments)")
    headers = [f"{name}: {_header(message, name)}" for name in HEADERS if _header(message, name)]
    personal = _addressed(message)
    body = _body_text(body_part, source.name, settings)
    metadata = {name.lower(): _header(message, name) for name in _METADATA_HEADERS if _header(message, name)}
    check_char_count(source.name, len(body), settings)
    pages: list[Page] = []
    listed: list[str] = []
    not_read = 0
    total_chars = len(body)
    budget = PixelBudget(source.name, settings)
    token = _DEPTH.set(depth + 1)
    try:
        with shared_budget(budget):
            for number, part in enumerate(attachments, 1):
                loaded = _attachment(part, number, source.name, context)
                if loaded is None:
                    not_read += 1
                    continue
                filename, document = loaded
                personal += document.personal_values
                first = len(pages) + 2
                for page in document.pages:
                    pages.append(replace(page, number=len(pages) + 2))
                    total_chars += len(page.text)
                    if page.image is not None:
                        budget.take(page.image.width, page.image.height, f"attachment {number}")
                if len(pages) + 1 > settings.max_pages:
                    raise LimitExceededError(source.name, f"email and attachments have more than "
                                                          f"{settings.max_pages:,} pages (max_pages)")
                check_char_count(source.name, total_chars, settings, at_least=number < len(attachments))
                last = len(pages) + 1
                listed.append(f"Attachment {number}: {filename} ({_pages(first, last)})")
    finally:
        _DEPTH.reset(token)
    # Attachment names (often a person's name) are on the message page, so they are checked too.
    text = "\n\n".join(part for part in ("\n".join(headers), body, "\n".join(listed)) if part)
    check_char_count(source.name, total_chars - len(body) + len(text), settings)
    if listed:
        metadata["attachments"] = "; ".join(listed)
    if not_read:
        metadata["attachments_not_read"] = str(not_read)
    if not text.strip() and not pages:
        raise LoadError(source.name, "no text content")
    return Document(source=source.name, media_type=MEDIA_TYPE,
                    pages=(Page(number=1, text=text, char_boxes=None), *pages),
                    content_hash=content_hash(source.data), metadata=metadata,
                    personal_values=tuple(dict.fromkeys(personal)))


def _addressed(message: Message) -> list[tuple[str, str]]:
    """The people the address headers name: display names and addresses, read as the headers
    define them, so a name no detector recognises is still redacted."""
    values = []
    for name, address in getaddresses([_header(message, header) for header in _ADDRESS_HEADERS]):
        if any(character.isalpha() for character in name) and "@" not in name:
            values.append(("PERSON", name.strip()))
            reordered = given_first(name)  # "Farraday, Ignatius" is also "Ignatius Farraday"
            if reordered:
                values.append(("PERSON", reordered))
        if "@" in address:
            values.append(("EMAIL_ADDRESS", address.strip()))
    return values


def _attached_message_bytes(part: Message, content: Message) -> bytes:
    """An attached email as bytes. Some mailers base64-encode it (RFC 2046 forbids that for
    message/rfc822), and the parser then reads the encoded text as a message without headers."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable") and not content.keys():
        raw = content.get_payload()
        if isinstance(raw, str):
            import base64
            import binascii
            import quopri

            try:
                return base64.b64decode(raw) if encoding == "base64" else quopri.decodestring(raw.encode("ascii"))
            except (binascii.Error, ValueError, UnicodeEncodeError):
                return b""
    return content.as_bytes(policy=policy.default)


def _pages(first: int, last: int) -> str:
    return f"page {first}" if first == last else f"pages {first}-{last}"


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser chokes on: take it raw
        value = message.get_all(name, failobj=[""])[0] if hasattr(message, "get_all") else ""
    return " ".join(str(value or "").split())


def _parts(message: Any) -> tuple[Any, list[Any]]:
    """The body part (plain text preferred, HTML otherwise) and every other leaf part: real
    attachments and inline pictures alike. Attached emails are not opened here."""
    body = message.get_body(preferencelist=("plain", "html")) if isinstance(message, EmailMessage) else None
    attachments = []
    stack: list[Any] = [message]
    while stack:
        part = stack.pop()
        if part is body:
            continue
        if part.get_content_type() == "message/rfc822" and part is not message:
            attachments.append(part)
        elif part.is_multipart():
            stack.extend(reversed(part.get_payload()))
        elif not _is_alternative_body(part):
            attachments.append(part)
    return body, attachments


def _is_alternative_body(part: Message) -> bool:
    """Another rendering of the body (the HTML twin of a plain-text body), not an attachment."""
    return (part.get_content_type() in ("text/plain", "text/html") and part.get_filename() is None
            and part.get_content_disposition() != "attachment")


def _body_text(part: Any, name: str, settings: Settings) -> str:
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        raise LoadError(name, "corrupt email: the body cannot be decoded") from None
    if part.get_content_type() == "text/html":
        return html_text(parse_html(name, content, settings))
    return normalise_newlines(content).strip()


def _attachment(part: Any, number: int, name: str, context: StageContext) -> tuple[str, Document] | None:
    """The attachment's file name and loaded document; None for kinds that are not read."""
    filename = " ".join((part.get_filename() or f"attachment-{number}").split())
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError, KeyError):
        raise LoadError(name, f"corrupt email: attachment {number} cannot be decoded") from None
    if isinstance(content, Message):
        data = _attached_message_bytes(part, content)
    elif isinstance(content, str):
        data = content.encode("utf-8")
    else:
        data = bytes(content)
    if not data:
        return None
    media_type = sniff_media_type(data, filename)
    # Named after the file, as loaders judge names (an image called .pdf); the name stays inside.
    sub = Source(name=filename, data=data, media_type=media_type)
    try:
        return filename, load_document(sub, context)
    except UnsupportedFormatError:
        logger.debug("attachment %d of type %s not read", number, media_type)
        return None
    except LoadError as exc:
        kind = describe_media_type(media_type)
        raise type(exc)(name, f"attachment {number} ({kind}): {exc.reason}") from None
