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
from pathlib import Path

from .backends.graphs import SLOTS, cache_names, cache_shapes, export_onnx
from .checkpoint import CheckpointError, default_checkpoint, load_model
from .config import ENCODERS
from .network import VideoDepthAnything
from .preprocess import network_size

FILES = {"first": "first.onnx", "next": "step.onnx", "window": "window.onnx"}


def export_streaming_onnx(model: VideoDepthAnything, frame_size: tuple[int, int], input_size: int, output_dir: Path,
                          window: bool = False) -> dict:
    """Write first.onnx, step.onnx (and window.onnx) and export.json (shapes, settings) for (height, width) frames."""
    output_dir.mkdir(parents=True, exist_ok=True)
    net_size = network_size(*frame_size, input_size)
    for graph in ("first", "next", "window") if window else ("first", "next"):
        export_onnx(model, graph, net_size, output_dir / FILES[graph])
    info = {
        "encoder": model.encoder,
        "metric": model.metric,
        "frame_size": list(frame_size),
        "input_size": input_size,
        "network_size": list(net_size),
        "slots": SLOTS,
        "cache_shapes": dict(zip(cache_names(), (list(s) for s in cache_shapes(model, net_size)))),
    }
    (output_dir / "export.json").write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> int:
    """`vda-export-onnx`: export the streaming step for one camera resolution."""
    parser = argparse.ArgumentParser(description="Export the Video Depth Anything streaming step to ONNX.")
    parser.add_argument("--encoder", choices=ENCODERS, default="vits")
    parser.add_argument("--metric", action="store_true")
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--random-weights", action="store_true", help="seeded random weights (testing only)")
    parser.add_argument("--size", default="640x480", help="camera frame size WxH the engine is built for")
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--window", action="store_true", help="also write window.onnx (the offline 32-frame window)")
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WxH, e.g. 640x480, got {args.size!r}")
    try:
        if args.random_weights:
            from .random_weights import random_model

            model = random_model(args.encoder, metric=args.metric)
        else:
            model = load_model(args.checkpoint or default_checkpoint(args.encoder, args.metric), args.encoder, args.metric)
    except CheckpointError as error:
        print(f"vda-export-onnx: {error}", file=sys.stderr)
        return 2
    info = export_streaming_onnx(model, (height, width), args.input_size, args.output_dir, args.window)
    written = ", ".join(FILES[graph] for graph in FILES if args.window or graph != "window")
    print(f"wrote {written} in {args.output_dir} (network {info['network_size'][0]}×{info['network_size'][1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
