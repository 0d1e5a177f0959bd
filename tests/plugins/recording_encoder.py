"""Test plugin: wraps the real text encoder and records every text it is given."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from docveil.context import StageContext
from docveil.hookspecs import hookimpl
from docveil.stages.encode import text as default_encoder
from docveil.types import RedactedText


class RecordingEncoder:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.seen: list[str] = []

    def encode(self, texts: Sequence[RedactedText]) -> np.ndarray:
        self.seen.extend(getattr(t, "text", str(t)) for t in texts)
        return self.inner.encode(texts)


class RecordingEncoderPlugin:
    def __init__(self) -> None:
        self.encoder: RecordingEncoder | None = None

    @hookimpl
    def docveil_text_encoder(self, context: StageContext) -> RecordingEncoder:
        if self.encoder is None:
            self.encoder = RecordingEncoder(default_encoder.docveil_text_encoder(context))
        return self.encoder
