"""Offline engine: the windowing and alignment logic against a whole-video replay of the official algorithm.

The network is replaced by a cheap deterministic stand-in whose output changes scale and shift from window
to window, so alignment, cross-fade, padding and keyframe reuse all leave visible traces.
"""

import functools
from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vda_ros.model import OfflineDepth, random_model
from vda_ros.model.offline import KEYFRAMES, fit_scale_shift, window_frame_ids
from vda_ros.model.preprocess import network_size, preprocess

HEIGHT, WIDTH = 12, 16


def stand_in(inputs: list[torch.Tensor], window: int) -> np.ndarray:
    """A fake network: per-frame content, plus window-dependent scale/shift and position-dependent noise."""
    x = torch.stack(inputs)[:, 0:1]
    maps = F.interpolate(x, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=True)[:, 0].numpy()
    positions = np.arange(len(inputs), dtype=np.float32)[:, None, None]
    return (maps + 3.0) * (1.0 + 0.3 * window) + 0.2 * window + 0.01 * positions


@functools.cache
def shared_model():
    return random_model("vits")


class StandInEngine(OfflineDepth):
    def __init__(self, metric: bool) -> None:
        super().__init__(shared_model(), input_size=28, metric=metric)
        self.windows = 0

    def _infer(self, inputs, height, width):
        maps = stand_in(inputs, self.windows)
        self.windows += 1
        return maps.astype(np.float32)


def whole_video(frames: list[np.ndarray], metric: bool) -> np.ndarray:
    """The official algorithm as described upstream: pad, run every window, then align them in one pass."""
    length = len(frames)
    size = network_size(HEIGHT, WIDTH, 28)
    padded = list(range(length)) + [length - 1] * ((22 - length % 22) % 22 + 10)
    windows, previous = [], None
    for k, start in enumerate(range(0, length, 22)):
        ids = padded[start : start + 32]
        if previous is not None:
            ids[:10] = [previous[p] for p in KEYFRAMES]
        windows.append(stand_in([preprocess(frames[i], size) for i in ids], k).astype(np.float32))
        previous = ids
    aligned = list(windows[0])
    reference = [windows[0][0], windows[0][12]]
    weights = np.linspace(0, 1, 8, dtype=np.float32)
    for maps in windows[1:]:
        if metric:
            scale, shift = np.float32(1), np.float32(0)
        else:
            scale, shift = fit_scale_shift(np.concatenate(maps[:2]), np.concatenate(reference))
        for i in range(8):
            new = np.maximum(maps[2 + i] * scale + shift, 0)
            aligned[-8 + i] = aligned[-8 + i] * (1 - weights[i]) + new * weights[i]
        aligned += [np.maximum(m * scale + shift, 0) for m in maps[10:]]
        reference[1] = np.maximum(maps[12] * scale + shift, 0)
    return np.stack(aligned[:length])


def video(length: int) -> list[np.ndarray]:
    rng = np.random.default_rng(length)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(length)]


@pytest.mark.parametrize("metric", [False, True], ids=["relative", "metric"])
@pytest.mark.parametrize("length", [1, 5, 22, 23, 31, 32, 33, 44, 50, 54, 55, 100])
def test_iterator_equals_whole_video(length: int, metric: bool) -> None:
    frames = video(length)
    expected = whole_video(frames, metric)
    engine = StandInEngine(metric)
    got = np.stack(list(engine.run(iter(frames))))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert engine.windows == -(-length // 22)


def test_window_inputs_match_upstream_examples() -> None:
    assert window_frame_ids(0, 23) == list(range(23)) + [22] * 9
    assert window_frame_ids(22, 23) == [0, 12] + [22] * 30
    assert window_frame_ids(22, 50) == [0, 12] + list(range(24, 50)) + [49] * 4
    assert window_frame_ids(44, 50) == [0, 34] + list(range(46, 50)) + [49] * 26


def test_alignment_recovers_a_known_affine_map() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((2, 30, 40), dtype=np.float32)
    scale, shift = fit_scale_shift(p, 2.5 * p + 0.75)
    assert scale == pytest.approx(2.5, rel=1e-4) and shift == pytest.approx(0.75, rel=1e-4)
    assert fit_scale_shift(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32)) == (1.0, 0.0)


def test_memory_is_bounded_by_about_two_windows() -> None:
    """Frames read ahead of frames yielded stay bounded however long the video is."""
    consumed = 0

    def source() -> Iterator[np.ndarray]:
        nonlocal consumed
        for frame in video(300):
            consumed += 1
            yield frame

    engine = StandInEngine(metric=False)
    ahead = []
    for yielded, _ in enumerate(engine.run(source()), start=1):
        ahead.append(consumed - yielded)
    assert yielded == 300
    assert max(ahead) <= 32


def test_frame_size_change_is_an_error() -> None:
    frames = [*video(3), np.zeros((HEIGHT + 2, WIDTH, 3), np.uint8)]
    with pytest.raises(ValueError, match="frame size changed"):
        list(StandInEngine(metric=False).run(frames))


def test_empty_input_yields_nothing() -> None:
    assert list(StandInEngine(metric=False).run([])) == []
