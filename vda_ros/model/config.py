"""The encoder table and the fixed constants of Video Depth Anything, in one place.

Every number here is dictated by the official checkpoints: change one and the released weights stop loading.
"""

from __future__ import annotations

from dataclasses import dataclass

PATCH_SIZE = 14
"""ViT patch size in pixels; network input sides are multiples of it."""

NOMINAL_GRID = 37
"""Patch grid the positional embedding was trained at (518 / 14)."""

NUM_FRAMES = 32
"""Frames in one temporal window (rows of the sinusoidal positional-encoding table)."""

PAST = NUM_FRAMES - 1
"""Past frames attended by each new streaming frame (the window is 32 with the current one)."""

RING = 41
"""Streaming frames besides the first one that must stay cached: the window reaches back to frame t − 41."""

SLOTS = 1 + RING
"""Cache slots per stream: frame 0's, then a ring of 41."""

TEMPORAL_HEADS = 8
"""Attention heads of every temporal module."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of one model size: the DINOv2 backbone and the DPT head that reads it."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    taken_blocks: tuple[int, int, int, int]
    features: int
    out_channels: tuple[int, int, int, int]

    @property
    def mlp_hidden(self) -> int:
        """MLP width of a ViT block (ratio 4)."""
        return 4 * self.embed_dim

    @property
    def temporal_channels(self) -> tuple[int, int, int, int]:
        """Widths of the four temporal modules: on layer_3, layer_4, path_4 and path_3."""
        return (self.out_channels[2], self.out_channels[3], self.features, self.features)


ENCODER_CONFIGS: dict[str, EncoderConfig] = {
    "vits": EncoderConfig("vits", 384, 12, 6, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": EncoderConfig("vitb", 768, 12, 12, (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": EncoderConfig("vitl", 1024, 24, 16, (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
}

ENCODERS: tuple[str, ...] = tuple(ENCODER_CONFIGS)


def encoder_config(name: str) -> EncoderConfig:
    """Look an encoder up by name, with an error that lists the valid names."""
    try:
        return ENCODER_CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}: expected one of {', '.join(ENCODERS)}") from None
