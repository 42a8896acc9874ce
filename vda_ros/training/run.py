"""vda-finetune from start to end: device, model, data and output folder checked, then training, then the report.

Everything comes from one FinetuneSettings (vda_ros.training.settings); the network comes from the model
factory, so a missing checkpoint or device is the same error here as in every other tool.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from vda_ros.errors import UsageError
from vda_ros.interruption import Interrupted
from vda_ros.model.device import select_device
from vda_ros.model.factory import build_model
from vda_ros.training.bag_data import BagSource, bag_sequence, transform_from_pose
from vda_ros.training.data import Sequence, folder_sequence
from vda_ros.training.settings import NO_TRANSFORM, FinetuneSettings
from vda_ros.training.trainer import TrainConfig, Trainer, check_output_folder, checkpoint_path, save_size

PROG = "vda-finetune"


def train_config(settings: FinetuneSettings, device: torch.device) -> TrainConfig:
    """What decides the numbers of the run (saved with it; a resumed run must match), on this device."""
    precision = settings.model.engine_precision or ("fp16" if device.type == "cuda" else "fp32")
    crop_height, crop_width = settings.crop
    return TrainConfig(
        mode=settings.mode,
        clip_length=settings.clip_length,
        crop_height=crop_height,
        crop_width=crop_width,
        batch_size=settings.batch_size,
        grad_accum=settings.grad_accum,
        lr=settings.lr,
        backbone_lr_scale=settings.backbone_lr_scale,
        weight_decay=settings.weight_decay,
        schedule=settings.schedule,
        warmup_steps=settings.warmup_steps,
        steps_per_epoch=settings.steps_per_epoch,
        epochs=settings.epochs,
        freeze_backbone=settings.freeze_backbone,
        flip=settings.flip,
        precision=precision,
        min_depth=settings.min_depth,
        max_depth=settings.max_depth if settings.max_depth > 0 else math.inf,
        seed=settings.seed,
    )


def load_sequences(settings: FinetuneSettings, shorter_side: int) -> list[Sequence]:
    """Every bag and folder the settings name, at the working resolution."""
    lidar = None if settings.lidar_to_camera == NO_TRANSFORM else transform_from_pose(settings.lidar_to_camera)
    sources = [
        BagSource(
            Path(bag),
            settings.image_topic,
            settings.depth_topic,
            settings.camera_info_topic or None,
            settings.depth_scale,
            settings.pairing.max_offset_ns,
            lidar,
        )
        for bag in settings.bag
    ]
    folders = zip(settings.rgb_dir, settings.depth_dir, strict=True)
    return [bag_sequence(source, shorter_side) for source in sources] + [
        folder_sequence(Path(rgb), Path(depth), shorter_side, settings.depth_scale) for rgb, depth in folders
    ]


def build_trainer(settings: FinetuneSettings) -> Trainer:
    """The run the settings describe, ready to train (resumed from its saved state with resume).

    Raises the package's errors for what the user can change: DeviceError, CheckpointError, DataError,
    OutputFolderError, TrainingStateError, UsageError.
    """
    device = select_device(settings.model.device)
    config = train_config(settings, device)
    if config.precision == "fp16" and device.type != "cuda":
        raise UsageError("precision fp16 trains on CUDA only (use bf16 or fp32 on the CPU)")
    if settings.model.random_weights:
        print(f"{PROG}: training starts from RANDOM WEIGHTS (smoke test), not from a checkpoint", file=sys.stderr)
    model = build_model(settings.model)
    output_dir = Path(settings.output_dir)
    check_output_folder(output_dir, save_size(model, config.freeze_backbone))
    train, val = [], []
    for sequence in load_sequences(settings, max(config.crop_height, config.crop_width)):
        fit, held_out = sequence.split(settings.val_fraction)
        train.append(fit)
        if held_out is not None and len(held_out) >= config.clip_length:
            val.append(held_out)
    trainer = Trainer(model, config, train, val, output_dir, device)
    if settings.resume:
        trainer.resume()
    return trainer


def fine_tune(settings: FinetuneSettings) -> str:
    """vda-finetune's whole run, with a progress bar; returns the report (validation scores, the weights' file).

    Interrupted (SIGINT, SIGTERM) says at which step; the last save is what --resume continues from.
    """
    trainer = build_trainer(settings)
    config = trainer.config
    if not trainer.val_clips:
        print(
            f"{PROG}: no validation clip (sequences too short for --val-fraction {settings.val_fraction})",
            file=sys.stderr,
        )
    bar = tqdm(
        total=config.total_steps, initial=trainer.step, unit="step", disable=not settings.progress, desc="fine-tune"
    )

    def progress(loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{trainer.scheduler.get_last_lr()[0]:.2e}")

    try:
        trainer.run(settings.save_every or config.steps_per_epoch, progress)
    except Interrupted as interruption:
        raise Interrupted(f"{interruption} at step {trainer.step}") from None
    finally:
        bar.close()
    lines = [
        f"validation at step {result['step']}: loss {result['loss']:.4f}, AbsRel {result['abs_rel']:.4f}, "
        f"δ1 {result['delta1']:.4f}"
        for result in trainer.history["validation"]
    ]
    weights = checkpoint_path(trainer.output_dir, trainer.model.encoder, trainer.model.metric)
    return "\n".join([*lines, f"wrote {weights}"])
