"""RefinedStream: the windowed engine behind a live stream, checked against the offline engine on whole clips.

The real network (random weights, tiny input) runs every window, so equality is equality with what
`vda-video --mode offline` computes. Waits are for deliveries (events), never for fixed times.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from vda_ros.model import OfflineDepth, random_model
from vda_ros.model.network import VideoDepthAnything
from vda_ros.model.refined import DEFAULT_CAPACITY, RefinedStream

HEIGHT, WIDTH = 12, 16
INPUT_SIZE = 28
WAIT = 120.0
"""Seconds a test waits for deliveries a loaded machine may be slow to make (reached only on failure)."""


@functools.cache
def network() -> VideoDepthAnything:
    return random_model("vits")


@pytest.fixture(scope="module")
def engine() -> OfflineDepth:
    return OfflineDepth(network(), input_size=INPUT_SIZE)


def clip(length: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(length)]


def offline(engine: OfflineDepth, frames: list[np.ndarray]) -> np.ndarray:
    return np.stack(list(engine.run(iter(frames))))


class Received:
    """(tag, depth) pairs as the worker delivers them, with a wait for a count."""

    def __init__(self) -> None:
        self.items: list[tuple[object, np.ndarray]] = []
        self._changed = threading.Condition()

    def __call__(self, tag: object, depth: np.ndarray) -> None:
        with self._changed:
            self.items.append((tag, depth))
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.items) >= count, WAIT), (len(self.items), count)

    def tags(self) -> list[object]:
        with self._changed:
            return [tag for tag, _ in self.items]

    def depths(self, tags: list[object]) -> np.ndarray:
        found = dict(self.items)
        return np.stack([found[tag] for tag in tags])


def push_paced(
    stream: RefinedStream, frames: list[np.ndarray], first_tag: int = 0, capacity: int = DEFAULT_CAPACITY
) -> None:
    """Push like a camera the worker keeps up with: each frame once the queue has room (nothing dropped)."""
    for index, frame in enumerate(frames, start=first_tag):
        deadline = time.monotonic() + WAIT
        while stream.queued >= capacity and time.monotonic() < deadline:
            time.sleep(0.001)
        assert stream.push(frame, index), index


@pytest.fixture
def received() -> Iterator[Received]:
    yield Received()


def test_frames_whose_windows_ran_come_before_the_end_and_the_rest_at_it(
    engine: OfflineDepth, received: Received
) -> None:
    frames = clip(64, 1)
    stream = RefinedStream(engine, received, flush_timeout=0)
    push_paced(stream, frames)
    received.wait_for(46)  # windows at 0 and 22 have run; frames 46.. blend with the window at 44
    assert received.tags() == list(range(46))
    assert stream.stats.pending == 18
    stream.end()
    received.wait_for(64)
    stream.close()
    assert received.tags() == list(range(64))
    np.testing.assert_array_equal(received.depths(list(range(64))), offline(engine, frames))
    assert (stream.stats.accepted, stream.stats.delivered, stream.stats.dropped) == (64, 64, 0)
    delays = stream.recent_delays()
    # Frame 0 is final once frame 31 arrived; the worker is at most a queue behind that.
    assert 31 <= delays[0][0] and max(behind for behind, _ in delays[:46]) <= 31 + DEFAULT_CAPACITY


def test_a_pause_longer_than_the_timeout_ends_the_segment(engine: OfflineDepth, received: Received) -> None:
    frames = clip(40, 2)
    stream = RefinedStream(engine, received, flush_timeout=0.5)
    push_paced(stream, frames)
    received.wait_for(40)  # nobody called end(): the pause did
    assert stream.stats.timeouts == 1
    np.testing.assert_array_equal(received.depths(list(range(40))), offline(engine, frames))
    more = clip(5, 3)
    push_paced(stream, more, 40)
    stream.close()
    np.testing.assert_array_equal(received.depths(list(range(40, 45))), offline(engine, more))


def test_a_stream_slower_than_the_timeout_is_not_cut_after_its_first_interval(
    engine: OfflineDepth, received: Received
) -> None:
    """Frames 0.2 s apart with a 0.05 s timeout: the first frame, before any interval is known, ends alone; from
    then on a pause must last FLUSH_GAPS intervals (1 s), and the other frames make one clip."""
    frames = clip(6, 10)
    stream = RefinedStream(engine, received, flush_timeout=0.05)
    for index, frame in enumerate(frames):
        if index:
            time.sleep(0.2)  # the pace of a slow stream, not a wait for the worker
        assert stream.push(frame, index)
    received.wait_for(6)
    stream.close()
    assert stream.stats.timeouts == 2
    np.testing.assert_array_equal(received.depths([0]), offline(engine, frames[:1]))
    np.testing.assert_array_equal(received.depths(list(range(1, 6))), offline(engine, frames[1:]))


def test_each_segment_equals_the_offline_output_of_its_own_clip(engine: OfflineDepth, received: Received) -> None:
    first, second = clip(23, 4), clip(33, 5)
    stream = RefinedStream(engine, received, flush_timeout=0)
    push_paced(stream, first)
    stream.end()
    stream.end()  # a second end without frames in between starts no empty segment
    push_paced(stream, second, 100)
    stream.close()
    assert not stream.alive
    np.testing.assert_array_equal(received.depths(list(range(23))), offline(engine, first))
    np.testing.assert_array_equal(received.depths(list(range(100, 133))), offline(engine, second))
    assert not stream.push(first[0], "after close")


class GatedEngine(OfflineDepth):
    """The offline engine whose windows wait for the test's go (a machine too slow for the stream)."""

    def __init__(self) -> None:
        super().__init__(network(), input_size=INPUT_SIZE)
        self.go = threading.Semaphore(0)
        self.waiting = threading.Semaphore(0)

    def _infer(self, inputs: list[torch.Tensor], height: int, width: int) -> np.ndarray:
        self.waiting.release()
        assert self.go.acquire(timeout=WAIT)
        return super()._infer(inputs, height, width)


def test_falling_behind_cuts_the_segment_drops_a_run_and_never_blocks(engine: OfflineDepth, received: Received) -> None:
    gated = GatedEngine()
    capacity = 8
    stream = RefinedStream(gated, received, flush_timeout=0, capacity=capacity)
    frames = clip(80, 6)
    push_paced(stream, frames[:32], 0, capacity)  # the first window's frames: the worker waits on that window
    accepted = list(range(32))
    pushes = iter(enumerate(frames[32:], start=32))
    assert gated.waiting.acquire(timeout=WAIT)
    outcome = [stream.push(frame, index) for index, frame in (next(pushes) for _ in range(capacity + 4))]
    assert outcome == [True] * capacity + [False] * 4  # full: the segment ends at frame 39, 40..43 dropped
    accepted += list(range(32, 32 + capacity))
    assert (stream.stats.cuts, stream.stats.dropped) == (1, 4)
    gated.go.release(10)  # the worker finishes the cut segment (its windows at 0 and 22) ...
    received.wait_for(len(accepted))
    assert stream.recent_delays()[39][0] == 4, "frame 39 is 4 frames behind: 40 to 43 came (dropped) after it"
    later = [frame for _, frame in pushes]  # ... has taken every queued frame, so a new segment starts
    for index, frame in enumerate(later, start=44):
        assert stream.push(frame, index)
        if stream.stats.pending >= capacity:
            break
    new_segment = list(range(44, index + 1))
    stream.close()
    np.testing.assert_array_equal(received.depths(accepted), offline(engine, frames[:40]))
    np.testing.assert_array_equal(received.depths(new_segment), offline(engine, [frames[i] for i in new_segment]))
    assert stream.stats.pending == 0


class FailingEngine(OfflineDepth):
    """Fails its second window once."""

    def __init__(self) -> None:
        super().__init__(network(), input_size=INPUT_SIZE)
        self.windows = 0

    def _infer(self, inputs: list[torch.Tensor], height: int, width: int) -> np.ndarray:
        self.windows += 1
        if self.windows == 2:
            raise RuntimeError("out of memory (test)")
        return super()._infer(inputs, height, width)


def test_a_failed_window_loses_its_frames_counted_and_the_next_segment_runs(
    engine: OfflineDepth, received: Received
) -> None:
    errors: list[Exception] = []
    failing = FailingEngine()
    stream = RefinedStream(failing, received, flush_timeout=0, on_error=errors.append)
    push_paced(stream, clip(40, 7))
    stream.end()
    fresh = clip(6, 8)
    push_paced(stream, fresh, 40)
    stream.close()
    assert [str(e) for e in errors] == ["out of memory (test)"]
    assert received.tags() == list(range(24)) + list(range(40, 46))  # window 0's final frames, then the new clip
    assert (stream.stats.failed, stream.stats.pending) == (16, 0)
    assert stream.stats.last_failure == "RuntimeError: out of memory (test)"
    np.testing.assert_array_equal(received.depths(list(range(40, 46))), offline(engine, fresh))


def test_a_failing_delivery_is_reported_and_the_stream_goes_on(engine: OfflineDepth) -> None:
    errors: list[Exception] = []
    got: list[int] = []

    def deliver(tag: int, _depth: np.ndarray) -> None:
        if tag == 3:
            raise ValueError("publisher gone")
        got.append(tag)

    stream = RefinedStream(engine, deliver, flush_timeout=0, on_error=errors.append)
    push_paced(stream, clip(6, 9))
    stream.close()
    assert got == [0, 1, 2, 4, 5] and [str(e) for e in errors] == ["publisher gone"]


def test_capacity_must_hold_a_frame(engine: OfflineDepth) -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1, not 0"):
        RefinedStream(engine, lambda _tag, _depth: None, capacity=0)
