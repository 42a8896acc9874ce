"""`vda-export-onnx`: the backends' ONNX graphs written out, for users who build TensorRT engines themselves.

The files are the ones the onnxruntime and openvino backends build and cache (graphs.export_onnx): fixed
shapes for one frame size and input size, the streaming cache as explicit inputs and outputs.
- `first.onnx`: image → depth and the 16 cache entries (keys and values of 8 attention blocks) of frame 0;
- `step.onnx`: image, the slot map and the 16 slot buffers → depth and the 16 entries of the new frame;
- `window.onnx` (with `window`): a 32-frame offline window → 32 depth maps.
A runtime calling them owns the 42 slot buffers per block and writes each returned entry into the new frame's
slot (frame 0 → slot 0, frame t → 1 + (t − 1) mod 41), as `vda_ros.model.streaming` does.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vda_ros.core.options import Alias, OptionError, Settings, group, option
from vda_ros.core.settings import ModelSettings
from vda_ros.errors import UsageError
from vda_ros.io.files import atomic_output, writable_folder_problem

from .backends.graphs import cache_names, cache_shapes, export_onnx
from .config import SLOTS
from .factory import build_model
from .network import VideoDepthAnything
from .preprocess import network_size

PROG = "vda-export-onnx"
FILES = {"first": "first.onnx", "next": "step.onnx", "window": "window.onnx"}
INFO_FILE = "export.json"
NOT_OFFERED = ("device", "precision", "backend", "backend_cache")
"""ModelSettings options an export does not use: the graphs are traced on the CPU in fp32 for any runtime."""


def parse_frame_size(text: str) -> tuple[int, int]:
    """(height, width) of a WxH frame size; OptionError unless both sides are positive integers."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise OptionError(f"frame_size must be WxH, e.g. 640x480; got {text!r}") from None
    if width < 1 or height < 1:
        raise OptionError(f"frame_size must be WxH with both sides at least 1 pixel; got {text!r}")
    return height, width


@dataclass(frozen=True)
class ExportSettings(Settings):
    """What vda-export-onnx writes: the graphs of one network for one camera frame size."""

    model: ModelSettings = group(ModelSettings)
    frame_size: str = option(
        "640x480",
        "Camera frame size WxH the graphs are built for.",
        aliases=(Alias("size", "frame_size", ""),),
    )
    window: bool = option(False, "Also write window.onnx (the offline 32-frame window).")
    output_dir: str = option("", "Folder the graphs are written to (required).")

    def check(self) -> None:
        super().check()
        parse_frame_size(self.frame_size)
        if not self.output_dir:
            raise OptionError("output_dir must be given: the folder the graphs are written to")

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of the camera frames."""
        return parse_frame_size(self.frame_size)


def export_streaming_onnx(
    model: VideoDepthAnything, frame_size: tuple[int, int], input_size: int, output_dir: Path, window: bool = False
) -> dict[str, Any]:
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
        "cache_shapes": dict(zip(cache_names(), (list(s) for s in cache_shapes(model, net_size)), strict=True)),
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


def export(settings: ExportSettings) -> str:
    """Everything vda-export-onnx does, and its report; a VdaError for what the user can fix.

    Frames too elongated for the network are refused (FrameSizeError) before the model loads, an output folder
    that cannot be written before anything is traced.
    """
    size, input_size, output_dir = settings.frame_shape, settings.model.input_size, Path(settings.output_dir)
    network_size(*size, input_size)
    model = build_model(settings.model)
    problem = writable_folder_problem(output_dir)
    if problem:
        raise UsageError(f"cannot write to the output folder {output_dir}: {problem}")
    try:
        info = export_streaming_onnx(model, size, input_size, output_dir, settings.window)
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {output_dir}: {error.strerror or error}") from error
    written = ", ".join(FILES[graph] for graph in FILES if settings.window or graph != "window")
    return f"wrote {written} in {output_dir} (network {info['network_size'][0]}×{info['network_size'][1]})"
