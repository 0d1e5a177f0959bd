"""OCR with tesseract (through pytesseract): words with pixel boxes. A default plugin.

tesseract runs as a subprocess per image. Its OpenMP threads fight each other on small
machines (0.58 s against 0.22 s per small image on 2 cores), so ``OMP_THREAD_LIMIT`` is set
to 1 unless the host set it already.

``page_text`` lays words out as text: words of a line joined by a space, lines by a line
break, blocks by a blank line (so chunking sees paragraph ends); a token tesseract split at a
dot or an ``@`` with no real gap is joined again, so an email address stays one. Each character
of a word gets the word's box; the separators get none.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from typing import Any

from docveil.context import StageContext
from docveil.errors import DocveilError, MissingDependencyError
from docveil.hookspecs import hookimpl
from docveil.types import BBox, OcrWord

logger = logging.getLogger(__name__)

# Every word tesseract reports is kept, however unsure: a word dropped here would be neither
# searched for personal data nor redacted in the pixels. Texture read as letters costs only noise.
MIN_CONFIDENCE = 0.0
# Page segmentation: 3 = automatic layout (documents, screenshots), 11 = sparse text (photos).
PSM_PAGE = 3
PSM_SPARSE = 11


def tesseract(image: Any, *, language: str = "eng", psm: int = PSM_PAGE,
              min_confidence: float = MIN_CONFIDENCE, extra_config: str = "") -> list[OcrWord]:
    """Words of a PIL image in reading order, as tesseract reads them with ``psm``."""
    pytesseract = _pytesseract()
    try:
        data = pytesseract.image_to_data(image, lang=language, config=f"--psm {psm} {extra_config}".strip(),
                                         output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError as exc:
        # tesseract's message names the language or option at fault, never the image content.
        raise DocveilError(f"OCR failed (tesseract exit {exc.status}): {exc.message.strip()[:200]}") from None
    words: list[OcrWord] = []
    lines: dict[tuple[int, int, int], int] = {}
    for i, text in enumerate(data["text"]):
        text = text.strip()
        confidence = float(data["conf"][i])
        if not text or confidence < min_confidence:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        line = lines.setdefault(key, len(lines))
        left, top = data["left"][i], data["top"][i]
        words.append(OcrWord(text=text, box=BBox(left, top, left + data["width"][i], top + data["height"][i]),
                             confidence=confidence, line=line, block=data["block_num"][i]))
    return words


def _pytesseract() -> Any:
    try:
        import pytesseract
    except ImportError:
        raise MissingDependencyError("OCR of images", "'docveil[images]'") from None
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise DocveilError("OCR of images needs the tesseract program: apt-get install tesseract-ocr "
                           "tesseract-ocr-eng (or brew install tesseract)")
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
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
