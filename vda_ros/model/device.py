"""Device and precision choices shared by both engines."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch

from vda_ros.errors import VdaError

PRECISIONS = ("fp32", "fp16", "bf16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class DeviceError(VdaError, RuntimeError):
    """The device asked for is unknown or not present (CUDA on a machine without it)."""


def select_device(name: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; asking for CUDA where there is none is a DeviceError, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} requested but CUDA is not available (torch {torch.__version__})")
    if name != "cpu" and not name.startswith("cuda"):
        raise DeviceError(f"unknown device {name!r}: expected auto, cuda or cpu")
    return torch.device(name)


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """Default fp16 on CUDA (the official default) and fp32 on CPU, where half precision is slow and lossy."""
    if precision is None:
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return precision


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """Mixed precision for fp16/bf16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])
