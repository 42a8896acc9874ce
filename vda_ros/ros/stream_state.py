"""The state a live depth stream keeps between frames, free of rclpy so it can be tested alone.

(Frames themselves go from the subscriptions to the inference thread through
vda_ros.nodes.camera_mailbox, one newest-frame slot per camera.)

- CameraInfoCache: pairs an image with the CameraInfo of the same stamp, or else the latest
  one of its frame, without ever making an image wait.
- StreamContinuity: decides when the temporal cache no longer describes the incoming frames.
- ProblemLog: reports each kind of bad input once instead of once per frame.
- LogLimiter: logs the first message of each kind, and repeats of a kind at most once a period.

Every table here is bounded: a node runs for weeks, and its inputs (frame_ids, encodings, error
texts) are chosen by whoever publishes, so nothing may grow with the number of distinct values.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sensor_msgs.msg import CameraInfo

from vda_ros.ros.conversions import stamp_ns

K = TypeVar("K")
V = TypeVar("V")


class LruMap(Generic[K, V]):
    """A mapping of at most `size` keys that forgets the least recently used one first (not thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value of key (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class CameraInfoCache:
    """Recent CameraInfo messages by (frame_id, stamp), plus the latest one of each recent frame_id.

    A driver publishes image and CameraInfo with the same stamp, but they travel separately and
    either may come first or be lost. Matching the stamp gives the exact calibration when it is
    there; the latest of the frame is the fallback, since calibrations change rarely. Only the
    max_frames frame_ids used most recently are kept: a publisher cycling through new frame_ids
    must not grow the node's memory.
    """

    def __init__(self, size: int = 64, max_frames: int = 64) -> None:
        self._by_stamp: LruMap[tuple[str, int], CameraInfo] = LruMap(size)
        self._latest: LruMap[str, CameraInfo] = LruMap(max_frames)
        self._lock = threading.Lock()

    def add(self, info: CameraInfo) -> None:
        frame_id = info.header.frame_id
        with self._lock:
            self._by_stamp.put((frame_id, stamp_ns(info.header.stamp)), info)
            self._latest.put(frame_id, info)

    def lookup(self, frame_id: str, stamp: int) -> CameraInfo | None:
        """The CameraInfo with this stamp, else the latest for frame_id, else None."""
        with self._lock:
            exact = self._by_stamp.get((frame_id, stamp))
            latest = self._latest.get(frame_id)
            return exact if exact is not None else latest


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


def message_kind(message: str) -> str:
    """The message with quoted values and numbers masked: what stays the same across repeats.

    "encoding '16UC1'" and "encoding 'bayer_rggb8'" are one kind, as are two image sizes, so a
    publisher varying a value cannot make every message look new.
    """
    return re.sub(r"\d+(\.\d+)?", "#", re.sub(r"'[^']*'|\"[^\"]*\"", "'*'", message))


@dataclass
class _KindState:
    logged_at: float
    held: int = 0


class LogLimiter:
    """Logs the first message of each kind at once, and repeats of a kind at most once per period.

    The repeat that gets through says how many of its kind were held back since the last one
    (all of them within a period after it).
    rclpy's throttle_duration_sec cannot do this: it throttles a call site, so a new kind of
    message would be hidden behind an old one. The max_kinds kinds seen most recently are
    remembered; a forgotten kind counts as new. clock is injectable for tests (seconds, monotonic).
    """

    def __init__(
        self,
        report: Callable[[str], object],
        period: float,
        max_kinds: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._report = report
        self._period = period
        self._clock = clock
        self._kinds: LruMap[str, _KindState] = LruMap(max_kinds)
        self._lock = threading.Lock()

    def log(self, message: str) -> bool:
        """Report message unless one of its kind was reported less than a period ago; True if reported."""
        kind, now = message_kind(message), self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None:
                self._kinds.put(kind, _KindState(now))
                held = 0
            elif now - state.logged_at >= self._period:
                held, state.logged_at, state.held = state.held, now, 0
            else:
                state.held += 1
                return False
        if held:
            message += f" ({held} more of this kind not logged since the last one)"
        self._report(message)
        return True


class ProblemLog:
    """Counts bad inputs and reports each kind once, so a broken stream does not flood the log.

    The kind of a problem is its message with numbers and quoted values masked (message_kind):
    "data too short: expected 9216 bytes, got 100" and the same with other sizes are one kind,
    an unsupported encoding is another whatever its name. The count and the last message go to
    /diagnostics, which is where a problem that persists stays visible.
    """

    def __init__(self, report: Callable[[str], object], max_kinds: int = 256) -> None:
        self._limiter = LogLimiter(
            lambda message: report(f"{message} (skipped; more of this kind are counted in /diagnostics, not logged)"),
            math.inf,
            max_kinds,
        )
        self._lock = threading.Lock()
        self.count = 0
        self.last = ""

    def add(self, message: str) -> None:
        with self._lock:
            self.count += 1
            self.last = message
        self._limiter.log(message)
