"""Tiny plugins, one per hook, used by tests/test_plugin_hooks.py."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

import numpy as np
import typer
from PIL import Image
from presidio_analyzer import Pattern, PatternRecognizer

from docveil import hookimpl
from docveil.types import Chunk, Document, Finding, Page


class WarmUpProbe:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def docveil_warm_up(self, context) -> None:
        self.calls += 1


class NoteLoader:
    """Loads ``*.note`` files: one page per line beginning with '## '."""

    @hookimpl(tryfirst=True)
    def docveil_load_document(self, source, context):
        if not source.name.endswith(".note"):
            return None
        text = source.data.decode("utf-8")
        pages = tuple(Page(number=i, text=part.strip()) for i, part in enumerate(text.split("## ")[1:], 1))
        return Document(source=source.name, media_type="text/x-note", pages=pages,
                        content_hash=hashlib.sha256(source.data).hexdigest())


class TicketRecognizer:
    @hookimpl
    def docveil_text_recognizers(self, context):
        return [PatternRecognizer(supported_entity="TICKET_ID", name="TicketRecognizer",
                                  patterns=[Pattern("ticket", r"\bTCK-\d{4}\b", 0.9)])]


class PortugueseCardRecognizer:
    """A national number docveil lacks, added the way docveil builds its own."""

    @hookimpl
    def docveil_text_recognizers(self, context):
        from docveil.stages.detect.national_ids import NationalIdFormat

        return [NationalIdFormat("PT CC", r"\b\d{8} ?\d ?[A-Z]{2}\d\b", "stdnum.pt.cc",
                                 ("Cartão de Cidadão", "CC")).recognizer(context.settings.language)]


class CodewordDetector:
    """A detector that is not Presidio: finds the word 'BLUEBIRD'."""

    @hookimpl
    def docveil_detect_text(self, texts, context):
        return [[Finding("CODEWORD", m.start(), m.end(), 0.99, "CodewordDetector")
                 for m in re.finditer(r"BLUEBIRD", text)] for text in texts]


class InitialsOperator:
    @hookimpl
    def docveil_redaction_operators(self, context):
        return {"initials": lambda value, entity_type, digest: ".".join(w[0] for w in value.split()) + "."}


class PagePerChunk:
    @hookimpl(tryfirst=True)
    def docveil_chunk_document(self, document, context):
        return [Chunk(ordinal=i, text=page.text, page=page.number, start=0, end=len(page.text.text))
                for i, page in enumerate(document.pages)]


class NoSearchOnSundays:
    """A deployment policy: user 'mallory' may never search."""

    @hookimpl
    def docveil_authorize(self, principal, action, resource, context):
        if action == "search" and principal.user == "mallory":
            return False
        return None


class CollectingSink:
    def __init__(self) -> None:
        self.records: list[dict] = []

    @hookimpl
    def docveil_audit_record(self, record, context) -> None:
        self.records.append(dict(record))


class HelloCommand:
    @hookimpl
    def docveil_register_commands(self, cli: typer.Typer) -> None:
        @cli.command("hello")
        def hello() -> None:
            """Say hello."""
            typer.echo("hello from a plugin")


class EchoAnswerer:
    """An answerer named 'echo': repeats the (redacted) question it was given."""

    @hookimpl
    def docveil_answer(self, request, context):
        if context.settings.answerer != "echo":
            return None
        from docveil.types import Generation

        return Generation(model="echo-1", pieces=iter(["You asked: ", request.question.text]))


class FixedWordsOcr:
    """An OCR engine that reads "Operation BLUEBIRD" in every image, at fixed places."""

    @hookimpl(tryfirst=True)
    def docveil_ocr_image(self, image, context):
        from docveil.types import BBox, OcrWord

        return [OcrWord("Operation", BBox(10, 10, 90, 30), 95.0), OcrWord("BLUEBIRD", BBox(100, 10, 180, 30), 95.0)]


class CornerLogoDetector:
    """An image detector that finds a 'LOGO' in the top-left 20 x 20 pixels of every image."""

    @hookimpl
    def docveil_detect_image_regions(self, images, context):
        from docveil.types import BBox, Region

        return [[Region("LOGO", BBox(0, 0, 20, 20), 0.9, "CornerLogoDetector")] for _ in images]


class ColourLayoutEncoder:
    """An image encoder without a model: the mean colour of each quarter of a picture; a text
    query names a colour."""

    name = "colour-layout"
    dimension = 12
    COLOURS: ClassVar[dict[str, tuple[int, int, int]]] = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}

    def encode_images(self, images):
        return self._unit([np.asarray(image.pixels.convert("RGB").resize((2, 2), Image.Resampling.BOX),
                                      dtype=np.float32).ravel() + 1 for image in images])

    def encode_texts(self, texts):
        return self._unit([np.tile(np.array(self.COLOURS.get(t.text.strip().lower(), (128, 128, 128)),
                                            dtype=np.float32), 4) + 1 for t in texts])

    def _unit(self, rows):
        vectors = np.array(rows, dtype=np.float32).reshape(-1, self.dimension)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    @hookimpl
    def docveil_image_encoder(self, context):
        return self
