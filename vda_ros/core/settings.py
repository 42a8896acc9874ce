"""The option groups every node and tool shares: which network runs how (ModelSettings), and which frames it takes
(FrameSettings). Each tool nests them in its own settings object, so these options are declared here only.

The per-frame output options are vda_ros.core.outputs.OutputSettings; the ROS quality-of-service ones are
vda_ros.ros.qos.QosSettings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vda_ros.core.options import Alias, Settings, option

ENCODER_CHOICES = ("auto", "vits", "vitb", "vitl")
"""auto, then vda_ros.model.ENCODERS (a test keeps them equal; this module imports no torch)."""
DEFAULT_ENCODER = "vits"
"""The model size taken when neither the encoder nor a checkpoint file says which."""
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16", "int8")
BACKEND_CHOICES = ("torch", "compile", "onnxruntime", "openvino")
"""The names of vda_ros.model.backends.BACKENDS (a test keeps the two equal)."""
DEVICE_CHOICES = ("auto", "cuda", "cpu")
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
"""Images above this many pixels are refused: 50 MP is beyond any camera a depth network is fed from, and a
bigger image would cost gigabytes of memory to decode (a few hundred kilobytes of PNG can expand that far)."""


@dataclass(frozen=True)
class ModelSettings(Settings):
    """Which network runs, where and how: everything vda_ros.model.factory needs to build an engine."""

    checkpoint: str = option(
        "",
        "Checkpoint file (.pth). Empty: the official file name for encoder and metric in $VDA_CHECKPOINT_DIR, "
        "else ./checkpoints (vda-download-weights puts it there).",
    )
    encoder: str = option(
        "auto",
        f"Model size; auto: read from the checkpoint file, else {DEFAULT_ENCODER}. A size given must match the "
        "checkpoint.",
        choices=ENCODER_CHOICES,
    )
    metric: bool = option(
        False, "Metric-depth model (metres on depth/image) instead of relative inverse depth (depth/relative)."
    )
    random_weights: bool = option(False, "Smoke test without a checkpoint: seeded random weights, MEANINGLESS depth.")
    device: str = option("auto", "Inference device; auto takes CUDA when available.", choices=DEVICE_CHOICES)
    precision: str = option(
        "auto",
        "Inference precision; auto is fp16 on CUDA with the torch backend, else fp32. fp32 gives the official "
        "numbers on every backend; bf16 (torch, openvino), int8 (onnxruntime) and fp16 (torch on CUDA) are lossy.",
        choices=PRECISION_CHOICES,
        aliases=(
            Alias(
                "fp32",
                "precision fp32",
                False,
                lambda _: {"precision": "fp32"},
                deprecated=False,
                help="shorthand for --precision fp32 (the official run.py's --fp32)",
            ),
        ),
    )
    backend: str = option(
        "torch",
        "What runs the network: torch (eager PyTorch), compile (AOTInductor, streaming only), onnxruntime or "
        "openvino. Graphs are built on first use and cached in backend_cache.",
        choices=BACKEND_CHOICES,
    )
    backend_cache: str = option(
        "", "Folder of built graphs (exported, compiled); empty: $VDA_ROS_CACHE_DIR, else ~/.cache/vda_ros/graphs."
    )
    input_size: int = option(
        518,
        "Network input size (shorter side, multiple of 14); smaller is faster and coarser.",
        int_range=(56, 2044, 14),
    )

    @property
    def encoder_name(self) -> str | None:
        """The model size asked for, or None to read it from the checkpoint (DEFAULT_ENCODER without one)."""
        return None if self.encoder == "auto" else self.encoder

    @property
    def engine_precision(self) -> str | None:
        """The precision an engine is given: None for auto (the engine's default for its device and backend)."""
        return None if self.precision == "auto" else self.precision

    @property
    def cache_dir(self) -> Path | None:
        """The graph cache folder; None for the default one (see backend_cache's help)."""
        return Path(self.backend_cache) if self.backend_cache else None

    @property
    def checkpoint_path(self) -> Path | None:
        """The checkpoint file given, or None for the official file name in the default folder."""
        return Path(self.checkpoint) if self.checkpoint else None


@dataclass(frozen=True)
class FrameSettings(Settings):
    """Which camera frames are taken and how big they are made before the network sees them."""

    max_res: int = option(
        1280,
        "Images whose longer side exceeds this are shrunk before inference; depth and its camera_info are at the "
        "shrunk size. 0: never shrink.",
        int_range=(0, 16384, 0),
    )
    max_image_pixels: int = option(
        DEFAULT_MAX_IMAGE_PIXELS,
        "Images with more pixels than this are refused as bad input (compressed ones from their header, before "
        "decoding); 0: no limit.",
        int_range=(0, 2**31 - 1, 0),
    )
