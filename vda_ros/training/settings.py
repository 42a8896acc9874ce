"""vda-finetune's options, declared once: the data, the model (the shared ModelSettings group) and the training.

The model options are ModelSettings' (checkpoint, encoder, metric, random_weights, device, precision);
vda-finetune offers all of them but the inference engine's (backend, backend_cache, input_size): the
network trains at the crop size, which is `crop_size` here (`--input-size` was its older name in this
tool only; everywhere else input_size is the network input size of inference).
"""

from __future__ import annotations

from dataclasses import dataclass

from vda_ros.core.options import Alias, OptionError, Settings, Value, group, option
from vda_ros.core.settings import ModelSettings
from vda_ros.core.sparse import PairingSettings
from vda_ros.model.config import NUM_FRAMES, PATCH_SIZE
from vda_ros.training.data import DEFAULT_DEPTH_SCALE
from vda_ros.training.forward import MODES
from vda_ros.training.trainer import SCHEDULES

ENGINE_OPTIONS = ("backend", "backend_cache", "input_size")
"""ModelSettings' options of inference engines, which training has no use for: not offered by vda-finetune."""
TRAINING_PRECISIONS = ("auto", "fp32", "fp16", "bf16")
"""The precisions training runs in (autocast); int8 is an inference backend's."""
POSE_FIELDS = ("X", "Y", "Z", "QX", "QY", "QZ", "QW")
"""lidar_to_camera's numbers: translation and quaternion, the order of tf2's static_transform_publisher."""
NO_TRANSFORM = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
"""lidar_to_camera's default, the identity: the cloud already is in the camera optical frame."""
MAX_CROP = 2044
"""The largest crop side: ModelSettings' largest network input size."""
COUNT_RANGE = (1, 2**31 - 1, 0)
"""Counts of at least one (clips, steps, epochs), with no upper limit worth stating."""
MODEL_HELP = {
    "checkpoint": "Starting weights (.pth). Empty: the official file name for encoder and metric in "
    "$VDA_CHECKPOINT_DIR, else ./checkpoints.",
    "metric": "Metric model and metric targets (metres) instead of relative (inverse depth).",
    "random_weights": "Start from seeded random weights (tests only).",
    "device": "Training device; auto takes CUDA when available.",
    "precision": "auto: fp16 mixed precision on CUDA, fp32 on the CPU; fp32, fp16 (CUDA only) or bf16.",
}
"""The help of ModelSettings' options where training uses them differently from inference."""


@dataclass(frozen=True)
class FinetuneSettings(Settings):
    """A fine-tuning run: where its data is, which model starts it, how it trains and where it writes."""

    bag: tuple[str, ...] = option((), "rosbag2 bag (repeatable)")
    image_topic: str = option("/camera/color/image_raw", "Image or CompressedImage topic of the bags")
    depth_topic: str = option(
        "/camera/aligned_depth_to_color/image_raw",
        "ground truth: depth Image aligned to the colour camera (16UC1 mm, 32FC1 m) or a LiDAR PointCloud2",
    )
    camera_info_topic: str = option("", "colour CameraInfo for LiDAR projection (default: next to the image topic)")
    lidar_to_camera: tuple[float, ...] = option(
        NO_TRANSFORM,
        "transform of LiDAR points into the camera optical frame (default: the cloud already is in it)",
    )
    pairing: PairingSettings = group(PairingSettings)
    rgb_dir: tuple[str, ...] = option((), "folder of RGB frames (repeatable, with --depth-dir)")
    depth_dir: tuple[str, ...] = option((), "folder of depth frames with the RGB frames' names")
    depth_scale: float = option(
        DEFAULT_DEPTH_SCALE, "metres per unit of integer depth (default 0.001: mm)", float_range=(0.0, 1e6)
    )
    min_depth: float = option(0.0, "ground truth below this (m) is ignored", float_range=(0.0, 1e4))
    max_depth: float = option(0.0, "ground truth beyond this (m) is ignored (0: no limit)", float_range=(0.0, 1e4))
    val_fraction: float = option(
        0.1, "last part of each sequence held out for validation (default 0.1)", float_range=(0.0, 1.0)
    )
    model: ModelSettings = group(ModelSettings)
    mode: str = option(
        "offline", "offline: official 32-frame windows; streaming: the live node's causal windows", choices=MODES
    )
    output_dir: str = option("", "where weights, training state and history go (required)")
    resume: bool = option(False, "continue the run saved in --output-dir (same options)")
    clip_length: int = option(
        NUM_FRAMES,
        "frames per clip, at least 2: the temporal loss compares consecutive frames (default 32; streaming may "
        "use more)",
        int_range=(2, 2**31 - 1, 0),
    )
    crop_size: int = option(
        518,
        "crop height, multiple of 14: the size the network trains at (default 518)",
        int_range=(PATCH_SIZE, MAX_CROP, PATCH_SIZE),
        aliases=(Alias("input_size", "crop_size (the crop height; input_size is the network input size)", 0),),
    )
    crop_width: int = option(
        0, "crop width, multiple of 14 (default: --crop-size)", int_range=(0, MAX_CROP, PATCH_SIZE)
    )
    batch_size: int = option(1, "clips per batch", int_range=COUNT_RANGE)
    grad_accum: int = option(1, "clips batches accumulated per optimizer step", int_range=COUNT_RANGE)
    lr: float = option(1e-5, "AdamW learning rate of head and temporal modules (default 1e-5)", float_range=(0.0, 1.0))
    backbone_lr_scale: float = option(
        0.1, "backbone learning rate = lr times this (default 0.1)", float_range=(0.0, 1000.0)
    )
    weight_decay: float = option(0.01, "AdamW weight decay", float_range=(0.0, 1.0))
    schedule: str = option("cosine", "after warm-up (default cosine to 0)", choices=SCHEDULES)
    warmup_steps: int = option(0, "steps of linear warm-up", int_range=(0, 2**31 - 1, 0))
    epochs: int = option(1, "epochs", int_range=COUNT_RANGE)
    steps_per_epoch: int = option(100, "optimizer steps between validations (default 100)", int_range=COUNT_RANGE)
    save_every: int = option(0, "save every N steps (default: every epoch)", int_range=(0, 2**31 - 1, 0))
    freeze_backbone: bool = option(False, "train only the head and temporal modules")
    flip: bool = option(True, "random horizontal flips (--no-flip: none)")
    seed: int = option(0, "seed of every random choice", int_range=(0, 2**32 - 1, 0))
    progress: bool = option(True, "a progress bar (--no-progress: none)")

    def values(self) -> dict[str, Value]:
        """Option name -> value, without the engine options vda-finetune does not offer.

        ModelSettings' input_size would otherwise be read back as the older spelling of crop_size.
        """
        return {name: value for name, value in super().values().items() if name not in ENGINE_OPTIONS}

    @property
    def crop(self) -> tuple[int, int]:
        """The crop's (height, width)."""
        return self.crop_size, self.crop_width or self.crop_size

    def check(self) -> None:
        """The rules that tie options together, checked before anything is loaded."""
        super().check()
        if not self.output_dir:
            raise OptionError("output_dir must be given: where weights, training state and history go")
        if self.model.precision not in TRAINING_PRECISIONS:
            raise OptionError(
                f"precision {self.model.precision} is for inference; training takes {', '.join(TRAINING_PRECISIONS)}"
            )
        if self.mode == "offline" and self.clip_length > NUM_FRAMES:
            raise OptionError(
                f"clip_length above {NUM_FRAMES} needs mode streaming (offline windows have {NUM_FRAMES} frames)"
            )
        if 0 < self.max_depth < self.min_depth:
            raise OptionError(f"min_depth {self.min_depth} is greater than max_depth {self.max_depth}")
        if self.val_fraction >= 1.0:
            raise OptionError(
                f"val_fraction must be below 1 (no frame would be left to train on), got {self.val_fraction}"
            )
        if len(self.lidar_to_camera) != len(POSE_FIELDS):
            raise OptionError(
                f"lidar_to_camera must be {len(POSE_FIELDS)} numbers {' '.join(POSE_FIELDS)}, "
                f"got {len(self.lidar_to_camera)}"
            )
        if len(self.rgb_dir) != len(self.depth_dir):
            raise OptionError("give one depth_dir for each rgb_dir")
        if not self.bag and not self.rgb_dir:
            raise OptionError("no training data: give bag, or rgb_dir and depth_dir")
