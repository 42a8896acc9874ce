"""The per-frame pipeline as plain functions: depth values, colour, depth intrinsics and cloud arrays."""

import math

import numpy as np
import pytest

from vda_ros.core.colormap import ColorScale
from vda_ros.core.depth_quality import DepthQualitySettings, boundary_radius
from vda_ros.core.outputs import CameraModel, LiveColorScale, OutputSettings, frame_outputs

K = np.array([[50.0, 0.0, 31.5], [0.0, 52.0, 23.5], [0.0, 0.0, 1.0]])
P = np.array([[50.0, 0.0, 31.5, 0.0], [0.0, 52.0, 23.5, 0.0], [0.0, 0.0, 1.0, 0.0]])


def camera(width: int = 64, height: int = 48, k: np.ndarray = K) -> CameraModel:
    return CameraModel("cam", width, height, k, P)


@pytest.fixture
def frame() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    prediction = rng.uniform(-0.5, 3.0, (24, 32)).astype(np.float32)
    return rgb, prediction


def test_metric_depth_is_nan_where_invalid_and_the_cloud_is_the_pinhole_backprojection(frame) -> None:
    rgb, prediction = frame
    out = frame_outputs(
        rgb, prediction, metric=True, settings=OutputSettings(), camera=camera(), color_scale=ColorScale(0.0, 3.0)
    )
    invalid = prediction <= 0
    assert np.isnan(out.depth[invalid]).all() and np.array_equal(out.depth[~invalid], prediction[~invalid])
    # The depth is half the camera's size: the intrinsics are halved (image_proc's resize).
    assert (out.camera.width, out.camera.height) == (32, 24)
    fx, fy, cx, cy = out.camera.fx_fy_cx_cy
    assert (fx, fy, cx, cy) == (25.0, 26.0, 15.75, 11.75)
    v, u = np.mgrid[0:24, 0:32]
    z = np.where(invalid, np.nan, prediction.astype(np.float64))
    expected = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=-1)
    np.testing.assert_allclose(out.cloud.xyz, expected, rtol=1e-6, atol=1e-6, equal_nan=True)
    assert np.array_equal(out.cloud.rgb, rgb)
    assert out.cloud_state == "publishing"
    assert out.colored.shape == (24, 32, 3) and not out.colored[invalid].any(), "invalid depth is black"


def test_relative_depth_passes_through_and_gets_a_cloud_only_with_a_scale(frame) -> None:
    rgb, prediction = frame
    plain = frame_outputs(rgb, prediction, metric=False, settings=OutputSettings(), camera=camera())
    assert np.array_equal(plain.depth, prediction), "0 and negatives are values of inverse depth, not gaps"
    assert plain.cloud is None and "relative depth has no scale" in plain.cloud_state
    assert plain.colored is None, "no colour scale: no colourised depth"
    scaled = frame_outputs(
        rgb,
        prediction,
        metric=False,
        camera=camera(),
        settings=OutputSettings(relative_scale=2.0, relative_shift=-1.0, points_stride=2, points_rgb=False),
    )
    denominator = 2.0 * prediction[::2, ::2].astype(np.float64) - 1.0
    with np.errstate(divide="ignore"):
        metres = np.where(denominator > 0, 1.0 / denominator, np.nan)
    np.testing.assert_allclose(scaled.cloud.xyz[..., 2], metres, rtol=1e-6, equal_nan=True)
    assert scaled.cloud.rgb is None and scaled.cloud.xyz.shape == (12, 16, 3)


def test_depth_limits_apply_to_the_cloud_not_to_the_depth(frame) -> None:
    rgb, prediction = frame
    out = frame_outputs(
        rgb, prediction, metric=True, camera=camera(), settings=OutputSettings(min_depth=1.0, max_depth=2.0)
    )
    z = out.cloud.xyz[..., 2]
    kept = (prediction >= 1.0) & (prediction <= 2.0)
    assert np.isnan(z[~kept]).all() and np.isfinite(z[kept]).all()
    assert np.isfinite(out.depth).sum() > kept.sum()


@pytest.mark.parametrize(
    ("model", "state"),
    [
        (None, "no CameraInfo received"),
        (camera(k=np.zeros((3, 3))), "is uncalibrated"),
        (camera(width=0, height=0), "has no image size"),
        (camera(width=64, height=64), "does not fit"),
    ],
)
def test_unusable_intrinsics_give_depth_but_no_camera_and_no_cloud(frame, model, state) -> None:
    rgb, prediction = frame
    out = frame_outputs(rgb, prediction, metric=True, settings=OutputSettings(), camera=model)
    assert out.camera is None and out.cloud is None and state in out.cloud_state
    assert (out.problem is None) == (model is None)
    assert out.depth.shape == prediction.shape


def test_an_unwanted_cloud_is_not_computed_and_switched_off_points_say_so(frame) -> None:
    rgb, prediction = frame
    lazy = frame_outputs(rgb, prediction, metric=True, settings=OutputSettings(), camera=camera(), want_cloud=False)
    assert lazy.cloud is None and lazy.camera is not None and lazy.cloud_state == "not computed: no subscriber"
    off = frame_outputs(rgb, prediction, metric=True, settings=OutputSettings(publish_points=False), camera=camera())
    assert off.cloud is None and "publish_points is false" in off.cloud_state


def test_settings_from_node_values_and_a_live_colour_scale_that_follows_them() -> None:
    values = {
        "publish_points": True,
        "points_stride": 2,
        "points_rgb": False,
        "min_depth": 0.5,
        "max_depth": 0.0,
        "relative_scale": 0.0,
        "relative_shift": 0.0,
        "color_min": 1.0,
        "color_max": 1.0,
        "color_smoothing": 0.2,
    }
    settings = OutputSettings.from_values(values)
    assert settings.depth_limit == math.inf and settings.color_range == (None, None, 0.2), "max_depth 0: no limit"
    fixed = OutputSettings.from_values({**values, "color_max": 4.0})
    assert fixed.color_range == (1.0, 4.0, 0.2)
    live = LiveColorScale()
    ramp = np.linspace(0.0, 10.0, 100, dtype=np.float32).reshape(10, 10)
    assert live.scale(fixed).update(ramp) == (1.0, 4.0)
    automatic = live.scale(settings)
    assert automatic.update(ramp) == pytest.approx((0.2, 9.8), abs=1e-6)
    assert live.scale(settings) is automatic, "same settings: the tracked range is kept"


NARROW = np.array([[1000.0, 0.0, 31.5], [0.0, 1000.0, 23.5], [0.0, 0.0, 1.0]])
"""A long lens: 500 px focal length at the depth's 32x24, so a 2 m step over 8 pixels is seen almost edge-on."""
RAMP = slice(12, 20)


@pytest.fixture
def ramp() -> tuple[np.ndarray, np.ndarray]:
    """Metres: 2 m on the left, 4 m on the right, a network's smooth ramp between; the flying pixels it makes."""
    depth = np.full((24, 32), 2.0, dtype=np.float32)
    depth[:, RAMP] = np.linspace(2.0, 4.0, 10, dtype=np.float32)[1:-1]
    depth[:, RAMP.stop :] = 4.0
    flying = np.zeros(depth.shape, dtype=bool)
    flying[:, RAMP] = True  # steep on both sides; the pixels beside the ramp have a flat side
    return depth, flying


def test_the_flying_pixel_filter_makes_metres_nan_in_depth_and_points(ramp) -> None:
    depth, flying = ramp
    plain = frame_outputs(None, depth, metric=True, settings=OutputSettings(), camera=camera(k=NARROW))
    assert np.isfinite(plain.depth).all() and plain.confidence is None
    out = frame_outputs(
        None, depth, metric=True, settings=OutputSettings(), camera=camera(k=NARROW), quality=DepthQualitySettings()
    )
    np.testing.assert_array_equal(np.isnan(out.depth), flying)
    np.testing.assert_array_equal(np.isnan(out.cloud.xyz[..., 2]), flying)
    off = DepthQualitySettings(flying_pixel_filter=False)
    kept = frame_outputs(None, depth, metric=True, settings=OutputSettings(), camera=camera(k=NARROW), quality=off)
    assert np.isfinite(kept.depth).all() and np.isfinite(kept.cloud.xyz).all()


def test_relative_depth_keeps_every_pixel_and_its_points_are_filtered(ramp) -> None:
    depth, flying = ramp
    inverse = 1.0 / depth
    settings = OutputSettings(relative_scale=1.0)
    out = frame_outputs(
        None, inverse, metric=False, settings=settings, camera=camera(k=NARROW), quality=DepthQualitySettings()
    )
    assert np.array_equal(out.depth, inverse)
    np.testing.assert_array_equal(np.isnan(out.cloud.xyz[..., 2]), flying)


def test_without_intrinsics_nothing_is_filtered(ramp) -> None:
    depth, _ = ramp
    out = frame_outputs(None, depth, metric=True, settings=OutputSettings(), quality=DepthQualitySettings())
    assert np.isfinite(out.depth).all() and out.cloud is None


def test_confidence_is_made_only_when_wanted_with_the_callers_factors(ramp) -> None:
    depth, flying = ramp
    depth[0, 0] = np.nan
    half = np.full(depth.shape, 0.5, dtype=np.float32)
    out = frame_outputs(
        None,
        depth,
        metric=True,
        settings=OutputSettings(),
        camera=camera(k=NARROW),
        quality=DepthQualitySettings(flying_pixel_filter=False),
        want_confidence=True,
        confidence_factors=lambda: (half,),
        want_cloud=False,
    )
    assert out.confidence.dtype == np.float32 and out.confidence.shape == depth.shape
    assert (out.confidence[flying] == 0).all() and out.confidence[0, 0] == 0
    radius = boundary_radius(24, 32)
    far = np.abs(np.arange(32) - 15.5) >= 3.5 + radius  # the radius or farther from every flying pixel
    assert (out.confidence[1:, far] == 0.5).all()
    assert 0 < out.confidence[5, RAMP.stop] < 0.5
    no_camera = frame_outputs(
        None, depth, metric=True, settings=OutputSettings(), want_confidence=True, confidence_factors=lambda: (half,)
    )
    assert no_camera.confidence[0, 0] == 0 and (no_camera.confidence.ravel()[1:] == 0.5).all()


def test_the_callers_factors_are_made_only_when_the_confidence_is(ramp) -> None:
    depth, _ = ramp

    def refuse() -> tuple[np.ndarray, ...]:
        raise AssertionError("factors made for a confidence nobody needs")

    for quality, want_cloud in ((DepthQualitySettings(), True), (DepthQualitySettings(min_confidence=0.5), False)):
        out = frame_outputs(
            None,
            depth,
            metric=True,
            settings=OutputSettings(),
            camera=camera(k=NARROW),
            quality=quality,
            want_cloud=want_cloud,
            confidence_factors=refuse,
        )
        assert out.confidence is None


def test_min_confidence_drops_points_and_keeps_the_depth(ramp) -> None:
    depth, _ = ramp
    quality = DepthQualitySettings(flying_pixel_filter=False, min_confidence=0.5)
    out = frame_outputs(None, depth, metric=True, settings=OutputSettings(), camera=camera(k=NARROW), quality=quality)
    assert np.isfinite(out.depth).all()
    np.testing.assert_array_equal(np.isnan(out.cloud.xyz[..., 2]), out.confidence < 0.5)
    assert 0 < np.isnan(out.cloud.xyz[..., 2]).mean() < 1
