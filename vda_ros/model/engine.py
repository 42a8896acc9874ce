"""What both inference engines share: a backend running the network, a precision and a preprocessing path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .backends import DEFAULT_BACKEND, create_backend
from .network import VideoDepthAnything
from .preprocess import frame_preprocessor


class Engine:
    """Placement of the network and the per-frame input path, decided once at construction.

    Args:
        model: the network.
        input_size: network input size (shorter side, multiple of 14).
        device: auto-selected or named device (cpu, cuda[:N]).
        precision: fp32, fp16, bf16 or int8 as the backend offers; None for the backend's default.
        device_preprocess: resize and normalise on the device (default: on CUDA).
        backend: a name from `vda_ros.model.backends.BACKENDS`.
        cache_dir: folder for built graphs (None: the default cache folder).
        log: receives the graph cache's one-line reports.
    """

    offline = False
    """Whether the engine runs offline windows (its backend must offer them)."""

    def __init__(
        self,
        model: VideoDepthAnything,
        input_size: int = 518,
        device: torch.device | str = "cpu",
        precision: str | None = None,
        device_preprocess: bool | None = None,
        backend: str = DEFAULT_BACKEND,
        cache_dir: Path | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.backend = create_backend(
            backend, model, torch.device(device), precision, cache_dir, log, offline=self.offline
        )
        self.device = self.backend.device
        self.precision = self.backend.precision
        self.preprocess = frame_preprocessor(self.device, device_preprocess)
        self.input_size = input_size
        self.reset()

    def reset(self) -> None:
        """Forget whatever an engine keeps between frames (nothing here; streaming keeps its cache)."""
