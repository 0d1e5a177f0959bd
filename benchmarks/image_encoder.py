"""Image embedding throughput: docveil's image encoder next to a plain transformers loop.

    .venv/bin/python benchmarks/image_encoder.py [--model DIR] [--images N] [--device auto|cpu|cuda]
                                                 [--json out.json]

Both sides embed the same pictures (photo-sized, 640 x 480, generated from ``--seed``) with the
same model in one process, each warmed up first, taking turns for ``--rounds`` rounds (the best
round of each is kept):

* docveil: ``ClipImageEncoder`` as the engine configures it (``plan_device``: float16 weights and
  batches of 256 on CUDA; on CPU batches of 16, under bfloat16 autocast where the CPU computes
  bfloat16 natively), inference mode;
* plain: ``CLIPModel.from_pretrained`` in float32, the image processor and
  ``get_image_features`` under ``torch.no_grad`` in batches of 32, normalised, as the
  transformers documentation shows it.

Without ``--model`` the model is a randomly initialised CLIP of ViT-B/32's shape (no CLIP weights
ship in any package): the arithmetic, and so the timing, is a real ViT-B/32's; the vectors mean
nothing, but the two sides must still agree (cosine printed). The image processor's resizing
runs on the CPU on both sides and bounds both on a GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageDraw

PLAIN_BATCH = 32


def pictures(n: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(0, 256, 3)
        pixels = np.clip(base + rng.normal(0, 30, (480, 640, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.integers(0, 560), rng.integers(0, 400)
            draw.rectangle((int(x), int(y), int(x + rng.integers(20, 80)), int(y + rng.integers(20, 80))),
                           fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        out.append(image)
    return out


def plain_encode(model, processor, images: list[Image.Image], device: str) -> np.ndarray:
    import torch

    out = []
    for start in range(0, len(images), PLAIN_BATCH):
        inputs = processor(images=images[start:start + PLAIN_BATCH], return_tensors="pt").to(device)
        with torch.no_grad():
            features = model.get_image_features(**inputs)
        features = features if hasattr(features, "shape") else features.pooler_output
        out.append((features / features.norm(dim=-1, keepdim=True)).cpu().numpy())
    return np.concatenate(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, help="a CLIP model folder (default: a random ViT-B/32-shaped CLIP)")
    parser.add_argument("--images", type=int, help="pictures per side (default: 2000 on CUDA, 160 on CPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import torch
    from transformers import AutoImageProcessor, CLIPModel

    from docveil.stages.encode.devices import plan_device
    from docveil.stages.encode.image import ClipImageEncoder
    from docveil.types import RedactedImage, RedactedText

    plan = plan_device(args.device)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model
        if model_dir is None:
            from tests.tiny_models import save_random_image_model

            model_dir = save_random_image_model(Path(scratch) / "clip-b32", size="base")
        images = pictures(args.images or (2000 if plan.device.startswith("cuda") else 160), args.seed)
        redacted = [RedactedImage(pixels=image, width=image.width, height=image.height, page=1, regions=(),
                                  text=RedactedText(""), char_boxes=()) for image in images]
        ours = ClipImageEncoder(str(model_dir), plan)
        plain = CLIPModel.from_pretrained(model_dir).to(plan.device).eval()
        processor = AutoImageProcessor.from_pretrained(model_dir)

    def sync() -> None:
        if plan.device.startswith("cuda"):
            torch.cuda.synchronize()

    ours.encode_images(redacted[:64])
    plain_encode(plain, processor, images[:64], plan.device)
    ours_times, plain_times = [], []
    for _ in range(args.rounds):
        sync()
        start = time.perf_counter()
        ours_vectors = ours.encode_images(redacted)
        sync()
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain_vectors = plain_encode(plain, processor, images, plan.device)
        sync()
        plain_times.append(time.perf_counter() - start)
    agreement = np.sum(ours_vectors * plain_vectors, axis=1)
    result = {
        "device": torch.cuda.get_device_name(0) if plan.device.startswith("cuda") else "cpu",
        "plan": f"{plan.device} {plan.dtype} batch {plan.batch_size}",
        "model": "random CLIP ViT-B/32 shape" if args.model is None else str(args.model),
        "images": len(images),
        "docveil_images_per_s": len(images) / min(ours_times),
        "plain_images_per_s": len(images) / min(plain_times),
        "ratio_docveil_vs_plain": min(plain_times) / min(ours_times),
        "cosine_docveil_vs_plain_min": float(agreement.min()),
        "cosine_docveil_vs_plain_mean": float(agreement.mean()),
    }
    if plan.device.startswith("cuda"):
        result["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    for key, value in result.items():
        print(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = result["cosine_docveil_vs_plain_min"] > 0.99
    print("embeddings agree" if ok else "EMBEDDINGS DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
