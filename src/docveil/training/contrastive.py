"""Contrastive fine-tuning of a two-tower image-text model (CLIP, SigLIP) on pairs of redacted
pictures and pseudonymised captions.

The loss is the model's own (``return_loss=True``): CLIP's symmetric InfoNCE (cross-entropy of
each picture against every caption of the batch and each caption against every picture),
SigLIP's pairwise sigmoid loss. Every picture and caption of a batch is the negative of every
other pair, so larger batches teach more. Only ``RedactedImage`` and ``RedactedText`` are taken:
use ``Engine.finetune_image_model``, which redacts them first.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from docveil.errors import ConfigError, encoder_errors
from docveil.stages.encode.devices import DevicePlan
from docveil.stages.encode.image import TwoTowerModel, load_two_tower, require_redacted_images
from docveil.stages.encode.text import require_redacted
from docveil.types import Failure, RedactedImage, RedactedText

log = logging.getLogger(__name__)

# Longest side a picture keeps while it waits for training (see training_picture).
TRAINING_SIDE = 448

EpochCallback = Callable[[int, float], None]
"""Called as ``on_epoch(epoch, mean_loss)`` after each epoch (epochs count from 1)."""


@dataclass(frozen=True)
class TrainingResult:
    """What a fine-tuning run did: pairs and steps, the mean loss of each epoch, and where the
    model was saved (a folder to use as ``image_model``)."""

    output: Path
    pairs: int
    epochs: int
    steps: int
    epoch_losses: tuple[float, ...]
    seconds: float
    failed: tuple[Failure, ...] = ()
    """Pairs left out: a picture that could not be loaded, an empty caption."""


def check_run(output: Path, *, epochs: int, batch_size: int, learning_rate: float) -> None:
    """Refuse options and an output folder that ``fit`` would refuse, before any work is done."""
    if epochs < 1 or batch_size < 2 or learning_rate <= 0:
        raise ConfigError("epochs must be >= 1, batch_size >= 2 and learning_rate > 0")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ConfigError(f"{output} exists and is not an empty folder")


def training_picture(picture: RedactedImage) -> RedactedImage:
    """``picture`` shrunk to at most TRAINING_SIDE pixels a side (processors scale pictures far
    smaller), so that thousands of pairs fit in memory while they wait for training."""
    pixels = picture.pixels
    if max(pixels.size) <= TRAINING_SIDE:
        return picture
    small = pixels.copy()
    small.thumbnail((TRAINING_SIDE, TRAINING_SIDE))
    return replace(picture, pixels=small, width=small.width, height=small.height, char_boxes=())


def fit(model: str | TwoTowerModel, pictures: Sequence[RedactedImage], texts: Sequence[RedactedText], output: Path,
        *, plan: DevicePlan, epochs: int = 3, batch_size: int = 32, learning_rate: float = 1e-5,
        weight_decay: float = 0.1, seed: int = 0, on_epoch: EpochCallback | None = None) -> TrainingResult:
    """Fine-tune ``model`` (a folder or hub id, or one loaded already) on the pairs
    ``(pictures[i], texts[i])`` and save it, with its image processor and tokenizer, to
    ``output`` (a new folder, written whole: a run that fails leaves nothing there). Weights
    train in float32 with AdamW; on CUDA the forward passes run under bfloat16 autocast. A
    failure of torch (out of memory...) is an EncoderError naming its type."""
    pixels, captions = require_redacted_images(pictures), require_redacted(texts)
    if len(pixels) != len(captions):
        raise ValueError(f"{len(pixels)} pictures but {len(captions)} captions")
    if len(pixels) < 2:
        raise ConfigError("contrastive fine-tuning needs at least 2 pairs (each pair is the others' negative)")
    check_run(output, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    started = time.monotonic()
    loaded = load_two_tower(model) if isinstance(model, str) else model
    with encoder_errors("fine-tuning"):
        losses, steps = _train(loaded, pixels, captions, plan=plan, epochs=epochs, batch_size=batch_size,
                               learning_rate=learning_rate, weight_decay=weight_decay, seed=seed, on_epoch=on_epoch)
        _save_whole(loaded, loaded.model.eval(), Path(output))
    return TrainingResult(Path(output), len(pixels), epochs, steps, tuple(losses), time.monotonic() - started)


def _train(loaded: TwoTowerModel, pixels: Sequence[Any], captions: Sequence[str], *, plan: DevicePlan, epochs: int,
           batch_size: int, learning_rate: float, weight_decay: float, seed: int,
           on_epoch: EpochCallback | None) -> tuple[list[float], int]:
    import torch

    network = loaded.model.to(plan.device, dtype=torch.float32).train()
    inputs = _inputs(loaded, pixels, captions)
    optimizer = torch.optim.AdamW(parameter_groups(network, weight_decay), lr=learning_rate)
    scale_bound = _scale_bound(network)
    generator = torch.Generator().manual_seed(seed)
    on_cuda = plan.device.startswith("cuda")
    losses: list[float] = []
    steps = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(pixels), generator=generator)
        batches = [order[at:at + batch_size] for at in range(0, len(order), batch_size)]
        if len(batches) > 1 and len(batches[-1]) < 2:  # a batch of one has no negatives
            batches[-2] = torch.cat(batches[-2:])
            batches.pop()
        total = 0.0
        for indices in batches:
            batch = {name: value[indices].to(plan.device) for name, value in inputs.items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
                loss = network(**batch, return_loss=True).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            clamp_logit_scale(network, scale_bound)
            total += float(loss.detach()) * len(indices)
            steps += 1
        losses.append(total / len(order))
        log.info("fine-tuning epoch %d of %d: mean loss %.4f", epoch, epochs, losses[-1])
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    return losses, steps


def parameter_groups(network: Any, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices (projections, embeddings, convolutions) only.
    Biases, norm scales and the learned temperature (``logit_scale``, SigLIP's ``logit_bias``),
    the parameters of fewer than two dimensions, are not pulled towards zero (as CLIP and
    open_clip train them)."""
    named = [(name, parameter) for name, parameter in network.named_parameters() if parameter.requires_grad]
    return [{"params": [p for _, p in named if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0}]


def _scale_bound(network: Any) -> float | None:
    """The most ``logit_scale`` may reach: log(100) (CLIP's bound), or the model's own value
    where it starts above that (a model trained past it is not cut back)."""
    scale = getattr(network, "logit_scale", None)
    return None if scale is None else max(math.log(100), float(scale.detach().max()))


def clamp_logit_scale(network: Any, bound: float | None) -> None:
    """Keep the learned temperature in [0, bound]: past it the logits saturate and training
    becomes unstable."""
    if bound is not None:
        import torch

        with torch.no_grad():
            network.logit_scale.clamp_(0.0, bound)


def _inputs(loaded: Any, pixels: Sequence[Any], captions: Sequence[str]) -> dict[str, Any]:
    """Every pair's model inputs, prepared once (CPU tensors, one row per pair)."""
    import torch

    chunks = [loaded.picture_inputs(pixels[at:at + 64]) for at in range(0, len(pixels), 64)]
    pictures = {name: torch.cat([chunk[name] for chunk in chunks]) for name in chunks[0]}
    # Padded to the longest caption of all pairs, so that any batch can be cut from one tensor.
    return {**pictures, **loaded.text_inputs(captions)}


def _save_whole(loaded: Any, network: Any, output: Path) -> None:
    partial = output.with_name(f".{output.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        network.to("cpu").save_pretrained(partial)
        loaded.processor.save_pretrained(partial)
        loaded.tokenizer.save_pretrained(partial)
        if output.exists():
            output.rmdir()  # empty, checked before training
        partial.rename(output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
