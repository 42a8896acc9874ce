"""depth_node: live, temporally consistent depth from one camera stream.

The path of one frame: Image (or CompressedImage) -> RGB array -> StreamingDepth.step ->
32FC1 depth, colourised depth, CameraInfo scaled to the depth size, PointCloud2. This module
only wires the pieces together and owns the threading: the subscription drops each image into
a one-frame slot and returns at once, and a worker thread runs the model on whatever is newest,
so a camera faster than the model costs dropped frames, never a growing delay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from vda_ros.media import scaled_size
from vda_ros.model import (
    ENCODERS,
    CheckpointError,
    StreamingDepth,
    default_checkpoint,
    open_model,
    select_device,
)
from vda_ros.nodes.diagnostics import LatencyWindow, RateMeter, diagnostic_status, format_ms
from vda_ros.nodes.node_main import run_node
from vda_ros.nodes.params import ParameterSpec, ParameterTable, ParameterValue
from vda_ros.nodes.qos import RELIABILITIES, qos_profile
from vda_ros.nodes.stream_state import CameraInfoCache, LatestSlot, ProblemLog, StreamContinuity
from vda_ros.pipeline import CLOUD_WAITING, LiveColorScale, OutputSettings, frame_outputs
from vda_ros.ros_conversions import (
    ImageConversionError,
    bgr_to_msg,
    camera_model,
    compressed_to_rgb,
    depth_camera_info,
    depth_to_msg,
    image_to_rgb,
    points_to_cloud,
    stamp_ns,
)

NODE_NAME = "depth_node"
RELIABILITY_CHOICES = tuple(RELIABILITIES)

RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS (random_weights:=true): smoke-test mode, every depth map, colour image and point "
    "cloud this node publishes is MEANINGLESS. Set a checkpoint for real depth."
)

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("checkpoint", "", "Checkpoint file (.pth). Empty: the official file name for encoder and "
                  "metric in $VDA_CHECKPOINT_DIR, else ./checkpoints (vda-download-weights puts it there)."),
    ParameterSpec("encoder", "vits", "Model size; must match the checkpoint.", choices=tuple(ENCODERS)),
    ParameterSpec("metric", False, "Metric-depth model (metres on depth/image) instead of relative inverse "
                  "depth (depth/relative)."),
    ParameterSpec("random_weights", False, "Smoke test without a checkpoint: random weights, meaningless depth."),
    ParameterSpec("device", "auto", "Inference device; auto takes CUDA when available.",
                  choices=("auto", "cuda", "cpu")),
    ParameterSpec("precision", "auto", "Inference precision; auto is fp16 on CUDA and fp32 on CPU.",
                  choices=("auto", "fp32", "fp16", "bf16")),
    ParameterSpec("input_size", 518, "Network input size (shorter side, multiple of 14); smaller is faster and "
                  "coarser.", int_range=(56, 2044, 14)),
    ParameterSpec("max_res", 1280, "Images whose longer side exceeds this are shrunk before inference; depth "
                  "and depth/camera_info are published at the shrunk size. 0: never shrink.",
                  int_range=(0, 16384, 0)),
    ParameterSpec("image_transport", "raw", "raw: subscribe to image (sensor_msgs/Image); compressed: to "
                  "image/compressed (sensor_msgs/CompressedImage, JPEG or PNG).", choices=("raw", "compressed")),
    ParameterSpec("input_reliability", "best_effort", "Reliability of the image and camera_info subscriptions "
                  "(best_effort hears every publisher).", choices=RELIABILITY_CHOICES),
    ParameterSpec("input_queue_depth", 1, "Queue depth of the input subscriptions.", int_range=(1, 100, 0)),
    ParameterSpec("output_reliability", "reliable", "Reliability of the publications (reliable is heard by "
                  "every subscriber).", choices=RELIABILITY_CHOICES),
    ParameterSpec("output_queue_depth", 2, "Queue depth of the publications.", int_range=(1, 100, 0)),
    ParameterSpec("publish_points", True, "Publish the PointCloud2 on points (metric depth, or relative depth "
                  "with relative_scale set, and a calibrated camera_info).", read_only=False),
    ParameterSpec("points_stride", 1, "Keep every n-th row and column in the point cloud (1: organised, full "
                  "size).", read_only=False, int_range=(1, 64, 0)),
    ParameterSpec("points_rgb", True, "Add the image colour to each point (rgb field).", read_only=False),
    ParameterSpec("min_depth", 0.0, "Points nearer than this (metres) are NaN.", read_only=False,
                  float_range=(0.0, 10000.0)),
    ParameterSpec("max_depth", 0.0, "Points farther than this (metres) are NaN; 0: no limit.", read_only=False,
                  float_range=(0.0, 10000.0)),
    ParameterSpec("relative_scale", 0.0, "Relative model only: metric depth = 1 / (relative_scale * relative + "
                  "relative_shift) for the point cloud; 0 disables the cloud.", read_only=False,
                  float_range=(0.0, 1.0e6)),
    ParameterSpec("relative_shift", 0.0, "Relative model only: see relative_scale.", read_only=False,
                  float_range=(-1.0e6, 1.0e6)),
    ParameterSpec("color_min", 0.0, "Value shown darkest on depth/colored; with color_max > color_min the "
                  "range is fixed, else it follows the data slowly.", read_only=False, float_range=(-1.0e6, 1.0e6)),
    ParameterSpec("color_max", 0.0, "Value shown brightest on depth/colored; see color_min.", read_only=False,
                  float_range=(-1.0e6, 1.0e6)),
    ParameterSpec("color_smoothing", 0.05, "How fast an automatic colour range follows the data (1: every frame, "
                  "flickers).", read_only=False, float_range=(0.001, 1.0)),
    ParameterSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", float_range=(0.1, 60.0)),
)


class StartupError(RuntimeError):
    """The node cannot run with its parameters (missing checkpoint, unavailable device)."""


def check_depth_limits(values: Mapping[str, ParameterValue]) -> str | None:
    """Reject a depth window that keeps nothing (min above a set max)."""
    low, high = values.get("min_depth", 0.0), values.get("max_depth", 0.0)
    if high and low > high:
        return f"min_depth {low} is greater than max_depth {high}"
    return None


def load_engine(values: Mapping[str, ParameterValue]) -> tuple[StreamingDepth, str]:
    """Build the streaming engine the parameters ask for, and a one-line description of the model.

    Errors the user can fix become StartupError with what to do next.
    """
    encoder, metric = str(values["encoder"]), bool(values["metric"])
    try:
        model = open_model(values["checkpoint"] or None, encoder, metric, bool(values["random_weights"]))
    except CheckpointError as error:
        raise StartupError(f"{error}\nSet the 'checkpoint' parameter to the file, or random_weights:=true "
                           "for a smoke test with meaningless depth.") from error
    if values["random_weights"]:
        source = "RANDOM WEIGHTS"
    else:
        source = str(values["checkpoint"] or default_checkpoint(encoder, metric))
    try:
        device = select_device(str(values["device"]))
    except (RuntimeError, ValueError) as error:
        raise StartupError(str(error)) from error
    precision = None if values["precision"] == "auto" else str(values["precision"])
    engine = StreamingDepth(model, input_size=int(values["input_size"]), device=device, precision=precision)
    family = "metric" if metric else "relative"
    return engine, f"{encoder} {family} ({source}), {engine.precision} on {device}"


class DepthNode(Node):
    """Subscribes to a camera stream and publishes depth, colourised depth, CameraInfo and points."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._params = ParameterTable(self, PARAMETERS, validate=check_depth_limits)
        values = self._params.values
        self._engine, self._model_name = load_engine(values)
        if values["random_weights"]:
            self.get_logger().warning(RANDOM_WEIGHTS_WARNING)
        self._metric = self._engine.metric
        self._max_res = int(values["max_res"])

        self._slot: LatestSlot[Image | CompressedImage] = LatestSlot()
        self._camera_infos = CameraInfoCache()
        self._continuity = StreamContinuity()
        self._problems = ProblemLog(self.get_logger().warning)
        self._reset_requested = threading.Event()
        self._stopping = threading.Event()
        self._colors = LiveColorScale()
        self._counts = {"received": 0, "processed": 0, "dropped": 0, "resets": 0}
        self._last_reset = "-"
        self._problems_at_last_report = 0
        self._cloud_state = CLOUD_WAITING
        self._input_rate, self._output_rate = RateMeter(), RateMeter()
        self._inference_time, self._end_to_end = LatencyWindow(), LatencyWindow()

        self._create_publishers(values)
        self._image_topic = self._create_subscriptions(values)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(float(values["diagnostics_period"]), self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name="depth_inference", daemon=True)
        self._worker.start()
        self.get_logger().info(f"model {self._model_name}; listening on {self._image_topic} and "
                               f"{self.resolve_topic_name('camera_info')}")

    # --- wiring -------------------------------------------------------------------------------

    def _create_publishers(self, values: Mapping[str, ParameterValue]) -> None:
        qos = qos_profile(str(values["output_reliability"]), int(values["output_queue_depth"]))
        # A relative model's values are not metres: they never go on the metric topic.
        self._depth_pub = self.create_publisher(Image, "depth/image" if self._metric else "depth/relative", qos)
        self._info_pub = self.create_publisher(CameraInfo, "depth/camera_info", qos)
        self._colored_pub = self.create_publisher(Image, "depth/colored", qos)
        self._points_pub = self.create_publisher(PointCloud2, "points", qos)

    def _create_subscriptions(self, values: Mapping[str, ParameterValue]) -> str:
        """Subscribe to the image (raw or compressed) and camera_info; return the image topic."""
        qos = qos_profile(str(values["input_reliability"]), int(values["input_queue_depth"]))
        self.create_subscription(CameraInfo, "camera_info", self._camera_infos.add, qos)
        if values["image_transport"] == "compressed":
            # As image_transport does: the transport's suffix follows the (remapped) base topic.
            topic = self.resolve_topic_name("image") + "/compressed"
            self.create_subscription(CompressedImage, topic, self._on_image, qos)
            return topic
        self.create_subscription(Image, "image", self._on_image, qos)
        return self.resolve_topic_name("image")

    def _on_image(self, msg: Image | CompressedImage) -> None:
        """Hand the frame to the worker; an older frame still waiting there is dropped."""
        self._counts["received"] += 1
        self._input_rate.tick()
        if self._slot.put(msg):
            self._counts["dropped"] += 1

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._reset_requested.set()
        response.success = True
        response.message = "the temporal cache is cleared before the next frame"
        return response

    # --- the worker: one frame at a time ------------------------------------------------------

    def _run_worker(self) -> None:
        while not self._stopping.is_set():
            msg = self._slot.take(timeout=0.2)
            if msg is None:
                continue
            try:
                self._process(msg)
            except Exception as error:  # noqa: BLE001 - one bad frame must not end the stream
                if self._stopping.is_set():
                    return
                self._problems.add(f"frame failed: {type(error).__name__}: {error}")

    def _process(self, msg: Image | CompressedImage) -> None:
        rgb = self._to_rgb(msg)
        if rgb is None:
            return
        self._reset_if_discontinuous(msg.header, rgb.shape[:2])
        started = time.perf_counter()
        prediction = self._engine.step(rgb)
        self._inference_time.add(time.perf_counter() - started)
        self._publish_outputs(msg.header, rgb, prediction, OutputSettings.from_values(self._params.values))
        self._counts["processed"] += 1
        self._output_rate.tick()
        self._end_to_end.add((self.get_clock().now().nanoseconds - stamp_ns(msg.header.stamp)) / 1e9)

    def _to_rgb(self, msg: Image | CompressedImage) -> np.ndarray | None:
        """Decode to RGB and shrink to max_res; None (reported) for input that cannot be read."""
        try:
            rgb = compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
        except ImageConversionError as error:
            self._problems.add(f"bad image on {self._image_topic}: {error}")
            return None
        width, height = scaled_size(rgb.shape[1], rgb.shape[0], self._max_res)
        if (width, height) != (rgb.shape[1], rgb.shape[0]):
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        return rgb

    def _reset_if_discontinuous(self, header: Header, size: tuple[int, int]) -> None:
        """Clear the temporal cache when asked to, or when this frame starts another stream."""
        reason = self._continuity.check(header.frame_id, size, stamp_ns(header.stamp))
        if self._reset_requested.is_set():
            self._reset_requested.clear()
            reason = "requested on ~/reset"
        if reason is None:
            return
        self._engine.reset()
        self._colors.reset()
        self._counts["resets"] += 1
        self._last_reset = reason
        self.get_logger().info(f"temporal cache reset: {reason}")

    # --- outputs ------------------------------------------------------------------------------

    def _publish_outputs(
        self, header: Header, rgb: np.ndarray, prediction: np.ndarray, settings: OutputSettings
    ) -> None:
        """Depth, colourised depth, then (when intrinsics allow) CameraInfo and points, all with header."""
        info = self._camera_infos.lookup(header.frame_id, stamp_ns(header.stamp))
        out = frame_outputs(rgb, prediction, metric=self._metric, settings=settings,
                            camera=camera_model(info) if info is not None else None,
                            color_scale=self._colors.scale(settings))
        self._cloud_state = out.cloud_state
        if out.problem is not None:
            self._problems.add(out.problem)
        self._publish(self._depth_pub, depth_to_msg(out.depth, header))
        if out.colored is not None:
            self._publish(self._colored_pub, bgr_to_msg(out.colored, header))
        if out.camera is not None:
            assert info is not None
            self._publish(self._info_pub, depth_camera_info(info, header, out.depth.shape[1], out.depth.shape[0]))
        if out.cloud is not None:
            self._publish(self._points_pub, points_to_cloud(out.cloud.xyz, header, out.cloud.rgb))

    def _publish(self, publisher: Publisher, msg: object) -> None:
        """Publish, tolerating a reliable writer's full queue (a stalled subscriber must not stop us)."""
        try:
            publisher.publish(msg)
        except RuntimeError as error:  # rclpy's RCLError is a RuntimeError
            if not self._stopping.is_set():
                self._problems.add(f"could not publish on {publisher.topic_name}: {error}")

    # --- diagnostics ----------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        inference = self._inference_time.percentiles_ms(50, 95)
        end_to_end = self._end_to_end.percentiles_ms(50, 95)
        values = {
            "model": self._model_name,
            "input topic": self._image_topic,
            "input rate (Hz)": f"{self._input_rate.rate():.2f}",
            "output rate (Hz)": f"{self._output_rate.rate():.2f}",
            "inference latency median (ms)": format_ms(inference, 0),
            "inference latency p95 (ms)": format_ms(inference, 1),
            "end-to-end latency median (ms)": format_ms(end_to_end, 0),
            "end-to-end latency p95 (ms)": format_ms(end_to_end, 1),
            "frames received": self._counts["received"],
            "frames processed": self._counts["processed"],
            "frames dropped": self._counts["dropped"],
            "stream resets": self._counts["resets"],
            "last reset reason": self._last_reset,
            "bad inputs": self._problems.count,
            "last bad input": self._problems.last or "-",
            "point cloud": self._cloud_state,
        }
        level, message = self._health()
        status = diagnostic_status(f"{self.get_fully_qualified_name()}: depth", str(self._engine.device),
                                   level, message, values)
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._publish(self._diagnostics, array)

    def _health(self) -> tuple[bytes, str]:
        """WARN for random weights or bad input since the last report, else OK; the message says which."""
        warnings = []
        if self._params.values["random_weights"]:
            warnings.append("RANDOM WEIGHTS: depth is meaningless")
        problems = self._problems.count
        if problems > self._problems_at_last_report:
            warnings.append(f"bad input: {self._problems.last}")
        self._problems_at_last_report = problems
        if warnings:
            return DiagnosticStatus.WARN, "; ".join(warnings)
        if self._counts["processed"] == 0:
            return DiagnosticStatus.OK, f"waiting for images on {self._image_topic}"
        return DiagnosticStatus.OK, "streaming"

    def close(self) -> None:
        """Stop the worker before the node goes away, so it never publishes on a destroyed node."""
        self._stopping.set()
        self._slot.close()
        self._worker.join(timeout=30.0)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; exit 1 with a clear message when it cannot start."""
    node = run_node(NODE_NAME, args, DepthNode, rclpy.spin, (StartupError, InvalidParameterValueException))
    return 1 if node is None else 0


if __name__ == "__main__":
    raise SystemExit(main())
