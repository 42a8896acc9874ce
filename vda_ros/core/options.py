"""The options depth_node, vda-process-bag and vda-video share, each defined once (no ROS, no torch here).

A setting has one name everywhere: `points_stride` is the node parameter `points_stride`, the bag tool's
`--points-stride` and its ROS parameter `points_stride`. Each tool builds its own surface (ROS parameter
descriptors, argparse flags) from these definitions. Older spellings are kept as deprecated aliases so that
existing command lines and launch files keep working; `deprecation_note` says what to use instead.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Value = bool | int | float | str

PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16", "int8")
BACKEND_CHOICES = ("torch", "compile", "onnxruntime", "openvino")
"""The names of vda_ros.model.backends.BACKENDS (a test keeps the two equal; this module imports no torch)."""
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
"""Images above this many pixels are refused: 50 MP is beyond any camera a depth network is fed from, and a
bigger image would cost gigabytes of memory to decode (a few hundred kilobytes of PNG can expand that far)."""


@dataclass(frozen=True)
class SharedOption:
    """One setting: its name (snake_case; the flag is --name-with-dashes), default, help and limits."""

    name: str
    default: Value
    help: str
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None
    """(from, to, step); step 0 means any integer in the range."""
    float_range: tuple[float, float] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def add_to(self, parser: argparse.ArgumentParser, **overrides: Any) -> None:
        """Add this option's flag to a command line (a bool with default True gets --no-NAME as well)."""
        if isinstance(self.default, bool):
            action = argparse.BooleanOptionalAction if self.default else "store_true"
            kwargs: dict[str, Any] = {"action": action, "default": self.default}
        else:
            kwargs = {"type": type(self.default), "default": self.default, "choices": self.choices or None}
        kwargs["help"] = self.help
        kwargs.update(overrides)
        parser.add_argument(self.flag, **kwargs)


SHARED_OPTIONS: tuple[SharedOption, ...] = (
    SharedOption(
        "precision",
        "auto",
        "Inference precision; auto is fp16 on CUDA with the torch backend, else "
        "fp32. fp32 gives the official numbers on every backend; bf16 (torch, openvino), int8 "
        "(onnxruntime) and fp16 (torch on CUDA) are lossy.",
        choices=PRECISION_CHOICES,
    ),
    SharedOption(
        "backend",
        "torch",
        "What runs the network: torch (eager PyTorch), compile (AOTInductor, "
        "streaming only), onnxruntime or openvino. Graphs are built on first use and cached in "
        "backend_cache.",
        choices=BACKEND_CHOICES,
    ),
    SharedOption(
        "backend_cache",
        "",
        "Folder of built graphs (exported, compiled); empty: $VDA_ROS_CACHE_DIR, else ~/.cache/vda_ros/graphs.",
    ),
    SharedOption(
        "input_size",
        518,
        "Network input size (shorter side, multiple of 14); smaller is faster and coarser.",
        int_range=(56, 2044, 14),
    ),
    SharedOption(
        "max_res",
        1280,
        "Images whose longer side exceeds this are shrunk before inference; depth "
        "and its camera_info are at the shrunk size. 0: never shrink.",
        int_range=(0, 16384, 0),
    ),
    SharedOption(
        "max_image_pixels",
        DEFAULT_MAX_IMAGE_PIXELS,
        "Images with more pixels than this are refused as "
        "bad input (compressed ones from their header, before decoding); 0: no limit.",
        int_range=(0, 2**31 - 1, 0),
    ),
    SharedOption(
        "publish_points",
        True,
        "Publish the PointCloud2 on points (metric depth, or relative depth "
        "with relative_scale set, and a calibrated camera_info).",
    ),
    SharedOption(
        "points_stride",
        1,
        "Keep every n-th row and column in the point cloud (1: organised, full size).",
        int_range=(1, 64, 0),
    ),
    SharedOption(
        "color_min",
        0.0,
        "Value shown darkest on depth/colored; with color_max > color_min the range is fixed, else it is automatic.",
        float_range=(-1.0e6, 1.0e6),
    ),
    SharedOption(
        "color_max", 0.0, "Value shown brightest on depth/colored; see color_min.", float_range=(-1.0e6, 1.0e6)
    ),
)
OPTIONS: dict[str, SharedOption] = {option.name: option for option in SHARED_OPTIONS}

DEPRECATED_ALIASES: dict[str, str] = {
    "point_stride": "points_stride",
    "no_points": "publish_points (false)",
    "color_range": "color_min and color_max",
}
"""Old spelling → what replaces it (vda-process-bag's). --fp32 is no old spelling: the official run.py has it,
and it stays a shorthand for --precision fp32 in vda-video and vda-process-bag."""


def deprecation_note(old: str) -> str:
    """The warning for an old spelling that was used."""
    return f"'{old}' is deprecated; use {DEPRECATED_ALIASES[old]}"


def backend_cache_dir(value: str) -> Path | None:
    """The folder a backend_cache value names; None (the default folder, see its help) for an empty value."""
    return Path(value) if value else None


def resolve_precision(precision: str, fp32: bool = False) -> str | None:
    """The engine precision an option pair means: None for auto (the engine's default), fp32 with --fp32."""
    if fp32:
        return "fp32"
    return None if precision == "auto" else precision
