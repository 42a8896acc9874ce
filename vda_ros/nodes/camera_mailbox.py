"""The newest frame of every camera, handed to one inference thread in fair batches (no rclpy here).

Each camera has a one-frame slot where the newest frame wins (a frame nobody took is dropped, so a
camera faster than the model costs dropped frames, never a growing delay). The inference thread takes
up to `max_batch` waiting frames at once. When more cameras wait than fit in a batch, cameras are served
round robin, starting after the last camera served, so a fast camera can never starve a slow one.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class CameraMailbox(Generic[K, T]):
    """Newest-item slots for a fixed list of cameras, taken in round-robin batches."""

    def __init__(self, cameras: Sequence[K]) -> None:
        self._order = list(cameras)
        self._items: dict[K, T] = {}
        self._next = 0
        self._closed = False
        self._ready = threading.Condition()

    def put(self, camera: K, item: T) -> bool:
        """Store the camera's newest item; True when it replaced one nobody had taken (that one is dropped)."""
        with self._ready:
            replaced = camera in self._items
            self._items[camera] = item
            self._ready.notify()
        return replaced

    def take_batch(self, max_batch: int, timeout: float) -> list[tuple[K, T]]:
        """Up to max_batch (camera, item) pairs, in round-robin order; [] after timeout or once closed."""
        with self._ready:
            self._ready.wait_for(lambda: bool(self._items) or self._closed, timeout)
            if self._closed:
                return []
            count = len(self._order)
            batch = []
            for offset in range(count):
                camera = self._order[(self._next + offset) % count]
                if camera in self._items:
                    batch.append((camera, self._items.pop(camera)))
                    if len(batch) == max_batch:
                        break
            if batch:
                self._next = (self._order.index(batch[-1][0]) + 1) % count
            return batch

    def clear(self) -> None:
        """Forget every waiting item (the node stops serving)."""
        with self._ready:
            self._items.clear()

    def close(self) -> None:
        """Wake the taker for good (shutdown)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
