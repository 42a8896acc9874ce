"""The network as fixed-shape graphs with the streaming cache as explicit inputs and outputs.

Exported and compiled runtimes (ONNX Runtime, OpenVINO, AOTInductor, TensorRT) cannot keep state between calls
or update an input in place, so the streaming step is cut into pure functions of its inputs:
- `first`: image → depth and the 16 cache entries (keys and values of 8 attention blocks) of frame 0;
- `next`: image, the slot map and the 16 slot buffers → depth and the 16 entries of the new frame;
- `window`: a 32-frame clip → 32 depth maps (the offline engine's window).
The engine around them owns the slot buffers and writes each new entry into its slot, exactly as the eager
PyTorch path does inside the network, so every backend gives the same depth.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from ..config import NUM_FRAMES, PAST, SLOTS
from ..network import VideoDepthAnything
from ..temporal import ExplicitKVCache, StreamWindow

BLOCKS = 8
"""Temporal attention blocks in every model size (4 modules × 2)."""

OPSET = 17

GRAPHS = ("first", "next", "window")


def cache_names() -> list[str]:
    """Names of the 16 slot buffers, in the order the graphs take and return them."""
    return [f"{kind}{block}" for block in range(BLOCKS) for kind in ("key", "value")]


def output_names() -> list[str]:
    return ["depth", *[f"new_{name}" for name in cache_names()]]


def _entries(cache: ExplicitKVCache) -> tuple[Tensor, ...]:
    return tuple(t for block in range(BLOCKS) for t in cache.new_entries[block])


class FirstStep(nn.Module):
    """Frame 0 of a stream: attends to itself alone; returns its depth (1, H, W) and cache entries."""

    def __init__(self, model: VideoDepthAnything) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        cache = ExplicitKVCache(SLOTS)
        depth = self.model(image[None], cache)[0]
        return (depth, *_entries(cache))


class NextStep(nn.Module):
    """Frame t ≥ 1: attends to the slots named by `onehot`; returns its depth (1, H, W) and cache entries."""

    def __init__(self, model: VideoDepthAnything) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor, onehot: Tensor, *buffers: Tensor) -> tuple[Tensor, ...]:
        cache = ExplicitKVCache(
            SLOTS,
            keys={b: buffers[2 * b] for b in range(BLOCKS)},
            values={b: buffers[2 * b + 1] for b in range(BLOCKS)},
            window=StreamWindow(onehot=onehot, write_slot=0),
        )
        depth = self.model(image[None], cache)[0]
        return (depth, *_entries(cache))


class WindowStep(nn.Module):
    """One offline window: normalised frames (1, 32, 3, H, W) → depth (1, 32, H, W)."""

    def __init__(self, model: VideoDepthAnything) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor) -> Tensor:
        depth: Tensor = self.model(frames)
        return depth


def cache_shapes(model: VideoDepthAnything, net_size: tuple[int, int]) -> list[tuple[int, ...]]:
    """Shapes (N, heads, SLOTS, head_dim) of the 16 slot buffers for one network input size."""
    height, width = net_size
    with torch.inference_mode():
        outputs = FirstStep(model.float().eval())(torch.zeros(1, 3, height, width))
    return [(s[0], s[1], SLOTS, s[3]) for s in (tuple(t.shape) for t in outputs[1:])]


def module_and_inputs(
    model: VideoDepthAnything, graph: str, net_size: tuple[int, int]
) -> tuple[nn.Module, tuple[Tensor, ...]]:
    """The fp32 module of one graph and example inputs of its fixed shapes (zeros: values do not matter)."""
    model = model.float().eval()
    height, width = net_size
    image = torch.zeros(1, 3, height, width)
    if graph == "first":
        return FirstStep(model), (image,)
    if graph == "next":
        buffers = tuple(torch.zeros(shape) for shape in cache_shapes(model, net_size))
        return NextStep(model), (image, torch.zeros(PAST, SLOTS), *buffers)
    if graph == "window":
        return WindowStep(model), (torch.zeros(1, NUM_FRAMES, 3, height, width),)
    raise ValueError(f"unknown graph {graph!r}: expected one of {', '.join(GRAPHS)}")


def input_names(graph: str) -> list[str]:
    if graph == "first":
        return ["image"]
    if graph == "next":
        return ["image", "onehot", *cache_names()]
    return ["frames"]


def export_onnx(model: VideoDepthAnything, graph: str, net_size: tuple[int, int], path: Path) -> None:
    """Write one graph as ONNX (opset 17, fixed shapes, constants folded: what TensorRT wants)."""
    module, inputs = module_and_inputs(model, graph, net_size)
    outputs = ["depth"] if graph == "window" else output_names()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns that the patch grid is read from shapes as Python ints: the graphs are fixed-shape.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # dynamo=False is the TorchScript exporter, deprecated in torch but the one whose graphs TensorRT takes.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            inputs,
            str(path),
            input_names=input_names(graph),
            output_names=outputs,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
