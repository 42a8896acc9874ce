"""Flying pixels and confidence (vda_ros.core.depth_quality): the rule on exact geometry, each cue's values, and
issue 23's figures on the network-like synthetic scene (flying points removed, interior kept, sparsification).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from depth_quality_figures import (
    align_confidence,
    confidence_gain,
    constant_cue,
    filter_figures,
    node_confidence,
    oracle_cue,
)
from synthetic_scene import quality_sequence

from vda_ros.core.depth_quality import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_MAX_ANGLE,
    PATCH_SIZE,
    RESIDUAL_CAP,
    ConfidenceCues,
    DepthQualitySettings,
    agreement_confidence,
    boundary_radius,
    combine_confidence,
    flying_pixels,
    geometric_confidence,
    patch_pixels,
    residual_confidence,
    surface_angle_sine,
)
from vda_ros.core.options import OptionError
from vda_ros.core.settings import ModelSettings
from vda_ros.core.sparse import SparseSamples

FOCAL = 500.0
HEIGHT, WIDTH = 60, 80
CX, CY = (WIDTH - 1) / 2, (HEIGHT - 1) / 2


def rays(focal: float = FOCAL) -> np.ndarray:
    """(H, W, 3) viewing rays (x, y, 1) of the test camera."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    return np.stack(((u - CX) / focal, (v - CY) / focal, np.ones_like(u)), axis=-1)


def plane(normal: tuple[float, float, float], offset: float, focal: float = FOCAL) -> tuple[np.ndarray, np.ndarray]:
    """Depth of the plane n . X = offset, and the exact sine of the angle between each ray and it."""
    n = np.asarray(normal, dtype=np.float64)
    d = rays(focal)
    facing = d @ n
    with np.errstate(divide="ignore"):
        depth = offset / facing
    return depth.astype(np.float32), np.abs(facing) / (np.linalg.norm(n) * np.linalg.norm(d, axis=-1))


def flags(depth: np.ndarray, focal: float = FOCAL) -> np.ndarray:
    return flying_pixels(depth, focal, focal, CX, CY, DEFAULT_MAX_ANGLE)


@pytest.mark.parametrize("tilt", [0.0, 30.0, 60.0, 80.0])
def test_surface_angle_of_planes_is_exact(tilt):
    normal = (math.sin(math.radians(tilt)), 0.0, math.cos(math.radians(tilt)))
    depth, expected = plane(normal, 3.0)
    sine = surface_angle_sine(depth, FOCAL, FOCAL, CX, CY)
    np.testing.assert_allclose(sine, expected, atol=2e-3)


def test_floor_goes_only_where_it_is_seen_below_the_angle():
    wide = 100.0  # 44 degrees across 80 pixels: the floor is seen at up to 16 degrees
    depth, expected = plane((0.0, 1.0, 0.0), 0.3, wide)  # a floor 0.3 m below the camera
    below = rays(wide)[..., 1] > 0.004  # rows that see the floor (within 75 m)
    angle = np.degrees(np.arcsin(expected))
    flagged = flags(np.where(below, depth, np.nan), wide)
    assert flagged[below & (angle < DEFAULT_MAX_ANGLE - 0.5)].all()
    assert not flagged[below & (angle > DEFAULT_MAX_ANGLE + 0.5)].any()
    assert (angle[below] > DEFAULT_MAX_ANGLE + 0.5).sum() > 1000  # the near floor is there, and kept


def test_rows_computed_in_bands_give_the_whole_image_result(monkeypatch):
    rows, cols = np.mgrid[0:200, 0:640].astype(np.float32)
    depth = 3.0 + np.sin(rows / 7.0) + 0.5 * np.cos(cols / 5.0) + 0.01 * (rows * cols % 7)
    depth[50:53, 100:300] = np.nan
    banded = surface_angle_sine(depth, FOCAL, FOCAL, 320.0, 100.0)
    monkeypatch.setattr("vda_ros.core.depth_quality.BAND_PIXELS", depth.size)
    np.testing.assert_array_equal(banded, surface_angle_sine(depth, FOCAL, FOCAL, 320.0, 100.0))


def test_ramp_pixels_fly_and_a_sharp_step_has_none():
    step = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    step[:, 40:] = 4.0
    assert not flags(step).any()
    ramp = step.copy()
    ramp[:, 35:46] = np.linspace(2.0, 4.0, 11)  # a network's smooth boundary: 0.2 m per pixel
    flagged = flags(ramp)
    assert flagged[:, 36:45].all()  # steep on both sides
    assert not flagged[:, :35].any() and not flagged[:, 46:].any()


def test_invalid_pixels_stay_invalid_and_never_make_neighbours_fly():
    depth = np.full((HEIGHT, WIDTH), 3.0, dtype=np.float32)
    depth[10, 10], depth[20, 30], depth[30, 40], depth[40, 50] = np.nan, np.inf, 0.0, -2.0
    depth[45:, :] = np.nan
    flagged = flags(depth)
    assert not flagged.any()
    sine = surface_angle_sine(depth, FOCAL, FOCAL, CX, CY)
    assert np.isnan(sine[10, 10]) and np.isnan(sine[20, 30]) and np.isnan(sine[30, 40]) and np.isnan(sine[50, 0])
    assert not flags(np.full((4, 4), np.nan, dtype=np.float32)).any()


def test_a_ramp_against_an_invalid_region_is_judged_from_its_valid_side():
    depth = np.full((HEIGHT, WIDTH), np.nan, dtype=np.float32)
    depth[:, :10] = np.linspace(2.0, 4.0, 10)
    assert flags(depth)[:, :10].all()


def test_depth_scale_does_not_change_the_rule():
    ramp = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    ramp[:, 30:50] = np.linspace(2.0, 4.0, 20)
    ramp[:, 50:] = 4.0
    np.testing.assert_array_equal(flags(ramp), flags(7.5 * ramp))


@pytest.mark.parametrize(
    ("fx", "fy", "shape"),
    [(0.0, 500.0, (4, 4)), (500.0, math.nan, (4, 4)), (500.0, math.inf, (4, 4)), (500.0, 500.0, (4,))],
)
def test_bad_intrinsics_or_shape_are_refused(fx, fy, shape):
    with pytest.raises(ValueError):
        flying_pixels(np.ones(shape, dtype=np.float32), fx, fy, 2.0, 2.0)


def test_geometric_confidence_rises_with_distance_to_flying_pixels():
    flying = np.zeros((5, 30), dtype=bool)
    flying[:, 10] = True
    confidence = geometric_confidence(flying, 4.0)
    np.testing.assert_allclose(confidence[2, [10, 11, 12, 13, 14, 20, 0]], [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert confidence.dtype == np.float32
    np.testing.assert_array_equal(geometric_confidence(np.zeros((3, 3), dtype=bool), 4.0), np.ones((3, 3)))
    with pytest.raises(ValueError):
        geometric_confidence(flying, 0.0)


def test_agreement_confidence_is_exp_of_relative_disagreement():
    depth = np.array([[2.0, 2.0, 2.0, np.nan, 2.0, -1.0]], dtype=np.float32)
    other = np.array([[2.0, 2.2, np.nan, 2.0, -1.0, 2.0]], dtype=np.float32)
    expected = [[1.0, math.exp(-1.0), 1.0, 1.0, 1.0, 1.0]]  # an invalid (NaN, non-positive) side: no evidence
    np.testing.assert_allclose(agreement_confidence(depth, other), expected, rtol=1e-6)
    np.testing.assert_allclose(agreement_confidence(depth, other, 0.2)[0, 1], math.exp(-0.5), rtol=1e-6)
    with pytest.raises(ValueError):
        agreement_confidence(depth, other[:, :2])


def grid_samples(depth: np.ndarray, sensor: np.ndarray, every: int = 4) -> SparseSamples:
    rows, cols = np.mgrid[0 : depth.shape[0] : every, 0 : depth.shape[1] : every]
    rows, cols = rows.ravel(), cols.ravel()
    return SparseSamples(rows, cols, sensor[rows, cols].astype(np.float64), depth.shape)


def test_residual_confidence_finds_where_the_sensor_disagrees():
    depth = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    sensor = depth.astype(np.float64)
    sensor[:, 60:] = 2.0 / 1.15  # the depth is 15 % too far on the right
    confidence = residual_confidence(depth, grid_samples(depth, sensor, every=2), radius=4.0)
    assert confidence[:, :45].min() > 0.99
    assert confidence[:, 70:].max() < math.exp(-1.5) + 0.03
    assert confidence.dtype == np.float32 and confidence.shape == depth.shape


def test_residual_confidence_caps_one_sensor_outlier():
    depth = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    sensor = depth.astype(np.float64)
    sensor[28, 40] = 0.2  # a near return: residual 9
    confidence = residual_confidence(depth, grid_samples(depth, sensor), radius=4.0)
    assert confidence.min() > math.exp(-RESIDUAL_CAP / 0.1 / 2)


def test_residual_confidence_falls_back_to_the_frame_median_far_from_samples():
    depth = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    samples = SparseSamples(np.array([0, 1, 2]), np.array([0, 1, 2]), np.full(3, 2.0 / 1.05), depth.shape)
    confidence = residual_confidence(depth, samples, radius=4.0)
    np.testing.assert_allclose(confidence[HEIGHT - 1, WIDTH - 1], math.exp(-0.5), rtol=1e-4)


def test_residual_confidence_without_usable_samples_is_neutral():
    depth = np.full((HEIGHT, WIDTH), np.nan, dtype=np.float32)
    samples = SparseSamples(np.array([5]), np.array([5]), np.array([2.0]), depth.shape)
    np.testing.assert_array_equal(residual_confidence(depth, samples, 4.0), np.ones(depth.shape))
    with pytest.raises(ValueError):
        residual_confidence(depth[:10], samples, 4.0)


def test_combine_confidence_multiplies_and_zeroes_invalid_pixels():
    depth = np.array([[1.0, 2.0, np.nan, 0.0, 3.0]], dtype=np.float32)
    first = np.array([[0.5, 1.5, 1.0, 1.0, -1.0]], dtype=np.float32)
    second = np.array([[0.5, 0.8, 1.0, 1.0, 1.0]], dtype=np.float32)
    combined = combine_confidence(depth, first, None, second)
    np.testing.assert_allclose(combined, [[0.25, 0.8, 0.0, 0.0, 0.0]])
    assert combined.dtype == np.float32
    np.testing.assert_array_equal(combine_confidence(depth), [[1.0, 1.0, 0.0, 0.0, 1.0]])
    with pytest.raises(ValueError):
        combine_confidence(depth, first[:, :2])


def test_cues_compare_each_frame_with_the_previous_one_of_the_stream():
    cues = ConfidenceCues()
    first = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    second = first.copy()
    second[:, :10] = 2.2  # 10 % farther than the frame before
    assert cues.next_frame(first)() == (), "the first frame has nothing to be compared with"
    (stability,) = cues.next_frame(second)()
    np.testing.assert_allclose(stability[:, :10], math.exp(-1 / 1.1), rtol=1e-5)
    assert (stability[:, 10:] == 1.0).all()
    cues.next_frame(first[:20])  # another size: another stream, nothing to compare
    assert cues.next_frame(first[:20].copy())()[0].min() == 1.0
    cues.reset()
    assert cues.next_frame(second)() == ()


def test_cues_add_the_refined_depth_and_the_range_sensor():
    depth = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    refined = depth.copy()
    refined[:, 40:] = 1.8
    sensor = depth.astype(np.float64) / 1.05
    cues = ConfidenceCues()
    stability, residual = cues.next_frame(depth, grid_samples(depth, sensor), refined=refined)()
    np.testing.assert_array_equal(stability, agreement_confidence(depth, refined))
    np.testing.assert_allclose(residual, math.exp(-0.5), rtol=1e-4)
    assert len(cues.next_frame(depth, refined=refined)()) == 2, "the previous frame and the refined depth"


def test_boundary_radius_is_two_patches_of_the_network_input():
    assert patch_pixels(480, 640) == pytest.approx(14 * 480 / 518)
    assert boundary_radius(480, 640) == pytest.approx(2 * 14 * 480 / 518)
    assert boundary_radius(640, 480, 280) == pytest.approx(2 * 14 * 480 / 280)
    flying = np.zeros((480, 640), dtype=bool)
    flying[:, 0] = True
    confidence = geometric_confidence(flying)  # default radius: boundary_radius
    assert confidence[0, 12] < 1.0 and confidence[0, 26] == 1.0


def test_constants_match_the_model():
    from vda_ros.model.config import PATCH_SIZE as MODEL_PATCH_SIZE

    assert PATCH_SIZE == MODEL_PATCH_SIZE
    assert ModelSettings.option("input_size").default == DEFAULT_INPUT_SIZE


def test_settings_group():
    settings = DepthQualitySettings()
    assert (settings.flying_pixel_filter, settings.flying_pixel_angle, settings.min_confidence) == (True, 5.0, 0.0)
    assert all(item.runtime for item in DepthQualitySettings.options())
    changed = DepthQualitySettings.from_values({"flying_pixel_filter": False, "min_confidence": 0.5})
    assert (changed.flying_pixel_filter, changed.min_confidence) == (False, 0.5)
    with pytest.raises(OptionError, match=r"min_confidence must be from 0 to 1; got 1.5"):
        DepthQualitySettings.from_values({"min_confidence": 1.5})
    with pytest.raises(OptionError, match=r"flying_pixel_angle must be from 0.5 to 45; got 60"):
        DepthQualitySettings.from_values({"flying_pixel_angle": 60})


@pytest.fixture(scope="module")
def sequence():
    """Four 640x480 frames of the network-like scene in metres (true alignment), with LiDAR-like data."""
    return quality_sequence(4)


def test_filter_removes_flying_points_and_keeps_the_interior(sequence):
    figures = filter_figures(sequence, DEFAULT_MAX_ANGLE)
    assert figures.flying_off > 10_000  # the unfiltered metres do fly
    assert figures.flying_reduction >= 5.0, figures
    assert figures.interior_kept >= 0.95, figures


def test_confidence_sparsification(sequence):
    assert confidence_gain(sequence, constant_cue) == pytest.approx(0.0, abs=1e-9)
    assert 0.45 <= confidence_gain(sequence, oracle_cue) <= 0.65
    assert confidence_gain(sequence, node_confidence) >= 0.25
    assert confidence_gain(sequence, align_confidence) >= 0.25
