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

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from vda_ros.errors import UsageError
from vda_ros.files import atomic_output, writable_folder_problem
from vda_ros.interruption import run_tool

from .backends.graphs import SLOTS, cache_names, cache_shapes, export_onnx
from .checkpoint import default_checkpoint, load_model
from .config import ENCODERS
from .network import VideoDepthAnything
from .preprocess import input_size_problem, network_size

PROG = "vda-export-onnx"
FILES = {"first": "first.onnx", "next": "step.onnx", "window": "window.onnx"}
INFO_FILE = "export.json"


def export_streaming_onnx(model: VideoDepthAnything, frame_size: tuple[int, int], input_size: int, output_dir: Path,
                          window: bool = False) -> dict:
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
        paths = {name: files.enter_context(atomic_output(output_dir / name))
                 for name in [*(FILES[graph] for graph in graphs), INFO_FILE]}
        for graph in graphs:
            export_onnx(model, graph, net_size, paths[FILES[graph]])
        paths[INFO_FILE].write_text(json.dumps(info, indent=2))
    return info


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Export the Video Depth Anything streaming step to ONNX.")
    parser.add_argument("--encoder", choices=ENCODERS, default="vits")
    parser.add_argument("--metric", action="store_true")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--random-weights", action="store_true", help="seeded random weights (testing only)")
    parser.add_argument("--size", default="640x480", help="camera frame size WxH the engine is built for")
    parser.add_argument("--input-size", type=int, default=518, help="network input size, shorter side, a multiple "
                        "of 14 (default 518)")
    parser.add_argument("--window", action="store_true", help="also write window.onnx (the offline 32-frame window)")
    parser.add_argument("--output-dir", type=Path, required=True)
    return parser


def frame_size(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    """(height, width) of a WxH --size; a usage error (exit 2) unless both sides are positive integers."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WxH, e.g. 640x480, got {text!r}")
    if width < 1 or height < 1:
        parser.error(f"--size must be WxH with both sides at least 1 pixel, got {text!r}")
    return height, width


def check_sizes(size: tuple[int, int], input_size: int) -> None:
    """UsageError unless the network can take frames of `size` at `input_size` (checked before the model loads)."""
    problem = input_size_problem(input_size)
    if problem:
        raise UsageError(f"--input-size: {problem}")
    network_size(*size, input_size)  # FrameSizeError for frames too elongated for the network


def export(args: argparse.Namespace, size: tuple[int, int]) -> str:
    """Everything vda-export-onnx does for parsed arguments; a VdaError for what the user can fix."""
    check_sizes(size, args.input_size)
    if args.random_weights:
        from .random_weights import random_model

        model = random_model(args.encoder, metric=args.metric)
    else:
        model = load_model(args.checkpoint or default_checkpoint(args.encoder, args.metric), args.encoder, args.metric)
    problem = writable_folder_problem(args.output_dir)
    if problem:
        raise UsageError(f"cannot write to the output folder {args.output_dir}: {problem}")
    try:
        info = export_streaming_onnx(model, size, args.input_size, args.output_dir, args.window)
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {args.output_dir}: {error.strerror or error}") from error
    written = ", ".join(FILES[graph] for graph in FILES if args.window or graph != "window")
    return f"wrote {written} in {args.output_dir} (network {info['network_size'][0]}×{info['network_size'][1]})"


def main(argv: list[str] | None = None) -> int:
    """`vda-export-onnx`: export the streaming step for one camera resolution.

    Exit status 0 when every file was written, 2 for a problem the user can fix (`error: ...`, no traceback),
    130 when interrupted; in every case but 0 no file is added or changed.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    size = frame_size(parser, args.size)
    return run_tool(PROG, lambda: export(args, size), "no file was written")


if __name__ == "__main__":
    sys.exit(main())
