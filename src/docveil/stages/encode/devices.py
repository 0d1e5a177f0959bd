"""Device and precision choice for encoders: CUDA in half precision when present, else CPU."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePlan:
    device: str
    half: bool
    batch_size: int


def plan_device(requested: str, batch_size: int) -> DevicePlan:
    """Resolve ``auto`` to ``cuda`` when a GPU is usable; GPUs get larger batches in fp16."""
    import torch

    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            from docveil.errors import ConfigError

            raise ConfigError("device is set to cuda but no CUDA device is available")
        return DevicePlan(requested, half=True, batch_size=max(batch_size, 256))
    return DevicePlan("cpu", half=False, batch_size=batch_size)
