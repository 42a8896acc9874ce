"""Unit tests for vda_ros.core.colormap: colouring rule and the stable colour range."""

import cv2
import numpy as np
import pytest

from vda_ros.core.colormap import ColorScale, colorize, robust_range


def _inferno(index: int) -> np.ndarray:
    """The BGR colour OpenCV's inferno map gives one index."""
    return cv2.applyColorMap(np.array([[index]], dtype=np.uint8), cv2.COLORMAP_INFERNO)[0, 0]


def test_colorize_grayscale_writes_truncated_index_to_all_channels():
    values = np.array([[-1.0, 0.0, 1.0, 1.5], [2.0, 3.0, 4.0, 9.0]], dtype=np.float32)
    image = colorize(values, vmin=1.0, vmax=3.0, grayscale=True)
    # clip((v - 1) / 2, 0, 1) * 255 truncated: 0, 0, 0, 63 (63.75), 127 (127.5), 255, 255, 255
    expected = np.array([[0, 0, 0, 63], [127, 255, 255, 255]], dtype=np.uint8)
    assert image.shape == (2, 4, 3) and image.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], expected)


def test_colorize_uses_inferno_map():
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    image = colorize(values, 0.0, 1.0)
    for column, index in enumerate((0, 127, 255)):
        np.testing.assert_array_equal(image[0, column], _inferno(index))
    assert not np.array_equal(_inferno(255), [0, 0, 0])  # the map's top is not black


def test_colorize_non_finite_values_are_black():
    values = np.array([[np.nan, np.inf, -np.inf, 0.5]], dtype=np.float32)
    for grayscale in (False, True):
        image = colorize(values, 0.0, 1.0, grayscale=grayscale)
        np.testing.assert_array_equal(image[0, :3], np.zeros((3, 3), dtype=np.uint8))
        assert image[0, 3].any()


def test_colorize_degenerate_range_does_not_divide_by_zero():
    values = np.array([[1.0, 2.0, 3.0, np.nan]], dtype=np.float32)
    with np.errstate(all="raise"):
        image = colorize(values, 2.0, 2.0, grayscale=True)
    np.testing.assert_array_equal(image[0, :, 0], [0, 0, 255, 0])


def test_robust_range_uses_percentiles_of_finite_values():
    values = np.concatenate([np.arange(101, dtype=np.float32), [np.nan, np.inf, -np.inf]])
    assert robust_range(values) == pytest.approx((2.0, 98.0))
    assert robust_range(np.full((3, 3), np.nan)) is None


def test_color_scale_first_frame_sets_percentile_range():
    values = np.linspace(0.0, 100.0, 101, dtype=np.float32).reshape(1, -1)
    assert ColorScale().update(values) == pytest.approx((2.0, 98.0))


def test_color_scale_moves_slowly_toward_new_frames():
    scale = ColorScale(smoothing=0.1)
    first = np.linspace(0.0, 100.0, 101, dtype=np.float32).reshape(1, -1)
    scale.update(first)
    jumped = first * 10.0  # percentiles 20 and 980
    vmin, vmax = scale.update(jumped)
    assert vmin == pytest.approx(2.0 + 0.1 * (20.0 - 2.0))
    assert vmax == pytest.approx(98.0 + 0.1 * (980.0 - 98.0))
    for _ in range(200):
        vmin, vmax = scale.update(jumped)
    assert (vmin, vmax) == pytest.approx((20.0, 980.0), rel=1e-6)


def test_color_scale_keeps_range_on_frames_without_finite_values_and_resets():
    scale = ColorScale()
    values = np.linspace(0.0, 100.0, 101, dtype=np.float32)
    before = scale.update(values)
    assert scale.update(np.full(5, np.nan)) == before
    scale.reset()
    assert scale.update(values * 2) == pytest.approx((4.0, 196.0))


def test_color_scale_fixed_range_never_changes():
    scale = ColorScale(vmin=0.5, vmax=4.0)
    assert scale.fixed
    rng = np.random.default_rng(1)
    for _ in range(5):
        assert scale.update(rng.uniform(-100, 100, (8, 8))) == (0.5, 4.0)


def test_color_scale_one_fixed_bound_tracks_the_other():
    scale = ColorScale(vmin=0.0)
    assert not scale.fixed
    vmin, vmax = scale.update(np.linspace(10.0, 110.0, 101))
    assert vmin == 0.0 and vmax == pytest.approx(108.0)


def test_color_scale_rejects_bad_smoothing():
    with pytest.raises(ValueError):
        ColorScale(smoothing=0.0)
