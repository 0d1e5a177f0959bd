"""OCR with tesseract: words with pixel boxes. A default plugin.

tesseract runs in the process through tesserocr (its C++ API): the language model is loaded
once per thread and reused, and the image goes in without being written out, which saves the
0.1 to 0.2 s that starting the ``tesseract`` program and loading its model costs per call
(most of the time of a small image such as a plate strip). Where tesserocr is not installed,
the ``tesseract`` program is run through pytesseract instead, with the same results.
tesseract's OpenMP threads fight each other on small machines (0.58 s against 0.22 s per small
image on 2 cores), so ``OMP_THREAD_LIMIT`` is set to 1 unless the host set it already.

``page_text`` lays words out as text: words of a line joined by a space, lines by a line
break, blocks by a blank line (so chunking sees paragraph ends); a token tesseract split at a
dot or an ``@`` with no real gap is joined again, so an email address stays one. Each character
of a word gets the word's box; the separators get none.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docveil.context import StageContext
from docveil.errors import DocveilError, MissingDependencyError
from docveil.hookspecs import hookimpl
from docveil.types import BBox, OcrWord

logger = logging.getLogger(__name__)

# Every word tesseract reports is kept, however unsure: a word dropped here would be neither
# searched for personal data nor redacted in the pixels. Texture read as letters costs only noise.
MIN_CONFIDENCE = 0.0
# Page segmentation: 3 = automatic layout (documents, screenshots), 6 = one block of text
# (a strip of cut-out lines), 11 = sparse text (photos), 13 = one raw line, no layout analysis.
PSM_PAGE = 3
PSM_BLOCK = 6
PSM_SPARSE = 11
PSM_RAW_LINE = 13

_TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata",
                   "/opt/homebrew/share/tessdata")


def tesseract(image: Any, *, language: str = "eng", psm: int = PSM_PAGE,
              min_confidence: float = MIN_CONFIDENCE) -> list[OcrWord]:
    """Words of a PIL image in reading order, as tesseract reads them with ``psm``."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        rows = _cli_rows(image, language, psm)
    else:
        rows = _api_rows(image, language, psm)
    words: list[OcrWord] = []
    lines: dict[tuple[int, int, int], int] = {}
    for text, confidence, (left, top, right, bottom), key in rows:
        text = text.strip()
        if not text or confidence < min_confidence:
            continue
        line = lines.setdefault(key, len(lines))
        words.append(OcrWord(text=text, box=BBox(left, top, right, bottom), confidence=confidence,
                             line=line, block=key[0]))
    return words


# A row: text, confidence, (left, top, right, bottom), (block, paragraph, line) numbers.
_Row = tuple[str, float, tuple[int, int, int, int], tuple[int, int, int]]


class _Readers(threading.local):
    """One tesseract API per thread and language (an API object is not thread-safe)."""

    def __init__(self) -> None:
        self.apis: dict[str, Any] = {}


_READERS = _Readers()


def _api(language: str) -> Any:
    api = _READERS.apis.get(language)
    if api is None:
        from tesserocr import OEM, PyTessBaseAPI

        _quiet_leptonica()
        path = tessdata_path()
        try:
            api = PyTessBaseAPI(path=path, lang=language, oem=OEM.LSTM_ONLY)
        except RuntimeError:
            raise DocveilError(f"OCR language {language!r} is not installed in {path} (apt-get install "
                               f"tesseract-ocr-{language}, or set TESSDATA_PREFIX)") from None
        _READERS.apis[language] = api
    return api


def _api_rows(image: Any, language: str, psm: int) -> list[_Row]:
    from tesserocr import RIL, iterate_level

    api = _api(language)
    api.SetPageSegMode(psm)
    # Raw pixels, not tesserocr's ``SetImage``: that re-encodes the image, and an in-memory RGB
    # image without a format came out unreadable (no words) where its PNG reads fine.
    pixels = image if image.mode in ("L", "RGB") else image.convert("RGB")
    depth = 1 if pixels.mode == "L" else 3
    api.SetImageBytes(pixels.tobytes(), pixels.width, pixels.height, depth, depth * pixels.width)
    try:
        if not api.Recognize():
            raise DocveilError("OCR failed: tesseract could not recognise the image")
        rows: list[_Row] = []
        block = paragraph = line = 0
        iterator = api.GetIterator()
        if iterator is None:  # nothing on the page
            return rows
        for word in iterate_level(iterator, RIL.WORD):
            if word.IsAtBeginningOf(RIL.BLOCK):
                block, paragraph, line = block + 1, 0, 0
            if word.IsAtBeginningOf(RIL.PARA):
                paragraph, line = paragraph + 1, 0
            if word.IsAtBeginningOf(RIL.TEXTLINE):
                line += 1
            box = word.BoundingBox(RIL.WORD)
            if box is None or word.Empty(RIL.WORD):
                continue
            try:
                text = word.GetUTF8Text(RIL.WORD)
            except RuntimeError:  # tesserocr's way of saying the word has no text
                continue
            rows.append((text, float(word.Confidence(RIL.WORD)), box, (block, paragraph, line)))
        return rows
    finally:
        api.Clear()


@functools.cache
def _quiet_leptonica() -> None:
    """Leptonica, the image library under tesseract, prints internal complaints ("box outside
    rectangle") to the process's stderr; they say nothing about the result. Silence them in the
    copy tesserocr loaded."""
    import ctypes
    import ctypes.util

    import tesserocr

    package = Path(tesserocr.__file__).resolve().parent
    candidates = [*glob.glob(str(package.parent / "tesserocr.libs" / "libleptonica*.so*")),
                  ctypes.util.find_library("leptonica"), ctypes.util.find_library("lept")]
    for candidate in filter(None, candidates):
        try:
            ctypes.CDLL(candidate).setMsgSeverity(6)  # L_SEVERITY_NONE
            return
        except (OSError, AttributeError):
            continue


@functools.cache
def tessdata_path() -> str:
    """Where tesseract's language data is: ``TESSDATA_PREFIX``, what the ``tesseract`` program
    reports, or the usual system folders."""
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        return prefix
    program = shutil.which("tesseract")
    if program:
        listing = subprocess.run([program, "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
        found = re.search(r'"([^"]+)"', listing.stdout + listing.stderr)
        if found and Path(found.group(1)).is_dir():
            return found.group(1)
    for pattern in _TESSDATA_GLOBS:
        for folder in sorted(glob.glob(pattern), reverse=True):
            if Path(folder, "eng.traineddata").exists():
                return folder
    raise DocveilError("OCR of images needs tesseract's language data: apt-get install tesseract-ocr "
                       "tesseract-ocr-eng (or brew install tesseract), or set TESSDATA_PREFIX")


def _cli_rows(image: Any, language: str, psm: int) -> list[_Row]:
    pytesseract = _pytesseract()
    try:
        data = pytesseract.image_to_data(image, lang=language, config=f"--psm {psm}",
                                         output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError as exc:
        # tesseract's message names the language or option at fault, never the image content.
        raise DocveilError(f"OCR failed (tesseract exit {exc.status}): {exc.message.strip()[:200]}") from None
    return [(text, float(data["conf"][i]),
             (data["left"][i], data["top"][i], data["left"][i] + data["width"][i], data["top"][i] + data["height"][i]),
             (data["block_num"][i], data["par_num"][i], data["line_num"][i]))
            for i, text in enumerate(data["text"])]


def _pytesseract() -> Any:
    try:
        import pytesseract
    except ImportError:
        raise MissingDependencyError("OCR of images", "'docveil[images]'") from None
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise DocveilError("OCR of images needs the tesseract program: apt-get install tesseract-ocr "
                           "tesseract-ocr-eng (or brew install tesseract)")
    return pytesseract


def page_text(words: Sequence[OcrWord]) -> tuple[str, tuple[BBox | None, ...]]:
    """The text of ``words`` and one box per character (None for separators)."""
    parts: list[str] = []
    boxes: list[BBox | None] = []
    previous: OcrWord | None = None
    for word in words:
        if previous is not None:
            if word.line != previous.line:
                separator = "\n" if word.block == previous.block else "\n\n"
            else:
                separator = "" if _glued(previous, word) else " "
            parts.append(separator)
            boxes.extend([None] * len(separator))
        parts.append(word.text)
        boxes.extend([word.box] * len(word.text))
        previous = word
    return "".join(parts), tuple(boxes)


def _glued(previous: OcrWord, word: OcrWord) -> bool:
    """Whether tesseract split one token in two: an address or name cut after a dot, at or
    before an ``@``, with hardly any gap ("lucia." "moreau@example.com")."""
    gap = word.box.x0 - previous.box.x1
    height = max(previous.box.y1 - previous.box.y0, word.box.y1 - word.box.y0)
    joinable = previous.text.endswith((".", "@", "_", "-")) or word.text.startswith(("@", "."))
    return joinable and gap < 0.45 * height


def ocr_image(image: Any, context: StageContext) -> tuple[OcrWord, ...]:
    """The words of ``image`` from the first OCR plugin that answers (tesseract by default)."""
    words = context.hook.docveil_ocr_image(image=image, context=context)
    return tuple(words or ())


@hookimpl(trylast=True)
def docveil_ocr_image(image: Any, context: StageContext) -> list[OcrWord]:
    return tesseract(image, language=context.settings.ocr_language)
