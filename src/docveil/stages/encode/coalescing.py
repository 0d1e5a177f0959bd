"""Queries of concurrent searches, encoded in one forward pass (see ``docveil.coalescing``)."""

from __future__ import annotations

import numpy as np

from docveil.coalescing import Coalescer
from docveil.protocols import TextEncoder
from docveil.stages.encode.text import require_redacted
from docveil.types import RedactedText


class CoalescingEncoder(Coalescer[RedactedText, np.ndarray]):
    """``encode_one`` from any thread; texts waiting together go through ``encoder`` as one batch."""

    def __init__(self, encoder: TextEncoder, *, max_batch: int = 64) -> None:
        super().__init__(encoder.encode, name="query encoder", max_batch=max_batch)
        self.encoder = encoder

    def encode_one(self, text: RedactedText) -> np.ndarray:
        require_redacted([text])
        return self.submit(text)
