"""One camera served by depth_node: its topics, publishers, subscriptions and everything it keeps between frames.

The node serves one camera (its own relative topics, as a node per camera always did) or several
(`cameras` parameter: each camera's topics under its namespace). Everything that belongs to one camera
lives here so that cameras never share state: the CameraInfo pairing, the continuity checks and resets,
the colour range, the previous frame its confidence compares with, the counters and the statistics its
diagnostics report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from rclpy.exceptions import InvalidNamespaceException
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription
from rclpy.validate_namespace import validate_namespace
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from vda_ros.core.depth_quality import ConfidenceCues
from vda_ros.core.outputs import CLOUD_WAITING, LiveColorScale
from vda_ros.model import RefinedStream
from vda_ros.ros.diagnostics import LatencyWindow, RateMeter, format_ms
from vda_ros.ros.stream_state import CameraInfoCache, ProblemLog, StreamContinuity

ImageMessage: TypeAlias = Image | CompressedImage

REFINED = "refined/"
"""Namespace of the refined outputs under a camera's: refined/depth/image, refined/depth/camera_info, refined/points."""
REFINED_OUTPUTS = ("depth", "info", "points")
"""The live outputs the refined stream mirrors."""


@dataclass(frozen=True)
class RefinedFrame:
    """What the refined output of a frame needs besides its depth: the frame's header, image and intrinsics."""

    header: Header
    rgb: np.ndarray
    info: CameraInfo | None


def camera_name_problem(camera: str) -> str | None:
    """Why `camera` cannot name a camera namespace ('has space', '', '~/x'), or None when it can.

    A camera is a namespace, absolute ('/front') or relative to the node's ('front'); a trailing '/' is
    allowed. Private ('~/x') and substituted ('{node}') names are not namespaces.
    """
    name = camera.rstrip("/")
    if not name:
        return "a camera needs a namespace name, such as '/front'"
    try:
        validate_namespace(name if name.startswith("/") else f"/{name}")
    except InvalidNamespaceException as error:
        # rclpy's message is three lines (the name with a caret under the fault): its first line says why.
        return str(error).splitlines()[0].removeprefix("Invalid namespace: ").rstrip(":")
    return None


def camera_prefix(camera: str) -> str:
    """Topic prefix of a camera namespace: '' for the node's own topics, else 'front/' or '/front/'."""
    return f"{camera.rstrip('/')}/" if camera else ""


def reset_service_name(camera: str) -> str:
    """The per-camera reset service, private to the node: ~/front/reset for camera '/front' or 'front'."""
    return f"~/{camera.strip('/')}/reset"


class CameraStream:
    """The state, topics and statistics of one camera."""

    def __init__(self, node: Node, camera: str, metric: bool, compressed: bool) -> None:
        self.camera = camera
        prefix = camera_prefix(camera)
        image = node.resolve_topic_name(prefix + "image")
        self.image_topic = image + "/compressed" if compressed else image
        self.image_type: type = CompressedImage if compressed else Image
        self.info_topic = prefix + "camera_info"
        # A relative model's values are not metres: they never go on the metric topic.
        self._output_topics = {
            "depth": prefix + ("depth/image" if metric else "depth/relative"),
            "info": prefix + "depth/camera_info",
            "colored": prefix + "depth/colored",
            "confidence": prefix + "depth/confidence",
            "points": prefix + "points",
        }
        self.publishers: dict[str, Publisher] = {}
        """Live outputs by name ('depth', 'points', ...); with refined depth, also 'refined depth' and so on."""
        self.refined: RefinedStream[RefinedFrame] | None = None
        """The windowed engine behind this camera's stream, while active with refined depth."""
        self.refined_rate = RateMeter()
        self.refined_failures_reported = 0
        self._subscriptions: list[Subscription] = []

        self.camera_infos = CameraInfoCache()
        self.continuity = StreamContinuity()
        self.colors = LiveColorScale()
        self.cues = ConfidenceCues()
        self.problems = ProblemLog(node.get_logger().warning)
        self.reset_requested = threading.Event()
        self.refined_end_requested = threading.Event()
        """A reset service was called: the refined stream ends now, not at the next frame."""
        self.counts = {
            "received": 0,
            "processed": 0,
            "dropped": 0,
            "failed": 0,
            "resets": 0,
            "colored skipped": 0,
            "confidence skipped": 0,
            "points skipped": 0,
            "refined points skipped": 0,
        }
        self.failures = 0
        """Frames that failed in the inference step since the last one that did not."""
        self.last_failure = ""
        self.last_reset = "-"
        self.cloud_state = CLOUD_WAITING
        self.problems_at_last_report = 0
        self.input_rate, self.output_rate = RateMeter(), RateMeter()
        self.inference_time, self.end_to_end = LatencyWindow(), LatencyWindow()

    def create_publishers(self, node: Node, qos: QoSProfile, refined: bool) -> None:
        """The live outputs, and with `refined` the refined ones under refined/ (the same names below it)."""
        types = {"depth": Image, "info": CameraInfo, "colored": Image, "confidence": Image, "points": PointCloud2}
        topics = dict(self._output_topics)
        if refined:
            prefix = camera_prefix(self.camera)
            topics |= {
                f"refined {name}": prefix + REFINED + topics[name].removeprefix(prefix) for name in REFINED_OUTPUTS
            }
        self.publishers = {
            name: node.create_publisher(types[name.removeprefix("refined ")], topic, qos)
            for name, topic in topics.items()
        }

    def destroy_publishers(self, node: Node) -> None:
        for publisher in self.publishers.values():
            node.destroy_publisher(publisher)
        self.publishers = {}

    def subscribe(self, node: Node, qos: QoSProfile, on_image: Callable[[CameraStream, ImageMessage], None]) -> None:
        """Listen to the camera's image (raw or compressed) and camera_info."""
        self._subscriptions = [
            node.create_subscription(CameraInfo, self.info_topic, self.camera_infos.add, qos),
            node.create_subscription(self.image_type, self.image_topic, lambda msg: on_image(self, msg), qos),
        ]

    def unsubscribe(self, node: Node) -> None:
        for subscription in self._subscriptions:
            node.destroy_subscription(subscription)
        self._subscriptions = []

    def wanted(self, output: str) -> bool:
        """Whether anybody listens to a derived output; counted when nobody does (it is then not computed)."""
        if self.publishers[output].get_subscription_count() > 0:
            return True
        self.counts[f"{output} skipped"] += 1
        return False

    def refined_values(self) -> dict[str, object]:
        """The refined stream's statistics for /diagnostics (empty without refined depth)."""
        if self.refined is None:
            return {}
        stats, delays = self.refined.stats, self.refined.recent_delays()
        frames = np.percentile([d[0] for d in delays], (50, 95)) if delays else None
        seconds = np.percentile([d[1] for d in delays], (50, 95)) if delays else None
        return {
            "refined rate (Hz)": f"{self.refined_rate.rate():.2f}",
            "refined delay median (frames)": "-" if frames is None else f"{frames[0]:.0f}",
            "refined delay p95 (frames)": "-" if frames is None else f"{frames[1]:.0f}",
            "refined delay median (s)": "-" if seconds is None else f"{seconds[0]:.3f}",
            "refined delay p95 (s)": "-" if seconds is None else f"{seconds[1]:.3f}",
            "refined frames pending": stats.pending,
            "refined frames published": stats.delivered,
            "refined frames dropped (behind)": stats.dropped,
            "refined segments cut (behind)": stats.cuts,
            "refined segments ended by timeout": stats.timeouts,
            "refined frames failed": stats.failed,
            "refined last failure": stats.last_failure or "-",
            "refined points not computed (no subscriber)": self.counts["refined points skipped"],
        }

    def diagnostic_values(self, model_name: str) -> dict[str, object]:
        inference = self.inference_time.percentiles_ms(50, 95)
        end_to_end = self.end_to_end.percentiles_ms(50, 95)
        return {
            "model": model_name,
            "input topic": self.image_topic,
            "input rate (Hz)": f"{self.input_rate.rate():.2f}",
            "output rate (Hz)": f"{self.output_rate.rate():.2f}",
            "inference latency median (ms)": format_ms(inference, 0),
            "inference latency p95 (ms)": format_ms(inference, 1),
            "end-to-end latency median (ms)": format_ms(end_to_end, 0),
            "end-to-end latency p95 (ms)": format_ms(end_to_end, 1),
            "frames received": self.counts["received"],
            "frames processed": self.counts["processed"],
            "frames dropped": self.counts["dropped"],
            "frames failed": self.counts["failed"],
            "last failure": self.last_failure or "-",
            "stream resets": self.counts["resets"],
            "last reset reason": self.last_reset,
            "bad inputs": self.problems.count,
            "last bad input": self.problems.last or "-",
            "point cloud": self.cloud_state,
            "colored not computed (no subscriber)": self.counts["colored skipped"],
            "confidence not computed (no subscriber)": self.counts["confidence skipped"],
            "points not computed (no subscriber)": self.counts["points skipped"],
            **self.refined_values(),
        }
