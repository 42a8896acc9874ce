"""The streaming-mode training forward computes what StreamingDepth.step computes, frame by frame."""

import numpy as np
import pytest
import torch

from vda_ros.model import StreamingDepth, random_model
from vda_ros.model.preprocess import preprocess
from vda_ros.model.streaming import past_frame_ids
from vda_ros.training.forward import clip_forward, streaming_windows

HEIGHT, WIDTH = 28, 42
FRAMES = 43
"""Up to frame 42, the first whose slow anchor is not frame 0 (it is frame t − 41): every kind of window position."""


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (HEIGHT, WIDTH + count), dtype=np.uint8)
    colour = np.stack([base, np.roll(base, 7, axis=1), 255 - base], axis=-1)
    return [np.ascontiguousarray(colour[:, i : i + WIDTH]) for i in range(count)]


def test_windows_follow_the_streaming_rule() -> None:
    windows = streaming_windows(FRAMES)
    assert windows.valid[0].sum() == 1 and windows.query_positions[0] == 0
    for t in (1, 5, 30, 31, 41, 42):
        assert windows.frames[t].tolist() == [*past_frame_ids(t), t]
        assert bool(windows.valid[t].all()) and windows.query_positions[t] == 31


def test_streaming_forward_equals_streaming_engine() -> None:
    frames = _frames(FRAMES)
    engine = StreamingDepth(random_model("vits"), input_size=HEIGHT, precision="fp32")
    expected = np.stack([engine.step(frame) for frame in frames])
    model = random_model("vits")
    clip = torch.stack([preprocess(frame, (HEIGHT, WIDTH)) for frame in frames])[None]
    with torch.no_grad():
        depth = clip_forward(model, clip, "streaming")[0].numpy()
    value_range = float(expected.max() - expected.min())
    assert value_range > 0
    per_frame = np.abs(depth - expected).max(axis=(1, 2)) / value_range
    assert per_frame.max() <= 1e-5, per_frame
    # The windows matter: bidirectional attention over the same frames gives other depth.
    with torch.no_grad():
        offline = clip_forward(model, clip[:, :32], "offline")[0].numpy()
    assert np.abs(offline - expected[:32]).max() / value_range > 1e-2


def test_gradients_reach_past_frames_only() -> None:
    """Causality: a loss on frame 2 moves frames 0..2 (through the cached features), never a later frame."""
    model = random_model("vits")
    clip = torch.stack([preprocess(frame, (HEIGHT, WIDTH)) for frame in _frames(4)])[None].requires_grad_(True)
    clip_forward(model, clip, "streaming")[0, 2].sum().backward()
    moved = clip.grad.abs().flatten(2).amax(-1)[0]
    assert bool((moved[:3] > 0).all()) and bool((moved[3:] == 0).all())
    with pytest.raises(ValueError, match="at most 32"):
        clip_forward(model, torch.zeros(1, 33, 3, 14, 14), "offline")
