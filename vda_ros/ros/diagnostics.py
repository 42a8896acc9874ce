"""What the nodes report on /diagnostics: how often, the statistics behind it, and the message itself.

The statistics (event rates, latency percentiles) are recorded by a worker thread while the executor's timer
reads them, so every structure here takes a lock; each keeps a bounded window so memory does not grow with
uptime.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.publisher import Publisher

from vda_ros.core.options import Settings, option
from vda_ros.ros.publishing import try_publish


@dataclass(frozen=True)
class DiagnosticsSettings(Settings):
    """How often a node reports on /diagnostics."""

    diagnostics_period: float = option(1.0, "Seconds between /diagnostics messages.", float_range=(0.1, 60.0))


class RateMeter:
    """Events per second over the last `window` seconds (monotonic clock)."""

    def __init__(self, window: float = 5.0) -> None:
        self._window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._times.append(time.monotonic())
            self._forget_old(self._times[-1])

    def rate(self) -> float:
        """Events per second; 0 with fewer than two events in the window."""
        now = time.monotonic()
        with self._lock:
            self._forget_old(now)
            if len(self._times) < 2:
                return 0.0
            span = now - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _forget_old(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class LatencyWindow:
    """The last `size` durations in seconds, summarised as percentiles in milliseconds."""

    def __init__(self, size: int = 100) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._samples.append(seconds)

    def percentiles_ms(self, *percents: float) -> list[float] | None:
        """The requested percentiles in milliseconds, or None before the first sample."""
        with self._lock:
            samples = list(self._samples)
        if not samples:
            return None
        return [float(v) * 1e3 for v in np.percentile(samples, percents)]


def format_ms(values: list[float] | None, index: int) -> str:
    """One percentile from percentiles_ms as text, '-' when there are no samples yet."""
    return "-" if values is None else f"{values[index]:.1f}"


def diagnostic_status(
    name: str, hardware_id: str, level: bytes, message: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """A DiagnosticStatus whose key/values are the given items as text, in order."""
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=key, value=str(value)) for key, value in values.items()],
    )


def publish_diagnostics(node: Node, publisher: Publisher, statuses: Sequence[DiagnosticStatus]) -> str | None:
    """Publish the statuses as one DiagnosticArray stamped now; the problem if it could not go out (see try_publish)."""
    array = DiagnosticArray(status=list(statuses))
    array.header.stamp = node.get_clock().now().to_msg()
    return try_publish(publisher, array)
