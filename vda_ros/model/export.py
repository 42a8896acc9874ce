"""ONNX export of the streaming step, with the temporal cache as explicit inputs and outputs.

Two graphs with fixed shapes (what TensorRT wants), for one frame size and input size:
- `first.onnx`: image → depth and the 16 cache entries (keys and values of 8 attention blocks) of frame 0;
- `step.onnx`: image, the slot map and the 16 slot buffers → depth and the 16 entries of the new frame.
The runtime that calls them (`OnnxStreamingDepth`) owns the slot buffers and writes each new entry into its
slot, exactly as `StreamingDepth` does inside PyTorch, so both give the same depth.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import CheckpointError, default_checkpoint, load_model
from .config import ENCODERS
from .network import VideoDepthAnything
from .preprocess import network_size, preprocess
from .streaming import PAST, SLOTS, Stream, StreamingDepth
from .temporal import ExplicitKVCache, StreamWindow

BLOCKS = 8
"""Temporal attention blocks in every model size (4 modules × 2)."""

OPSET = 17


def cache_names() -> list[str]:
    return [f"{kind}{block}" for block in range(BLOCKS) for kind in ("key", "value")]


def _entries(cache: ExplicitKVCache) -> tuple[Tensor, ...]:
    return tuple(t for block in range(BLOCKS) for t in cache.new_entries[block])


class FirstStep(nn.Module):
    """Frame 0: attends to itself alone; returns its depth and cache entries."""

    def __init__(self, model: VideoDepthAnything) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        cache = ExplicitKVCache(SLOTS)
        depth = self.model(image[None], cache)[0]
        return (depth, *_entries(cache))


class NextStep(nn.Module):
    """Frame t ≥ 1: attends to the slots named by `onehot`; returns its depth and cache entries."""

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


def export_streaming_onnx(
    model: VideoDepthAnything, frame_size: tuple[int, int], input_size: int, output_dir: Path
) -> dict:
    """Write first.onnx, step.onnx and export.json (shapes and settings) for frames of (height, width)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model = model.float().eval()
    height, width = network_size(*frame_size, input_size)
    image = torch.zeros(1, 3, height, width)
    with torch.inference_mode():
        first_outputs = FirstStep(model)(image)
    entry_shapes = [tuple(t.shape) for t in first_outputs[1:]]
    buffers = [torch.zeros(s[0], s[1], SLOTS, s[3]) for s in entry_shapes]
    onehot = torch.zeros(PAST, SLOTS)
    names = cache_names()
    common = {"opset_version": OPSET, "dynamo": False, "do_constant_folding": True}
    torch.onnx.export(FirstStep(model), (image,), str(output_dir / "first.onnx"),
                      input_names=["image"], output_names=["depth", *[f"new_{n}" for n in names]], **common)
    torch.onnx.export(NextStep(model), (image, onehot, *buffers), str(output_dir / "step.onnx"),
                      input_names=["image", "onehot", *names], output_names=["depth", *[f"new_{n}" for n in names]],
                      **common)
    info = {
        "encoder": model.encoder,
        "metric": model.metric,
        "frame_size": list(frame_size),
        "input_size": input_size,
        "network_size": [height, width],
        "slots": SLOTS,
        "cache_shapes": {n: [s[0], s[1], SLOTS, s[3]] for n, s in zip(names, entry_shapes)},
    }
    (output_dir / "export.json").write_text(json.dumps(info, indent=2))
    return info


class OnnxStreamingDepth(StreamingDepth):
    """The streaming engine running the exported graphs with onnxruntime (same bookkeeping, same depth)."""

    def __init__(self, export_dir: Path, providers: list[str] | None = None) -> None:
        import onnxruntime

        self.info = json.loads((export_dir / "export.json").read_text())
        options = {"providers": providers or ["CPUExecutionProvider"]}
        self.first = onnxruntime.InferenceSession(str(export_dir / "first.onnx"), **options)
        self.next = onnxruntime.InferenceSession(str(export_dir / "step.onnx"), **options)
        self.input_size = self.info["input_size"]
        self.device = torch.device("cpu")
        self.preprocess = preprocess
        self._metric = bool(self.info["metric"])
        self.reset()

    @property
    def metric(self) -> bool:
        return self._metric

    def reset(self) -> None:
        super().reset()
        self.buffers = {n: np.zeros(s, np.float32) for n, s in self.info["cache_shapes"].items()}

    def step(self, frame: np.ndarray) -> np.ndarray:
        if tuple(frame.shape[:2]) != tuple(self.info["frame_size"]):
            raise ValueError(f"this export is for {self.info['frame_size']} frames, got {frame.shape[:2]}")
        return super().step(frame)

    def _network(self, images: Tensor, streams: list[Stream]) -> Tensor:
        feeds = {"image": images.numpy()}
        window = streams[0].cache.window
        if window is None:
            outputs = self.first.run(None, feeds)
            slot = 0
        else:
            feeds["onehot"] = window.onehot.numpy()
            feeds.update(self.buffers)
            outputs = self.next.run(None, feeds)
            slot = window.write_slot
        for name, entry in zip(cache_names(), outputs[1:]):
            self.buffers[name][:, :, slot] = entry[:, :, 0]
        return torch.from_numpy(outputs[0])


def main(argv: list[str] | None = None) -> int:
    """`vda-export-onnx`: export the streaming step for one camera resolution."""
    parser = argparse.ArgumentParser(description="Export the Video Depth Anything streaming step to ONNX.")
    parser.add_argument("--encoder", choices=ENCODERS, default="vits")
    parser.add_argument("--metric", action="store_true")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--random-weights", action="store_true", help="seeded random weights (testing only)")
    parser.add_argument("--size", default="640x480", help="camera frame size WxH the engine is built for")
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    try:
        if args.random_weights:
            from .random_weights import random_model

            model = random_model(args.encoder, metric=args.metric)
        else:
            model = load_model(args.checkpoint or default_checkpoint(args.encoder, args.metric), args.encoder, args.metric)
    except CheckpointError as error:
        print(f"vda-export-onnx: {error}", file=sys.stderr)
        return 2
    info = export_streaming_onnx(model, (height, width), args.input_size, args.output_dir)
    print(f"wrote {args.output_dir}/first.onnx and step.onnx (network {info['network_size'][0]}×{info['network_size'][1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
