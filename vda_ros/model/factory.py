"""The one rule, shared by every tool and node, for which network a user's options mean."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import default_checkpoint, load_model
from .network import VideoDepthAnything
from .random_weights import random_model

DEFAULT_ENCODER = "vits"


def open_model(
    checkpoint: str | Path | None, encoder: str | None, metric: bool, random_weights: bool = False
) -> VideoDepthAnything:
    """Seeded random weights for smoke tests; otherwise the checkpoint, by default the official file name.

    With a checkpoint but no encoder, the encoder is detected from the file. Raises CheckpointError with
    what to do when the file is missing or does not fit.
    """
    if random_weights:
        return random_model(encoder or DEFAULT_ENCODER, seed=0, metric=metric)
    path = Path(checkpoint) if checkpoint else default_checkpoint(encoder or DEFAULT_ENCODER, metric)
    return load_model(path, encoder=encoder, metric=metric)
