"""depth_align: metric depth from a model's depth and a sparse metric sensor (LiDAR, depth camera).

The path of one frame: depth/relative (or a metric model's depth) -> array -> the sparse measurement
nearest in time -> SparseSamples on the depth grid -> DepthAligner (robust fit + temporal filter,
vda_ros.core.alignment) -> vda_ros.core.outputs -> depth/image (32FC1 metres, NaN invalid: flying pixels too,
with a depth/camera_info), depth/confidence (while subscribed) and points, all with the depth's header.
The node never waits for sparse data: a frame without a measurement within max_time_offset uses the
held alignment, so every depth frame gets an output while an alignment exists.

A metric model's depth is read from depth/metric, not depth/image: a node cannot subscribe and publish
one name (a remapping would move both), so depth_node's output is remapped onto depth/metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

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
from vda_ros.core.depth_quality import ConfidenceCues, DepthQualitySettings
from vda_ros.core.geometry import quaternion_matrix
from vda_ros.core.options import OptionError, Settings, group, option
from vda_ros.core.outputs import OutputSettings, frame_outputs
from vda_ros.core.sparse import (
    Extrinsic,
    PairingSettings,
    SparseSamples,
    StampedHistory,
    samples_from_depth_image,
    samples_from_points,
)
from vda_ros.ros.conversions import (
    CloudConversionError,
    ImageConversionError,
    camera_info_is_calibrated,
    camera_model,
    cloud_to_xyz,
    depth_to_msg,
    intrinsics,
    msg_to_depth,
    msg_to_metres,
    points_to_cloud,
    stamp_ns,
)
from vda_ros.ros.diagnostics import DiagnosticsSettings, RateMeter, diagnostic_status, publish_diagnostics
from vda_ros.ros.node_main import run_node
from vda_ros.ros.parameters import ParameterTable
from vda_ros.ros.publishing import try_publish
from vda_ros.ros.qos import QosSettings
from vda_ros.ros.stream_state import ProblemLog

NODE_NAME = "depth_align"
SPARSE_SOURCES = ("depth_image", "points")
INPUT_TOPICS = {"relative": "depth/relative", "metric": "depth/metric"}
_FIT, _TEMPORAL = FitSettings(), TemporalSettings()
CONFIDENCE_SKIPPED = "confidence not computed (no subscriber)"


@dataclass(frozen=True)
class AlignSettings(Settings):
    """Every parameter of depth_align (read at start-up, but the depth quality options: from the next frame)."""

    input: str = option(
        "relative",
        "relative: a relative model's inverse depth on depth/relative (scale and shift fitted); metric: a metric "
        "model's metres on depth/metric (scale fitted).",
        choices=INPUT_KINDS,
    )
    sparse_source: str = option(
        "depth_image",
        "depth_image: a depth image registered to the camera on sparse_depth (32FC1 m or 16UC1 mm, any size); "
        "points: a PointCloud2 on sparse_points.",
        choices=SPARSE_SOURCES,
    )
    sparse_translation: tuple[float, ...] = option(
        (0.0, 0.0, 0.0),
        "points only: the sensor's position in the camera optical frame [x, y, z] m (the static transform "
        "camera_optical <- sensor).",
    )
    sparse_rotation: tuple[float, ...] = option(
        (0.0, 0.0, 0.0, 1.0),
        "points only: the sensor's orientation in the camera optical frame as a quaternion [x, y, z, w].",
    )
    pairing: PairingSettings = group(PairingSettings, max_time_offset=0.05)
    """A depth frame without a sparse measurement within max_time_offset uses the held alignment."""
    sparse_history: int = option(
        32,
        "Sparse measurements kept for pairing with depth frames. Depth arriving late needs more: for depth_node's "
        "refined/ stream (about a second behind) at least the sensor's rate times 2 s.",
        int_range=(1, 100000, 0),
    )
    hold_time: float = option(
        _TEMPORAL.hold_time,
        "Seconds the last good alignment is used without a good fit; then the state is lost and nothing is published.",
        float_range=(0.0, 3600.0),
    )
    fit_method: str = option(
        "robust",
        "robust: RANSAC + least squares on the inliers; least_squares: one plain fit (for comparison; outliers "
        "break it).",
        choices=FIT_METHODS,
    )
    inlier_threshold: float = option(
        _FIT.inlier_threshold,
        "Relative depth residual below which a sparse sample is an inlier.",
        float_range=(0.001, 1.0),
    )
    min_inliers: int = option(_FIT.min_inliers, "Fewer inliers reject a frame's fit.", int_range=(2, 1000000, 0))
    min_inlier_ratio: float = option(
        _FIT.min_inlier_ratio, "A smaller inlier fraction rejects a frame's fit.", float_range=(0.0, 1.0)
    )
    ransac_iterations: int = option(_FIT.iterations, "RANSAC hypotheses per frame.", int_range=(1, 100000, 0))
    smoothing: float = option(
        _TEMPORAL.smoothing, "Weight of a new fit in the running alignment (1: none).", float_range=(0.01, 1.0)
    )
    max_jump: float = option(
        _TEMPORAL.max_jump,
        "A fit changing depth by more than this fraction (median) is a jump and rejected, unless it persists.",
        float_range=(0.001, 10.0),
    )
    jump_frames: int = option(
        _TEMPORAL.jump_frames,
        "Consecutive consistent jumping fits after which the alignment follows them.",
        int_range=(1, 1000, 0),
    )
    outputs: OutputSettings = group(OutputSettings)
    """Of these only the cloud and the depth window apply (OFFERED_OUTPUTS); the others keep their defaults."""
    quality: DepthQualitySettings = group(DepthQualitySettings)
    qos: QosSettings = group(QosSettings, input_queue_depth=5)
    diagnostics: DiagnosticsSettings = group(DiagnosticsSettings)

    def check(self) -> None:
        """Also refuse extrinsics of the wrong length or a zero quaternion."""
        super().check()
        if len(self.sparse_translation) != 3:
            raise OptionError(f"sparse_translation needs 3 values [x, y, z], got {list(self.sparse_translation)}")
        if len(self.sparse_rotation) != 4 or not any(self.sparse_rotation):
            raise OptionError(
                f"sparse_rotation needs a non-zero quaternion [x, y, z, w], got {list(self.sparse_rotation)}"
            )

    def aligner(self) -> AlignerSettings:
        """The alignment these settings describe."""
        return AlignerSettings(
            metric_input=self.input == "metric",
            fit=FitSettings(
                method=self.fit_method,
                inlier_threshold=self.inlier_threshold,
                min_inliers=self.min_inliers,
                min_inlier_ratio=self.min_inlier_ratio,
                iterations=self.ransac_iterations,
            ),
            temporal=TemporalSettings(
                smoothing=self.smoothing,
                max_jump=self.max_jump,
                jump_frames=self.jump_frames,
                hold_time=self.hold_time,
            ),
            min_depth=self.outputs.min_depth,
            max_depth=self.outputs.max_depth,
        )

    @property
    def extrinsic(self) -> Extrinsic:
        """Where the sparse sensor is in the camera optical frame (points only)."""
        return Extrinsic(np.array(self.sparse_translation, dtype=np.float64), quaternion_matrix(*self.sparse_rotation))


OFFERED_OUTPUTS = ("publish_points", "points_stride", "min_depth", "max_depth")
"""The output options that apply to aligned depth (read at start-up here, though depth_node changes them live)."""
UNUSED_OUTPUTS = tuple(item.name for item in OutputSettings.options() if item.name not in OFFERED_OUTPUTS)
"""The colour, cloud colour and relative-scale options: no parameters here."""
OUTPUT_HELP = {
    "publish_points": "Publish the PointCloud2 on points (needs a calibrated depth/camera_info).",
    "min_depth": "Metres; sparse samples and output depth nearer than this are ignored / NaN.",
    "max_depth": "Metres; sparse samples and output depth farther than this are ignored / NaN; 0: no limit.",
}
"""What the output options mean here, where the shared descriptions (a depth_node's cloud) would mislead."""


class DepthAlignNode(Node):
    """Subscribes to depth, depth/camera_info and sparse data; publishes metric depth, its confidence, points and
    diagnostics."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._params = ParameterTable(
            self,
            AlignSettings,
            exclude=UNUSED_OUTPUTS,
            start_up_only=OFFERED_OUTPUTS,
            help_overrides=OUTPUT_HELP,
        )
        settings = self._settings = self._params.settings  # read once, but the quality options
        self._aligner = DepthAligner(settings.aligner())
        self._cues = ConfidenceCues()
        self._points_source = settings.sparse_source == "points"
        self._extrinsic = settings.extrinsic
        self._max_offset_ns = settings.pairing.max_offset_ns
        self._sparse: StampedHistory[np.ndarray] = StampedHistory(settings.sparse_history)
        self._info: CameraInfo | None = None
        self._problems = ProblemLog(self.get_logger().warning)
        self._status: AlignmentStatus | None = None
        self._counts = {
            "depth frames": 0,
            "published": 0,
            "sparse messages": 0,
            "without sparse data": 0,
            CONFIDENCE_SKIPPED: 0,
        }
        self._output_rate = RateMeter()

        qos_out, qos_in = settings.qos.output, settings.qos.input
        self._depth_pub = self.create_publisher(Image, "depth/image", qos_out)
        self._confidence_pub = self.create_publisher(Image, "depth/confidence", qos_out)
        self._points_pub = self.create_publisher(PointCloud2, "points", qos_out)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._depth_topic = self.resolve_topic_name(INPUT_TOPICS[settings.input])
        self.create_subscription(Image, self._depth_topic, self._on_depth, qos_in)
        self.create_subscription(CameraInfo, "depth/camera_info", self._on_info, qos_in)
        if self._points_source:
            self._sparse_topic = self.resolve_topic_name("sparse_points")
            self.create_subscription(PointCloud2, self._sparse_topic, self._on_points, qos_in)
        else:
            self._sparse_topic = self.resolve_topic_name("sparse_depth")
            self.create_subscription(Image, self._sparse_topic, self._on_sparse_depth, qos_in)
        self.create_timer(settings.diagnostics.diagnostics_period, self._publish_diagnostics)
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
        limits = (self._settings.outputs.min_depth, self._settings.outputs.max_depth)
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
        self._publish_frame(depth, samples, msg.header)

    def _publish_frame(self, depth: np.ndarray, samples: SparseSamples | None, header: Header) -> None:
        """The aligned depth's outputs, made as every node and tool makes them (vda_ros.core.outputs).

        depth/image loses its flying pixels (with a depth/camera_info: the rule works in space); the confidence
        (while subscribed, or for min_confidence) has the geometry, the agreement with the previous frame and the
        fit's residual against the range sensor near each pixel (when this frame had a measurement).
        """
        quality = self._params.settings.quality  # the newest: a runtime change applies from this frame on
        camera = camera_model(self._info) if self._info is not None else None
        want_confidence = self._confidence_pub.get_subscription_count() > 0
        self._counts[CONFIDENCE_SKIPPED] += not want_confidence
        out = frame_outputs(
            None,
            depth,
            metric=True,
            settings=self._settings.outputs,
            camera=camera,
            quality=quality,
            want_confidence=want_confidence,
            confidence_factors=self._cues.next_frame(depth, samples),
        )
        if out.problem is not None:
            self._problems.add(out.problem)
        self._publish(self._depth_pub, depth_to_msg(out.depth, header))
        self._counts["published"] += 1
        self._output_rate.tick()
        if want_confidence and out.confidence is not None:
            self._publish(self._confidence_pub, depth_to_msg(out.confidence, header))
        if out.cloud is not None:
            self._publish(self._points_pub, points_to_cloud(out.cloud.xyz, header))

    def _publish(self, publisher: Publisher, msg: object) -> None:
        """Publish; a reliable writer's full queue is reported as bad input, and the message dropped."""
        problem = try_publish(publisher, msg)
        if problem is not None:
            self._problems.add(problem)

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
        name = f"{self.get_fully_qualified_name()}: alignment"
        problem = publish_diagnostics(
            self, self._diagnostics, [diagnostic_status(name, self._sparse_topic, level, message, values)]
        )
        if problem is not None:
            self._problems.add(problem)

    def close(self) -> None:
        """Nothing runs outside the executor; present for run_node."""


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; exit 1 with a clear message when its parameters are unusable."""
    node = run_node(NODE_NAME, args, DepthAlignNode, rclpy.spin, (InvalidParameterValueException, ValueError))
    return 1 if node is None else 0


if __name__ == "__main__":
    raise SystemExit(main())
