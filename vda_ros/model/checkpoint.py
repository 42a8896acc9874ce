"""Loading official checkpoints safely and explaining clearly why one does not fit."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vda_ros.errors import VdaError

from .config import ENCODER_CONFIGS, encoder_config
from .network import VideoDepthAnything

MAX_LISTED_KEYS = 10


class CheckpointError(VdaError, RuntimeError):
    """A checkpoint is missing, unreadable, or not a Video Depth Anything model of the requested size."""


def checkpoint_filename(encoder: str, metric: bool) -> str:
    """File name the official release uses for this encoder and family."""
    encoder_config(encoder)
    return f"{'metric_' if metric else ''}video_depth_anything_{encoder}.pth"


def default_checkpoint_dir() -> Path:
    """`$VDA_CHECKPOINT_DIR`, else `checkpoints/` in the current directory (where the download script writes)."""
    return Path(os.environ.get("VDA_CHECKPOINT_DIR", "checkpoints"))


def default_checkpoint(encoder: str, metric: bool) -> Path:
    return default_checkpoint_dir() / checkpoint_filename(encoder, metric)


def _download_hint(path: Path) -> str:
    metric = path.name.startswith("metric_")
    for encoder in ENCODER_CONFIGS:
        if path.name == checkpoint_filename(encoder, metric):
            return f" Download it with: vda-download-weights --encoder {encoder}{' --metric' if metric else ''}"
    return ""


def _is_safetensors(path: Path) -> bool:
    """True for a safetensors file: an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as stream:
        start = stream.read(9)
    return len(start) == 9 and start[8:9] == b"{" and int.from_bytes(start[:8], "little") < path.stat().st_size


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, unpickled with `weights_only=True` so a file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}.{_download_hint(path)}")
    if _is_safetensors(path):
        raise CheckpointError(
            f"{path} is a safetensors file, a format vda_ros does not load: it reads PyTorch checkpoints "
            "(.pth, as the official release and vda-download-weights provide them)"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for foreign or damaged files; all mean "unreadable"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {first_line}") from error
    if isinstance(data, dict) and not any(isinstance(v, torch.Tensor) for v in data.values()):
        data = data.get("state_dict", data.get("model", data))
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors (got {type(data).__name__})")
    return data


def detect_encoder(state_dict: dict[str, torch.Tensor]) -> str:
    """Encoder size from the backbone width, the one shape that differs between vits, vitb and vitl."""
    pos = state_dict.get("pretrained.pos_embed")
    if pos is None:
        raise CheckpointError("no 'pretrained.pos_embed' tensor: not a Video Depth Anything checkpoint")
    for name, cfg in ENCODER_CONFIGS.items():
        if pos.shape[-1] == cfg.embed_dim:
            return name
    raise CheckpointError(f"backbone width {pos.shape[-1]} matches no known encoder")


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > MAX_LISTED_KEYS else "")


def load_weights(model: VideoDepthAnything, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Strictly load a state dict, turning key and shape mismatches into one readable error."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state_dict[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if wrong_shape:
        problems.append(f"wrong shapes: {_listed(wrong_shape)}")
    if problems:
        raise CheckpointError(f"{source} does not fit a {model.encoder} model; " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def load_model(path: str | Path, encoder: str | None = None, metric: bool = False) -> VideoDepthAnything:
    """Build the network for the checkpoint's encoder (checked against `encoder` when given) and load it."""
    state_dict = read_state_dict(path)
    found = detect_encoder(state_dict)
    if encoder is not None and encoder_config(encoder).name != found:
        raise CheckpointError(
            f"{path} holds a {found} model (width {ENCODER_CONFIGS[found].embed_dim}) but encoder {encoder} "
            f"was requested"
        )
    model = VideoDepthAnything(found, metric=metric)
    load_weights(model, state_dict, str(path))
    return model.eval()
