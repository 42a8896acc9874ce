"""Video Depth Anything: DINOv2 backbone + temporal DPT head, named so official checkpoints load strictly."""

from __future__ import annotations

from torch import Tensor, nn

from .backbone import DinoVisionTransformer
from .config import PATCH_SIZE, EncoderConfig, encoder_config
from .head import DPTHeadTemporal
from .temporal import KVCache, StreamBatch


class VideoDepthAnything(nn.Module):
    """The network. `metric` records which checkpoint family it holds (it changes offline alignment only)."""

    def __init__(self, encoder: str = "vits", metric: bool = False) -> None:
        super().__init__()
        self.config: EncoderConfig = encoder_config(encoder)
        self.metric = metric
        self.pretrained = DinoVisionTransformer(self.config)
        self.head = DPTHeadTemporal(self.config)

    @property
    def encoder(self) -> str:
        return self.config.name

    def forward(self, frames: Tensor, cache: KVCache | StreamBatch | None = None) -> Tensor:
        """Normalised frames (B, T, 3, H, W) → depth (B, T, H, W) at network resolution.

        With a cache, T must be 1 and the frame attends to the cached past frames (streaming).
        """
        b, t, _, h, w = frames.shape
        tokens = self.pretrained(frames.flatten(0, 1))
        depth: Tensor = self.head(tokens, int(h) // PATCH_SIZE, int(w) // PATCH_SIZE, int(t), cache)
        return depth.view(b, t, h, w)
