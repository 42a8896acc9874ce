"""Streaming engine: one frame in, one depth map out, attending to the official window of past frames."""

from __future__ import annotations

import numpy as np
import torch

from .config import NUM_FRAMES
from .device import autocast
from .engine import Engine
from .preprocess import check_frame, network_size, to_frame_size
from .temporal import KVCache, StreamWindow

PAST = NUM_FRAMES - 1
"""Past frames attended by each new frame (the window is 32 with the current one)."""

RING = 41
"""Frames besides the first one that must stay cached: the window reaches back to frame t − 41."""

SLOTS = 1 + RING


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
    return [0, anchor] + list(range(t - 29, t))


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


class StreamingDepth(Engine):
    """Per-frame depth with temporal consistency, for live streams.

    Memory is fixed once the frame size is known: 42 cache slots of projected keys/values per attention block.
    A frame of another size starts a new stream (the cache is only meaningful for one camera geometry).
    """

    @property
    def metric(self) -> bool:
        return self.model.metric

    def reset(self) -> None:
        """Forget the past: the next frame starts a new stream (its own first frame and anchor)."""
        self.frame_size: tuple[int, int] | None = None
        self.net_size: tuple[int, int] | None = None
        self.frame_index = 0
        self.cache = KVCache(SLOTS)
        self._windows: dict[int, StreamWindow] = {}

    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> np.ndarray:
        """RGB uint8 (h, w, 3) → float32 depth (h, w): inverse depth (relative model) or metres (metric)."""
        check_frame(frame)
        height, width = frame.shape[:2]
        if self.frame_size != (height, width):
            self.reset()
            self.frame_size = (height, width)
            self.net_size = network_size(height, width, self.input_size)
        assert self.net_size is not None
        t = self.frame_index
        window = self._window(t) if t > 0 else None
        depth = self._network(self.preprocess(frame, self.net_size)[None], window)
        self.frame_index += 1
        return to_frame_size(depth, height, width)[0].cpu().numpy()

    def _window(self, t: int) -> StreamWindow:
        """Slot map of frame t, built once per phase on the engine's device (no per-frame host work)."""
        phase = window_phase(t)
        if phase not in self._windows:
            window = stream_window(t)
            self._windows[phase] = StreamWindow(window.onehot.to(self.device), window.write_slot)
        return self._windows[phase]

    def _network(self, image: torch.Tensor, window: StreamWindow | None) -> torch.Tensor:
        """Normalised (1, 3, H, W) image → depth (1, H, W); updates the cache."""
        self.cache.window = window
        with autocast(self.device, self.precision):
            return self.model(image.to(self.device, non_blocking=True)[None], cache=self.cache)[0]
