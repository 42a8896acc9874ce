"""Refined depth of a live stream: the windowed engine on its own thread, about one window behind the stream.

The streaming engine answers each frame at once from the frames before it. The windowed (offline) engine sees
the frames around each one, past and future, and is more accurate (the official ScanNet δ1: 0.926 against
0.836 streaming), but a frame's windowed depth is final only once the window after it has run. RefinedStream
feeds the frames of a live stream to an OfflineDepth engine on a worker thread and hands each frame's depth back,
with the tag the caller gave it, as soon as it is final: at most one window (31 frames) behind the newest frame,
plus compute time.

A segment is the run of frames between two ends. `end()` (a reset, a new stream, deactivation), `close()`
and a pause each finish the segment the way the offline mode finishes a video (the last window padded with
copies of the last frame), so every frame of a segment gets its depth, equal to the offline output of that
segment taken as a clip. A pause is `flush_timeout` seconds without a frame, or FLUSH_GAPS of the stream's
recent frame intervals if that is longer, so that a slow stream is not cut into one-frame clips.

Bounded memory, and the caller never waits: push() returns at once. Frames wait in a queue of at most
`capacity` frames (the engine itself holds one window of inputs and eight maps). When the worker has fallen that
far behind, the segment is cut there (ended: every frame it accepted still gets its depth), and frames are
dropped until the worker has taken every queued frame; then a new segment starts. A machine too slow for both
engines thus loses whole runs of refined frames, counted in `stats`, and never delays the caller.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import torch

from .config import NUM_FRAMES
from .offline import OfflineDepth

T = TypeVar("T")

DEFAULT_CAPACITY = NUM_FRAMES
"""Frames that may wait for the worker before a segment is cut: one window."""
DELAY_SAMPLES = 200
"""Recent frames whose delay the statistics keep."""
FLUSH_GAPS = 5.0
"""A pause ends a segment after this many recent frame intervals (their median) when that is longer than
`flush_timeout`: a CPU processing a frame every few seconds keeps its segments whole."""
GAP_SAMPLES = 8
"""Recent frame intervals the pause length follows (their median: one long pause does not move it)."""


@dataclass
class RefinedStats:
    """What a RefinedStream did; read by diagnostics while the worker updates it (plain counters)."""

    accepted: int = 0
    """Frames taken into a segment."""
    delivered: int = 0
    """Frames whose refined depth was handed back."""
    dropped: int = 0
    """Frames refused because the worker had fallen a queue's length behind."""
    failed: int = 0
    """Accepted frames lost to a failed window (the segment is ended there)."""
    cuts: int = 0
    """Segments ended early because the worker had fallen behind."""
    timeouts: int = 0
    """Segments ended by `flush_timeout` seconds without a frame."""
    last_failure: str = ""
    delays: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=DELAY_SAMPLES))
    """(frames pushed after it, seconds since it was pushed) of recent delivered frames, at delivery; frames
    dropped meanwhile count too: the delay is the stream's, not the worker's."""

    @property
    def pushed(self) -> int:
        """Frames offered to push(), accepted or dropped."""
        return self.accepted + self.dropped

    @property
    def pending(self) -> int:
        """Frames accepted whose refined depth is still to come."""
        return self.accepted - self.delivered - self.failed


@dataclass
class _Frame(Generic[T]):
    image: np.ndarray
    tag: T
    pushed_at: float
    sequence: int


_END = None
"""Queue marker: the segment ends here."""


class RefinedStream(Generic[T]):
    """Windowed depth of one live stream, computed on a worker thread and delivered frame by frame.

    Args:
        engine: the windowed engine (it may serve several RefinedStreams: it keeps no state between calls).
        deliver: called on the worker thread with (tag, depth) for every accepted frame, in push order; an
            exception it raises is reported to `on_error` and the stream goes on.
        flush_timeout: seconds without a pushed frame that end the segment, or FLUSH_GAPS recent frame intervals
            if longer (0: only end() and close() do).
        capacity: frames that may wait for the worker before the segment is cut.
        on_error: receives what a failed window or delivery raised (default: ignored, counted in stats).
        name: the worker thread's name.
    """

    def __init__(
        self,
        engine: OfflineDepth,
        deliver: Callable[[T, np.ndarray], None],
        *,
        flush_timeout: float = 2.0,
        capacity: int = DEFAULT_CAPACITY,
        on_error: Callable[[Exception], None] | None = None,
        name: str = "refined_depth",
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._engine = engine
        self._deliver = deliver
        self._flush_timeout = flush_timeout
        self._capacity = capacity
        self._on_error = on_error or (lambda _error: None)
        self.stats = RefinedStats()
        self._queue: deque[_Frame[T] | None] = deque()
        self._queued_frames = 0
        self._open = False
        """A frame was queued since the last end of segment."""
        self._dropping = False
        self._closed = False
        self._last_push = time.monotonic()
        self._gaps: deque[float] = deque(maxlen=GAP_SAMPLES)
        """Intervals between the recent pushes (the stream's rate outlives its segments)."""
        self._pushed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def push(self, image: np.ndarray, tag: T) -> bool:
        """Queue a frame (RGB, as the streaming engine took it); False when it is dropped (behind, or closed)."""
        with self._changed:
            now = time.monotonic()
            if self._pushed:
                self._gaps.append(now - self._last_push)
            self._pushed, self._last_push = True, now
            if self._closed:
                return False
            if self._dropping and self._queued_frames > 0:
                self.stats.dropped += 1
                return False
            self._dropping = False
            if self._queued_frames >= self._capacity:
                self._end_segment()
                self._dropping = True
                self.stats.cuts += 1
                self.stats.dropped += 1
                return False
            self._queue.append(_Frame(image, tag, now, self.stats.pushed))
            self.stats.accepted += 1
            self._queued_frames += 1
            self._open = True
            self._changed.notify_all()
            return True

    def end(self) -> None:
        """End the current segment: its last frames are finished (padded like the end of a video), in order."""
        with self._changed:
            self._end_segment()

    def close(self) -> None:
        """Finish every accepted frame, deliver it, and stop the worker (returns once it has)."""
        with self._changed:
            self._end_segment()
            self._closed = True
            self._changed.notify_all()
        self._thread.join()

    @property
    def queued(self) -> int:
        """Frames waiting for the worker (a segment is cut when they reach the capacity)."""
        with self._changed:
            return self._queued_frames

    def recent_delays(self) -> list[tuple[int, float]]:
        """(frames behind, seconds behind) of the recently delivered frames, oldest first."""
        with self._changed:
            return list(self.stats.delays)

    @property
    def alive(self) -> bool:
        """Whether the worker still runs (until close())."""
        return self._thread.is_alive()

    def _end_segment(self) -> None:
        """(Under the lock.) Mark the end of the segment being queued, if it has frames."""
        if self._open:
            self._queue.append(_END)
            self._open = False
            self._changed.notify_all()

    # --- the worker ---------------------------------------------------------------------------------

    def _run(self) -> None:
        """Run segments until closed and every queued frame is delivered."""
        with self._device_stream():
            while self._next_segment():
                self._run_segment()

    def _next_segment(self) -> bool:
        """Wait for a segment's first frame; False once closed with nothing left."""
        with self._changed:
            while True:
                if self._queue and self._queue[0] is _END:
                    self._queue.popleft()  # a segment a failure already ended
                    continue
                if self._queue:
                    return True
                if self._closed:
                    return False
                self._changed.wait()

    def _run_segment(self) -> None:
        """The offline engine over one segment, each depth delivered with its frame's tag as soon as it is final."""
        taken: deque[_Frame[T]] = deque()
        try:
            for depth in self._engine.run(self._segment_frames(taken)):
                frame = taken.popleft()
                self._hand_back(frame, depth)
        except Exception as error:  # noqa: BLE001 - a failed window loses its segment, never the worker
            with self._changed:
                self.stats.failed += len(taken)
                self.stats.last_failure = f"{type(error).__name__}: {error}"
                if self._open:  # later frames of this stream start a new segment
                    self._end_segment()
            self._on_error(error)

    def _segment_frames(self, taken: deque[_Frame[T]]) -> Iterator[np.ndarray]:
        """The segment's frames as the engine asks for them; ends at the segment's end or after the timeout."""
        while (frame := self._take()) is not None:
            taken.append(frame)
            yield frame.image

    def _take(self) -> _Frame[T] | None:
        """The segment's next frame, waiting for it; None at the end of the segment."""
        with self._changed:
            while True:
                if self._queue:
                    item = self._queue.popleft()
                    if item is not None:
                        self._queued_frames -= 1
                    return item
                if self._closed:
                    return None
                waited, pause = time.monotonic() - self._last_push, self._pause()
                if pause > 0 and waited >= pause:
                    self._open = False
                    self.stats.timeouts += 1
                    return None
                self._changed.wait(pause - waited if pause > 0 else None)

    def _pause(self) -> float:
        """(Under the lock.) Seconds without a frame that end the open segment; 0: never."""
        if self._flush_timeout <= 0:
            return 0.0
        if not self._gaps:
            return self._flush_timeout
        return max(self._flush_timeout, FLUSH_GAPS * float(np.median(self._gaps)))

    def _hand_back(self, frame: _Frame[T], depth: np.ndarray) -> None:
        """Deliver one frame's depth and record its delay."""
        with self._changed:
            self.stats.delivered += 1
            self.stats.delays.append((self.stats.pushed - frame.sequence - 1, time.monotonic() - frame.pushed_at))
        try:
            self._deliver(frame.tag, depth)
        except Exception as error:  # noqa: BLE001 - a failed delivery loses one frame's output, never the stream
            self._on_error(error)

    def _device_stream(self) -> contextlib.AbstractContextManager[object]:
        """On CUDA, a stream of the worker's own, so refined windows never queue behind the streaming steps."""
        device = self._engine.device
        if device.type == "cuda":
            return torch.cuda.stream(torch.cuda.Stream(device))  # type: ignore[no-untyped-call]
        return contextlib.nullcontext()
