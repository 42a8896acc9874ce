"""Unit tests for vda_ros.core.geometry: intrinsics scaling, validity masking, back-projection."""

import math

import numpy as np
import pytest

from vda_ros.core import geometry
from vda_ros.core.geometry import (
    backproject,
    depth_for_publishing,
    inverse_depth_to_metric,
    mask_depth_range,
    scale_intrinsics,
    scale_projection,
)

K = np.array([[500.0, 0.0, 320.0], [0.0, 400.0, 240.0], [0.0, 0.0, 1.0]])
P = np.array([[500.0, 0.0, 320.0, -25.0], [0.0, 400.0, 240.0, 4.0], [0.0, 0.0, 1.0, 0.0]])


def test_scale_intrinsics_multiplies_u_row_by_width_ratio_and_v_row_by_height_ratio():
    scaled = scale_intrinsics(K, (640, 480), (320, 120))
    expected = np.array([[250.0, 0.0, 160.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(scaled, expected)
    np.testing.assert_array_equal(K[0], [500.0, 0.0, 320.0])  # input untouched


def test_scale_projection_scales_tx_ty_and_keeps_last_row():
    scaled = scale_projection(P, (640, 480), (1280, 240))
    expected = np.array([[1000.0, 0.0, 640.0, -50.0], [0.0, 200.0, 120.0, 2.0], [0.0, 0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(scaled, expected)


def test_scaled_intrinsics_project_points_to_scaled_pixels():
    point = np.array([0.3, -0.2, 2.0])
    src = K @ point
    dst = scale_intrinsics(K, (640, 480), (518, 392)) @ point
    np.testing.assert_allclose(dst[:2] / dst[2], src[:2] / src[2] * [518 / 640, 392 / 480])


@pytest.mark.parametrize(
    ("matrix", "size"),
    [(np.eye(3), (0, 480)), (np.zeros((3, 4)), (640, 480))],
)
def test_scale_rejects_zero_sizes_and_wrong_shapes(matrix, size):
    with pytest.raises(ValueError):
        scale_intrinsics(matrix, size, (320, 240))


def test_mask_depth_range_marks_invalid_values_nan_and_copies():
    depth = np.array([[1.0, 0.0, -2.0, np.nan], [np.inf, -np.inf, 0.5, 9.0]], dtype=np.float32)
    masked = mask_depth_range(depth, min_depth=0.5, max_depth=5.0)
    expected = np.array([[1.0, np.nan, np.nan, np.nan], [np.nan, np.nan, 0.5, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(masked, expected)
    assert masked.dtype == np.float32
    assert depth[1, 3] == 9.0  # input untouched


def test_mask_depth_range_without_limits_still_rejects_nonpositive_and_infinite():
    depth = np.array([1e-6, 0.0, np.inf, 1e30], dtype=np.float64)
    masked = mask_depth_range(depth)
    np.testing.assert_array_equal(np.isnan(masked), [False, True, True, False])


def test_mask_depth_range_rejects_inverted_limits():
    with pytest.raises(ValueError):
        mask_depth_range(np.ones((2, 2)), min_depth=3.0, max_depth=1.0)


def test_backproject_matches_hand_computation():
    depth = np.array([[2.0, 4.0, 1.0], [3.0, 5.0, 8.0]], dtype=np.float32)
    fx, fy, cx, cy = 2.0, 4.0, 1.0, 0.5
    xyz = backproject(depth, fx, fy, cx, cy)
    assert xyz.shape == (2, 3, 3) and xyz.dtype == np.float32
    # pixel (u=0, v=0): X = (0 - 1) / 2 * 2 = -1, Y = (0 - 0.5) / 4 * 2 = -0.25
    np.testing.assert_allclose(xyz[0, 0], [-1.0, -0.25, 2.0])
    # pixel (u=2, v=1): X = (2 - 1) / 2 * 8 = 4, Y = (1 - 0.5) / 4 * 8 = 1
    np.testing.assert_allclose(xyz[1, 2], [4.0, 1.0, 8.0])
    # pixel (u=1, v=1) lies on the principal column: X = 0
    np.testing.assert_allclose(xyz[1, 1], [0.0, 0.625, 5.0])


def test_backproject_invalid_points_are_nan_in_all_coordinates():
    depth = np.array([[1.0, np.nan, 0.0], [-1.0, 20.0, 0.1]], dtype=np.float32)
    xyz = backproject(depth, 1.0, 1.0, 0.0, 0.0, min_depth=0.2, max_depth=10.0)
    nan_points = np.isnan(xyz)
    np.testing.assert_array_equal(nan_points.all(axis=2), [[False, True, True], [True, True, True]])
    np.testing.assert_array_equal(nan_points.any(axis=2), nan_points.all(axis=2))
    np.testing.assert_allclose(xyz[0, 0], [0.0, 0.0, 1.0])


def test_backproject_stride_samples_every_sth_pixel():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 5.0, (7, 10)).astype(np.float32)
    fx, fy, cx, cy = 5.0, 6.0, 4.5, 3.0
    strided = backproject(depth, fx, fy, cx, cy, stride=3)
    assert strided.shape == (3, 4, 3)
    full = backproject(depth, fx, fy, cx, cy)
    np.testing.assert_array_equal(strided, full[::3, ::3])
    # row index 2 of the strided grid is image row v=6, column index 3 is u=9
    z = depth[6, 9]
    np.testing.assert_allclose(strided[2, 3], [(9 - cx) / fx * z, (6 - cy) / fy * z, z], rtol=1e-6)


def test_backproject_reuses_cached_rays_and_rejects_bad_arguments():
    depth = np.ones((4, 6), dtype=np.float32)
    backproject(depth, 3.0, 3.0, 2.0, 1.0)
    hits = geometry._ray_slopes.cache_info().hits
    backproject(depth * 2, 3.0, 3.0, 2.0, 1.0)
    assert geometry._ray_slopes.cache_info().hits == hits + 1
    with pytest.raises(ValueError):
        backproject(depth, 3.0, 3.0, 2.0, 1.0, stride=0)
    with pytest.raises(ValueError):
        backproject(depth, 0.0, 3.0, 2.0, 1.0)
    with pytest.raises(ValueError):
        backproject(depth[0], 3.0, 3.0, 2.0, 1.0)


def test_inverse_depth_to_metric_inverts_affine_disparity():
    rel = np.array([0.5, 1.0, 2.0, 0.0, -1.0, np.nan, np.inf], dtype=np.float32)
    metric = inverse_depth_to_metric(rel, scale=2.0, shift=1.0)
    # 1 / (2 * rel + 1); denominators 2, 3, 5, 1, -1 (invalid), nan, inf (invalid)
    expected = np.array([0.5, 1 / 3, 0.2, 1.0, np.nan, np.nan, np.nan], dtype=np.float32)
    np.testing.assert_allclose(metric, expected, rtol=1e-6)
    assert metric.dtype == np.float32


def test_inverse_depth_to_metric_zero_denominator_is_nan_not_inf():
    metric = inverse_depth_to_metric(np.array([[1.0, 3.0]]), scale=-1.0, shift=1.0)
    assert math.isnan(metric[0, 0]) and math.isnan(metric[0, 1])


def test_published_metric_depth_has_nan_for_no_depth_and_relative_is_unchanged() -> None:
    prediction = np.array([[0.0, 2.0], [np.inf, 1.5]], dtype=np.float32)
    metric = depth_for_publishing(prediction, metric=True)
    assert np.isnan(metric[0, 0]) and np.isnan(metric[1, 0]) and metric[0, 1] == 2.0 and metric[1, 1] == 1.5
    np.testing.assert_array_equal(depth_for_publishing(prediction, metric=False), prediction)
