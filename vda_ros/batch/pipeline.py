"""One bag through the offline engine: images (and camera infos, sparse data, copies) in, every output written.

Memory stays flat however long the bag is. Messages stream from the reader into the engine, which
holds at most a window of frames; each image leaves its header and record time (and its pixels,
when coloured points are wanted) in a FIFO until its depth comes out, at most about one window
later; every output is made by vda_ros.core.outputs, converted by vda_ros.ros.conversions and written as
soon as its depth exists.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

import numpy as np
from rosbags.interfaces import Connection
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from vda_ros.batch.alignment import BagAlignment
from vda_ros.batch.plan import IMAGE_DECODERS, Plan
from vda_ros.batch.settings import BagSettings
from vda_ros.core.colormap import ColorScale, robust_range
from vda_ros.core.depth_quality import ConfidenceCues
from vda_ros.core.outputs import OutputSettings, frame_outputs
from vda_ros.io.bags import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    POINT_CLOUD_TYPE,
    BagError,
    BagWriter,
    RecordedMessage,
    deserialize,
    serialize,
)
from vda_ros.ros.conversions import (
    ImageConversionError,
    bgr_to_msg,
    camera_model,
    depth_camera_info,
    depth_to_msg,
    points_to_cloud,
    stamp_ns,
)

COLOR_RANGE_FRAMES = 24
"""Depth maps that set the automatic colour range: what the offline engine's first window delivers."""
MAX_CAMERA_INFOS = 1000
"""Camera infos kept at most while waiting to be paired; only a bag whose info stamps run far ahead of
its image stamps comes near this."""


class CameraInfoHistory:
    """Camera infos read so far, by header stamp, waiting to be paired with images whose depth comes later.

    Depth leaves the engine a window after its image was read, so an info recorded just after its
    image has usually been read too. A lookup returns the info with the image's stamp, else the latest
    earlier one, and forgets the infos before that one: later images (stamps increase) cannot need them.
    """

    def __init__(self) -> None:
        self._infos: dict[int, CameraInfo] = {}

    def add(self, info: CameraInfo) -> None:
        if len(self._infos) >= MAX_CAMERA_INFOS:
            del self._infos[next(iter(self._infos))]
        self._infos[stamp_ns(info.header.stamp)] = info

    def lookup(self, stamp: int) -> CameraInfo | None:
        earlier = [s for s in self._infos if s <= stamp]
        if not earlier:
            return None
        chosen = max(earlier)
        self._infos = {s: info for s, info in self._infos.items() if s >= chosen}
        return self._infos[chosen]


@dataclass(frozen=True)
class SourceFrame:
    """What an image leaves behind while its depth is computed: enough to stamp (and colour) the outputs."""

    timestamp: int
    header: Header
    rgb: np.ndarray | None


class BagPipeline:
    """One bag through the engine: images (and camera infos and copies) in, every output of each depth out."""

    def __init__(self, writer: BagWriter, plan: Plan, settings: BagSettings, connections: list[Connection]) -> None:
        self._writer = writer
        self._plan = plan
        self._max_pixels = settings.frames.max_image_pixels
        self._metric = settings.model.metric
        self._settings = settings.outputs.replace(publish_points=plan.points)
        self._quality = settings.quality
        self._cues = ConfidenceCues()
        self._pending: deque[SourceFrame] = deque()
        self._infos = CameraInfoHistory()
        self._frame_size: tuple[int, ...] | None = None
        self.warnings: list[str] = []
        self._outputs = self._add_outputs()
        self._alignment = (
            BagAlignment(settings.align_topic, plan.align_type, self._metric) if plan.align_type is not None else None
        )
        read = {plan.image_topic, plan.camera_info_topic, settings.align_topic}
        self.connections = connections if settings.copy_input else [c for c in connections if c.topic in read]
        self._copies = self._add_copies(connections) if settings.copy_input else {}

    def _add_outputs(self) -> dict[str, Connection]:
        outputs = self._plan.outputs
        topics = {outputs.depth: IMAGE_TYPE, outputs.colored: IMAGE_TYPE}
        if self._plan.confidence:
            topics[outputs.confidence] = IMAGE_TYPE
        if self._plan.camera_info_topic is not None:
            topics[outputs.camera_info] = CAMERA_INFO_TYPE
        if self._plan.points:
            topics[outputs.points] = POINT_CLOUD_TYPE
        return {topic: self._writer.add_topic(topic, msgtype) for topic, msgtype in topics.items()}

    def _add_copies(self, connections: list[Connection]) -> dict[int, Connection]:
        """Output connections for the input's, by input connection id; topics that cannot be copied are reported."""
        copies = {}
        for connection in connections:
            if connection.topic in self._outputs:
                self._warn(f"input topic {connection.topic} not copied: this run writes a new one")
            elif (copied := self._writer.add_copy(connection)) is not None:
                copies[connection.id] = copied
            else:
                self._warn(
                    f"input topic {connection.topic} not copied: the bag lacks the definition of {connection.msgtype}"
                )
        return copies

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def frames(self, messages: Iterable[RecordedMessage]) -> Iterator[np.ndarray]:
        """RGB frames of the image topic for the engine; copies and camera infos are handled on the way."""
        for message in messages:
            copied = self._copies.get(message.connection.id)
            if copied is not None:
                self._writer.write(copied, message.timestamp, message.raw)
            if message.connection.topic == self._plan.image_topic:
                yield self._receive_image(message)
            elif message.connection.topic == self._plan.camera_info_topic:
                self._infos.add(deserialize(message.raw, CameraInfo))
            elif self._alignment is not None and message.connection.topic == self._alignment.topic:
                self._alignment.add(message.raw)

    def _receive_image(self, message: RecordedMessage) -> np.ndarray:
        """Decode one image and queue what its outputs will need."""
        message_class, to_rgb = IMAGE_DECODERS[self._plan.image_type]
        where = f"{self._plan.image_topic} message at {message.timestamp} ns"
        try:
            image = deserialize(message.raw, message_class)
            rgb = to_rgb(image, self._max_pixels)
        except (BagError, ImageConversionError) as error:
            raise BagError(f"{where}: {error}") from error
        if self._frame_size is None:
            self._frame_size = rgb.shape
        elif rgb.shape != self._frame_size:
            (height, width), (new_height, new_width) = self._frame_size[:2], rgb.shape[:2]
            raise BagError(f"{where}: image size changed from {width}×{height} to {new_width}×{new_height}")
        self._pending.append(SourceFrame(message.timestamp, image.header, rgb if self._plan.points else None))
        return rgb

    def write(self, depth: np.ndarray, color_scale: ColorScale) -> None:
        """Write every output of the oldest waiting image, whose depth this is.

        Metres lose their flying pixels (with a CameraInfo); the confidence, when written, has the geometry, the
        agreement with the previous frame and, when aligned, the residual against the sparse data near each pixel.
        """
        source = self._pending.popleft()
        outputs = self._plan.outputs
        samples = None
        if self._alignment is not None:
            aligned, samples = self._alignment.align(
                stamp_ns(source.header.stamp), depth, self._peek_info(source, depth)
            )
            if aligned is None:
                return
            depth = aligned
        info = self._infos.lookup(stamp_ns(source.header.stamp)) if self._plan.camera_info_topic else None
        out = frame_outputs(
            source.rgb,
            depth,
            metric=self._metric or self._alignment is not None,
            settings=self._settings,
            camera=camera_model(info) if info is not None else None,
            color_scale=color_scale,
            want_cloud=self._plan.points,
            quality=self._quality,
            want_confidence=self._plan.confidence,
            confidence_factors=self._cues.next_frame(depth, samples),
        )
        self._put(outputs.depth, source, depth_to_msg(out.depth, source.header))
        assert out.colored is not None
        self._put(outputs.colored, source, bgr_to_msg(out.colored, source.header))
        if out.confidence is not None and self._plan.confidence:
            self._put(outputs.confidence, source, depth_to_msg(out.confidence, source.header))
        if info is None:
            return
        height, width = out.depth.shape
        self._put(outputs.camera_info, source, depth_camera_info(info, source.header, width, height))
        if not self._plan.points:
            return
        if out.cloud is None:
            self._warn(
                f"no points where {self._plan.camera_info_topic} is not calibrated or does not fit the "
                f"images: {out.cloud_state}"
            )
            return
        self._put(outputs.points, source, points_to_cloud(out.cloud.xyz, source.header, out.cloud.rgb))

    def _peek_info(self, source: SourceFrame, depth: np.ndarray) -> CameraInfo | None:
        """The CameraInfo of this frame's depth image, for projecting a point-cloud align topic."""
        info = self._infos.lookup(stamp_ns(source.header.stamp)) if self._plan.camera_info_topic else None
        return None if info is None else depth_camera_info(info, source.header, depth.shape[1], depth.shape[0])

    def alignment_warning(self) -> str | None:
        return None if self._alignment is None else self._alignment.warning()

    def _put(self, topic: str, source: SourceFrame, message: Any) -> None:
        self._writer.write(self._outputs[topic], source.timestamp, serialize(message))


def color_range_and_depths(
    depths: Iterator[np.ndarray], settings: OutputSettings
) -> tuple[ColorScale, Iterator[np.ndarray]]:
    """The fixed colour scale for the whole run and the depth stream (unchanged: the first maps are only looked at)."""
    low, high, _ = settings.color_range
    if low is not None and high is not None:
        return ColorScale(low, high), depths
    first = list(islice(depths, COLOR_RANGE_FRAMES))
    ranges = [r for r in map(robust_range, first) if r is not None]
    low, high = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges)) if ranges else (0.0, 1.0)
    return ColorScale(low, high), chain(first, depths)
