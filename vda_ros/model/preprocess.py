"""Frame → network input, with the official resize rules; and network depth → frame-sized depth."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vda_ros.errors import VdaError

from .config import IMAGENET_MEAN, IMAGENET_STD, PATCH_SIZE

_MEAN64 = np.array(IMAGENET_MEAN, dtype=np.float64)
_STD64 = np.array(IMAGENET_STD, dtype=np.float64)


class FrameSizeError(VdaError, ValueError):
    """The network cannot take frames of this shape at this input size (the message says what to change)."""


def input_size_problem(input_size: int) -> str | None:
    """Why input_size cannot be a network input size, or None: it must be a positive multiple of the patch size."""
    if input_size < PATCH_SIZE or input_size % PATCH_SIZE:
        return f"the input size must be a positive multiple of {PATCH_SIZE} (e.g. 252, 280, 518), got {input_size}"
    return None


def effective_input_size(height: int, width: int, input_size: int) -> int:
    """Shrink the input size for frames wider than 16:9, so very wide frames don't blow up the token count."""
    ratio = max(height, width) / min(height, width)
    if ratio > 1.78:
        input_size = int(input_size * 1.777 / ratio)
        input_size = round(input_size / PATCH_SIZE) * PATCH_SIZE
    return input_size


def network_size(height: int, width: int, input_size: int) -> tuple[int, int]:
    """Network input (H, W): aspect kept, shorter side ≥ input size, both sides multiples of 14.

    FrameSizeError when the frame is so elongated that the shrunk input size (see
    effective_input_size) leaves less than one patch for its shorter side.
    """
    size = effective_input_size(height, width, input_size)
    if size < PATCH_SIZE:
        ratio = max(height, width) / min(height, width)
        raise FrameSizeError(
            f"a {width}x{height} frame is too elongated for input size {input_size}: at an aspect ratio of "
            f"{ratio:.0f}:1 the network gets less than one {PATCH_SIZE}-pixel patch across its short side; "
            "crop the frames closer to 16:9, or use a larger input size"
        )
    scale = max(size / height, size / width)

    def side(x: float) -> int:
        candidate = round(x / PATCH_SIZE) * PATCH_SIZE
        return candidate if candidate >= size else math.ceil(x / PATCH_SIZE) * PATCH_SIZE

    return side(scale * height), side(scale * width)


def check_frame(frame: np.ndarray) -> None:
    """Reject anything but an RGB uint8 image, naming what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be H×W×3 RGB, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame is too small: {frame.shape[1]}×{frame.shape[0]}")


def preprocess(frame: np.ndarray, size: tuple[int, int]) -> Tensor:
    """RGB uint8 (h, w, 3) → normalised float32 (3, H, W), on the CPU, matching the official numbers.

    A float32 division by 255, OpenCV bicubic on the float image (overshoot kept), and normalisation in
    float64 rounded once to float32: each of these choices moves values by an ulp if done otherwise.
    """
    image = frame.astype(np.float32) / np.float32(255.0)
    image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    image = (image - _MEAN64) / _STD64
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


def preprocess_on_device(frame: np.ndarray, size: tuple[int, int], device: torch.device) -> Tensor:
    """RGB uint8 (h, w, 3) → normalised (3, H, W) computed on `device`: only the uint8 image crosses the bus.

    For GPUs, where the CPU path's float conversion and cubic resize would cost more than the network. PyTorch's
    bicubic (a = −0.75, half-pixel centres, no antialias) is OpenCV's INTER_CUBIC up to ≈1e-5 on [0, 1] data;
    the CPU path stays the reference for exact parity.
    """
    image = torch.from_numpy(frame)
    if device.type == "cuda":
        image = image.pin_memory()
    image = image.to(device, non_blocking=True).permute(2, 0, 1)[None].float() / 255.0
    image = F.interpolate(image, size=size, mode="bicubic", align_corners=False)[0]
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1)
    return (image - mean) / std


def frame_preprocessor(
    device: torch.device, on_device: bool | None = None
) -> Callable[[np.ndarray, tuple[int, int]], Tensor]:
    """The preprocessing an engine uses: on the device for CUDA by default, the exact CPU path otherwise."""
    if on_device is None:
        on_device = device.type == "cuda"
    if on_device:
        return functools.partial(preprocess_on_device, device=device)
    return preprocess


def to_frame_size(depth: Tensor, height: int, width: int) -> Tensor:
    """Network depth (N, H, W) → float32 (N, height, width) with the official bilinear, align_corners=True."""
    return F.interpolate(depth.float().unsqueeze(1), size=(height, width), mode="bilinear", align_corners=True)[:, 0]
