"""License-plate detection by reading: find lines of character-like shapes, read them with
tesseract, and keep those that read as a plate. A default plugin.

1. **Candidate lines.** The image is binarised with a local (adaptive) threshold, both for dark
   characters on a light plate and for light on dark; connected components shaped like
   characters (taller than wide, partly filled) are chained left to right into lines of at
   least ``MIN_CHARS`` of similar height on one baseline. Lines on one baseline close together
   are joined ("M KR" and "4821"). This costs a few milliseconds and does not care about scale.
2. **Reading.** Each candidate line is cut out, scaled to a fixed character height, binarised
   (Otsu) and stacked with the others into one strip read by one tesseract call. Lines that do
   not read as a plate are read again from the red channel and from a contrast-enhanced (CLAHE)
   version (two calls side by side: tesseract releases the GIL), leaving out crops that differ
   from one already read in a few pixels only, and last each on its own as a raw line
   (tesseract's block layout sometimes drops a line with a bolt or frame edge beside it); the
   page's own OCR words are used too.
3. **Deciding.** A line is a plate when its characters, separators removed, match a plate
   format (``PLATE_FORMATS``: US, German, UK, French/Italian, Spanish and a generic
   letters-and-digits rule), or when it is the largest line next to a plate word such as a US
   state name or "EVERGREEN STATE" (vanity plates like "WATT UP" match no format). The
   region is the line grown to the plate around it.

It finds clear plates, including perspective and mild blur; it misses plates too small or
blurred to read, which a trained plate detector plugin would find.
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from docveil.context import StageContext
from docveil.hookspecs import hookimpl
from docveil.stages.detect.ocr import PSM_BLOCK, PSM_RAW_LINE, tesseract
from docveil.types import BBox, OcrWord, PageImage, Region

logger = logging.getLogger(__name__)

LABEL = "LICENSE_PLATE"
DETECTOR = "plate-ocr"

MIN_CHARS = 3
MIN_CHAR_HEIGHT = 8
MAX_CANDIDATES = 12
READ_HEIGHT = 48
# A line crop differing from one already read in fewer than this share of pixels is not read again.
SAME_CROP = 0.02
# A plate around its line of characters, in character heights.
PLATE_MARGIN_X = 0.8
PLATE_MARGIN_Y = 0.9

PLATE_FORMATS: dict[str, re.Pattern[str]] = {
    # separators removed before matching
    "DE": re.compile(r"[A-ZÄÖÜ]{1,3}[A-Z]{1,2}\d{1,4}[EH]?"),
    "UK": re.compile(r"[A-Z]{2}\d{2}[A-Z]{3}|[A-Z]\d{1,3}[A-Z]{3}"),
    "FR_IT": re.compile(r"[A-Z]{2}\d{3}[A-Z]{2}"),
    "ES": re.compile(r"\d{4}[A-Z]{3}"),
    "US": re.compile(r"\d[A-Z]{3}\d{3}|[A-Z]{3}\d{3,4}|\d{3}[A-Z]{3}|[A-Z]{2}\d{5}"),
    # most other plates: 5 to 9 letters and digits, both present
    "GENERIC": re.compile(r"(?=\d*[A-Z])[A-Z0-9]{5,9}"),
}

US_STATES = (
    "ALABAMA", "ALASKA", "ARIZONA", "ARKANSAS", "CALIFORNIA", "COLORADO", "CONNECTICUT", "DELAWARE",
    "FLORIDA", "GEORGIA", "HAWAII", "IDAHO", "ILLINOIS", "INDIANA", "IOWA", "KANSAS", "KENTUCKY",
    "LOUISIANA", "MAINE", "MARYLAND", "MASSACHUSETTS", "MICHIGAN", "MINNESOTA", "MISSISSIPPI",
    "MISSOURI", "MONTANA", "NEBRASKA", "NEVADA", "HAMPSHIRE", "JERSEY", "MEXICO", "YORK", "CAROLINA",
    "DAKOTA", "OHIO", "OKLAHOMA", "OREGON", "PENNSYLVANIA", "RHODE", "TENNESSEE", "TEXAS", "UTAH",
    "VERMONT", "VIRGINIA", "WASHINGTON", "WISCONSIN", "WYOMING",
)
PLATE_WORDS = frozenset(US_STATES) | frozenset({"EVERGREEN", "DMV", "DMVCAGOV", "SUNSHINE", "EMPIRE",
                                                 "GARDEN", "LINCOLN", "VOLUNTEER", "TREASURE"})
# Words of 4+ letters that match a plate word this closely count (OCR drops or swaps letters).
WORD_SIMILARITY = 0.8

_SEPARATORS = re.compile(r"[\s\-:·.•|_]+")
_ALNUM = re.compile(r"[^A-Z0-9ÄÖÜ]")


@dataclass
class Line:
    """A candidate line of characters: its box in image pixels and its character height."""

    x0: float
    y0: float
    x1: float
    y1: float
    height: float
    dark: bool
    chars: int = 0
    text: str = ""

    @property
    def box(self) -> BBox:
        return BBox(self.x0, self.y0, self.x1, self.y1)


def plate_format(text: str) -> str | None:
    """The name of the plate format ``text`` matches (separators ignored), or None.

    A plate reads as at most four groups of capitals and digits; a line of ordinary words
    (lower-case letters, many groups) is not one, whatever its letters happen to spell."""
    if len(text.split()) > 4 or sum(ch.islower() for ch in text) > 2:
        return None
    compact = _ALNUM.sub("", _SEPARATORS.sub("", text.upper()))
    # Plates of every format here carry two digits or more; letter-only vanity plates are
    # found by the plate words around them instead.
    if not 4 <= len(compact) <= 9 or sum(ch.isdigit() for ch in compact) < 2:
        return None
    for name, pattern in PLATE_FORMATS.items():
        if pattern.fullmatch(compact):
            return name
    return None


def is_plate_word(text: str) -> bool:
    word = _ALNUM.sub("", text.upper())
    if len(word) < 3:
        return False
    if word in PLATE_WORDS:
        return True
    if len(word) < 4:
        return False
    # The matcher indexes its second sequence once: the word, compared with each plate word.
    matcher = difflib.SequenceMatcher(None, b=word)
    for known in PLATE_WORDS:
        if abs(len(known) - len(word)) > 2:
            continue
        matcher.set_seq1(known)
        # quick_ratio bounds ratio from above and costs a fraction of it.
        if matcher.quick_ratio() >= WORD_SIMILARITY and matcher.ratio() >= WORD_SIMILARITY:
            return True
    return False


def _components(gray: np.ndarray, dark: bool) -> list[tuple[int, int, int, int]]:
    import cv2

    height, width = gray.shape
    block = max(15, (min(height, width) // 20) | 1)
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                   cv2.THRESH_BINARY_INV if dark else cv2.THRESH_BINARY, block, 10)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    w, h, area = (stats[1:count, column].astype(np.float64) for column in (2, 3, 4))
    shaped = ((h >= MIN_CHAR_HEIGHT) & (h <= height * 0.3) & (h >= 0.6 * w) & (h <= 8.0 * w)
              & (area >= 0.15 * w * h) & (area <= 0.95 * w * h))
    return [(int(left), int(top), int(wide), int(high)) for left, top, wide, high in stats[1:count][shaped][:, :4]]


def _chains(boxes: list[tuple[int, int, int, int]], dark: bool) -> list[Line]:
    """Characters chained left to right: similar height, one baseline, small gaps."""
    boxes = sorted(boxes)
    used = [False] * len(boxes)
    lines = []
    for i, first in enumerate(boxes):
        if used[i]:
            continue
        chain = [first]
        used[i] = True
        for j in range(i + 1, len(boxes)):
            if used[j]:
                continue
            x, y, _, h = boxes[j]
            lx, ly, lw, lh = chain[-1]
            gap = x - (lx + lw)
            if gap > 1.5 * lh:
                break
            if gap < -0.3 * lw or abs(h - lh) > 0.25 * max(h, lh) or abs((y + h / 2) - (ly + lh / 2)) > 0.25 * lh:
                continue
            chain.append(boxes[j])
            used[j] = True
        if len(chain) >= 2:
            lines.append(Line(min(b[0] for b in chain), min(b[1] for b in chain),
                              max(b[0] + b[2] for b in chain), max(b[1] + b[3] for b in chain),
                              float(np.median([b[3] for b in chain])), dark, len(chain)))
    return lines


def _joined(lines: list[Line]) -> list[Line]:
    """Lines on one baseline, of one height and close together, joined ("M KR" + "4821")."""
    joined: list[Line] = []
    for line in sorted(lines, key=lambda item: item.x0):
        for other in joined:
            if (other.dark == line.dark and abs(line.height - other.height) < 0.3 * other.height
                    and abs((line.y0 + line.y1) / 2 - (other.y0 + other.y1) / 2) < 0.3 * other.height
                    and -other.height < line.x0 - other.x1 < 3 * other.height):
                other.x1 = max(other.x1, line.x1)
                other.y0, other.y1 = min(other.y0, line.y0), max(other.y1, line.y1)
                other.chars += line.chars
                break
        else:
            joined.append(line)
    return joined


def candidate_lines(rgb: np.ndarray) -> list[Line]:
    """Lines of character-like shapes, most plate-like first (wide lines of tall characters).

    Shapes are looked for in the grey image and in the red channel, where blue or black
    characters on a red-and-white background (flag plates, red state names) stand out."""
    import cv2

    red = _side_reader().submit(_channel_lines, np.ascontiguousarray(rgb[:, :, 0]))
    lines = _channel_lines(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)) + red.result()
    lines.sort(key=lambda line: -(line.height * min((line.x1 - line.x0) / line.height, 8.0)))
    distinct: list[Line] = []
    for line in lines:
        if not any(_overlap(line.box, other.box) > 0.6 for other in distinct):
            distinct.append(line)
    return distinct[:MAX_CANDIDATES]


def _channel_lines(channel: np.ndarray) -> list[Line]:
    return [line for dark in (True, False) for line in _joined(_chains(_components(channel, dark), dark))
            if line.chars >= MIN_CHARS and 1.5 <= (line.x1 - line.x0) / line.height <= 15]


def _overlap(box: BBox, other: BBox) -> float:
    """Intersection over the smaller box's area."""
    width = min(box.x1, other.x1) - max(box.x0, other.x0)
    height = min(box.y1, other.y1) - max(box.y0, other.y0)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((box.x1 - box.x0) * (box.y1 - box.y0), (other.x1 - other.x0) * (other.y1 - other.y0))
    return width * height / max(smaller, 1e-6)


def _line_crop(gray: np.ndarray, line: Line, enhance: bool) -> np.ndarray:
    """The line cut out with a margin, scaled to ``READ_HEIGHT`` characters, binarised, dark on light."""
    import cv2

    # Wider than tall: characters the shape analysis lost (touching the plate's edge) are read too.
    margin_x, margin_y = 0.8 * line.height, 0.3 * line.height
    height, width = gray.shape
    x0, y0 = int(max(0, line.x0 - margin_x)), int(max(0, line.y0 - margin_y))
    x1, y1 = int(min(width, line.x1 + margin_x)), int(min(height, line.y1 + margin_y))
    crop = gray[y0:y1, x0:x1]
    if enhance:
        crop = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(2, 8)).apply(crop)
    factor = READ_HEIGHT / line.height
    crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    _, crop = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if not line.dark:
        crop = 255 - crop
    return crop


def _same_reading(crop: np.ndarray, read: Sequence[np.ndarray]) -> bool:
    """Whether ``crop`` differs from a crop already read in so few pixels that it would read the same."""
    return any(other.shape == crop.shape and np.count_nonzero(other != crop) < SAME_CROP * crop.size
               for other in read)


def read_crops(crops: Sequence[np.ndarray], *, language: str, alone: bool = False) -> list[str]:
    """The text of each line crop, from one tesseract call over a strip of all of them, or with
    ``alone`` one call per crop read as a raw line."""
    from PIL import Image

    if not crops:
        return []
    if alone:
        return [" ".join(word.text for word in tesseract(Image.fromarray(crop), language=language, psm=PSM_RAW_LINE,
                                                         min_confidence=0.0))
                for crop in crops]
    gap = READ_HEIGHT
    width = max(crop.shape[1] for crop in crops) + 2 * gap
    height = sum(crop.shape[0] + gap for crop in crops) + gap
    strip = np.full((height, width), 255, dtype=np.uint8)
    spans = []
    top = gap
    for crop in crops:
        strip[top:top + crop.shape[0], gap:gap + crop.shape[1]] = crop
        spans.append((top, top + crop.shape[0]))
        top += crop.shape[0] + gap
    words = tesseract(Image.fromarray(strip), language=language, psm=PSM_BLOCK, min_confidence=0.0)
    texts: list[list[str]] = [[] for _ in crops]
    for word in words:
        middle = (word.box.y0 + word.box.y1) / 2
        for index, (start, end) in enumerate(spans):
            if start - gap / 2 <= middle < end + gap / 2:
                texts[index].append(word.text)
                break
    return [" ".join(parts) for parts in texts]


def _read(lines: Sequence[Line], rgb: np.ndarray, language: str) -> None:
    """Set each line's text: its plate reading if any reading gives one, else the first text read."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Readings: the grey crop of every line; then, for the lines not read as a plate, the red
    # channel and a contrast-enhanced (CLAHE) grey crop, two tesseract calls run side by side.
    # A crop that would read like one the line already had is left out.
    crops_read = [[_line_crop(gray, line, enhance=False)] for line in lines]
    _take(lines, read_crops([read[0] for read in crops_read], language=language))
    red = np.ascontiguousarray(rgb[:, :, 0])
    rounds: list[tuple[list[Line], list[np.ndarray]]] = []
    for channel, enhance in ((red, False), (gray, True)):
        unread, crops = [], []
        for line, read in zip(lines, crops_read, strict=True):
            if _is_plate_text(line.text):
                continue
            crop = _line_crop(channel, line, enhance)
            if not _same_reading(crop, read):
                read.append(crop)
                unread.append(line)
                crops.append(crop)
        rounds.append((unread, crops))
    (red_lines, red_crops), (clahe_lines, clahe_crops) = rounds
    clahe_texts = _side_reader().submit(read_crops, clahe_crops, language=language) if clahe_crops else None
    _take(red_lines, read_crops(red_crops, language=language))
    _take(clahe_lines, clahe_texts.result() if clahe_texts else [])
    # Last, each line no reading got any text from, alone as a raw line (tesseract's block
    # layout sometimes drops a line with a bolt or frame edge beside it).
    # Each is its own call, so the two threads share them.
    silent = [(line, read[0]) for line, read in zip(lines, crops_read, strict=True) if not line.text]
    half = _side_reader().submit(read_crops, [crop for _, crop in silent[1::2]], language=language, alone=True)
    _take([line for line, _ in silent[0::2]], read_crops([crop for _, crop in silent[0::2]], language=language,
                                                         alone=True))
    _take([line for line, _ in silent[1::2]], half.result())


def _take(lines: Sequence[Line], texts: Sequence[str]) -> None:
    """Give each line its new text if that reads as a plate, or if it had none yet."""
    for line, text in zip(lines, texts, strict=True):
        if not _is_plate_text(line.text) and (_is_plate_text(text) or not line.text):
            line.text = text


@functools.cache
def _side_reader() -> ThreadPoolExecutor:
    """One thread reading beside the caller's (tesseract releases the GIL while it reads)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="docveil-plates")


# A forked child has none of its parent's threads: it starts a reader of its own.
os.register_at_fork(after_in_child=_side_reader.cache_clear)


def _is_plate_text(text: str) -> bool:
    return bool(plate_format(text)) or is_plate_word(text)


def _plate_box(line: Line) -> BBox:
    return BBox(line.x0 - PLATE_MARGIN_X * line.height, line.y0 - PLATE_MARGIN_Y * line.height,
                line.x1 + PLATE_MARGIN_X * line.height, line.y1 + PLATE_MARGIN_Y * line.height)


def _near(anchor: BBox, line: Line) -> bool:
    """Whether ``line`` may be on the same plate as the plate word at ``anchor``."""
    anchor_height, anchor_width = anchor.y1 - anchor.y0, anchor.x1 - anchor.x0
    beside = line.x0 < anchor.x1 + anchor_width / 2 and anchor.x0 - anchor_width / 2 < line.x1
    return beside and line.y0 < anchor.y1 + 5 * anchor_height and anchor.y0 < line.y1 + 5 * anchor_height


def detect_plates(rgb: np.ndarray, words: Sequence[OcrWord], language: str = "eng") -> list[Region]:
    """Plate regions in an RGB image; ``words`` are the image's OCR words, if any."""
    lines = candidate_lines(rgb)
    _read(lines, rgb, language)
    regions = [Region(LABEL, _plate_box(line), 0.85, f"{DETECTOR}:{plate_format(line.text)}")
               for line in lines if plate_format(line.text)]
    anchors = [line.box for line in lines if is_plate_word(line.text)]
    anchors += [word.box for word in words if is_plate_word(word.text)]
    for anchor in anchors:
        # The plate holds the word and the lines around it: the number (taller than the word),
        # stickers, a slogan. Its characters need not read as anything.
        beside = [line for line in lines if _near(anchor, line)]
        number = max(beside, key=lambda line: line.height, default=None)
        if number is not None and number.height > 1.2 * (anchor.y1 - anchor.y0):
            plate = BBox.enclosing([anchor, *(_plate_box(line) for line in beside)])
            assert plate is not None
            regions.append(Region(LABEL, plate, 0.6, f"{DETECTOR}:plate-word"))
    regions.extend(_word_plates(words))
    return _dedupe(regions)


def _word_plates(words: Sequence[OcrWord]) -> list[Region]:
    """Plates the page OCR read itself: one word, or neighbours on a line read together. Only
    words without lower-case letters count: prose ("on (206) 555") is not a plate."""
    regions = []
    for i, word in enumerate(words):
        if any(ch.islower() for ch in word.text):
            continue
        group = [word]
        for nxt in words[i + 1:i + 3]:
            if nxt.line != word.line or any(ch.islower() for ch in nxt.text):
                break
            group.append(nxt)
            if plate_format(" ".join(w.text for w in group)):
                break
        for size in range(len(group), 0, -1):
            text = " ".join(w.text for w in group[:size])
            if plate_format(text):
                box = BBox.enclosing([w.box for w in group[:size]])
                assert box is not None
                height = box.y1 - box.y0
                line = Line(box.x0, box.y0, box.x1, box.y1, height, True)
                regions.append(Region(LABEL, _plate_box(line), 0.7, f"{DETECTOR}:{plate_format(text)}"))
                break
    return regions


def _dedupe(regions: list[Region]) -> list[Region]:
    kept: list[Region] = []
    for region in sorted(regions, key=lambda r: -r.score):
        if not any(_overlap(region.box, other.box) > 0.5 for other in kept):
            kept.append(region)
    return kept


@hookimpl
def docveil_detect_image_regions(images: Sequence[PageImage], context: StageContext) -> list[list[Region]]:
    language = context.settings.ocr_language
    return [detect_plates(np.asarray(image.pixels), image.words or (), language) for image in images]
