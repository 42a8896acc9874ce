"""vda-process-bag --align-topic: the depth_align node's alignment, offline, inside the bag tool.

Sparse messages (a registered depth image, or a PointCloud2 in the camera's optical frame) are kept by
stamp as the bag is read. The offline engine returns a frame's depth about a window after reading it,
so by then the sparse messages recorded around that frame, after it included, have been read: each
depth is paired with the sparse message nearest in stamp within max_time_offset, looking both ways.
Then vda_ros.core.alignment fits it (robust) and filters it over time, exactly as the node does.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from vda_ros.core.alignment import AlignerSettings, DepthAligner
from vda_ros.core.sparse import Extrinsic, SparseSamples, StampedHistory, samples_from_depth_image, samples_from_points
from vda_ros.io.bags import IMAGE_TYPE, POINT_CLOUD_TYPE, BagError, deserialize
from vda_ros.ros.conversions import (
    MessageConversionError,
    camera_info_is_calibrated,
    cloud_to_xyz,
    intrinsics,
    msg_to_metres,
    stamp_ns,
)

SPARSE_TYPES = (IMAGE_TYPE, POINT_CLOUD_TYPE)
MAX_TIME_OFFSET = 0.05
"""Seconds, as the depth_align node's max_time_offset default."""
HISTORY = 64
"""Sparse messages kept: more than the engine's window of look-ahead at camera rate."""
_IDENTITY = Extrinsic(np.zeros(3), np.eye(3))


class BagAlignment:
    """Sparse messages in (as read), metric depth out (as the engine delivers each frame's prediction)."""

    def __init__(self, topic: str, msgtype: str, metric_input: bool) -> None:
        self.topic = topic
        self._points = msgtype == POINT_CLOUD_TYPE
        self._history: StampedHistory[np.ndarray] = StampedHistory(HISTORY)
        self._aligner = DepthAligner(AlignerSettings(metric_input=metric_input))
        self.unaligned = 0
        """Frames without an alignment (before the first good fit, or lost): no metric output for them."""
        self.skipped = 0
        """Sparse messages that could not be read (sizes their data cannot hold, an unknown layout): left out."""
        self._last_skipped = ""

    def add(self, raw: bytes) -> None:
        """Keep one sparse message of the align topic; one that cannot be read is counted and left out, as the node
        does, since the alignment does without a measurement now and then."""
        try:
            if self._points:
                cloud = deserialize(raw, PointCloud2)
                self._history.add(stamp_ns(cloud.header.stamp), cloud_to_xyz(cloud))
            else:
                image = deserialize(raw, Image)
                self._history.add(stamp_ns(image.header.stamp), msg_to_metres(image))
        except MessageConversionError as error:
            self.skipped += 1
            self._last_skipped = str(error)

    def _samples(self, stamp: int, shape: tuple[int, int], info: CameraInfo | None) -> SparseSamples | None:
        measurement = self._history.nearest(stamp, round(MAX_TIME_OFFSET * 1e9))
        if measurement is None:
            return None
        if not self._points:
            return samples_from_depth_image(measurement, shape)
        if info is None or not camera_info_is_calibrated(info):
            raise BagError(f"{self.topic} is a point cloud: projecting it needs a calibrated CameraInfo topic")
        return samples_from_points(measurement, _IDENTITY, intrinsics(info), shape)

    def align(
        self, stamp: int, prediction: np.ndarray, info: CameraInfo | None
    ) -> tuple[np.ndarray | None, SparseSamples | None]:
        """Metric depth (NaN invalid) for the frame stamped `stamp` (ns), or None while there is no alignment, and
        the sparse samples it was fitted to (None: the held alignment), whose residuals the confidence uses.

        info is the depth image's CameraInfo (needed for a point-cloud topic).
        """
        samples = self._samples(stamp, prediction.shape, info)
        depth, _ = self._aligner.align(stamp / 1e9, prediction, samples)
        if depth is None:
            self.unaligned += 1
        return depth, samples

    def warning(self) -> str | None:
        """The summary's note on sparse messages and frames left out, if any."""
        notes = []
        if self.skipped:
            plural = "s" if self.skipped > 1 else ""
            notes.append(
                f"skipped {self.skipped} message{plural} of {self.topic} that could not be read "
                f"(the last: {self._last_skipped})"
            )
        if self.unaligned:
            notes.append(
                f"{self.unaligned} frames had no alignment to {self.topic} (before its first good fit, or "
                "longer than the hold time without one) and were not written"
            )
        return "; ".join(notes) or None
