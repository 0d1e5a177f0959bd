"""Device, precision and batch size for encoders.

CUDA runs in float16. A CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX) runs under
bfloat16 autocast, which MiniLM-sized encoders take at 1.5 to 2x the float32 speed with
embeddings that agree to a cosine above 0.9999; other CPUs stay in float32. On CPU small
batches are faster than large ones (less padding, activations stay in cache).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from docveil.config import PRECISIONS
from docveil.errors import ConfigError

log = logging.getLogger(__name__)

CPU_BATCH_SIZE = 16
CUDA_BATCH_SIZE = 256
_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@dataclass(frozen=True)
class DevicePlan:
    device: str
    dtype: str
    batch_size: int

    @property
    def half(self) -> bool:
        """Weights converted to float16 (CUDA)."""
        return self.dtype == "float16"

    @property
    def autocast(self) -> bool:
        """Run under CPU bfloat16 autocast (weights stay float32)."""
        return self.device == "cpu" and self.dtype == "bfloat16"


@functools.cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_NATIVE_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def plan_device(requested: str, batch_size: int | None = None, precision: str = "auto") -> DevicePlan:
    """Resolve ``auto`` device and precision; ``batch_size`` None picks the device's default."""
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device is set to cuda but no CUDA device is available")
        dtype = "float16" if precision == "auto" else precision
        if dtype == "bfloat16":
            raise ConfigError("precision bfloat16 is for CPUs; CUDA runs in float16 or float32")
        return DevicePlan(requested, dtype, batch_size or CUDA_BATCH_SIZE)
    if precision == "float16":
        raise ConfigError("precision float16 needs CUDA; a CPU runs in bfloat16 or float32")
    if precision == "auto":
        precision = "bfloat16" if cpu_has_native_bf16() else "float32"
    return DevicePlan("cpu", precision, batch_size or CPU_BATCH_SIZE)


def finite_rows(vectors: np.ndarray, again: Callable[[Sequence[int]], np.ndarray] | None, what: str) -> np.ndarray:
    """``vectors`` with each row that holds NaN or infinity computed again by ``again(rows)``
    (in float32, where the rows came from a reduced precision). Rows still not finite are
    returned as they are, with a warning: the engine refuses to store or search with them, so
    that one document fails and not its whole batch.

    Under CPU bfloat16 autocast a forward pass has, rarely and not repeatably, given NaN rows
    once other native libraries had run in the process."""
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1)) if vectors.size else np.zeros(0, dtype=np.int64)
    if not bad.size:
        return vectors
    if again is not None:
        log.warning("%s gave %d of %d vectors with NaN or infinity; computed again in float32",
                    what, bad.size, len(vectors))
        vectors = vectors.copy()
        vectors[bad] = again(bad.tolist())
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        log.warning("%s gives %d of %d vectors with NaN or infinity", what, bad.size, len(vectors))
    return vectors
