"""The default image encoder: a CLIP or SigLIP model through transformers.

It embeds redacted pictures (scanned pages, photos, pictures placed in documents) and, with the
model's text tower, redacted text queries into the same space, so a sentence finds pictures.
Nothing ships with docveil: ``image_model`` names a local folder or a hub id in the local cache;
without it, pictures are not embedded and image search is unavailable.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docveil.context import StageContext, StashKey
from docveil.errors import EncoderError
from docveil.hookspecs import hookimpl
from docveil.stages.encode.devices import DevicePlan, finite_rows, plan_device
from docveil.stages.encode.text import only_redacted, require_redacted
from docveil.types import RedactedImage, RedactedText

log = logging.getLogger(__name__)

# Threads that prepare pictures for the model (resizing is CPU work that releases the GIL).
PREPARE_THREADS = min(8, os.cpu_count() or 1)
# Longest side a picture keeps, in multiples of its short side (see _bounded).
MAX_ASPECT = 4
# Longest text a query may hold, in tokens; CLIP's position table has 77 rows, SigLIP's 64.
MAX_TEXT_TOKENS = 64
# SigLIP was trained on texts padded to their full length, and its text vectors depend on it.
_PAD_TO_MAX_LENGTH = ("siglip", "siglip2")


def require_redacted_images(images: Sequence[object]) -> list[Any]:
    """The pixels of each ``RedactedImage``; anything else is refused (only redacted pixels are encoded)."""
    return [item.pixels for item in only_redacted(images, RedactedImage, "image encoders")]


def _bounded(picture: Any) -> Any:
    """The picture in RGB, its long side cut (about its centre) to MAX_ASPECT times its short
    side: processors scale the short side to the model's size, so a 20,000 x 1 strip would
    become gigabytes of pixels, and CLIP-style processors keep only the centre anyway."""
    width, height = picture.size
    short = max(1, min(width, height))
    if max(width, height) > MAX_ASPECT * short:
        keep = MAX_ASPECT * short
        left, top = (width - keep) // 2 if width > height else 0, (height - keep) // 2 if height > width else 0
        picture = picture.crop((left, top, left + min(width, keep), top + min(height, keep)))
    return picture if picture.mode == "RGB" else picture.convert("RGB")


def _features(output: Any) -> Any:
    # transformers 5 returns the projected vector as the pooler output; 4.x returned the tensor.
    return output if hasattr(output, "shape") else output.pooler_output


@dataclass(frozen=True)
class TwoTowerModel:
    """A loaded two-tower model with the image processor and the tokenizer saved beside it."""

    model: Any
    processor: Any
    tokenizer: Any

    @property
    def pads_to_max_length(self) -> bool:
        return getattr(self.model.config, "model_type", "") in _PAD_TO_MAX_LENGTH

    def picture_inputs(self, pictures: Sequence[Any]) -> dict[str, Any]:
        """The model's inputs for PIL pictures: resized, cropped and normalised by the image
        processor (``pixel_values``, and whatever else the model takes, such as SigLIP 2's
        patch masks), as CPU tensors."""
        inputs = self.processor(images=[_bounded(picture) for picture in pictures], return_tensors="pt")
        return {name: value for name, value in inputs.items() if hasattr(value, "to")}

    def text_inputs(self, texts: Sequence[str]) -> dict[str, Any]:
        """Token ids (and, except for SigLIP, the attention mask) of at most MAX_TEXT_TOKENS."""
        tokens = self.tokenizer(list(texts), truncation=True, max_length=MAX_TEXT_TOKENS, return_tensors="pt",
                                padding="max_length" if self.pads_to_max_length else True)
        return {name: tokens[name] for name in ("input_ids", "attention_mask")
                if name in tokens and (name == "input_ids" or not self.pads_to_max_length)}


def load_two_tower(model: str) -> TwoTowerModel:
    """Load ``model`` (a folder or a cached hub id) in float32 on the CPU; EncoderError if it
    cannot be loaded or is not a two-tower image-text model."""
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    path = str(Path(model).expanduser()) if Path(model).expanduser().exists() else model
    try:
        loaded = AutoModel.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise EncoderError(f"cannot load image model {model!r}: {exc}") from exc
    if not all(hasattr(loaded, name) for name in ("get_image_features", "get_text_features")):
        raise EncoderError(f"image model {model!r} is a {type(loaded).__name__}, not a two-tower "
                           "image-text model (CLIP, SigLIP)")
    try:
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise EncoderError(f"cannot load the image processor or tokenizer of {model!r}: {exc}") from exc
    return TwoTowerModel(loaded, processor, tokenizer)


class ClipImageEncoder:
    """Batched, L2-normalised image and text embeddings of a two-tower model (CLIP, SigLIP) on
    the planned device: float16 weights on CUDA, bfloat16 autocast on CPUs made for it."""

    def __init__(self, model: str, plan: DevicePlan) -> None:
        import torch

        self._loaded = load_two_tower(model)
        self._dtype = torch.float16 if plan.half else torch.float32
        self._model = self._loaded.model.to(plan.device, dtype=self._dtype).eval()
        self.plan = plan
        self.name = model
        self.dimension = 0
        self.dimension = int(self._encode_texts(["a picture"]).shape[1])  # the model's own answer
        log.info("image encoder %s ready on %s (%s)", Path(model).name, plan.device, plan.dtype)

    def encode_images(self, images: Sequence[RedactedImage]) -> np.ndarray:
        """Float32 array (len(images), dimension), L2-normalised.

        Resizing and normalising pictures (the image processor, on the CPU) runs on a few
        threads, the next batch's while the model embeds the current one: on a GPU it is what
        bounds the throughput otherwise."""
        pixels = require_redacted_images(images)
        size = self.plan.batch_size
        batches = [pixels[start:start + size] for start in range(0, len(pixels), size)]
        if not batches:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        workers = min(PREPARE_THREADS, len(pixels))
        if workers == 1:
            return np.concatenate([self._embed_pictures(self._loaded.picture_inputs(batch)) for batch in batches])
        out = []
        with ThreadPoolExecutor(workers, thread_name_prefix="docveil-pictures") as pool:
            def submit(batch: list[Any]) -> list[Future[Any]]:
                step = -(-len(batch) // workers)
                return [pool.submit(self._loaded.picture_inputs, batch[at:at + step])
                        for at in range(0, len(batch), step)]

            pending = submit(batches[0])
            for index in range(len(batches)):
                parts = [future.result() for future in pending]
                if index + 1 < len(batches):
                    pending = submit(batches[index + 1])
                out.append(self._embed_pictures({name: torch.cat([part[name] for part in parts]) for name in parts[0]}))
        return np.concatenate(out)

    def _embed_pictures(self, inputs: dict[str, Any]) -> np.ndarray:
        moved = {name: value.to(self.plan.device, self._dtype) if value.is_floating_point() else value.to(self.plan.device)
                 for name, value in inputs.items()}
        return self._run(self._model.get_image_features, **moved)

    def encode_texts(self, texts: Sequence[RedactedText]) -> np.ndarray:
        """Float32 array (len(texts), dimension), L2-normalised: queries that look for pictures."""
        return self._encode_texts(require_redacted(texts))

    def _encode_texts(self, plain: Sequence[str]) -> np.ndarray:
        out: list[np.ndarray] = []
        for start in range(0, len(plain), self.plan.batch_size):
            inputs = self._loaded.text_inputs(plain[start:start + self.plan.batch_size])
            out.append(self._run(self._model.get_text_features,
                                 **{name: value.to(self.plan.device) for name, value in inputs.items()}))
        return np.concatenate(out) if out else np.zeros((0, self.dimension), dtype=np.float32)

    def _run(self, features: Any, **inputs: Any) -> np.ndarray:
        import torch

        def forward(autocast: bool) -> np.ndarray:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                vectors = torch.nn.functional.normalize(_features(features(**inputs)).float(), dim=-1)
            return vectors.cpu().numpy().astype(np.float32, copy=False)

        # A batch with a row of NaN under autocast is computed again whole, in float32 (rare).
        return finite_rows(forward(self.plan.autocast), (lambda _rows: forward(False)[_rows])
                           if self.plan.autocast else None, f"image model {self.name}")


_ENCODER: StashKey[ClipImageEncoder] = StashKey("image_encoder")


@hookimpl(trylast=True)
def docveil_image_encoder(context: StageContext) -> ClipImageEncoder | None:
    settings = context.settings
    if not settings.image_model:
        return None
    return context.stash.get(
        _ENCODER, lambda: ClipImageEncoder(
            settings.image_model or "", plan_device(settings.device, settings.encode_batch_size, settings.precision)))


@hookimpl
def docveil_warm_up(context: StageContext) -> None:
    docveil_image_encoder(context)
