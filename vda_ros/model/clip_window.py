"""Attention over a whole clip in which each frame sees an explicit window of frames (the exact streaming forward).

The streaming engine runs one frame at a time: frame t attends to 31 chosen past frames at fixed window
positions, plus itself at position 31 (frame 0 attends only to itself, at position 0). Every per-frame part of
the network is independent across frames and a frame's attention inputs depend only on earlier frames, so the
same function can be evaluated for all frames of a clip in one pass: each query frame reads the keys and
values of its window's frames at its window's positions. Training through this pass trains exactly what the
live node computes, with gradients flowing into the past frames' features as well.

Keys are W_k·(u_f + pe_p) = W_k·u_f + W_k·pe_p (bias-free maps), so each frame is projected once and the
positional terms come from a 32-row table, as in the streaming cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .config import NUM_FRAMES

if TYPE_CHECKING:
    from .temporal import TemporalAttention


@dataclass(frozen=True)
class ClipWindows:
    """Per query frame t of a clip: the frame read at each window position p (0..31) and whether p is used.

    `frames` and `valid` are (T, 32); `query_positions` (T,) is where frame t itself sits (its query's
    positional row). Passed to the network in place of a streaming cache.
    """

    frames: Tensor
    valid: Tensor
    query_positions: Tensor

    def __post_init__(self) -> None:
        if self.frames.shape[-1] != NUM_FRAMES or self.frames.shape != self.valid.shape:
            raise ValueError(f"window maps must be (T, {NUM_FRAMES}), got {tuple(self.frames.shape)}")

    def to(self, device: torch.device | str) -> ClipWindows:
        return ClipWindows(self.frames.to(device), self.valid.to(device), self.query_positions.to(device))

    def attend(self, block: TemporalAttention, seq: Tensor) -> Tensor:
        """Tokens (N, T, C) → attention output (N, heads, T, C/heads) of every frame over its own window."""
        n, t, _ = seq.shape
        if t != self.frames.shape[0]:
            raise ValueError(f"clip has {t} frames but the windows describe {self.frames.shape[0]}")
        pe = block.pos_encoder.pe[0].to(seq.dtype)
        q = block._split(block.to_q(seq + pe[self.query_positions]))
        k = block._split(block.to_k(seq))
        v = block._split(block.to_v(seq))
        pe_k = block._split(block.to_k(pe).unsqueeze(0))[0]
        pe_v = block._split(block.to_v(pe).unsqueeze(0))[0]
        heads = q.shape[1]
        index = self.frames.expand(n, heads, t, NUM_FRAMES)
        logits = (q @ k.transpose(-1, -2)).gather(-1, index) + torch.einsum("nhtd,hpd->nhtp", q, pe_k)
        logits = (logits * q.shape[-1] ** -0.5).masked_fill(~self.valid, -torch.inf)
        weights = torch.softmax(logits, dim=-1)
        per_frame = torch.zeros(n, heads, t, t, dtype=weights.dtype, device=weights.device)
        per_frame = per_frame.scatter_add(-1, index, weights)
        return per_frame.to(v.dtype) @ v + torch.einsum("nhtp,hpd->nhtd", weights.to(v.dtype), pe_v)
