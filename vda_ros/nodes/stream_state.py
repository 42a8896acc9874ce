"""The state a live depth stream keeps between frames, free of rclpy so it can be tested alone.

- LatestSlot: hands the newest frame from the subscription to the inference thread; a frame
  that arrives while another is still waiting replaces it (so there is never a backlog).
- CameraInfoCache: pairs an image with the CameraInfo of the same stamp, or else the latest
  one of its frame, without ever making an image wait.
- StreamContinuity: decides when the temporal cache no longer describes the incoming frames.
- ProblemLog: reports each kind of bad input once instead of once per frame.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sensor_msgs.msg import CameraInfo

from vda_ros.ros_conversions import stamp_ns

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-item mailbox between threads where the newest item wins."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._closed = False
        self._ready = threading.Condition()

    def put(self, item: T) -> bool:
        """Store item; True when it replaced one nobody had taken (that one is dropped)."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            self._ready.notify()
        return replaced

    def take(self, timeout: float) -> T | None:
        """Remove and return the waiting item, waiting up to timeout; None if none came or closed."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the taker for good (shutdown)."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class CameraInfoCache:
    """Recent CameraInfo messages by (frame_id, stamp), plus the latest one of each frame_id.

    A driver publishes image and CameraInfo with the same stamp, but they travel separately and
    either may come first or be lost. Matching the stamp gives the exact calibration when it is
    there; the latest of the frame is the fallback, since calibrations change rarely.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._by_stamp: OrderedDict[tuple[str, int], CameraInfo] = OrderedDict()
        self._latest: dict[str, CameraInfo] = {}
        self._lock = threading.Lock()

    def add(self, info: CameraInfo) -> None:
        frame_id = info.header.frame_id
        with self._lock:
            self._by_stamp[(frame_id, stamp_ns(info.header.stamp))] = info
            while len(self._by_stamp) > self._size:
                self._by_stamp.popitem(last=False)
            self._latest[frame_id] = info

    def lookup(self, frame_id: str, stamp: int) -> CameraInfo | None:
        """The CameraInfo with this stamp, else the latest for frame_id, else None."""
        with self._lock:
            return self._by_stamp.get((frame_id, stamp), self._latest.get(frame_id))


@dataclass(frozen=True)
class _FrameKey:
    frame_id: str
    size: tuple[int, int]
    stamp: int


class StreamContinuity:
    """Says why a frame cannot continue the previous frames' stream, if it cannot.

    The temporal cache holds features of past frames of one camera at one resolution, in time
    order. Another frame_id (a different camera), another size, or a stamp earlier than the last
    one (a bag played again in a loop, a restarted simulation) means those features describe
    something else, and attending to them would blend two unrelated videos.
    """

    def __init__(self) -> None:
        self._last: _FrameKey | None = None

    def check(self, frame_id: str, size: tuple[int, int], stamp: int) -> str | None:
        """Record this frame; return the reason to reset before it, or None to continue."""
        last, self._last = self._last, _FrameKey(frame_id, size, stamp)
        if last is None:
            return None
        if frame_id != last.frame_id:
            return f"frame_id changed from {last.frame_id!r} to {frame_id!r}"
        if size != last.size:
            return f"image size changed from {last.size[1]}x{last.size[0]} to {size[1]}x{size[0]}"
        if stamp < last.stamp:
            return f"time jumped back by {(last.stamp - stamp) / 1e9:.3f} s"
        return None


class ProblemLog:
    """Counts bad inputs and reports each kind once, so a broken stream does not flood the log.

    The kind of a problem is its message with numbers masked: "data too short: expected 9216
    bytes, got 100" and the same with other sizes are one kind, an unsupported encoding is
    another, and each unsupported encoding name is its own kind.
    """

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.count = 0
        self.last = ""

    def add(self, message: str) -> None:
        kind = re.sub(r"\d+(\.\d+)?", "#", message)
        with self._lock:
            self.count += 1
            self.last = message
            first = kind not in self._seen
            self._seen.add(kind)
        if first:
            self._report(f"{message} (skipped; more of this kind are counted in /diagnostics, not logged)")
