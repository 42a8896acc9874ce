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
from typing import TypeAlias

from rclpy.exceptions import InvalidNamespaceException
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription
from rclpy.validate_namespace import validate_namespace
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from vda_ros.core.depth_quality import ConfidenceCues
from vda_ros.core.outputs import CLOUD_WAITING, LiveColorScale
from vda_ros.ros.diagnostics import LatencyWindow, RateMeter, format_ms
from vda_ros.ros.stream_state import CameraInfoCache, ProblemLog, StreamContinuity

ImageMessage: TypeAlias = Image | CompressedImage


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
        self._subscriptions: list[Subscription] = []

        self.camera_infos = CameraInfoCache()
        self.continuity = StreamContinuity()
        self.colors = LiveColorScale()
        self.cues = ConfidenceCues()
        self.problems = ProblemLog(node.get_logger().warning)
        self.reset_requested = threading.Event()
        self.counts = {
            "received": 0,
            "processed": 0,
            "dropped": 0,
            "failed": 0,
            "resets": 0,
            "colored skipped": 0,
            "confidence skipped": 0,
            "points skipped": 0,
        }
        self.failures = 0
        """Frames that failed in the inference step since the last one that did not."""
        self.last_failure = ""
        self.last_reset = "-"
        self.cloud_state = CLOUD_WAITING
        self.problems_at_last_report = 0
        self.input_rate, self.output_rate = RateMeter(), RateMeter()
        self.inference_time, self.end_to_end = LatencyWindow(), LatencyWindow()

    def create_publishers(self, node: Node, qos: QoSProfile) -> None:
        types = {"depth": Image, "info": CameraInfo, "colored": Image, "confidence": Image, "points": PointCloud2}
        self.publishers = {
            name: node.create_publisher(types[name], topic, qos) for name, topic in self._output_topics.items()
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
        }
