"""Deterministic random weights, by the rule the reference outputs were generated with.

Tests and smoke runs need a real network without the official files; seeding each tensor from its key name
makes the values independent of construction order, so any implementation with the official key names
reproduces them exactly.
"""

from __future__ import annotations

import math
import zlib

import torch

from .checkpoint import load_weights
from .network import VideoDepthAnything


def random_tensor(key: str, template: torch.Tensor, seed: int) -> torch.Tensor:
    """The value of one state-dict entry under the reference rule (see test/fixtures/reference/README.md)."""
    if key.endswith(".pe"):
        return template.clone()
    generator = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(key.encode())) % 2**62)
    r = torch.randn(template.shape, generator=generator, dtype=torch.float32)
    if template.dim() == 1 and "norm" in key and key.endswith(".weight"):
        return 1 + 0.1 * r
    if key.endswith(".gamma"):
        return 0.1 + 0.02 * r
    if key == "head.scratch.output_conv2.2.bias":
        return 1.0 + 0.02 * r
    if template.dim() == 1:
        return 0.02 * r
    return r / math.sqrt(template[0].numel())


def random_model(encoder: str = "vits", seed: int = 0, metric: bool = False) -> VideoDepthAnything:
    """A network of the given size holding the seeded random weights (meaningless depth, exact numbers)."""
    model = VideoDepthAnything(encoder, metric=metric)
    state = {k: random_tensor(k, v, seed) for k, v in model.state_dict().items()}
    load_weights(model, state, f"random weights (seed {seed})")
    return model.eval()
