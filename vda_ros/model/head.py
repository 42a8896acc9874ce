"""DPT head with temporal modules: four ViT token maps → one depth map per frame."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import PATCH_SIZE, EncoderConfig
from .temporal import KVCache, StreamBatch, TemporalModule

FRAME_CHUNK = 4
"""Frames decoded together by the per-frame tail of the head: bounds its full-resolution activations."""


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear with align_corners=True: the one interpolation the official head and post-processing use."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x))))."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        refined: Tensor = self.conv2(F.relu(self.conv1(F.relu(x))))
        return x + refined


class FeatureFusionBlock(nn.Module):
    """Adds a skip connection (through resConfUnit1), refines, resizes, then mixes channels with out_conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        # refinenet4 never receives a skip input, yet its resConfUnit1 is in the checkpoints.
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, x: Tensor, skip: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        if skip is not None:
            x = x + self.resConfUnit1(skip)
        x = self.resConfUnit2(x)
        x = resize(x, size if size is not None else (2 * x.shape[-2], 2 * x.shape[-1]))
        out: Tensor = self.out_conv(x)
        return out


class Scratch(nn.Module):
    """The `head.scratch` namespace of the checkpoints: channel reducers, fusion blocks and output convs."""

    # Added by name in __init__ (add_module), declared here for the type checker.
    layer1_rn: nn.Conv2d
    layer2_rn: nn.Conv2d
    layer3_rn: nn.Conv2d
    layer4_rn: nn.Conv2d
    refinenet1: FeatureFusionBlock
    refinenet2: FeatureFusionBlock
    refinenet3: FeatureFusionBlock
    refinenet4: FeatureFusionBlock

    def __init__(self, features: int, out_channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        for i, channels in enumerate(out_channels, start=1):
            self.add_module(f"layer{i}_rn", nn.Conv2d(channels, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            self.add_module(f"refinenet{i}", FeatureFusionBlock(features))
        self.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 1, 1), nn.ReLU(), nn.Identity()
        )


class DPTHeadTemporal(nn.Module):
    """DPT decoder; temporal modules act on layer_3, layer_4, path_4 and path_3 (the coarse levels)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        oc = cfg.out_channels
        self.projects = nn.ModuleList(nn.Conv2d(cfg.embed_dim, c, 1) for c in oc)
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(oc[0], oc[0], 4, stride=4),
                nn.ConvTranspose2d(oc[1], oc[1], 2, stride=2),
                nn.Identity(),
                nn.Conv2d(oc[3], oc[3], 3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(cfg.features, oc)
        self.motion_modules = nn.ModuleList(
            TemporalModule(c, first_block_index=2 * i) for i, c in enumerate(cfg.temporal_channels)
        )

    def forward(
        self, tokens: list[Tensor], ph: int, pw: int, num_frames: int, cache: KVCache | StreamBatch | None = None
    ) -> Tensor:
        """Token maps (B·T, ph·pw, D) → depth (B·T, 1, 14·ph, 14·pw), ReLU'd."""
        layers = []
        for i, x in enumerate(tokens):
            x = x.transpose(1, 2).reshape(x.shape[0], x.shape[-1], ph, pw)
            layers.append(self.resize_layers[i](self.projects[i](x)))
        layer_1, layer_2, layer_3, layer_4 = layers
        layer_3 = self.motion_modules[0](layer_3, num_frames, cache)
        layer_4 = self.motion_modules[1](layer_4, num_frames, cache)
        s = self.scratch
        layer_1_rn = s.layer1_rn(layer_1)
        layer_2_rn = s.layer2_rn(layer_2)
        layer_3_rn = s.layer3_rn(layer_3)
        layer_4_rn = s.layer4_rn(layer_4)
        path_4 = s.refinenet4(layer_4_rn, size=layer_3_rn.shape[-2:])
        path_4 = self.motion_modules[2](path_4, num_frames, cache)
        path_3 = s.refinenet3(path_4, layer_3_rn, size=layer_2_rn.shape[-2:])
        path_3 = self.motion_modules[3](path_3, num_frames, cache)
        out_size = (ph * PATCH_SIZE, pw * PATCH_SIZE)
        chunks = [
            self._decode(
                path_3[i : i + FRAME_CHUNK], layer_2_rn[i : i + FRAME_CHUNK], layer_1_rn[i : i + FRAME_CHUNK], out_size
            )
            for i in range(0, path_3.shape[0], FRAME_CHUNK)
        ]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def _decode(self, path_3: Tensor, layer_2_rn: Tensor, layer_1_rn: Tensor, out_size: tuple[int, int]) -> Tensor:
        """Per-frame tail (no temporal mixing), run in chunks so full-resolution maps stay small.

        The last two convolutions run in float32 even under autocast, as upstream does on CUDA, because
        they produce the depth values themselves.
        """
        s = self.scratch
        path_2 = s.refinenet2(path_3, layer_2_rn, size=layer_1_rn.shape[-2:])
        path_1 = s.refinenet1(path_2, layer_1_rn)
        out = resize(s.output_conv1(path_1), out_size)
        with torch.autocast(out.device.type, enabled=False):
            depth: Tensor = s.output_conv2(out.float())
        return depth
