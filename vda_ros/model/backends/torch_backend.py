"""Eager PyTorch: the reference backend, and the only one that batches several streams in one forward pass."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..device import autocast, resolve_precision
from ..network import VideoDepthAnything
from ..temporal import KVCache, StreamBatch
from .base import Backend
from .cache import GraphCache


class TorchBackend(Backend):
    """The network itself on the engine's device; the cache is updated in place inside the attention blocks."""

    name = "torch"
    precisions = ("fp32", "fp16", "bf16")

    def __init__(
        self, model: VideoDepthAnything, device: torch.device, precision: str | None, cache: GraphCache
    ) -> None:
        super().__init__(model, device, precision, cache)
        # Channels-last convolutions skip a layout reorder per call in oneDNN (CPU) and cuDNN (tensor cores).
        # Module.to takes memory_format (its docstring's fourth form); torch's overloads leave that form out.
        self.model = model.to(device, memory_format=torch.channels_last).eval()  # type: ignore[call-overload]

    def default_precision(self, device: torch.device) -> str:
        return resolve_precision(None, device)

    def stream_step(self, images: Tensor, caches: Sequence[KVCache]) -> Tensor:
        cache = caches[0] if len(caches) == 1 else StreamBatch(list(caches))
        with autocast(self.device, self.precision):
            depth: Tensor = self.model(images.to(self.device, non_blocking=True)[:, None], cache=cache)
        return depth[:, 0]

    def window(self, frames: Tensor) -> Tensor:
        with autocast(self.device, self.precision):
            depth: Tensor = self.model(frames.to(self.device, non_blocking=True))
        return depth
