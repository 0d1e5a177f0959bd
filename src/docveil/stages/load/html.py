"""Loader for HTML: the visible text, with the block structure kept as line breaks.

Scripts, styles and other non-content elements are dropped before any text is taken, so code
and markup never reach PII detection or the index. The ``<title>`` becomes
``metadata["title"]``. Decoding follows the text rules; a ``<meta charset>`` declaration is
honoured when there is no byte-order mark. Markup is counted before it is parsed
(``max_markup``): the parser keeps a few hundred bytes per tag, comment and attribute, so a
page of nothing but ``<br>`` would otherwise take a hundred times its size in memory.
"""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup
from bs4.element import CData, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import LimitExceededError
from docveil.hookspecs import hookimpl
from docveil.stages.load.source import content_hash
from docveil.stages.load.text import check_text, decode_text
from docveil.types import Document, Page, Source

MEDIA_TYPE = "text/html"

# Elements whose content is never visible text.
_DROPPED = ("script", "style", "noscript", "template", "head", "title", "iframe", "object", "svg", "math")
# Elements that end a paragraph: a blank line around them.
_PARAGRAPHS = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl",
    "figure", "hr", "address", "details",
})
# Elements that end a line.
_LINES = frozenset({
    "article", "aside", "body", "caption", "dd", "dialog", "div", "dt", "fieldset", "figcaption",
    "footer", "form", "header", "hgroup", "html", "legend", "li", "main", "nav", "section",
    "summary", "tr", "thead", "tbody", "tfoot", "option", "label",
})
_CELLS = frozenset({"td", "th"})
# Ends every table cell, an empty one too, until result() turns the marks between cells into
# tabs and drops the one that ends a row: columns stay in line. Text holds no NUL of its own
# (text() makes it U+FFFD, as every loader does).
_CELL_END = "\x00"
_PRESERVED = frozenset({"pre", "textarea", "listing", "plaintext"})
_SKIPPED_STRINGS = (Comment, CData, ProcessingInstruction, Declaration, Doctype)

_SPACES = re.compile(r"[ \t\n\r\f\u00a0]+")
# The HTML prescan looks for a charset declaration near the start of the document.
_CHARSET_SCAN_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# What the parser makes an object of: a tag (start or end), comment, declaration or
# processing instruction; within a start tag, a blank before an attribute (an upper bound: a
# quoted value with blanks in it counts more than once).
_MARKUP = re.compile(r"<[A-Za-z!/?][^<>]*")
_ATTRIBUTE_GAP = re.compile(r"\s+[^\s/>=\"']")


@hookimpl
def docveil_load_document(source: Source, context: StageContext) -> Document | None:
    if source.media_type != MEDIA_TYPE:
        return None
    soup = parse_html(source.name, decode_text(source, declared_charset(source.data)), context.settings)
    metadata: dict[str, str] = {}
    if soup.title is not None:
        title = _SPACES.sub(" ", soup.title.get_text()).strip()
        if title:
            metadata["title"] = title
    text = html_text(soup)
    check_text(source.name, text, context.settings)
    return Document(
        source=source.name,
        media_type=MEDIA_TYPE,
        pages=(Page(number=1, text=text, char_boxes=None),),
        content_hash=content_hash(source.data),
        metadata=metadata,
    )


# The encodings of the WHATWG Encoding Standard, by their Python codec names. Python knows
# codecs no page may declare (rot13, unicode_escape, zlib...): those labels are unknown here.
_WEB_ENCODINGS = frozenset({
    "utf-8", "cp866", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7",
    "iso8859-8", "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "koi8-r", "koi8-u",
    "mac-roman", "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255",
    "cp1256", "cp1257", "cp1258", "gbk", "gb18030", "big5", "euc_jp", "iso2022_jp", "shift_jis", "euc_kr",
})


def declared_charset(data: bytes) -> str | None:
    """The Python codec of a ``<meta charset>`` near the top, following the HTML standard's
    mapping (latin-1 and ASCII mean windows-1252; UTF-16 without a BOM means UTF-8)."""
    match = _META_CHARSET.search(data[:_CHARSET_SCAN_BYTES])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except LookupError:
        return None  # an unknown label is ignored, as browsers do
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    if name.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return name if name in _WEB_ENCODINGS else None


def parse_html(name: str, markup: str, settings: Settings) -> BeautifulSoup:
    """``markup`` parsed, once its tags, comments and attributes are found within
    ``max_markup``; ``LimitExceededError`` naming ``name`` otherwise."""
    limit = settings.max_markup
    count = 0
    for match in _MARKUP.finditer(markup):
        tag = match.group()
        count += 1 + (_ATTRIBUTE_GAP.subn("", tag)[1] if tag[1].isalpha() else 0)
        if count > limit:
            raise LimitExceededError(
                name, f"HTML has more than {limit:,} tags, comments and attributes, over the markup limit "
                      "(max_markup)")
    return BeautifulSoup(markup, "html.parser")


def html_text(soup: BeautifulSoup) -> str:
    """The visible text of ``soup``: blocks on their own lines, runs of spaces collapsed."""
    for element in soup.find_all(_DROPPED):
        element.decompose()
    writer = _TextWriter()
    # An explicit stack instead of recursion: deeply nested pages must not hit the recursion limit.
    stack: list[tuple[object, bool]] = [(soup, True)]
    while stack:
        node, entering = stack.pop()
        if isinstance(node, Tag):
            name = node.name
            if not entering:
                writer.close(name)
                continue
            writer.open(name)
            stack.append((node, False))
            stack.extend((child, True) for child in reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, _SKIPPED_STRINGS):
            writer.text(str(node))
    return writer.result()


class _TextWriter:
    """Accumulates text and the breaks that block elements ask for."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pending_breaks = 0
        self._row_start = False  # a row opened and no text written since
        self._line_start = True
        self._preserve_depth = 0

    def open(self, name: str) -> None:
        if name in _PRESERVED:
            self._preserve_depth += 1
        self._break_for(name)
        if name == "br":
            self._request_breaks(min(self._pending_breaks + 1, 2))
        elif name == "tr":
            self._row_start = True

    def close(self, name: str) -> None:
        if name in _PRESERVED:
            self._preserve_depth -= 1
        self._break_for(name)
        if name in _CELLS:
            self._end_cell()

    def _end_cell(self) -> None:
        if self._row_start and self._pending_breaks and self._parts:
            # An empty cell opens the row: its mark starts the row's line.
            self._parts.append("\n" * self._pending_breaks)
            self._pending_breaks = 0
        elif self._parts:
            # After a cell's own block content the mark ends that block's line and is dropped.
            self._parts[-1] = self._parts[-1].rstrip(" ")
        self._parts.append(_CELL_END)
        self._line_start = False

    def text(self, value: str) -> None:
        value = value.replace(_CELL_END, "\ufffd")
        if self._preserve_depth:  # noqa: SIM108 - two normalisations read better apart
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        else:
            value = _SPACES.sub(" ", value)
        if not value:
            return
        if value == " " and not self._preserve_depth and (self._line_start or self._pending_breaks):
            return  # whitespace between blocks: the break already separates them
        if self._parts and self._pending_breaks:
            self._parts.append("\n" * self._pending_breaks)
            self._line_start = True
        self._pending_breaks = 0
        self._row_start = False
        if not self._preserve_depth:
            if self._line_start or (self._parts and self._parts[-1].endswith((" ", "\t", _CELL_END))):
                value = value.lstrip(" ")
            if not value:
                return
        self._parts.append(value)
        self._line_start = value.endswith("\n")

    def result(self) -> str:
        lines = "".join(self._parts).split("\n")
        text = "\n".join(line.removesuffix(_CELL_END) for line in lines).replace(_CELL_END, "\t")
        return text.strip(" \n")  # a tab at either end is an empty cell

    def _break_for(self, name: str) -> None:
        if name in _PARAGRAPHS:
            self._request_breaks(2)
        elif name in _LINES:
            self._request_breaks(1)

    def _request_breaks(self, count: int) -> None:
        if self._parts and not self._preserve_depth:
            self._parts[-1] = self._parts[-1].rstrip(" \t")
        self._pending_breaks = max(self._pending_breaks, count)
