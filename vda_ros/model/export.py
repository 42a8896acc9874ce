"""`vda-export-onnx`: the backends' ONNX graphs written out, for users who build TensorRT engines themselves.

The files are the ones the onnxruntime and openvino backends build and cache (graphs.export_onnx): fixed
shapes for one frame size and input size, the streaming cache as explicit inputs and outputs.
- `first.onnx`: image → depth and the 16 cache entries (keys and values of 8 attention blocks) of frame 0;
- `step.onnx`: image, the slot map and the 16 slot buffers → depth and the 16 entries of the new frame;
- `window.onnx` (with `--window`): a 32-frame offline window → 32 depth maps.
A runtime calling them owns the 42 slot buffers per block and writes each returned entry into the new frame's
slot (frame 0 → slot 0, frame t → 1 + (t − 1) mod 41), as `vda_ros.model.streaming` does.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from vda_ros.errors import UsageError
from vda_ros.io.files import atomic_output

from .backends.graphs import SLOTS, cache_names, cache_shapes, export_onnx
from .network import VideoDepthAnything
from .preprocess import input_size_problem, network_size

PROG = "vda-export-onnx"
FILES = {"first": "first.onnx", "next": "step.onnx", "window": "window.onnx"}
INFO_FILE = "export.json"


def export_streaming_onnx(
    model: VideoDepthAnything, frame_size: tuple[int, int], input_size: int, output_dir: Path, window: bool = False
) -> dict:
    """Write first.onnx, step.onnx (and window.onnx) and export.json (shapes, settings) for (height, width) frames.

    The files appear together once all are written: a failure (a full disk, Ctrl-C) leaves the folder as it was,
    never a new step.onnx beside an older first.onnx.
    """
    net_size = network_size(*frame_size, input_size)
    graphs = ("first", "next", "window") if window else ("first", "next")
    info = {
        "encoder": model.encoder,
        "metric": model.metric,
        "frame_size": list(frame_size),
        "input_size": input_size,
        "network_size": list(net_size),
        "slots": SLOTS,
        "cache_shapes": dict(zip(cache_names(), (list(s) for s in cache_shapes(model, net_size)))),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as files:
        paths = {
            name: files.enter_context(atomic_output(output_dir / name))
            for name in [*(FILES[graph] for graph in graphs), INFO_FILE]
        }
        for graph in graphs:
            export_onnx(model, graph, net_size, paths[FILES[graph]])
        paths[INFO_FILE].write_text(json.dumps(info, indent=2))
    return info


def check_sizes(size: tuple[int, int], input_size: int) -> None:
    """UsageError unless the network can take frames of `size` at `input_size` (checked before the model loads)."""
    problem = input_size_problem(input_size)
    if problem:
        raise UsageError(f"--input-size: {problem}")
    network_size(*size, input_size)  # FrameSizeError for frames too elongated for the network
