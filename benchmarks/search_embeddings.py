"""Embeddings of the search benchmark's corpus, cached on disk between runs.

Encoding 100,000 chunks with MiniLM takes a long while on a small CPU, and the vectors depend
only on the text, so they are kept as ``.npy`` under ``~/.cache/docveil-bench/`` (or
``$DOCVEIL_BENCH_CACHE``), keyed by seed, size and model. A JSON file beside each one records
a digest of the texts it was computed from (a changed generator never reuses stale vectors),
the device and precision, and how long encoding took; a second ``.hashes.npy`` holds a short
hash of each text, so a smaller run with the same seed (whose corpus is a prefix of the larger
one) reads the first rows of a larger cache instead of encoding again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CACHE_VERSION = 1
ENCODE_BATCH = 2048


def default_cache_dir() -> Path:
    return Path(os.environ.get("DOCVEIL_BENCH_CACHE", "~/.cache/docveil-bench")).expanduser()


def texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
                     for t in texts], dtype=np.uint64)


def cache_path(cache_dir: Path, *, seed: int, chunks: int, tenants: int, model: str) -> Path:
    safe_model = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return cache_dir / f"search-v{CACHE_VERSION}-seed{seed}-chunks{chunks}-tenants{tenants}-{safe_model}.npy"


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_suffix(".json"), path.with_suffix(".hashes.npy")


def load_cached(path: Path, texts: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached vectors for exactly these texts, or for a larger corpus that starts with them."""
    info_path, _ = _sidecars(path)
    if path.exists() and info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        vectors = np.load(path, mmap_mode="r")
        if info.get("texts_sha256") == texts_digest(texts) and vectors.shape[0] == len(texts):
            return np.ascontiguousarray(vectors, dtype=np.float32), info
    wanted = None
    pattern = re.sub(r"-chunks\d+-", "-chunks*-", path.name)
    for candidate in sorted(path.parent.glob(pattern)):
        info_path, hashes_path = _sidecars(candidate)
        if candidate == path or not (info_path.exists() and hashes_path.exists()):
            continue
        hashes = np.load(hashes_path, mmap_mode="r")
        if hashes.shape[0] <= len(texts):
            continue
        wanted = text_hashes(texts) if wanted is None else wanted
        if np.array_equal(hashes[:len(texts)], wanted):
            info = json.loads(info_path.read_text(encoding="utf-8"))
            vectors = np.load(candidate, mmap_mode="r")[:len(texts)]
            return np.ascontiguousarray(vectors, dtype=np.float32), {**info, "prefix_of": candidate.name}
    return None


def save_cache(path: Path, vectors: np.ndarray, info: dict[str, Any], texts: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info_path, hashes_path = _sidecars(path)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, np.asarray(vectors, dtype=np.float32))
    os.replace(tmp, path)
    np.save(hashes_path, text_hashes(texts))
    info_path.write_text(json.dumps(info, indent=2), encoding="utf-8")


def encode_all(encoder: Any, texts: Sequence[str],
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Vectors of ``texts`` through docveil's text encoder (``encode`` takes ``RedactedText``)."""
    from docveil.types import RedactedText

    out = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    for start in range(0, len(texts), ENCODE_BATCH):
        batch = texts[start:start + ENCODE_BATCH]
        out[start:start + len(batch)] = encoder.encode([RedactedText(t) for t in batch])
        if progress:
            progress(start + len(batch), len(texts))
    return out


def encode_and_cache(encoder: Any, texts: Sequence[str], path: Path,
                     progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Encode ``texts`` now and cache them at ``path``: (vectors, provenance)."""
    plan = getattr(encoder, "plan", None)
    start = time.perf_counter()
    vectors = encode_all(encoder, texts, progress)
    info = {"texts_sha256": texts_digest(texts), "count": len(texts), "dimension": int(vectors.shape[1]),
            "model": encoder.name, "device": getattr(plan, "device", "unknown"),
            "precision": "float16" if getattr(plan, "half", False) else "float32",
            "seconds": round(time.perf_counter() - start, 1), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    save_cache(path, vectors, info, texts)
    return vectors, info
