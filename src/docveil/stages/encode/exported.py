"""What the compiled twins of the torch text encoder share: the model shapes they handle, the
cache key of an export, tokenisation as sentence-transformers does it, pooling, and the check
that a twin agrees with torch before it is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from docveil.stages.runtimes import import_runtime
from docveil.types import RedactedText

logger = logging.getLogger(__name__)
T = TypeVar("T")

MIN_AGREEMENT = 0.999
PROBES = ("A short query about <PERSON_3fa9c2d1e0> and the March invoice.",
          "Payroll closes on Friday; late timesheets move to the next cycle of the quarter.")

# A fast tokenizer used from two threads at once can fail ("Already borrowed"): the document
# and query twins share their model's tokenizer.
_TOKENIZE = threading.Lock()


def _new_tokenize_lock_in_child() -> None:
    # A fork while another thread tokenised would leave the child a lock nobody releases.
    global _TOKENIZE
    _TOKENIZE = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_tokenize_lock_in_child)

_WEIGHT_DIGESTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def pooling_of(model: Any) -> str | None:
    """``mean`` or ``cls`` when the model is transformer, pooling and optional normalisation."""
    names = [type(module).__name__ for module in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return None
    mode = getattr(model[1], "pooling_mode", None) or model[1].get_pooling_mode_str()
    return {"mean": "mean", "cls": "cls"}.get(str(mode))


class TwinParts(NamedTuple):
    runtime: Any  # the imported library
    pooling: str
    model: Any  # the SentenceTransformer
    transformer: Any  # its Hugging Face transformer


def twin_parts(encoder: Any, library: str, what: str) -> TwinParts | None:
    """The imported runtime ``library``, the pooling of ``encoder``'s model, the model and its
    transformer; or None (logged) where a twin cannot be made: ``what`` (e.g. "queries") then
    stays on torch."""

    try:
        runtime = import_runtime(library)
    except ImportError:
        logger.info("%s is not installed: %s are encoded with torch", library, what)
        return None
    model = encoder.model
    pooling = pooling_of(model)
    if pooling is None:
        logger.info("text model %s has modules or pooling that %s does not handle: %s are encoded "
                    "with torch", encoder.name, library, what)
        return None
    return TwinParts(runtime, pooling, model, model[0].auto_model)


def export_key(transformer: Any, *versions: str) -> str:
    """A digest of the transformer's configuration and weights and of ``versions``."""
    import torch

    weights = _WEIGHT_DIGESTS.get(transformer)
    if weights is None:  # hashed once per loaded model, for every twin made of it
        digest = hashlib.sha256(repr(sorted(transformer.config.to_dict().items())).encode())
        with torch.no_grad():
            for name, tensor in sorted(transformer.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
        weights = _WEIGHT_DIGESTS[transformer] = digest.hexdigest()
    return hashlib.sha256("|".join((*versions, torch.__version__, weights)).encode()).hexdigest()[:32]


def private_copy(transformer: Any) -> Any:
    """A copy of ``transformer`` to export or trace. Exporting switches a model's attention
    implementation and traces its forward pass; done to the model that encoders share, it
    changed what another thread's encoding computed meanwhile (NaN vectors were seen)."""
    import copy

    return copy.deepcopy(transformer).eval()


def hidden_states(transformer: Any) -> Any:
    """A module mapping token ids and mask to the transformer's last hidden states."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return HiddenStates(transformer).eval()


def features(model: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Token ids and attention mask as the sentence-transformers model makes them (its own
    truncation, casing and whitespace rules), as int64 arrays."""
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    with _TOKENIZE:
        batch = tokenize(list(texts))
    return {name: batch[name].numpy().astype(np.int64, copy=False)
            for name in ("input_ids", "attention_mask") if name in batch}


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """Unit-length sentence vectors from hidden states, padding left out of the mean."""
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        weights = mask.astype(np.float32)[:, :, None]
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def agreement(twin: Callable[[Sequence[RedactedText]], np.ndarray],
              reference: Callable[[Sequence[RedactedText]], np.ndarray]) -> float:
    """The lowest cosine between the two encoders' vectors for the probe texts."""
    probes = [RedactedText(text) for text in PROBES]
    return float(np.sum(twin(probes) * reference(probes), axis=1).min())


def load_or_export(path: Path, export: Callable[[Path], None], load: Callable[[Path], T]) -> T:
    """``load(path)``, exporting to ``path`` first when nothing is cached there, and once more
    when a cached file does not load (damaged)."""
    cached = path.exists()
    if not cached:
        export(path)
    try:
        return load(path)
    except Exception:
        if not cached:
            raise
        export(path)
        return load(path)


def checked(twin: T, encode: Callable[[Sequence[RedactedText]], np.ndarray],
            reference: Callable[[Sequence[RedactedText]], np.ndarray], path: Path, what: str) -> T | None:
    """``twin`` if ``encode`` agrees with ``reference`` on the probes; else None, and its cached
    export at ``path`` is removed. ``what`` names it in the warning."""
    cosine = agreement(encode, reference)
    if not cosine >= MIN_AGREEMENT:  # NaN too
        logger.warning("%s disagrees with torch (cosine %.4f): torch is used instead", what, cosine)
        path.unlink(missing_ok=True)
        return None
    return twin
