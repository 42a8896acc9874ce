"""vda-eval's run, and the sequence it evaluates from a rosbag2 recording: predicted depth, a depth camera's, poses.

Predicted and reference depth come from different topics (and often different sensors), so each
prediction is paired with the reference frame nearest in header stamp within max_time_offset;
predictions without one are skipped and counted. Poses (for TAE) come from nav_msgs/Odometry or
geometry_msgs/PoseStamped and are taken as the camera optical frame's pose in a fixed world frame;
intrinsics from a CameraInfo topic, scaled to the reference depth's size. Arrays in files are read by
vda_ros.io.eval_files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CameraInfo, Image

from vda_ros.core.geometry import quaternion_matrix, scale_intrinsics
from vda_ros.core.metrics import EvalSettings, Metrics, about, check_intrinsics, check_poses, evaluate
from vda_ros.core.sparse import StampedHistory
from vda_ros.io.bags import BagError, deserialize, open_bag, read_messages, topic_types
from vda_ros.io.eval_files import score_files, write_scores
from vda_ros.ros.conversions import ImageConversionError, msg_to_depth, msg_to_metres, stamp_ns

POSE_TYPES = ("nav_msgs/msg/Odometry", "geometry_msgs/msg/PoseStamped")
_TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
"""nav_msgs has no rclpy wheel here; rosbags' own type store reads the pose messages."""


@dataclass(frozen=True)
class BagSequence:
    prediction: np.ndarray
    truth: np.ndarray
    poses: np.ndarray | None
    intrinsics: np.ndarray | None
    skipped: int
    """Predictions without a reference frame (or pose) within max_time_offset."""


def _pose_matrix(message: object) -> np.ndarray:
    """The 4x4 camera-to-world matrix of an Odometry's or PoseStamped's pose."""
    pose = message.pose.pose if hasattr(message.pose, "pose") else message.pose  # type: ignore[attr-defined]
    matrix = np.eye(4)
    q = pose.orientation
    matrix[:3, :3] = quaternion_matrix(q.x, q.y, q.z, q.w)
    matrix[:3, 3] = (pose.position.x, pose.position.y, pose.position.z)
    return matrix


def _check_topic(types: dict[str, str], topic: str, allowed: tuple[str, ...], what: str) -> None:
    if topic not in types:
        listing = ", ".join(sorted(name for name, kind in types.items() if kind in allowed)) or "none"
        raise BagError(f"{what} topic {topic} is not in the bag; {' or '.join(allowed)} topics: {listing}")
    if types[topic] not in allowed:
        raise BagError(f"{what} topic {topic} has type {types[topic]}, expected {' or '.join(allowed)}")


def read_bag_sequence(
    path: Path,
    pred_topic: str,
    gt_topic: str,
    max_time_offset: float,
    pose_topic: str = "",
    camera_info_topic: str = "",
) -> BagSequence:
    """Paired (T, H, W) predictions and reference depths (metres, NaN invalid), with poses and K when asked for."""
    image_type = ("sensor_msgs/msg/Image",)
    with open_bag(path) as reader:
        types = topic_types(reader)
        _check_topic(types, pred_topic, image_type, "prediction")
        _check_topic(types, gt_topic, image_type, "ground-truth")
        if pose_topic:
            _check_topic(types, pose_topic, POSE_TYPES, "pose")
            if not camera_info_topic:
                raise BagError("TAE from a bag needs the CameraInfo topic of the depth (--camera-info-topic)")
            _check_topic(types, camera_info_topic, ("sensor_msgs/msg/CameraInfo",), "CameraInfo")
        wanted = {pred_topic, gt_topic, pose_topic, camera_info_topic} - {""}
        predictions: list[tuple[int, np.ndarray]] = []
        truths: StampedHistory[np.ndarray] = StampedHistory(capacity=None)
        poses: StampedHistory[np.ndarray] = StampedHistory(capacity=None)
        info: CameraInfo | None = None
        for message in read_messages(reader, [c for c in reader.connections if c.topic in wanted]):
            topic = message.connection.topic
            try:
                if topic == pred_topic:
                    image = deserialize(message.raw, Image)
                    predictions.append((stamp_ns(image.header.stamp), msg_to_depth(image)))
                elif topic == gt_topic:
                    image = deserialize(message.raw, Image)
                    truths.add(stamp_ns(image.header.stamp), msg_to_metres(image))
                elif topic == pose_topic:
                    pose: Any = _TYPESTORE.deserialize_cdr(message.raw, message.connection.msgtype)
                    poses.add(stamp_ns(pose.header.stamp), _pose_matrix(pose))
                elif info is None:
                    info = deserialize(message.raw, CameraInfo)
            except (ImageConversionError, ValueError) as error:  # ValueError: a zero or NaN quaternion
                raise BagError(f"{topic} message at {message.timestamp} ns: {error}") from error
    offset = round(max_time_offset * 1e9)
    kept, skipped = [], 0
    for stamp, prediction in predictions:
        truth = truths.nearest(stamp, offset)
        pose = poses.nearest(stamp, offset) if pose_topic else None
        if truth is None or (pose_topic and pose is None):
            skipped += 1
            continue
        kept.append((prediction, truth, pose))
    if not kept:
        raise BagError(
            f"no {pred_topic} message has a {gt_topic} message{' and a pose' if pose_topic else ''} "
            f"within {max_time_offset} s ({len(predictions)} predictions read)"
        )
    shapes = {p.shape for p, _, _ in kept}, {t.shape for _, t, _ in kept}
    if len(shapes[0]) > 1 or len(shapes[1]) > 1:
        raise BagError("the image size changes within the recording; evaluate each part on its own")
    truth_stack = np.stack([t for _, t, _ in kept])
    pose_stack = intrinsics = None
    if pose_topic:
        if info is None:
            raise BagError(f"no message on {camera_info_topic}")
        with about(f"pose topic {pose_topic}"):
            pose_stack = check_poses(np.stack([p for _, _, p in kept if p is not None]), len(kept))
        intrinsics = np.reshape(info.k, (3, 3))
        height, width = truth_stack.shape[1:]
        if info.width and info.height:
            intrinsics = scale_intrinsics(intrinsics, (info.width, info.height), (width, height))
        with about(f"CameraInfo topic {camera_info_topic}"):
            check_intrinsics(intrinsics, len(kept))
    return BagSequence(
        prediction=np.stack([p for p, _, _ in kept]),
        truth=np.nan_to_num(truth_stack, nan=0.0),
        poses=pose_stack,
        intrinsics=intrinsics,
        skipped=skipped,
    )


def score_bag(settings: EvalSettings) -> tuple[Metrics, list[str]]:
    """The scores of the recording the settings name, and a note when predictions had no reference."""
    offset = settings.pairing.max_time_offset
    sequence = read_bag_sequence(
        Path(settings.bag),
        settings.pred_topic,
        settings.gt_topic,
        offset,
        settings.odom_topic,
        settings.camera_info_topic,
    )
    notes = [f"{sequence.skipped} predictions had no reference within {offset} s"] if sequence.skipped else []
    metrics = evaluate(
        sequence.prediction,
        sequence.truth,
        settings.align,
        settings.min_depth,
        settings.max_depth,
        settings.crop_box,
        poses=sequence.poses,
        intrinsics=sequence.intrinsics,
    )
    return metrics, notes


def run_evaluation(settings: EvalSettings) -> str:
    """vda-eval's whole run: score the recording or the arrays, write the JSON if asked; the report to print."""
    metrics, notes = score_bag(settings) if settings.bag else (score_files(settings), [])
    if settings.json:
        write_scores(Path(settings.json), settings.align, metrics)
    return "\n".join([metrics.table(settings.align), *(f"note: {note}" for note in notes)])
