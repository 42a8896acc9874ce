"""Small rosbag2 bags for the bag tool's tests and benchmark, made and read back with rosbags alone.

Messages are built and serialised with rosbags' own type store and CDR code, not with rclpy, so the
tests also show that the tool (which deserialises with rclpy) agrees with another implementation in
both directions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from ruamel.yaml import YAML

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
T = TYPESTORE.types

IMAGE_TOPIC = "/cam/image_raw"
CAMERA_INFO_TOPIC = "/cam/camera_info"
CHATTER_TOPIC = "/chatter"
FRAME_ID = "cam_optical"
START_NS = 1_700_000_000 * 10**9
PERIOD_NS = 33_333_333
CAMERA_LATENCY_NS = 2_000_000
"""Header stamps are this much earlier than record times, so tests can tell the two apart."""
INFO_DELAY_NS = 1_000_000
"""Each CameraInfo is recorded this much after its image, as drivers publish them: pairing must look ahead."""
FOCAL = 50.0


def synthetic_frame(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A deterministic RGB uint8 frame: smooth gradients and a square that moves with the index."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin((x + 3 * index) / 7)], axis=-1)
    side = max(4, height // 4)
    left = (5 * index) % max(1, width - side)
    frame[height // 3 : height // 3 + side, left : left + side] = (250, 40, 40)
    return np.clip(frame, 0, 255).astype(np.uint8)


def synthetic_frames(count: int, width: int = 64, height: int = 48) -> Iterator[np.ndarray]:
    return (synthetic_frame(i, width, height) for i in range(count))


def _header(stamp_ns: int) -> Any:
    stamp = T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id=FRAME_ID)


def _image(rgb: np.ndarray, stamp_ns: int, image_format: str) -> Any:
    """One frame as an Image ('rgb8', 'bgr8', or an unsupported '16UC1') or a CompressedImage ('png', 'jpeg')."""
    header = _header(stamp_ns)
    if image_format in ("png", "jpeg"):
        ok, encoded = cv2.imencode(f".{image_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        return T["sensor_msgs/msg/CompressedImage"](header=header, format=image_format, data=encoded.ravel())
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if image_format == "bgr8" else rgb
    height, width = rgb.shape[:2]
    return T["sensor_msgs/msg/Image"](
        header=header,
        height=height,
        width=width,
        encoding=image_format,
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(pixels).ravel(),
    )


def camera_info(stamp_ns: int, width: int, height: int, calibrated: bool = True) -> Any:
    """A pinhole CameraInfo (or an uncalibrated one: zero K and size, as drivers without calibration send)."""
    k = np.array([FOCAL, 0, width / 2, 0, FOCAL, height / 2, 0, 0, 1], dtype=np.float64)
    p = np.array([FOCAL, 0, width / 2, 0, 0, FOCAL, height / 2, 0, 0, 0, 1, 0], dtype=np.float64)
    scale = 1.0 if calibrated else 0.0
    roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return T["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp_ns),
        height=height if calibrated else 0,
        width=width if calibrated else 0,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k * scale,
        r=np.eye(3).ravel(),
        p=p * scale,
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


@dataclass
class TestBag:
    """What a generated bag holds, for comparing the tool's output against."""

    path: Path
    image_topic: str
    record_times: list[int] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)


def write_test_bag(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    storage: str = "mcap",
    image_format: str = "rgb8",
    info: str | None = "calibrated",
    chatter: bool = False,
    image_topic: str = IMAGE_TOPIC,
    version: int = 8,
    bad_frame: int | None = None,
) -> TestBag:
    """Write frames as an image topic, with CameraInfo ('calibrated', 'uncalibrated' or None) and optional chatter.

    A compressed image_format publishes on <image_topic>/compressed, as image_transport does. Frame
    number bad_frame, if given, is written with the unsupported encoding 16UC1 (raw formats only).
    """
    compressed = image_format in ("png", "jpeg")
    topic = f"{image_topic}/compressed" if compressed else image_topic
    bag = TestBag(path, topic)
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    with Writer(path, version=version, storage_plugin=plugin) as writer:  # type: ignore[arg-type]
        connections: dict[str, Any] = {}

        def put(topic: str, timestamp: int, message: Any) -> None:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, message.__msgtype__, typestore=TYPESTORE)
            writer.write(connections[topic], timestamp, TYPESTORE.serialize_cdr(message, message.__msgtype__))

        for index, rgb in enumerate(frames):
            record = START_NS + index * PERIOD_NS
            stamp = record - CAMERA_LATENCY_NS
            put(topic, record, _image(rgb, stamp, "16UC1" if index == bad_frame else image_format))
            if info:
                height, width = rgb.shape[:2]
                put(CAMERA_INFO_TOPIC, record + INFO_DELAY_NS, camera_info(stamp, width, height, info == "calibrated"))
            if chatter:
                put(CHATTER_TOPIC, record + 1, T["std_msgs/msg/String"](data=f"frame {index}"))
            bag.record_times.append(record)
            bag.stamps.append(stamp)
    return bag


@contextmanager
def message_writer(path: Path) -> Iterator[Callable[[str, int, Any], None]]:
    """An MCAP bag (format 8) and its put(topic, record time ns, rosbags message): each topic's connection
    is added when the topic is first written."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:  # type: ignore[arg-type]
        connections: dict[str, Any] = {}

        def put(topic: str, timestamp: int, message: Any) -> None:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, message.__msgtype__, typestore=TYPESTORE)
            writer.write(connections[topic], timestamp, TYPESTORE.serialize_cdr(message, message.__msgtype__))

        yield put


def write_multi_camera_bag(path: Path, frames: int, namespaces: tuple[str, ...] = ("/left", "/right")) -> Path:
    """A bag with one rgb8 image topic and one calibrated CameraInfo per camera namespace, cameras interleaved.

    Camera k sees the synthetic sequence shifted by k frames, so the cameras' depths differ.
    """
    with message_writer(path) as put:
        for index in range(frames):
            for camera, namespace in enumerate(namespaces):
                record = START_NS + index * PERIOD_NS + camera * 1000
                stamp = record - CAMERA_LATENCY_NS
                rgb = synthetic_frame(index + camera)
                height, width = rgb.shape[:2]
                put(f"{namespace}/image_raw", record, _image(rgb, stamp, "rgb8"))
                put(f"{namespace}/camera_info", record, camera_info(stamp, width, height))
    return path


def read_bag(path: Path) -> dict[str, list[tuple[int, Any]]]:
    """Topic → [(record time, message deserialised by rosbags)] in record order."""
    topics: dict[str, list[tuple[int, Any]]] = {}
    with Reader(path) as reader:
        for connection in reader.connections:
            topics.setdefault(connection.topic, [])
        for connection, timestamp, raw in reader.messages():
            topics[connection.topic].append((timestamp, TYPESTORE.deserialize_cdr(raw, connection.msgtype)))
    return topics


def read_raw(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    """Topic → [(record time, CDR bytes)] in record order, for comparing copies byte for byte."""
    with Reader(path) as reader:
        topics: dict[str, list[tuple[int, bytes]]] = {c.topic: [] for c in reader.connections}
        for connection, timestamp, raw in reader.messages():
            topics[connection.topic].append((timestamp, bytes(raw)))
    return topics


def topic_types(path: Path) -> dict[str, str]:
    with Reader(path) as reader:
        return {connection.topic: connection.msgtype for connection in reader.connections}


def bag_metadata(path: Path) -> dict[str, Any]:
    """The rosbag2_bagfile_information mapping of a bag's metadata.yaml."""
    return YAML(typ="safe").load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def stamp_ns(header: Any) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec
