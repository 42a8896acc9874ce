"""Streaming engine: the official window of past frames, a fixed-size cache, and stream resets."""

import numpy as np
import pytest
import torch

from vda_ros.model import BatchedStreamingDepth, StreamingDepth, random_model
from vda_ros.model.streaming import SLOTS, past_frame_ids, slot_of, stream_window, window_phase


def official_windows(count: int) -> list[list[int]]:
    """The official list bookkeeping (upstream_facts §7), replayed on frame ids instead of features."""
    ids = [0] * 32
    windows: list[list[int]] = [[]]
    for t in range(1, count):
        windows.append(ids[0:2] + ids[-29:])
        ids.append(t)
        if t + 32 > 42:
            del ids[1]
    return windows


def test_window_equals_official_bookkeeping() -> None:
    windows = official_windows(200)
    for t in range(1, 200):
        assert past_frame_ids(t) == windows[t], f"frame {t}"


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (1, [0] * 31),
        (2, [0] * 30 + [1]),
        (30, [0, 0, *range(1, 30)]),
        (31, [0, 0, *range(2, 31)]),
        (41, [0, 0, *range(12, 41)]),
        (42, [0, 1, *range(13, 42)]),
        (50, [0, 9, *range(21, 50)]),
    ],
)
def test_window_examples_from_upstream(t: int, expected: list[int]) -> None:
    assert past_frame_ids(t) == expected


def test_slots_hold_every_frame_a_window_reads() -> None:
    """Replaying the slot writes, each window reads exactly the frames it names (frame t writes after reading)."""
    slots: dict[int, int] = {slot_of(0): 0}
    for t in range(1, 300):
        window = past_frame_ids(t)
        assert [slots[slot_of(f)] for f in window] == window, f"frame {t}"
        slots[slot_of(t)] = t
    assert len(slots) == SLOTS


@pytest.fixture(scope="module")
def model():
    return random_model("vits", seed=0)


def frames(count: int, height: int = 48, width: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


@pytest.mark.slow
def test_cache_is_preallocated_and_does_not_grow(model) -> None:
    engine = StreamingDepth(model, input_size=112, device="cpu")
    inputs = frames(46)
    engine.step(inputs[0])
    pointers = {k: (v.data_ptr(), tuple(v.shape)) for k, v in engine.cache.keys.items()}
    assert len(pointers) == 8 and all(shape[2] == SLOTS for _, shape in pointers.values())
    for frame in inputs[1:]:
        engine.step(frame)
    assert {k: (v.data_ptr(), tuple(v.shape)) for k, v in engine.cache.keys.items()} == pointers


def test_size_change_starts_a_new_stream(model) -> None:
    engine = StreamingDepth(model, input_size=112, device="cpu")
    for frame in frames(5):
        engine.step(frame)
    other = frames(2, height=60, width=80, seed=1)
    depth = engine.step(other[0])
    assert depth.shape == (60, 80) and depth.dtype == np.float32
    assert engine.frame_index == 1
    fresh = StreamingDepth(model, input_size=112, device="cpu")
    np.testing.assert_array_equal(depth, fresh.step(other[0]))
    np.testing.assert_array_equal(engine.step(other[1]), fresh.step(other[1]))


def test_reset_forgets_the_past(model) -> None:
    engine = StreamingDepth(model, input_size=112, device="cpu")
    inputs = frames(4)
    first = [engine.step(f) for f in inputs]
    engine.reset()
    again = [engine.step(f) for f in inputs]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[3], StreamingDepth(model, input_size=112).step(inputs[3]))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((10, 10), np.uint8), "H×W×3"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_frames_are_named(model, frame, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        StreamingDepth(model, input_size=112).step(frame)


def test_window_phases_repeat_exactly() -> None:
    """Slot maps are cached per phase; every frame's cached map must equal its own."""
    by_phase: dict[int, tuple] = {}
    for t in range(1, 400):
        window = stream_window(t)
        key = (window.onehot.tolist().__repr__(), window.write_slot)
        assert by_phase.setdefault(window_phase(t), key) == key, f"frame {t}"


@pytest.fixture
def one_thread():
    """Tiny inputs are hundreds of small ops: one thread runs them fastest, and is unaffected by a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_batched_streams_equal_separate_engines(model, one_thread) -> None:
    """Three streams (two of one size, one of another) through one batched engine, against three engines.

    The streams start at different steps, one skips steps now and then (batches of changing make-up), and
    one is reset midway; over more than 100 frames per stream every map matches its own engine's.
    """
    batched = BatchedStreamingDepth(model, input_size=28, device="cpu", precision="fp32")
    sizes = {"a": (24, 32), "b": (24, 32), "c": (32, 24)}
    starts = {"a": 0, "b": 9, "c": 4}
    separate = {key: StreamingDepth(model, input_size=28, device="cpu", precision="fp32") for key in sizes}
    inputs = {key: frames(125, *size, seed=i) for i, (key, size) in enumerate(sizes.items())}
    done = {key: 0 for key in sizes}
    worst = 0.0
    for step in range(125):
        due = {key: inputs[key][step] for key in sizes if step >= starts[key] and not (key == "c" and step % 7 == 3)}
        if step == 60:
            batched.reset("b")
            separate["b"].reset()
        got = batched.step_batch(due)
        assert list(got) == list(due)
        if step == 10:
            slots = {k: v.data_ptr() for k, v in batched.streams["a"].cache.keys.items()}
        for key, frame in due.items():
            expected = separate[key].step(frame)
            assert got[key].shape == frame.shape[:2]
            worst = max(worst, float(np.abs(got[key] - expected).max() / (expected.max() - expected.min())))
            done[key] += 1
    assert min(done.values()) >= 100, done
    assert {k: v.data_ptr() for k, v in batched.streams["a"].cache.keys.items()} == slots, "memory fixed per stream"
    assert worst <= 1e-5, worst
    assert batched.streams["b"].frame_index == 125 - 60, "the reset stream counts from its reset"
    assert set(batched.batch_sizes) == {1, 2}, "same-size streams share a batch, the other size runs alone"
