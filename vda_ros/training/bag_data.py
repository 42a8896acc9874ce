"""Training sequences from rosbag2 bags: an image topic paired by header stamp with ground-truth depth.

Ground truth is a depth camera's image aligned to the colour camera (16UC1/mono16 in millimetres, or 32FC1
in metres), or a LiDAR PointCloud2 projected into the image through the colour camera's CameraInfo (points
in the camera optical frame, or moved there by a fixed LiDAR→camera transform).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from vda_ros.core.geometry import mask_depth_range, render_depth
from vda_ros.core.sparse import StampedHistory
from vda_ros.io.bags import (
    CAMERA_INFO_TYPE,
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    POINT_CLOUD_TYPE,
    BagError,
    deserialize,
    open_bag,
    read_messages,
    topic_types,
)
from vda_ros.ros.conversions import (
    ImageConversionError,
    camera_info_is_calibrated,
    cloud_to_xyz,
    compressed_to_rgb,
    image_to_rgb,
    intrinsics,
    msg_to_metres,
    stamp_ns,
)
from vda_ros.training.data import DEFAULT_DEPTH_SCALE, DataError, Sequence, working_pair, working_rgb

_IMAGE_CLASSES = {IMAGE_TYPE: Image, COMPRESSED_IMAGE_TYPE: CompressedImage}


@dataclass(frozen=True)
class BagSource:
    """Where a bag's training pairs are: topics, units, pairing tolerance and the LiDAR→camera transform."""

    path: Path
    image_topic: str
    depth_topic: str
    camera_info_topic: str | None = None
    depth_scale: float = DEFAULT_DEPTH_SCALE
    max_time_offset_ns: int = 20_000_000
    """Image and ground truth pair when their stamps differ by at most this (the nearest one, either way)."""
    lidar_to_camera: np.ndarray | None = None
    """4×4 transform of LiDAR points into the camera optical frame; None: the cloud already is in it."""


def transform_from_pose(values: tuple[float, ...]) -> np.ndarray:
    """4×4 matrix from 'x y z qx qy qz qw' (the order of tf2's static_transform_publisher)."""
    if len(values) != 7:
        raise DataError(f"a transform is 7 numbers 'x y z qx qy qz qw', got {len(values)}")
    x, y, z, qx, qy, qz, qw = values
    norm = np.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
    if norm == 0:
        raise DataError("the transform's quaternion is zero")
    qx, qy, qz, qw = qx / norm, qy / norm, qz / norm, qw / norm
    matrix = np.eye(4)
    matrix[:3, :3] = [
        [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
        [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
        [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
    ]
    matrix[:3, 3] = [x, y, z]
    return matrix


def _checked_topic(types: dict[str, str], topic: str, allowed: tuple[str, ...], path: Path) -> str:
    if topic not in types:
        raise DataError(f"{path} has no topic {topic}; its topics: {', '.join(sorted(types)) or 'none'}")
    if types[topic] not in allowed:
        raise DataError(f"{topic} in {path} is {types[topic]}, expected {' or '.join(allowed)}")
    return types[topic]


class _Depth:
    """Turns one ground-truth message into metres at the image's pixel grid."""

    def __init__(self, source: BagSource, cloud: bool, info: CameraInfo | None) -> None:
        self.source, self.cloud, self.info = source, cloud, info

    def __call__(self, raw: bytes, image_shape: tuple[int, int]) -> np.ndarray:
        if not self.cloud:
            return mask_depth_range(msg_to_metres(deserialize(raw, Image), self.source.depth_scale))
        assert self.info is not None
        xyz = cloud_to_xyz(deserialize(raw, PointCloud2)).reshape(-1, 3).astype(np.float64)
        if self.source.lidar_to_camera is not None:
            xyz = xyz @ self.source.lidar_to_camera[:3, :3].T + self.source.lidar_to_camera[:3, 3]
        fx, fy, cx, cy = intrinsics(self.info)
        scale_x, scale_y = image_shape[1] / self.info.width, image_shape[0] / self.info.height
        return render_depth(xyz, fx * scale_x, fy * scale_y, cx * scale_x, cy * scale_y, image_shape[1], image_shape[0])


def _camera_info(reader: Reader, topic: str, path: Path) -> CameraInfo:
    """The first calibrated CameraInfo on the topic (intrinsics of a fixed camera do not change)."""
    connections = [c for c in reader.connections if c.topic == topic]
    for message in read_messages(reader, connections):
        info = deserialize(message.raw, CameraInfo)
        if camera_info_is_calibrated(info):
            return info
    raise DataError(f"{path}: no calibrated CameraInfo on {topic}, which projecting a LiDAR cloud needs")


def bag_sequence(source: BagSource, shorter_side: int) -> Sequence:
    """All image/ground-truth pairs of a bag, in stamp order, at the working resolution.

    Images are shrunk as they are read; ground-truth messages are kept as bytes until pairing is known.
    """
    path = source.path
    try:
        with open_bag(path) as reader:
            types = topic_types(reader)
            image_type = _checked_topic(types, source.image_topic, tuple(_IMAGE_CLASSES), path)
            depth_type = _checked_topic(types, source.depth_topic, (IMAGE_TYPE, POINT_CLOUD_TYPE), path)
            cloud = depth_type == POINT_CLOUD_TYPE
            info = None
            if cloud:
                info_topic = source.camera_info_topic or source.image_topic.rsplit("/", 1)[0] + "/camera_info"
                _checked_topic(types, info_topic, (CAMERA_INFO_TYPE,), path)
                info = _camera_info(reader, info_topic, path)
            convert_depth = _Depth(source, cloud, info)
            image_class = _IMAGE_CLASSES[image_type]
            wanted = [c for c in reader.connections if c.topic in (source.image_topic, source.depth_topic)]
            images: dict[int, np.ndarray] = {}
            depth_raw: dict[int, bytes] = {}
            for message in read_messages(reader, wanted):
                if message.connection.topic == source.image_topic:
                    image = deserialize(message.raw, image_class)
                    rgb = image_to_rgb(image) if image_class is Image else compressed_to_rgb(image)
                    images[stamp_ns(image.header.stamp)] = working_rgb(rgb, shorter_side)
                else:
                    depth_raw[_header_stamp(message.raw, depth_type)] = message.raw
            truths: StampedHistory[bytes] = StampedHistory(capacity=None)
            for stamp in sorted(depth_raw):
                truths.add(stamp, depth_raw[stamp])
            sequence = Sequence(f"{path}:{source.image_topic}", [], [])
            for stamp in sorted(images):
                raw = truths.nearest(stamp, source.max_time_offset_ns)
                if raw is None:
                    continue
                rgb, depth = working_pair(images[stamp], convert_depth(raw, images[stamp].shape[:2]), shorter_side)
                sequence.rgb.append(rgb)
                sequence.depth.append(depth)
    except DataError:
        raise
    except (BagError, ImageConversionError, ValueError) as error:
        raise DataError(f"{path}: {error}") from error
    if not sequence.rgb:
        raise DataError(
            f"{path}: no {source.image_topic} image has a {source.depth_topic} message within "
            f"{source.max_time_offset_ns / 1e6:g} ms of its stamp"
        )
    return sequence


def _header_stamp(raw: bytes, msgtype: str) -> int:
    message_class = Image if msgtype == IMAGE_TYPE else PointCloud2
    return stamp_ns(deserialize(raw, message_class).header.stamp)
