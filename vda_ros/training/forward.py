"""The network over a training clip, in the official offline setting or exactly as the streaming engine runs it."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from vda_ros.model.clip_window import ClipWindows
from vda_ros.model.config import NUM_FRAMES
from vda_ros.model.network import VideoDepthAnything
from vda_ros.model.streaming import past_frame_ids

MODES = ("offline", "streaming")
"""offline: bidirectional attention over the whole clip (≤ 32 frames), as the official training;
streaming: each frame sees the streaming engine's window of past frames (any clip length)."""


@functools.lru_cache(maxsize=8)
def streaming_windows(num_frames: int) -> ClipWindows:
    """Window maps of frames 0..num_frames−1 of a stream, taken from the streaming engine's own rule.

    Frame 0 sees only itself at position 0; frame t ≥ 1 sees `past_frame_ids(t)` at positions 0..30
    (frame 0 anchor, slow anchor, recent frames, early-stream copies of frame 0) and itself at 31.
    """
    frames = torch.zeros(num_frames, NUM_FRAMES, dtype=torch.long)
    valid = torch.ones(num_frames, NUM_FRAMES, dtype=torch.bool)
    valid[0, 1:] = False
    for t in range(1, num_frames):
        frames[t] = torch.tensor([*past_frame_ids(t), t])
    query = torch.full((num_frames,), NUM_FRAMES - 1, dtype=torch.long)
    query[0] = 0
    return ClipWindows(frames, valid, query)


def clip_forward(model: VideoDepthAnything, frames: Tensor, mode: str) -> Tensor:
    """Normalised clips (B, T, 3, H, W) → depth (B, T, H, W) at network resolution, differentiable.

    In streaming mode frame t of the clip is frame t of a stream that starts with the clip.
    """
    num_frames = frames.shape[1]
    if mode == "offline":
        if num_frames > NUM_FRAMES:
            raise ValueError(f"offline mode attends over at most {NUM_FRAMES} frames, got a clip of {num_frames}")
        return model(frames)
    if mode == "streaming":
        return model(frames, cache=streaming_windows(num_frames).to(frames.device))
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
