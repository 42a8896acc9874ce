"""vda-export-onnx: the backends' ONNX graphs written out for one camera resolution (see vda_ros.model.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vda_ros.errors import UsageError
from vda_ros.interruption import run_tool
from vda_ros.io.files import writable_folder_problem
from vda_ros.model import ENCODERS, default_checkpoint, load_model
from vda_ros.model.export import FILES, PROG, check_sizes, export_streaming_onnx


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Export the Video Depth Anything streaming step to ONNX.")
    parser.add_argument("--encoder", choices=ENCODERS, default="vits")
    parser.add_argument("--metric", action="store_true")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--random-weights", action="store_true", help="seeded random weights (testing only)")
    parser.add_argument("--size", default="640x480", help="camera frame size WxH the engine is built for")
    parser.add_argument(
        "--input-size", type=int, default=518, help="network input size, shorter side, a multiple of 14 (default 518)"
    )
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
