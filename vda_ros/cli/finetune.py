"""vda-finetune: fine-tune Video Depth Anything on your own RGB + ground-truth depth recordings.

Data: rosbag2 bags (an image topic and a depth camera's aligned depth or a LiDAR cloud, paired by stamp) and
folders of RGB and depth frames. Mode `offline` trains the official setting (bidirectional 32-frame windows);
mode `streaming` trains exactly the function the live node runs. Writes the weights in the official format
(loadable by every vda_ros tool and the official code) and a resumable training state.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from vda_ros.cli.video import build_model
from vda_ros.errors import UsageError, VdaError
from vda_ros.interruption import EXIT_INTERRUPTED, EXIT_USAGE
from vda_ros.model import DEFAULT_ENCODER, ENCODERS, select_device
from vda_ros.model.config import NUM_FRAMES, PATCH_SIZE
from vda_ros.model.device import PRECISIONS
from vda_ros.training.bag_data import BagSource, bag_sequence, transform_from_pose
from vda_ros.training.data import DEFAULT_DEPTH_SCALE, Sequence, folder_sequence
from vda_ros.training.forward import MODES
from vda_ros.training.trainer import (
    SCHEDULES,
    TrainConfig,
    Trainer,
    check_output_folder,
    checkpoint_path,
    save_size,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-finetune",
        description="Fine-tune Video Depth Anything on RGB + ground-truth depth from rosbag2 bags or image folders.",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--bag", type=Path, action="append", default=[], help="rosbag2 bag (repeatable)")
    data.add_argument(
        "--image-topic", default="/camera/color/image_raw", help="Image or CompressedImage topic of the bags"
    )
    data.add_argument(
        "--depth-topic",
        default="/camera/aligned_depth_to_color/image_raw",
        help="ground truth: depth Image aligned to the colour camera (16UC1 mm, 32FC1 m) or a LiDAR PointCloud2",
    )
    data.add_argument(
        "--camera-info-topic",
        default=None,
        help="colour CameraInfo for LiDAR projection (default: next to the image topic)",
    )
    data.add_argument(
        "--lidar-to-camera",
        type=float,
        nargs=7,
        metavar=("X", "Y", "Z", "QX", "QY", "QZ", "QW"),
        default=None,
        help="transform of LiDAR points into the camera optical frame (default: the cloud already is in it)",
    )
    data.add_argument(
        "--max-stamp-diff", type=float, default=0.02, help="seconds between an image and its depth (default 0.02)"
    )
    data.add_argument(
        "--rgb-dir", type=Path, action="append", default=[], help="folder of RGB frames (repeatable, with --depth-dir)"
    )
    data.add_argument(
        "--depth-dir", type=Path, action="append", default=[], help="folder of depth frames with the RGB frames' names"
    )
    data.add_argument(
        "--depth-scale",
        type=float,
        default=DEFAULT_DEPTH_SCALE,
        help="metres per unit of integer depth (default 0.001: mm)",
    )
    data.add_argument("--min-depth", type=float, default=0.0, help="ground truth below this (m) is ignored")
    data.add_argument(
        "--max-depth", type=float, default=0.0, help="ground truth beyond this (m) is ignored (0: no limit)"
    )
    data.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="last part of each sequence held out for validation (default 0.1)",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--encoder",
        choices=ENCODERS,
        default=None,
        help=f"model size (default {DEFAULT_ENCODER}; detected from --checkpoint)",
    )
    model.add_argument(
        "--metric", action="store_true", help="metric model and metric targets (metres) instead of relative"
    )
    model.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="starting weights (default: the official file in $VDA_CHECKPOINT_DIR or ./checkpoints)",
    )
    model.add_argument("--random-weights", action="store_true", help="start from random weights (tests only)")
    model.add_argument(
        "--mode",
        choices=MODES,
        default="offline",
        help="offline: official 32-frame windows; streaming: the live node's causal windows",
    )

    train = parser.add_argument_group("training")
    train.add_argument("--output-dir", type=Path, required=True, help="where weights, training state and history go")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --output-dir (same options)")
    train.add_argument(
        "--clip-length", type=int, default=NUM_FRAMES, help="frames per clip (default 32; streaming may use more)"
    )
    train.add_argument("--input-size", type=int, default=518, help="crop height, multiple of 14 (default 518)")
    train.add_argument("--crop-width", type=int, default=0, help="crop width, multiple of 14 (default: --input-size)")
    train.add_argument("--batch-size", type=int, default=1)
    train.add_argument("--grad-accum", type=int, default=1, help="clips batches accumulated per optimizer step")
    train.add_argument(
        "--lr", type=float, default=1e-5, help="AdamW learning rate of head and temporal modules (default 1e-5)"
    )
    train.add_argument(
        "--backbone-lr-scale", type=float, default=0.1, help="backbone learning rate = lr × this (default 0.1)"
    )
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--schedule", choices=SCHEDULES, default="cosine", help="after warm-up (default cosine to 0)")
    train.add_argument("--warmup-steps", type=int, default=0)
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument(
        "--steps-per-epoch", type=int, default=100, help="optimizer steps between validations (default 100)"
    )
    train.add_argument("--save-every", type=int, default=0, help="save every N steps (default: every epoch)")
    train.add_argument("--freeze-backbone", action="store_true", help="train only the head and temporal modules")
    train.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    train.add_argument(
        "--precision",
        choices=("auto",) + PRECISIONS,
        default="auto",
        help="auto: fp16 mixed precision on CUDA, fp32 on CPU",
    )
    train.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check(args: argparse.Namespace) -> None:
    """Option values that cannot work, reported before anything is loaded."""
    width = args.crop_width or args.input_size
    for name, value in (("--input-size", args.input_size), ("--crop-width", width)):
        if value <= 0 or value % PATCH_SIZE:
            raise UsageError(f"{name} must be a positive multiple of {PATCH_SIZE}, got {value}")
    for name in ("clip_length", "batch_size", "grad_accum", "epochs", "steps_per_epoch"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be ≥ 1, got {getattr(args, name)}")
    if args.clip_length < 2:
        raise UsageError("--clip-length must be ≥ 2: the temporal loss compares consecutive frames")
    if args.mode == "offline" and args.clip_length > NUM_FRAMES:
        raise UsageError(
            f"--clip-length above {NUM_FRAMES} needs --mode streaming (offline windows have {NUM_FRAMES} frames)"
        )
    if not 0.0 <= args.val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if len(args.rgb_dir) != len(args.depth_dir):
        raise UsageError("give one --depth-dir for each --rgb-dir")
    if not args.bag and not args.rgb_dir:
        raise UsageError("no training data: give --bag or --rgb-dir/--depth-dir")


def load_sequences(args: argparse.Namespace, shorter_side: int) -> list[Sequence]:
    """Every bag and folder the options name, at the working resolution."""
    lidar = transform_from_pose(args.lidar_to_camera) if args.lidar_to_camera else None
    sequences = [
        bag_sequence(
            BagSource(
                bag,
                args.image_topic,
                args.depth_topic,
                args.camera_info_topic,
                args.depth_scale,
                int(args.max_stamp_diff * 1e9),
                lidar,
            ),
            shorter_side,
        )
        for bag in args.bag
    ]
    sequences += [folder_sequence(r, d, shorter_side, args.depth_scale) for r, d in zip(args.rgb_dir, args.depth_dir)]
    return sequences


def make_config(args: argparse.Namespace, device: torch.device) -> TrainConfig:
    precision = args.precision if args.precision != "auto" else ("fp16" if device.type == "cuda" else "fp32")
    return TrainConfig(
        mode=args.mode,
        clip_length=args.clip_length,
        crop_height=args.input_size,
        crop_width=args.crop_width or args.input_size,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        lr=args.lr,
        backbone_lr_scale=args.backbone_lr_scale,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        steps_per_epoch=args.steps_per_epoch,
        epochs=args.epochs,
        freeze_backbone=args.freeze_backbone,
        flip=not args.no_flip,
        precision=precision,
        min_depth=args.min_depth,
        max_depth=args.max_depth if args.max_depth > 0 else math.inf,
        seed=args.seed,
    )


def build_trainer(args: argparse.Namespace) -> Trainer:
    _check(args)
    try:
        device = select_device(args.device)
    except (RuntimeError, ValueError) as error:
        raise UsageError(str(error)) from error
    config = make_config(args, device)
    if config.precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 trains on CUDA only (use bf16 or fp32 on the CPU)")
    model = build_model(
        random_weights=args.random_weights, encoder=args.encoder, metric=args.metric, checkpoint=args.checkpoint
    )
    check_output_folder(args.output_dir, save_size(model, config.freeze_backbone))
    sequences = load_sequences(args, max(config.crop_height, config.crop_width))
    train, val = [], []
    for sequence in sequences:
        fit, held_out = sequence.split(args.val_fraction)
        train.append(fit)
        if held_out is not None and len(held_out) >= config.clip_length:
            val.append(held_out)
    trainer = Trainer(model, config, train, val, args.output_dir, device)
    if args.resume:
        trainer.resume()
    return trainer


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        trainer = build_trainer(args)
    except VdaError as error:
        print(f"vda-finetune: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    config = trainer.config
    if not trainer.val_clips:
        print(
            f"vda-finetune: no validation clip (sequences too short for --val-fraction {args.val_fraction})",
            file=sys.stderr,
        )
    bar = tqdm(total=config.total_steps, initial=trainer.step, unit="step", disable=args.no_progress, desc="fine-tune")

    def progress(loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{trainer.scheduler.get_last_lr()[0]:.2e}")

    try:
        trainer.run(args.save_every or config.steps_per_epoch, progress)
    except VdaError as error:
        print(f"vda-finetune: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            f"vda-finetune: interrupted at step {trainer.step}; --resume continues from the last saved step",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    for result in trainer.history["validation"]:
        print(
            f"validation at step {result['step']}: loss {result['loss']:.4f}, AbsRel {result['abs_rel']:.4f}, δ1 {result['delta1']:.4f}"
        )
    print(f"wrote {checkpoint_path(args.output_dir, trainer.model.encoder, trainer.model.metric)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
