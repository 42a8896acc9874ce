"""What both inference engines share: a network on a device, a precision and a preprocessing path."""

from __future__ import annotations

import torch

from .device import resolve_precision
from .network import VideoDepthAnything
from .preprocess import frame_preprocessor


class Engine:
    """Placement of the network and the per-frame input path, decided once at construction."""

    def __init__(
        self,
        model: VideoDepthAnything,
        input_size: int = 518,
        device: torch.device | str = "cpu",
        precision: str | None = None,
        device_preprocess: bool | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        self.preprocess = frame_preprocessor(self.device, device_preprocess)
        # Channels-last convolutions skip a layout reorder per call in oneDNN (CPU) and cuDNN (tensor cores).
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.input_size = input_size
        self.reset()

    def reset(self) -> None:
        """Forget whatever an engine keeps between frames (nothing here; streaming keeps its cache)."""
