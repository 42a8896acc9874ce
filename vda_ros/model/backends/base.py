"""What every inference backend provides to the engines: one streaming step and one offline window.

The engines keep all the bookkeeping — streams, frame indices, slot maps, resets, offline windows and their
alignment — and call a backend only to run the network. A backend gets normalised images and each stream's
`KVCache` (whose `window` says which slots the frame reads and which slot it takes) and must leave the new
frame's keys and values in that slot; how it runs the network is its own business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor

from ..config import NUM_FRAMES
from ..network import VideoDepthAnything
from ..temporal import KVCache
from .cache import GraphCache, GraphKey, weights_digest
from .graphs import BLOCKS


class Backend(ABC):
    """Runs the network for the engines. Subclasses set `name`, `precisions` and implement the two calls."""

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]]
    """Precisions offered, fp32 (the parity precision) first."""
    offline: ClassVar[bool] = True
    """Whether `window` is offered (the offline engine refuses a backend without it)."""

    def __init__(
        self, model: VideoDepthAnything, device: torch.device, precision: str | None, cache: GraphCache
    ) -> None:
        self.precision = precision or self.default_precision(device)
        self.device = device
        """Where the engine keeps the tensors it hands over (images, slot buffers)."""
        self.cache = cache

    def default_precision(self, device: torch.device) -> str:
        return "fp32"

    @abstractmethod
    def stream_step(self, images: Tensor, caches: Sequence[KVCache]) -> Tensor:
        """Normalised images (B, 3, H, W) of B streams → depth (B, H, W) at network size.

        Stream i attends through `caches[i].window` (None: its first frame, attending to itself) and its new
        keys and values end up in `caches[i]`'s write slot.
        """

    @abstractmethod
    def window(self, frames: Tensor) -> Tensor:
        """One offline window: normalised frames (1, 32, 3, H, W) → depth (1, 32, H, W)."""

    def describe(self) -> str:
        return f"{self.name} {self.precision}"


Runner = Callable[[list[Tensor]], list[Tensor]]
"""One loaded graph: its inputs in graphs.py's order → its outputs in that order."""


class GraphBackend(Backend):
    """A backend running fixed-shape graphs (graphs.py) built on first use and kept in the on-disk cache.

    Graphs have batch size 1, so the streams of a batch run one after the other; each returns its new cache
    entries, which are written into the stream's slot here, once for every such backend.
    """

    def __init__(
        self, model: VideoDepthAnything, device: torch.device, precision: str | None, cache: GraphCache
    ) -> None:
        super().__init__(model, device, precision, cache)
        self.model = model.to("cpu").float().eval()
        self._weights: str | None = None
        self._runners: dict[tuple[str, tuple[int, int]], Runner] = {}

    def key(
        self, graph: str, net_size: tuple[int, int], artifact: str, runtime: str, precision: str | None = None
    ) -> GraphKey:
        """The cache key of one graph of this model: what is built (`artifact`), by which runtime version."""
        if self._weights is None:
            self._weights = weights_digest(self.model)
        return GraphKey(
            backend=artifact,
            runtime=f"{runtime}; torch {torch.__version__}",
            graph=graph,
            network_size=net_size,
            precision=precision or self.precision,
            weights=self._weights,
        )

    @abstractmethod
    def runtime_version(self) -> str:
        """The runtime and its version, part of every cache key (a new version rebuilds the graphs)."""

    @abstractmethod
    def open(self, graph: str, net_size: tuple[int, int]) -> Runner:
        """Load (building through `self.cache` if needed) one graph for one network input size."""

    def run(self, graph: str, inputs: list[Tensor]) -> list[Tensor]:
        net_size = (int(inputs[0].shape[-2]), int(inputs[0].shape[-1]))
        runner = self._runners.get((graph, net_size))
        if runner is None:
            runner = self._runners[(graph, net_size)] = self.open(graph, net_size)
        return runner(inputs)

    def stream_step(self, images: Tensor, caches: Sequence[KVCache]) -> Tensor:
        depths = []
        for image, cache in zip(images, caches, strict=True):
            if cache.window is None:
                outputs = self.run("first", [image[None]])
                slot = 0
            else:
                buffers = [t for block in range(BLOCKS) for t in (cache.keys[block], cache.values[block])]
                outputs = self.run("next", [image[None], cache.window.onehot, *buffers])
                slot = cache.window.write_slot
            for block in range(BLOCKS):
                cache.store(block, outputs[1 + 2 * block], outputs[2 + 2 * block], slot)
            depths.append(outputs[0])
        return torch.cat(depths)

    def window(self, frames: Tensor) -> Tensor:
        if frames.shape[1] != NUM_FRAMES:
            raise ValueError(f"an offline window has {NUM_FRAMES} frames, got {frames.shape[1]}")
        return self.run("window", [frames])[0]
