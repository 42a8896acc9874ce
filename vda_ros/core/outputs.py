"""What happens to one frame after the network, without ROS: the per-frame outputs of every tool.

A network prediction becomes the values a depth topic carries (REP 117 rules), the colourised depth, the
intrinsics of the depth image and the point cloud arrays. The live node, the bag tool and vda-video call
this module and only convert its arrays to messages or files, so the rules live here once and are tested
as plain functions. The maths itself is geometry.py's and colormap.py's; this module decides which of it
applies to a frame and with which settings, including which pixels of published metres are trusted
(flying pixels, confidence: depth_quality.py's rules).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vda_ros.core.colormap import ColorScale, colorize
from vda_ros.core.depth_quality import (
    ConfidenceFactors,
    DepthQualitySettings,
    combine_confidence,
    flying_pixels,
    geometric_confidence,
)
from vda_ros.core.geometry import (
    backproject,
    depth_for_publishing,
    focal_lengths_valid,
    inverse_depth_to_metric,
    scale_intrinsics,
    scale_projection,
)
from vda_ros.core.options import Alias, OptionError, Settings, Value, option

ASPECT_TOLERANCE = 0.02
"""Intrinsics whose image aspect ratio differs from the depth's by more than this describe another image."""

CLOUD_WAITING = "waiting for the first frame"
CLOUD_PUBLISHING = "publishing"


@dataclass(frozen=True)
class CameraModel:
    """What the pipeline needs of a CameraInfo: the calibrated image size, K and P, and the frame they belong to.

    `width` and `height` 0 mean the calibration names no size (then it is taken to fit any image as is).
    """

    frame_id: str
    width: int
    height: int
    k: np.ndarray
    """3×3 intrinsic matrix."""
    p: np.ndarray
    """3×4 projection matrix."""

    @property
    def calibrated(self) -> bool:
        """True when K holds usable intrinsics; uncalibrated drivers publish an all-zero K."""
        return bool(np.isfinite(self.k).all() and focal_lengths_valid(self.k[0, 0], self.k[1, 1]))

    @property
    def fx_fy_cx_cy(self) -> tuple[float, float, float, float]:
        return float(self.k[0, 0]), float(self.k[1, 1]), float(self.k[0, 2]), float(self.k[1, 2])

    def problem_for(self, width: int, height: int) -> str | None:
        """Why these intrinsics cannot describe a width×height depth image, or None when they can."""
        frame = self.frame_id
        if not self.calibrated:
            return (
                f"CameraInfo of frame {frame!r} is uncalibrated (K is all zeros or not finite): no point cloud "
                "until a calibrated one arrives; depth keeps flowing"
            )
        if self.width == 0 or self.height == 0:
            return f"CameraInfo of frame {frame!r} has no image size ({self.width}x{self.height}): no point cloud"
        if abs(self.width * height / (self.height * width) - 1.0) > ASPECT_TOLERANCE:
            return (
                f"CameraInfo of frame {frame!r} is for {self.width}x{self.height} images, which does not fit "
                f"the {width}x{height} depth: no point cloud"
            )
        return None

    def scaled_to(self, width: int, height: int) -> CameraModel:
        """The intrinsics of this camera's image resized to width×height (image_proc's resize rules)."""
        if (width, height) == (self.width, self.height) or not (self.width and self.height):
            return self
        src, dst = (self.width, self.height), (width, height)
        return CameraModel(
            self.frame_id, width, height, scale_intrinsics(self.k, src, dst), scale_projection(self.p, src, dst)
        )


COLOR_RANGE_HELP = "with color_max > color_min the range is fixed, else it follows the data"


def _color_range(value: tuple[float, ...]) -> dict[str, Value]:
    """The deprecated color_range MIN MAX as color_min and color_max; OptionError unless MIN < MAX."""
    if not (len(value) == 2 and value[0] < value[1]):
        raise OptionError(f"color_range must be two numbers MIN < MAX, got {list(value)}")
    return {"color_min": float(value[0]), "color_max": float(value[1])}


@dataclass(frozen=True)
class OutputSettings(Settings):
    """How a frame's derived outputs are made; read once per frame so one frame sees one consistent set.

    Every option here is `runtime`: a node applies a change from the next frame on.
    """

    publish_points: bool = option(
        True,
        "Publish the PointCloud2 on points (metric depth, or relative depth with relative_scale set, and a "
        "calibrated camera_info).",
        runtime=True,
        aliases=(Alias("no_points", "publish_points (false)", False, lambda _: {"publish_points": False}),),
    )
    points_stride: int = option(
        1,
        "Keep every n-th row and column in the point cloud (1: organised, full size).",
        int_range=(1, 64, 0),
        runtime=True,
        aliases=(Alias("point_stride", "points_stride", 0),),
    )
    points_rgb: bool = option(True, "Add the image colour to each point (rgb field).", runtime=True)
    min_depth: float = option(
        0.0, "Points nearer than this (metres) are NaN.", float_range=(0.0, 10000.0), runtime=True
    )
    max_depth: float = option(
        0.0, "Points farther than this (metres) are NaN; 0: no limit.", float_range=(0.0, 10000.0), runtime=True
    )
    relative_scale: float = option(
        0.0,
        "Relative model only: metric depth = 1 / (relative_scale * relative + relative_shift) for the point "
        "cloud; 0 disables the cloud.",
        float_range=(0.0, 1.0e6),
        runtime=True,
    )
    relative_shift: float = option(
        0.0, "Relative model only: see relative_scale.", float_range=(-1.0e6, 1.0e6), runtime=True
    )
    color_min: float = option(
        0.0,
        f"Value shown darkest on depth/colored; {COLOR_RANGE_HELP}.",
        float_range=(-1.0e6, 1.0e6),
        runtime=True,
        aliases=(Alias("color_range", "color_min and color_max", (), _color_range, nargs=2, metavar=("MIN", "MAX")),),
    )
    color_max: float = option(
        0.0, "Value shown brightest on depth/colored; see color_min.", float_range=(-1.0e6, 1.0e6), runtime=True
    )
    color_smoothing: float = option(
        0.05,
        "How fast an automatic colour range follows the data (1: every frame, flickers).",
        float_range=(0.001, 1.0),
        runtime=True,
    )

    def check(self) -> None:
        if self.max_depth and self.min_depth > self.max_depth:
            raise OptionError(f"min_depth {self.min_depth} is greater than max_depth {self.max_depth}")

    @property
    def depth_limit(self) -> float:
        """The farthest depth kept in clouds (max_depth, or infinity when it is 0)."""
        return self.max_depth or math.inf

    @property
    def color_range(self) -> tuple[float | None, float | None, float]:
        """(min, max, smoothing) of the colour scale; None bounds follow the data."""
        fixed = self.color_max > self.color_min
        return (
            self.color_min if fixed else None,
            self.color_max if fixed else None,
            self.color_smoothing,
        )


@dataclass(frozen=True)
class Cloud:
    """An organised point grid (H', W', 3) in the camera optical frame, NaN where depth is invalid."""

    xyz: np.ndarray
    rgb: np.ndarray | None


@dataclass(frozen=True)
class FrameOutputs:
    """Every output of one frame; None where the output was not asked for or cannot be made."""

    depth: np.ndarray
    """Values for the depth topic: metres with NaN where invalid (metric), or relative inverse depth."""
    colored: np.ndarray | None
    """BGR uint8 rendering of depth."""
    camera: CameraModel | None
    """Intrinsics of the depth image (the camera's, scaled to the depth size)."""
    cloud: Cloud | None
    cloud_state: str
    """Why there is or is not a cloud, for diagnostics."""
    problem: str | None = None
    """A problem with the frame's intrinsics worth reporting (uncalibrated, wrong size)."""
    confidence: np.ndarray | None = None
    """How far each depth pixel can be trusted, float32 in [0, 1] (depth_quality.combine_confidence); None
    unless asked for or needed for min_confidence."""


def metric_depth(prediction: np.ndarray, metric: bool, settings: OutputSettings) -> np.ndarray | None:
    """Metres for the cloud: the metric model's masked depth, or relative depth through the given scale."""
    if metric:
        return depth_for_publishing(prediction, True)
    if settings.relative_scale > 0:
        return inverse_depth_to_metric(prediction, settings.relative_scale, settings.relative_shift)
    return None


NO_QUALITY_RULES = DepthQualitySettings(flying_pixel_filter=False, min_confidence=0.0)
"""What frame_outputs applies without quality settings or without intrinsics: every pixel kept."""


def cloud_off_reason(metric: bool, settings: OutputSettings) -> str | None:
    """Why these settings give no cloud whatever the frame, or None when frames can have one.

    Both reasons are runtime parameters (publish_points, relative_scale): a node keeps its points topic and
    says this until they change.
    """
    if not settings.publish_points:
        return "off (publish_points is false)"
    if not metric and settings.relative_scale <= 0:
        return "off: relative depth has no scale (set relative_scale, relative_shift)"
    return None


def frame_outputs(
    rgb: np.ndarray | None,
    prediction: np.ndarray,
    *,
    metric: bool,
    settings: OutputSettings,
    camera: CameraModel | None = None,
    color_scale: ColorScale | None = None,
    want_cloud: bool = True,
    quality: DepthQualitySettings | None = None,
    want_confidence: bool = False,
    confidence_factors: ConfidenceFactors | None = None,
) -> FrameOutputs:
    """The outputs of one frame from its RGB image and the network's prediction at the same size.

    Args:
        rgb: the (H, W, 3) uint8 image the prediction was made from, colouring the points; None: no colours.
        prediction: (H, W) float32 network output, inverse depth (relative) or metres (metric).
        metric: which the prediction is.
        settings: cloud and colour settings.
        camera: the image's intrinsics, if known; without them there is neither depth camera nor cloud.
        color_scale: the colour range to render with (updated with this frame); None: no colourised depth.
        want_cloud: False skips the back-projection (nobody listens), the cloud state says so.
        quality: the flying-pixel filter (on metres: the metric depth and the points; relative depth keeps
            every pixel) and min_confidence (on the points); None: neither. Both need the intrinsics.
        want_confidence: compute the confidence image (its geometric factor needs the intrinsics).
        confidence_factors: makes the caller's other factors of the confidence (depth_quality's agreement and
            residual factors, at the depth's size; ConfidenceCues.next_frame), called only when the confidence
            is made.
    """
    values = depth_for_publishing(prediction, metric)
    height, width = values.shape
    problem = camera.problem_for(width, height) if camera is not None else None
    depth_camera = camera.scaled_to(width, height) if camera is not None and problem is None else None
    if quality is None or depth_camera is None:  # the rules work in space: they need the intrinsics
        quality = NO_QUALITY_RULES
    filtering, min_confidence = quality.flying_pixel_filter, quality.min_confidence
    need_confidence = want_confidence or (want_cloud and min_confidence > 0)
    flying = None
    if depth_camera is not None and (filtering or need_confidence):  # else no rule applies
        geometry = values if metric else _relative_geometry(prediction, settings)
        flying = flying_pixels(geometry, *depth_camera.fx_fy_cx_cy, quality.flying_pixel_angle)
        if filtering and metric:
            values = np.where(flying, np.float32(np.nan), values)
    confidence = None
    if need_confidence:
        confidence = _confidence(values, flying, confidence_factors() if confidence_factors is not None else ())
    colored = colorize(values, *color_scale.update(values)) if color_scale is not None else None
    if camera is None:
        no_info = "no CameraInfo received for this frame_id"
        return FrameOutputs(values, colored, None, None, no_info, confidence=confidence)
    if depth_camera is None:
        assert problem is not None  # a camera whose intrinsics fit the depth always gives a depth camera
        return FrameOutputs(values, colored, None, None, problem, problem, confidence)
    off = cloud_off_reason(metric, settings)
    if off is not None:
        return FrameOutputs(values, colored, depth_camera, None, off, confidence=confidence)
    if not want_cloud:
        return FrameOutputs(values, colored, depth_camera, None, "not computed: no subscriber", confidence=confidence)
    metres = values if metric else metric_depth(prediction, metric, settings)
    assert metres is not None  # a relative model without a scale is off (above)
    if filtering and flying is not None and not metric:
        metres = np.where(flying, np.float32(np.nan), metres)
    if min_confidence > 0:
        assert confidence is not None
        metres = np.where(confidence < min_confidence, np.float32(np.nan), metres)
    stride = settings.points_stride
    xyz = backproject(
        metres, *depth_camera.fx_fy_cx_cy, stride=stride, min_depth=settings.min_depth, max_depth=settings.depth_limit
    )
    colours = rgb[::stride, ::stride] if settings.points_rgb and rgb is not None else None
    return FrameOutputs(values, colored, depth_camera, Cloud(xyz, colours), CLOUD_PUBLISHING, confidence=confidence)


def _relative_geometry(prediction: np.ndarray, settings: OutputSettings) -> np.ndarray:
    """What the flying-pixel rule judges of a relative model: the points' metres (relative_scale), else
    1 / prediction, depth up to a scale (which no angle depends on) with the unknown shift taken as 0."""
    metres = metric_depth(prediction, False, settings)
    return metres if metres is not None else inverse_depth_to_metric(prediction, 1.0, 0.0)


def _confidence(values: np.ndarray, flying: np.ndarray | None, factors: tuple[np.ndarray, ...]) -> np.ndarray:
    """The frame's confidence: the geometric factor (when the intrinsics allowed the rule) times the caller's."""
    geometric = geometric_confidence(flying) if flying is not None else None
    return combine_confidence(values, geometric, *factors)


class LiveColorScale:
    """A camera's colour scale that follows its settings: rebuilt when the range settings change."""

    def __init__(self) -> None:
        self._settings: tuple[float | None, float | None, float] | None = None
        self._scale = ColorScale()

    def scale(self, settings: OutputSettings) -> ColorScale:
        if settings.color_range != self._settings:
            vmin, vmax, smoothing = settings.color_range
            self._scale, self._settings = ColorScale(vmin, vmax, smoothing), settings.color_range
        return self._scale

    def reset(self) -> None:
        """Forget the tracked range (a new stream)."""
        self._scale.reset()
