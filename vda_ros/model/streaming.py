"""Streaming engine: one frame in, one depth map out, attending to the official window of past frames."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from typing import TypeVar

import numpy as np
import torch

from .config import RING, SLOTS
from .engine import Engine
from .preprocess import check_frame, network_size, to_frame_size
from .temporal import KVCache, StreamWindow

SINGLE = 0
"""The stream key of the one-stream engine."""

K = TypeVar("K", bound=Hashable)


def past_frame_ids(t: int) -> list[int]:
    """Frames at window positions 0..30 for frame t ≥ 1, as the official streaming mode chooses them.

    Frame 0 is a permanent anchor; position 1 is a slow anchor (frame t − 41 once it exists) mirroring what
    the last frame of an offline window sees; positions 2..30 are the 29 most recent frames. Early in a stream
    the missing past is filled with copies of frame 0.
    """
    if t < 1:
        raise ValueError("frame 0 has no past window")
    if t <= 30:
        return [0] * (32 - t) + list(range(1, t))
    anchor = t - 41 if t >= 42 else 0
    return [0, anchor, *range(t - 29, t)]


def slot_of(frame_id: int) -> int:
    """Cache slot of a frame: frame 0 owns slot 0; the others cycle through a ring of 41 slots."""
    return 0 if frame_id == 0 else 1 + (frame_id - 1) % RING


def stream_window(t: int) -> StreamWindow:
    """Slot map of frame t ≥ 1: one-hot rows for window positions 0..30, and the slot frame t takes."""
    slots = torch.tensor([slot_of(f) for f in past_frame_ids(t)])
    return StreamWindow(onehot=torch.nn.functional.one_hot(slots, SLOTS).float(), write_slot=slot_of(t))


def window_phase(t: int) -> int:
    """Frames with equal phase have equal slot maps: from frame 42 on the pattern repeats every 41 frames."""
    return t if t < 42 else 42 + (t - 42) % RING


class Stream:
    """One stream's state: its frame size, the network size that follows from it, its frame index and cache.

    Memory is fixed once the frame size is known: 42 cache slots of projected keys/values per attention block.
    A frame of another size starts the stream anew (the cache is only meaningful for one camera geometry).
    """

    def __init__(self) -> None:
        self.frame_size: tuple[int, int] | None = None
        self.net_size: tuple[int, int] | None = None
        self.frame_index = 0
        self.cache = KVCache(SLOTS)

    def accept(self, frame: np.ndarray, input_size: int) -> Stream:
        """Check the frame; the stream itself, or a new one when the frame size changed."""
        check_frame(frame)
        height, width = frame.shape[:2]
        if self.frame_size == (height, width):
            return self
        stream = Stream() if self.frame_size is not None else self
        stream.frame_size = (height, width)
        stream.net_size = network_size(height, width, input_size)
        return stream


class BatchedStreamingDepth(Engine):
    """Per-frame depth with temporal consistency for several independent streams (cameras) at once.

    Each stream has its own cache slots, frame index and window, and is reset on its own. One `step_batch`
    runs every stream that has a frame: streams whose frames give the same network input size share one
    forward pass (a batch), streams of another size run in their own. The result equals running each
    stream in its own `StreamingDepth` (batching only reorders floating-point sums in the convolutions).
    """

    @property
    def metric(self) -> bool:
        return self.model.metric

    def reset(self, stream: Hashable | None = None) -> None:
        """Forget one stream's past (its next frame starts it anew), or every stream's when None."""
        if stream is None:
            self.streams: dict[Hashable, Stream] = {}
            self.batch_sizes: Counter[int] = Counter()
            self._windows: dict[int, StreamWindow] = {}
        else:
            self.streams.pop(stream, None)

    @torch.inference_mode()
    def step_batch(self, frames: Mapping[K, np.ndarray]) -> dict[K, np.ndarray]:
        """One RGB uint8 (h, w, 3) frame per stream → float32 depth (h, w) per stream, in the same order.

        Depth is inverse depth (relative model) or metres (metric), at each frame's own size.
        """
        groups: dict[tuple[int, int], list[K]] = {}
        for key, frame in frames.items():
            stream = self.streams.get(key, Stream()).accept(frame, self.input_size)
            self.streams[key] = stream
            assert stream.net_size is not None
            groups.setdefault(stream.net_size, []).append(key)
        depths: dict[K, np.ndarray] = {}
        for net_size, keys in groups.items():
            streams = [self.streams[key] for key in keys]
            for stream in streams:
                stream.cache.window = self._window(stream.frame_index) if stream.frame_index > 0 else None
            images = torch.stack([self.preprocess(frames[key], net_size) for key in keys])
            batch = self._network(images, streams)
            self.batch_sizes[len(keys)] += 1
            for index, (key, stream) in enumerate(zip(keys, streams, strict=True)):
                stream.frame_index += 1
                height, width = frames[key].shape[:2]
                depths[key] = to_frame_size(batch[index : index + 1], height, width)[0].cpu().numpy()
        return {key: depths[key] for key in frames}

    def _window(self, t: int) -> StreamWindow:
        """Slot map of frame t, built once per phase on the engine's device (no per-frame host work)."""
        phase = window_phase(t)
        if phase not in self._windows:
            window = stream_window(t)
            self._windows[phase] = StreamWindow(window.onehot.to(self.device), window.write_slot)
        return self._windows[phase]

    def _network(self, images: torch.Tensor, streams: list[Stream]) -> torch.Tensor:
        """Normalised (B, 3, H, W) images of B streams → depth (B, H, W); updates each stream's cache."""
        return self.backend.stream_step(images, [stream.cache for stream in streams])


class StreamingDepth(BatchedStreamingDepth):
    """Per-frame depth with temporal consistency for one live stream: the one-stream case of the batched engine."""

    def step(self, frame: np.ndarray) -> np.ndarray:
        """RGB uint8 (h, w, 3) → float32 depth (h, w): inverse depth (relative model) or metres (metric)."""
        return self.step_batch({SINGLE: frame})[SINGLE]

    @property
    def _stream(self) -> Stream:
        return self.streams.get(SINGLE) or Stream()

    @property
    def frame_index(self) -> int:
        return self._stream.frame_index

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return self._stream.frame_size

    @property
    def net_size(self) -> tuple[int, int] | None:
        return self._stream.net_size

    @property
    def cache(self) -> KVCache:
        return self._stream.cache
