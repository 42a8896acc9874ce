"""Inference backends, chosen by name: eager PyTorch, compiled PyTorch, ONNX Runtime, OpenVINO.

Every backend runs the same network behind the same two calls (base.py); the engines keep the streaming and
offline bookkeeping once, above them. Exported and compiled graphs are built on first use and kept in an
on-disk cache (cache.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..network import VideoDepthAnything
from .base import Backend, GraphBackend
from .cache import GraphCache, check_cache_dir, default_cache_dir
from .compiled_backend import CompiledBackend
from .errors import BackendError, CacheError
from .onnx_backend import OnnxBackend
from .openvino_backend import OpenVinoBackend
from .torch_backend import TorchBackend

BACKENDS: dict[str, type[Backend]] = {
    backend.name: backend for backend in (TorchBackend, CompiledBackend, OnnxBackend, OpenVinoBackend)
}
"""The registry: backend name → class. `torch` is the default and the reference."""

BACKEND_NAMES = tuple(BACKENDS)
DEFAULT_BACKEND = "torch"


def check_backend(name: str, precision: str | None = None, offline: bool = False) -> None:
    """BackendError unless backend `name` exists and offers `precision` (None: its default) and, if asked, offline
    windows. Cheap (nothing is loaded), so tools check options with it before they create anything."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    backend = BACKENDS[name]
    if precision is not None and precision not in backend.precisions:
        raise BackendError(f"the {name} backend offers precision {', '.join(backend.precisions)}, not {precision}")
    if offline and not backend.offline:
        raise BackendError(
            f"the {name} backend runs the streaming step only; run offline windows with the "
            + ", ".join(b.name for b in BACKENDS.values() if b.offline)
            + " backend"
        )


def check_backend_cache(name: str, cache_dir: Path | None = None) -> None:
    """CacheError unless backend `name` can keep its graphs in `cache_dir` (None: default_cache_dir()), which is
    created if missing. A backend that builds no graphs (torch) needs no folder. Tools call it, after
    check_backend, before they start any work."""
    if issubclass(BACKENDS[name], GraphBackend):
        check_cache_dir(cache_dir)


def create_backend(
    name: str,
    model: VideoDepthAnything,
    device: torch.device,
    precision: str | None = None,
    cache_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    offline: bool = False,
) -> Backend:
    """The backend `name` for `model` on `device`; BackendError if it cannot run so (see check_backend).

    Args:
        name: a key of BACKENDS.
        model: the network (moved to where the backend runs it).
        device: the engine's device; graph backends run on the CPU, or CUDA through onnxruntime's providers.
        precision: one of the backend's `precisions`; None for its default (fp32, or fp16 for torch on CUDA).
        cache_dir: where built graphs are kept; None for default_cache_dir().
        log: receives the cache's one-line reports (building, built in N s, loaded, rebuilding).
        offline: the backend must offer offline windows too.
    """
    check_backend(name, precision, offline)
    return BACKENDS[name](model, device, precision, GraphCache(cache_dir, log))


__all__ = [
    "BACKENDS",
    "BACKEND_NAMES",
    "DEFAULT_BACKEND",
    "Backend",
    "BackendError",
    "CacheError",
    "GraphCache",
    "check_backend",
    "check_backend_cache",
    "check_cache_dir",
    "create_backend",
    "default_cache_dir",
]
