"""The fine-tuning loop: AdamW over random clips, a learning-rate schedule, validation, and resumable state.

Every random choice of step s comes from a generator seeded with (seed, s), and the optimizer, schedule and
step are saved with the weights, so a run resumed from a saved step continues exactly as it would have
without the interruption.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vda_ros.core.metrics import evaluate
from vda_ros.errors import UsageError, VdaError
from vda_ros.io.files import atomic_output, writable_folder_problem
from vda_ros.model.checkpoint import CheckpointError, checkpoint_filename, detect_encoder, load_weights
from vda_ros.model.device import autocast
from vda_ros.model.network import VideoDepthAnything
from vda_ros.training.data import Clip, ClipSpec, Sequence, clip_tensors, limit_depth, random_clip, validation_clips
from vda_ros.training.forward import clip_forward
from vda_ros.training.losses import MetricVideoDepthLoss, VideoDepthLoss

SCHEDULES = ("constant", "cosine", "linear")
STATE_FILE = "training_state.pt"
HISTORY_FILE = "history.json"
STATE_TYPES = {
    "step": int,
    "config": dict,
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "scaler": dict,
    "history": dict,
}
"""What Trainer.state() saves (and "metric", which older states lack); a file without them is no training state."""
FLOAT32_BYTES = 4


class TrainingStateError(VdaError, ValueError):
    """A training state that cannot be resumed: missing, damaged, not a state, or from another model or settings."""


class OutputFolderError(UsageError):
    """The output folder cannot take the run's files (read-only, full, a file in the way)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the numbers of a run; a resumed run must have the same."""

    mode: str = "offline"
    clip_length: int = 32
    crop_height: int = 518
    crop_width: int = 518
    batch_size: int = 1
    grad_accum: int = 1
    lr: float = 1e-5
    backbone_lr_scale: float = 0.1
    weight_decay: float = 0.01
    schedule: str = "cosine"
    warmup_steps: int = 0
    steps_per_epoch: int = 100
    epochs: int = 1
    freeze_backbone: bool = False
    flip: bool = True
    precision: str = "fp32"
    min_depth: float = 0.0
    max_depth: float = math.inf
    seed: int = 0

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def clip_spec(self) -> ClipSpec:
        return ClipSpec(self.clip_length, self.crop_height, self.crop_width)


def checkpoint_path(output_dir: Path, encoder: str, metric: bool) -> Path:
    """Where the fine-tuned weights go: the official file name, prefixed, so the family stays visible."""
    return output_dir / f"finetuned_{checkpoint_filename(encoder, metric)}"


def official_state_dict(model: VideoDepthAnything) -> dict[str, Tensor]:
    """The weights as the official checkpoints store them: every key (pe buffers too), float32, on the CPU."""
    return {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in model.state_dict().items()}


def _save(obj: object, path: Path) -> None:
    with atomic_output(path) as temporary:
        torch.save(obj, temporary)


def save_size(model: VideoDepthAnything, freeze_backbone: bool) -> int:
    """About the bytes one Trainer.save() writes: the weights twice (the checkpoint and the state's copy) and
    AdamW's two float32 moments of every trained parameter."""
    weights = sum(tensor.numel() for tensor in model.state_dict().values()) * FLOAT32_BYTES
    trained = model.head.parameters() if freeze_backbone else model.parameters()
    return 2 * weights + 2 * sum(parameter.numel() for parameter in trained) * FLOAT32_BYTES


def check_output_folder(folder: Path, size: int) -> None:
    """Refuse, before any training, an output folder that cannot take `size` bytes (see save_size).

    Otherwise a read-only or full folder shows only at the first save, after that training time is
    spent. Nothing is left behind: a run that stops before its first save leaves no folder either.
    """
    problem = writable_folder_problem(folder, reserve=size, keep_created=False)
    if problem is not None:
        raise OutputFolderError(f"cannot write to the output folder {folder}: {problem}")


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up over warmup_steps, then constant, cosine or linear decay to 0 at the last step."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    span = max(1, config.total_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    if config.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


class Trainer:
    """One fine-tuning run of a model on training and validation sequences, writing into output_dir."""

    def __init__(
        self,
        model: VideoDepthAnything,
        config: TrainConfig,
        train: list[Sequence],
        val: list[Sequence],
        output_dir: Path,
        device: torch.device,
    ) -> None:
        config.clip_spec.check(train + val)
        limit_depth(train + val, config.min_depth, config.max_depth)
        self.model = model.to(device).train()
        self.config = config
        self.train_sequences = train
        self.val_clips = validation_clips(val, config.clip_spec)
        self.output_dir = output_dir
        self.device = device
        self.loss = MetricVideoDepthLoss() if model.metric else VideoDepthLoss()
        self.optimizer = torch.optim.AdamW(
            self._parameter_groups(), lr=config.lr, weight_decay=config.weight_decay, fused=True
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: learning_rate_factor(s, config))
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
        self.step = 0
        self.history: dict[str, list[dict[str, float]]] = {"train": [], "validation": []}

    def _parameter_groups(self) -> list[dict[str, Any]]:
        """Head and temporal modules at lr; the backbone at lr × backbone_lr_scale, or frozen."""
        backbone = list(self.model.pretrained.parameters())
        for parameter in backbone:
            parameter.requires_grad_(not self.config.freeze_backbone)
        groups: list[dict[str, Any]] = [{"params": list(self.model.head.parameters()), "lr": self.config.lr}]
        if not self.config.freeze_backbone:
            groups.append({"params": backbone, "lr": self.config.lr * self.config.backbone_lr_scale})
        return groups

    def _losses(self, clips: list[Clip]) -> dict[str, Tensor]:
        frames, target, mask = clip_tensors(clips, self.model.metric)
        with autocast(self.device, self.config.precision):
            prediction = clip_forward(self.model, frames.to(self.device), self.config.mode)
        return self.loss(prediction.float(), target.to(self.device), mask.to(self.device))

    def train_step(self) -> float:
        """One optimizer step over grad_accum × batch_size random clips; returns the mean total loss."""
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(self.config.grad_accum):
            rng = np.random.default_rng([self.config.seed, self.step, micro])
            clips = [
                random_clip(self.train_sequences, self.config.clip_spec, rng, self.config.flip)
                for _ in range(self.config.batch_size)
            ]
            loss = self._losses(clips)["total_loss"] / self.config.grad_accum
            self.scaler.scale(loss).backward()
            total += float(loss.detach())
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        self.history["train"].append({"step": self.step, "loss": total, "lr": float(self.scheduler.get_last_lr()[0])})
        return total

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Loss, AbsRel and δ1 over the validation clips with the current weights (in the trained mode)."""
        loss_sum, abs_rel, delta1, frames = 0.0, 0.0, 0.0, 0
        for clip in self.val_clips:
            frames_in, target, mask = clip_tensors([clip], self.model.metric)
            with autocast(self.device, self.config.precision):
                prediction = clip_forward(self.model, frames_in.to(self.device), self.config.mode).float()
            loss_sum += float(self.loss(prediction, target.to(self.device), mask.to(self.device))["total_loss"])
            if np.isfinite(clip.depth).any():  # vda-eval's metrics and alignment, the clip as a sequence
                scores = evaluate(
                    prediction[0].cpu().numpy(),
                    clip.depth,
                    align="none" if self.model.metric else "affine-disparity",
                    max_depth=float(np.nextafter(np.nanmax(clip.depth), np.inf)),
                )
                abs_rel += scores.abs_rel * scores.frames
                delta1 += scores.delta1 * scores.frames
                frames += scores.frames
        result = {
            "step": self.step,
            "loss": loss_sum / max(1, len(self.val_clips)),
            "abs_rel": abs_rel / max(1, frames),
            "delta1": delta1 / max(1, frames),
        }
        self.history["validation"].append(result)
        return result

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "config": asdict(self.config),
            "metric": self.model.metric,
            "model": official_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "history": self.history,
        }

    def save(self) -> Path:
        """Write the weights (official format), then the resumable state, then the history, each atomically."""
        weights = checkpoint_path(self.output_dir, self.model.encoder, self.model.metric)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            _save(official_state_dict(self.model), weights)
            _save(self.state(), self.output_dir / STATE_FILE)
            with atomic_output(self.output_dir / HISTORY_FILE) as temporary:
                temporary.write_text(json.dumps(self.history, indent=1))
        except OSError as error:
            raise OutputFolderError(
                f"cannot save step {self.step} in {self.output_dir}: {error.strerror or error}"
            ) from error
        return weights

    def resume(self) -> None:
        """Continue from output_dir's saved state; it must be this model's and its configuration this run's."""
        path = self.output_dir / STATE_FILE
        state = _read_state(path)
        try:
            saved_encoder = detect_encoder(state["model"])
        except CheckpointError as error:
            raise TrainingStateError(f"cannot resume: {path}: {error}") from error
        if saved_encoder != self.model.encoder or state.get("metric", self.model.metric) != self.model.metric:
            saved = f"{'metric ' if state.get('metric') else ''}{saved_encoder}"
            raise TrainingStateError(
                f"cannot resume: {path} was saved by a {saved} model; this run trains a "
                f"{'metric ' if self.model.metric else ''}{self.model.encoder} model (--encoder, --metric)"
            )
        differences = [
            f"{k} {state['config'].get(k)!r} (saved) vs {v!r}"
            for k, v in asdict(self.config).items()
            if state["config"].get(k) != v
        ]
        if differences:
            raise TrainingStateError("cannot resume with other settings than the saved run: " + "; ".join(differences))
        load_weights(self.model, state["model"], str(path))
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise TrainingStateError(f"cannot resume: the optimizer state in {path} does not fit ({error})") from error
        self.step = int(state["step"])
        self.history = state["history"]

    def run(self, save_every: int, on_step: Callable[[float], None] | None = None) -> None:
        """Train to the last step, validating after each epoch (and before the first), saving every save_every steps."""
        if self.step == 0 and self.val_clips:
            self.validate()
        while self.step < self.config.total_steps:
            loss = self.train_step()
            if on_step is not None:
                on_step(loss)
            if self.step % self.config.steps_per_epoch == 0 and self.val_clips:
                self.validate()
            if self.step % save_every == 0 or self.step == self.config.total_steps:
                self.save()


def _read_state(path: Path) -> dict[str, Any]:
    """The dict Trainer.state() saved in path, or a TrainingStateError saying why the file is not one."""
    if not path.is_file():
        raise TrainingStateError(f"nothing to resume: {path} does not exist")
    if path.stat().st_size == 0:
        raise TrainingStateError(f"cannot resume: {path} is empty")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for damaged or foreign files; all mean "unreadable"
        raise TrainingStateError(
            f"cannot resume: {path} is damaged or not a vda-finetune training state "
            f"(torch.load failed with {type(error).__name__})"
        ) from error
    not_a_state = f"cannot resume: {path} is not a vda-finetune training state"
    if not isinstance(state, dict):
        raise TrainingStateError(f"{not_a_state} (it holds a {type(state).__name__})")
    if state and all(isinstance(value, Tensor) for value in state.values()):
        raise TrainingStateError(f"{not_a_state}: only weights (a checkpoint; start from it with --checkpoint)")
    unusable = [key for key, kind in STATE_TYPES.items() if not isinstance(state.get(key), kind)]
    if "model" not in unusable and not all(isinstance(value, Tensor) for value in state["model"].values()):
        unusable.append("model weights")
    if unusable:
        raise TrainingStateError(f"{not_a_state} (no usable {', '.join(unusable)})")
    return state
