"""Queries encoded with ONNX Runtime: the same sentence-transformers model, exported once.

A search embeds one short query. In torch's eager mode that is a hundred small operator calls,
each taking the interpreter lock, so on a busy server (spaCy detecting other queries on another
thread) one query takes tens of milliseconds; ONNX Runtime runs the whole graph in one call
without the lock, several times faster. Document batches go through OpenVINO where it is
installed (``openvino_documents``), which runs them in bfloat16 on CPUs that have it; ONNX
Runtime has no bfloat16 kernels for this graph and is slower than torch on long batches.

The transformer is exported with ``torch.onnx`` (eager attention, so ONNX Runtime's BERT
optimizer can fuse it), pooled and normalised as the model's own modules do, and checked
against the torch encoder before use: vectors agree to a cosine above ``MIN_AGREEMENT`` or the
export is not used. Exports are cached under ``DOCVEIL_HOME/models/onnx``, keyed by the model's
weights and the library versions. Any model outside what is handled here (pooling other than
mean or CLS, extra modules such as Dense layers) keeps the torch encoder.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from docveil.context import StageContext, StashKey
from docveil.files import private_folder
from docveil.protocols import TextEncoder
from docveil.stages.encode.exported import (
    PROBES,
    checked,
    export_key,
    features,
    hidden_states,
    load_or_export,
    pool,
    private_copy,
    twin_parts,
)
from docveil.stages.encode.text import SentenceTransformerEncoder, require_redacted
from docveil.types import RedactedText

logger = logging.getLogger(__name__)

EXPORT_VERSION = "1"
_FUSED_TYPES = ("bert",)


class OnnxQueryEncoder:
    """``encode`` as the torch encoder it was exported from, through ONNX Runtime."""

    def __init__(self, session: Any, model: Any, pooling: str, name: str, dimension: int) -> None:
        self._session = session
        self._model = model
        self._pooling = pooling
        self._inputs = {item.name for item in session.get_inputs()}
        self.name = name
        self.dimension = dimension

    def encode(self, texts: Sequence[RedactedText]) -> np.ndarray:
        plain = require_redacted(texts)
        if not plain:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = features(self._model, plain)
        hidden = self._session.run(None, {name: batch[name] for name in self._inputs})[0]
        return pool(hidden, batch["attention_mask"], self._pooling)


_TWIN: StashKey[OnnxQueryEncoder | None] = StashKey("docveil.stages.encode.onnx_queries:twin")


def query_encoder_for(encoder: TextEncoder, context: StageContext) -> TextEncoder:
    """What encodes single queries: the ONNX twin of docveil's own encoder where there is one
    (``Settings.query_backend`` auto), else ``encoder`` itself (other encoder plugins included)."""
    if context.settings.query_backend != "auto" or not isinstance(encoder, SentenceTransformerEncoder):
        return encoder
    twin = context.stash.get(_TWIN, lambda: onnx_query_encoder(
        encoder, private_folder(context.settings.home / "models" / "onnx", context.settings.home)))
    return twin if twin is not None and twin.name == encoder.name else encoder


def onnx_query_encoder(encoder: SentenceTransformerEncoder, cache_dir: Path) -> OnnxQueryEncoder | None:
    """An ONNX Runtime twin of ``encoder`` (CPU only), or None where one cannot be made."""
    if encoder.plan.device != "cpu":
        return None
    parts = twin_parts(encoder, "onnxruntime", "queries")
    if parts is None:
        return None
    onnxruntime, pooling, model, transformer = parts
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    path = cache_dir / f"{export_key(transformer, EXPORT_VERSION, onnxruntime.__version__)}.onnx"
    try:
        session = load_or_export(
            path, lambda target: _export(transformer, model, target),
            lambda source: onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"]))
    except Exception as exc:  # any export or load failure: torch still works
        logger.warning("ONNX export of text model %s failed (%s): queries are encoded with torch",
                       encoder.name, type(exc).__name__)
        return None
    twin = OnnxQueryEncoder(session, model, pooling, encoder.name, encoder.dimension)
    return checked(twin, twin.encode, encoder.encode_with_torch, path, f"ONNX export of text model {encoder.name}")


def _export(transformer: Any, model: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    sample = {name: torch.from_numpy(array) for name, array in features(model, PROBES).items()}
    # A copy is exported: other threads go on encoding with the model itself meanwhile.
    transformer = private_copy(transformer)
    transformer.set_attn_implementation("eager")  # ONNX Runtime fuses the plain attention graph
    with tempfile.TemporaryDirectory(dir=path.parent) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(work) / "raw.onnx"
        with torch.no_grad():
            torch.onnx.export(
                hidden_states(transformer), (sample["input_ids"], sample["attention_mask"]), str(raw),
                input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                              "attention_mask": {0: "batch", 1: "tokens"},
                              "hidden": {0: "batch", 1: "tokens"}},
                opset_version=17, dynamo=False)
        final = Path(work) / "model.onnx"
        if transformer.config.model_type in _FUSED_TYPES:
            from onnxruntime.transformers import optimizer

            _quiet_optimizer_loggers()
            optimized = optimizer.optimize_model(
                str(raw), model_type=transformer.config.model_type, opt_level=1,
                num_heads=transformer.config.num_attention_heads,
                hidden_size=transformer.config.hidden_size)
            optimized.save_model_to_file(str(final))
        else:
            raw.replace(final)
        os.replace(final, path)  # whole or not at all, also with two processes exporting


def _quiet_optimizer_loggers() -> None:
    """ONNX Runtime's optimizer logs every fusion at INFO under its module names."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("fusion", "onnx_model", "optimizer", "shape_infer")):
            named = logging.getLogger(name)
            if named.level == logging.NOTSET:
                named.setLevel(logging.WARNING)
