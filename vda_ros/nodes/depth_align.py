"""depth_align: metric depth from a model's depth and a sparse metric sensor (LiDAR, depth camera).

The path of one frame: depth/relative (or a metric model's depth) -> array -> the sparse measurement
nearest in time -> SparseSamples on the depth grid -> DepthAligner (robust fit + temporal filter,
vda_ros.core.alignment) -> depth/image (32FC1 metres, NaN invalid) and points, both with the depth's header.
The node never waits for sparse data: a frame without a measurement within max_time_offset uses the
held alignment, so every depth frame gets an output while an alignment exists.

A metric model's depth is read from depth/metric, not depth/image: a node cannot subscribe and publish
one name (a remapping would move both), so depth_node's output is remapped onto depth/metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from vda_ros.core.alignment import (
    FIT_METHODS,
    INPUT_KINDS,
    AlignerSettings,
    AlignmentStatus,
    DepthAligner,
    FitSettings,
    TemporalSettings,
    TrackState,
)
from vda_ros.core.geometry import backproject, quaternion_matrix
from vda_ros.core.sparse import Extrinsic, SparseSamples, StampedHistory, samples_from_depth_image, samples_from_points
from vda_ros.ros.conversions import (
    CloudConversionError,
    ImageConversionError,
    camera_info_is_calibrated,
    cloud_to_xyz,
    depth_to_msg,
    intrinsics,
    msg_to_depth,
    msg_to_metres,
    points_to_cloud,
    stamp_ns,
)
from vda_ros.ros.diagnostics import RateMeter, diagnostic_status
from vda_ros.ros.node_main import run_node
from vda_ros.ros.parameters import ParameterSpec, ParameterTable, ParameterValue
from vda_ros.ros.qos import RELIABILITIES, qos_profile
from vda_ros.ros.stream_state import ProblemLog

NODE_NAME = "depth_align"
SPARSE_SOURCES = ("depth_image", "points")
RELIABILITY_CHOICES = tuple(RELIABILITIES)
INPUT_TOPICS = {"relative": "depth/relative", "metric": "depth/metric"}
_FIT, _TEMPORAL = FitSettings(), TemporalSettings()

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "input",
        "relative",
        "relative: a relative model's inverse depth on depth/relative (scale and "
        "shift fitted); metric: a metric model's metres on depth/metric (scale fitted).",
        choices=INPUT_KINDS,
    ),
    ParameterSpec(
        "sparse_source",
        "depth_image",
        "depth_image: a depth image registered to the camera on "
        "sparse_depth (32FC1 m or 16UC1 mm, any size); points: a PointCloud2 on sparse_points.",
        choices=SPARSE_SOURCES,
    ),
    ParameterSpec(
        "sparse_translation",
        [0.0, 0.0, 0.0],
        "points only: the sensor's position in the camera "
        "optical frame [x, y, z] m (the static transform camera_optical <- sensor).",
    ),
    ParameterSpec(
        "sparse_rotation",
        [0.0, 0.0, 0.0, 1.0],
        "points only: the sensor's orientation in the camera optical frame as a quaternion [x, y, z, w].",
    ),
    ParameterSpec(
        "max_time_offset",
        0.05,
        "A depth frame is paired with the sparse measurement nearest in time "
        "within this many seconds; otherwise the held alignment is used.",
        float_range=(0.0, 10.0),
    ),
    ParameterSpec(
        "hold_time",
        _TEMPORAL.hold_time,
        "Seconds the last good alignment is used without a good fit; then the state is lost and nothing is published.",
        float_range=(0.0, 3600.0),
    ),
    ParameterSpec(
        "fit_method",
        "robust",
        "robust: RANSAC + least squares on the inliers; least_squares: one "
        "plain fit (for comparison; outliers break it).",
        choices=FIT_METHODS,
    ),
    ParameterSpec(
        "inlier_threshold",
        _FIT.inlier_threshold,
        "Relative depth residual below which a sparse sample is an inlier.",
        float_range=(0.001, 1.0),
    ),
    ParameterSpec("min_inliers", _FIT.min_inliers, "Fewer inliers reject a frame's fit.", int_range=(2, 1000000, 0)),
    ParameterSpec(
        "min_inlier_ratio",
        _FIT.min_inlier_ratio,
        "A smaller inlier fraction rejects a frame's fit.",
        float_range=(0.0, 1.0),
    ),
    ParameterSpec("ransac_iterations", _FIT.iterations, "RANSAC hypotheses per frame.", int_range=(1, 100000, 0)),
    ParameterSpec(
        "smoothing",
        _TEMPORAL.smoothing,
        "Weight of a new fit in the running alignment (1: none).",
        float_range=(0.01, 1.0),
    ),
    ParameterSpec(
        "max_jump",
        _TEMPORAL.max_jump,
        "A fit changing depth by more than this fraction (median) is a jump and rejected, unless it persists.",
        float_range=(0.001, 10.0),
    ),
    ParameterSpec(
        "jump_frames",
        _TEMPORAL.jump_frames,
        "Consecutive consistent jumping fits after which the alignment follows them.",
        int_range=(1, 1000, 0),
    ),
    ParameterSpec(
        "min_depth",
        0.0,
        "Metres; sparse samples and output depth nearer than this are ignored / NaN.",
        float_range=(0.0, 10000.0),
    ),
    ParameterSpec(
        "max_depth",
        0.0,
        "Metres; sparse samples and output depth farther than this are ignored / NaN; 0: no limit.",
        float_range=(0.0, 10000.0),
    ),
    ParameterSpec("publish_points", True, "Publish the PointCloud2 on points (needs a calibrated depth/camera_info)."),
    ParameterSpec(
        "points_stride",
        1,
        "Keep every n-th row and column in the point cloud (1: organised, full size).",
        int_range=(1, 64, 0),
    ),
    ParameterSpec("input_reliability", "best_effort", "Reliability of the subscriptions.", choices=RELIABILITY_CHOICES),
    ParameterSpec("input_queue_depth", 5, "Queue depth of the subscriptions.", int_range=(1, 100, 0)),
    ParameterSpec("output_reliability", "reliable", "Reliability of the publications.", choices=RELIABILITY_CHOICES),
    ParameterSpec("output_queue_depth", 2, "Queue depth of the publications.", int_range=(1, 100, 0)),
    ParameterSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", float_range=(0.1, 60.0)),
)


def check_parameters(values: Mapping[str, ParameterValue]) -> str | None:
    """Reject an empty depth window and extrinsics of the wrong length or a zero quaternion."""
    low, high = values.get("min_depth", 0.0), values.get("max_depth", 0.0)
    if high and low > high:
        return f"min_depth {low} is greater than max_depth {high}"
    translation = values.get("sparse_translation", [0.0, 0.0, 0.0])
    rotation = values.get("sparse_rotation", [0.0, 0.0, 0.0, 1.0])
    if len(translation) != 3:  # type: ignore[arg-type]
        return f"sparse_translation needs 3 values [x, y, z], got {list(translation)}"  # type: ignore[call-overload]
    if len(rotation) != 4 or not any(rotation):  # type: ignore[arg-type]
        return f"sparse_rotation needs a non-zero quaternion [x, y, z, w], got {list(rotation)}"  # type: ignore[call-overload]
    return None


def aligner_settings(values: Mapping[str, ParameterValue]) -> AlignerSettings:
    """The alignment the parameters describe."""
    return AlignerSettings(
        metric_input=values["input"] == "metric",
        fit=FitSettings(
            method=str(values["fit_method"]),
            inlier_threshold=float(values["inlier_threshold"]),
            min_inliers=int(values["min_inliers"]),
            min_inlier_ratio=float(values["min_inlier_ratio"]),
            iterations=int(values["ransac_iterations"]),
        ),
        temporal=TemporalSettings(
            smoothing=float(values["smoothing"]),
            max_jump=float(values["max_jump"]),
            jump_frames=int(values["jump_frames"]),
            hold_time=float(values["hold_time"]),
        ),
        min_depth=float(values["min_depth"]),
        max_depth=float(values["max_depth"]),
    )


class DepthAlignNode(Node):
    """Subscribes to depth, depth/camera_info and sparse data; publishes metric depth, points and diagnostics."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._params = ParameterTable(self, PARAMETERS, validate=check_parameters)
        values = self._params.values
        self._settings = aligner_settings(values)
        self._aligner = DepthAligner(self._settings)
        self._points_source = values["sparse_source"] == "points"
        rotation = [float(v) for v in values["sparse_rotation"]]  # type: ignore[union-attr]
        self._extrinsic = Extrinsic(
            np.array(values["sparse_translation"], dtype=np.float64), quaternion_matrix(*rotation)
        )
        self._max_offset_ns = round(float(values["max_time_offset"]) * 1e9)
        self._sparse: StampedHistory[np.ndarray] = StampedHistory()
        self._info: CameraInfo | None = None
        self._problems = ProblemLog(self.get_logger().warning)
        self._status: AlignmentStatus | None = None
        self._counts = {"depth frames": 0, "published": 0, "sparse messages": 0, "without sparse data": 0}
        self._output_rate = RateMeter()

        qos_out = qos_profile(str(values["output_reliability"]), int(values["output_queue_depth"]))
        self._depth_pub = self.create_publisher(Image, "depth/image", qos_out)
        self._points_pub = self.create_publisher(PointCloud2, "points", qos_out)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        qos_in = qos_profile(str(values["input_reliability"]), int(values["input_queue_depth"]))
        self._depth_topic = self.resolve_topic_name(INPUT_TOPICS[str(values["input"])])
        self.create_subscription(Image, self._depth_topic, self._on_depth, qos_in)
        self.create_subscription(CameraInfo, "depth/camera_info", self._on_info, qos_in)
        if self._points_source:
            self._sparse_topic = self.resolve_topic_name("sparse_points")
            self.create_subscription(PointCloud2, self._sparse_topic, self._on_points, qos_in)
        else:
            self._sparse_topic = self.resolve_topic_name("sparse_depth")
            self.create_subscription(Image, self._sparse_topic, self._on_sparse_depth, qos_in)
        self.create_timer(float(values["diagnostics_period"]), self._publish_diagnostics)
        self.get_logger().info(f"aligning {self._depth_topic} to {self._sparse_topic}")

    # --- inputs ---------------------------------------------------------------------------------

    def _on_info(self, info: CameraInfo) -> None:
        self._info = info

    def _on_sparse_depth(self, msg: Image) -> None:
        try:
            self._sparse.add(stamp_ns(msg.header.stamp), msg_to_metres(msg))
            self._counts["sparse messages"] += 1
        except ImageConversionError as error:
            self._problems.add(f"{self._sparse_topic}: {error}")

    def _on_points(self, msg: PointCloud2) -> None:
        try:
            self._sparse.add(stamp_ns(msg.header.stamp), cloud_to_xyz(msg))
            self._counts["sparse messages"] += 1
        except CloudConversionError as error:
            self._problems.add(f"{self._sparse_topic}: {error}")

    def _samples(self, stamp: int, shape: tuple[int, int]) -> SparseSamples | None:
        """The sparse measurement nearest to stamp on the depth grid, or None."""
        measurement = self._sparse.nearest(stamp, self._max_offset_ns)
        if measurement is None:
            self._counts["without sparse data"] += 1
            return None
        limits = (self._settings.min_depth, self._settings.max_depth)
        if not self._points_source:
            return samples_from_depth_image(measurement, shape, *limits)
        if self._info is None or not camera_info_is_calibrated(self._info):
            self._problems.add("points cannot be projected without a calibrated depth/camera_info")
            return None
        return samples_from_points(measurement, self._extrinsic, intrinsics(self._info), shape, *limits)

    def _on_depth(self, msg: Image) -> None:
        """Align one depth frame and publish it (and its cloud) if an alignment exists."""
        self._counts["depth frames"] += 1
        try:
            prediction = msg_to_depth(msg)
        except ImageConversionError as error:
            self._problems.add(f"{self._depth_topic}: {error}")
            return
        stamp = stamp_ns(msg.header.stamp)
        samples = self._samples(stamp, prediction.shape)
        depth, self._status = self._aligner.align(stamp / 1e9, prediction, samples)
        if depth is None:
            return
        self._publish(self._depth_pub, depth_to_msg(depth, msg.header))
        self._counts["published"] += 1
        self._output_rate.tick()
        if self._params.values["publish_points"] and self._info is not None and camera_info_is_calibrated(self._info):
            xyz = backproject(depth, *intrinsics(self._info), stride=int(self._params.values["points_stride"]))
            self._publish(self._points_pub, points_to_cloud(xyz, msg.header))

    def _publish(self, publisher: Publisher, msg: object) -> None:
        try:
            publisher.publish(msg)
        except RuntimeError as error:  # rclpy's RCLError: a reliable writer's full queue must not stop us
            self._problems.add(f"could not publish on {publisher.topic_name}: {error}")

    # --- diagnostics ----------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        status = self._status
        fit = status.fit if status is not None else None
        alignment = status.alignment if status is not None else None
        state = status.state if status is not None else TrackState.WAITING
        values = {
            "state": state.value,
            "scale": f"{alignment.scale:.6g}" if alignment else "-",
            "shift": f"{alignment.shift:.6g}" if alignment else "-",
            "inliers": fit.inliers if fit else "-",
            "samples": fit.samples if fit else "-",
            "residual": f"{fit.residual:.4f}" if fit and not math.isnan(fit.residual) else "-",
            "time since last good fit (s)": f"{status.since_good:.3f}" if status else "inf",
            "note": (status.note if status else "") or "-",
            "output rate (Hz)": f"{self._output_rate.rate():.2f}",
            **self._counts,
            "bad inputs": self._problems.count,
            "last bad input": self._problems.last or "-",
        }
        level = {TrackState.TRACKING: DiagnosticStatus.OK, TrackState.HOLDING: DiagnosticStatus.WARN}.get(
            state, DiagnosticStatus.ERROR if state == TrackState.LOST else DiagnosticStatus.OK
        )
        message = f"{state.value}: {status.note}" if status and status.note else state.value
        array = DiagnosticArray(
            status=[
                diagnostic_status(
                    f"{self.get_fully_qualified_name()}: alignment", self._sparse_topic, level, message, values
                )
            ]
        )
        array.header.stamp = self.get_clock().now().to_msg()
        self._publish(self._diagnostics, array)

    def close(self) -> None:
        """Nothing runs outside the executor; present for run_node."""


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; exit 1 with a clear message when its parameters are unusable."""
    node = run_node(NODE_NAME, args, DepthAlignNode, rclpy.spin, (InvalidParameterValueException, ValueError))
    return 1 if node is None else 0


if __name__ == "__main__":
    raise SystemExit(main())
