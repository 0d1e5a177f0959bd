"""Document batches on CPU through OpenVINO: the same sentence-transformers model, converted once.

OpenVINO runs the whole transformer graph in one call, without the interpreter lock, with fused
attention and layer norms, in bfloat16 on CPUs that have native bfloat16 (and in float32 on
the others, as ``Settings.precision`` says). On a 2-core AVX512-BF16 machine it encodes MiniLM
chunks 1.3 to 1.7x faster than torch's bfloat16 autocast, with vectors that agree with torch's
to a cosine above 0.9999.

The model is compiled for throughput: OpenVINO picks the number of streams (two single-threaded
streams on two cores), and the batches of one call run on all of them at once. During an
ingest the next batch's detection holds a core meanwhile; single-threaded streams then share
the cores with it without a multi-threaded operator waiting for a thread that is not running,
which is what slowed torch's OpenMP team there (docs/benchmarks.md).

The transformer is converted from torch with ``openvino.convert_model``, checked against the
torch encoder (cosine above ``MIN_AGREEMENT`` or it is not used) and cached as OpenVINO IR under
``DOCVEIL_HOME/models/openvino``, keyed by the model's weights and the library versions. Any
model outside what is handled (pooling other than mean or CLS, extra modules) stays on torch.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from docveil.errors import EncoderError
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

if TYPE_CHECKING:
    from docveil.stages.encode.text import SentenceTransformerEncoder

logger = logging.getLogger(__name__)

EXPORT_VERSION = "1"
_PRECISION_HINTS = {"bfloat16": "bf16", "float32": "f32"}
# Twins a forked child inherited from its parent: never used there, and never destroyed (their
# destructors would wait for the parent's threads).
inherited: list[OpenVinoDocuments] = []


class OpenVinoDocuments:
    """Batched, normalised sentence vectors from a compiled OpenVINO model."""

    def __init__(self, compiled: Any, model: Any, pooling: str, dimension: int) -> None:
        self._compiled = compiled
        self._model = model
        self._pooling = pooling
        self._inputs = {port.get_any_name() for port in compiled.inputs}
        self._requests = threading.local()
        self.pid = os.getpid()
        self.dimension = dimension
        self.streams = int(compiled.get_property("NUM_STREAMS"))
        self.requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Vectors for ``texts`` (already checked to be redacted), longest first in batches of
        at most ``batch_size`` so that each batch pads little; batches run on all streams at once."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [list(rows) for rows in np.array_split(order, self._batch_count(len(texts), batch_size))]
        masks: dict[int, np.ndarray] = {}
        pooled = [False] * len(batches)

        def done(request: Any, index: int) -> None:
            # Pooled as each batch ends: the token states of a whole document (hundreds of
            # megabytes for a long one) are never held at once.
            out[batches[index]] = pool(request.get_output_tensor(0).data, masks.pop(index), self._pooling)
            pooled[index] = True

        queue = self._queue()
        queue.set_callback(done)
        try:
            for index, rows in enumerate(batches):
                batch = features(self._model, [texts[i] for i in rows])
                masks[index] = batch["attention_mask"]
                queue.start_async({name: batch[name] for name in self._inputs}, index)
        finally:
            queue.wait_all()  # no request of this call may outlive it
        if not all(pooled):
            raise EncoderError("the OpenVINO text encoder returned no result for a batch")
        return out

    def _batch_count(self, texts: int, batch_size: int) -> int:
        """Batches of at most ``batch_size``, as many as keeps every stream busy to the end:
        five batches on two streams would leave one stream idle for the fifth."""
        count = -(-texts // batch_size)
        if count > 1:
            count = -(-count // self.streams) * self.streams
        return min(count, texts)

    def _queue(self) -> Any:
        # A queue of infer requests serves one call at a time: one per thread.
        queue = getattr(self._requests, "queue", None)
        if queue is None:
            from openvino import AsyncInferQueue

            queue = self._requests.queue = AsyncInferQueue(self._compiled, self.requests)
        return queue


def openvino_documents(encoder: SentenceTransformerEncoder, cache_dir: Path, *,
                       check: bool = True) -> OpenVinoDocuments | None:
    """An OpenVINO twin of ``encoder`` for document batches (CPU only), or None where one cannot
    be made; the torch encoder then stays in use. ``check`` False skips the comparison with
    torch (for a conversion already checked)."""
    if encoder.plan.device != "cpu" or encoder.plan.dtype not in _PRECISION_HINTS:
        return None
    parts = twin_parts(encoder, "openvino", "documents")
    if parts is None:
        return None
    openvino, pooling, model, transformer = parts
    config = {"INFERENCE_PRECISION_HINT": _PRECISION_HINTS[encoder.plan.dtype], "PERFORMANCE_HINT": "THROUGHPUT"}
    path = cache_dir / f"{export_key(transformer, EXPORT_VERSION, openvino.__version__)}.xml"
    try:
        compiled = load_or_export(path, lambda target: _convert(transformer, model, target),
                                  lambda source: openvino.Core().compile_model(str(source), "CPU", config))
    except Exception as exc:  # any conversion or load failure: torch still works
        logger.warning("OpenVINO conversion of text model %s failed (%s): documents are encoded "
                       "with torch", encoder.name, type(exc).__name__)
        return None
    twin = OpenVinoDocuments(compiled, model, pooling, encoder.dimension)
    if not check:
        return twin
    return checked(twin, lambda texts: twin.encode([t.text for t in texts], len(texts)),
                   encoder.encode_with_torch, path, f"OpenVINO conversion of text model {encoder.name}")


def _convert(transformer: Any, model: Any, path: Path) -> None:
    import openvino
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = {name: torch.from_numpy(array) for name, array in features(model, PROBES).items()}
    with tempfile.TemporaryDirectory(dir=path.parent) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            # A copy is traced: other threads go on encoding with the model itself meanwhile.
            converted = openvino.convert_model(hidden_states(private_copy(transformer)), example_input=example)
        staged = Path(work) / "model.xml"
        openvino.save_model(converted, str(staged), compress_to_fp16=False)
        # The weights first, the graph last: a graph on disk means its weights are complete.
        os.replace(staged.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(staged, path)

