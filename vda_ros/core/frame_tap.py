"""Matching each depth map to the frame it was computed from, for outputs that need both."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np


class FrameTap:
    """An iterable over frames that remembers those the engine has taken but not yet answered.

    The engines yield depth maps in frame order and never before the frame was taken (the
    offline engine looks ahead up to one window), so the oldest remembered frame is always the
    one of the next depth map. Memory is bounded by the engine's look-ahead.
    """

    def __init__(self, frames: Iterable[np.ndarray]) -> None:
        self._frames = frames
        self._taken: deque[np.ndarray] = deque()

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self._frames:
            self._taken.append(frame)
            yield frame

    def pop(self) -> np.ndarray:
        """The frame of the depth map the engine has just yielded."""
        return self._taken.popleft()
