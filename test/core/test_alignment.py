"""Alignment to sparse range data on the synthetic ray-cast sequence (known depth), without ROS."""

from __future__ import annotations

import time

import numpy as np
import pytest
from synthetic_scene import CORRUPTED_FRAMES, DROPPED_FRAMES, frame_abs_rel, lidar_points, synthetic_sequence

from vda_ros.core.alignment import Alignment, FitSettings, TemporalAligner, TemporalSettings, TrackState, fit_alignment
from vda_ros.core.geometry import quaternion_matrix
from vda_ros.core.sparse import Extrinsic, StampedHistory, samples_from_depth_image, samples_from_points

PERIOD = 0.1


@pytest.fixture(scope="module")
def sequence():
    return synthetic_sequence()


def run_sequence(scene, prediction, sparse, method: str, temporal: bool) -> tuple[np.ndarray, list[TrackState]]:
    """Per-frame AbsRel of the aligned depth and the filter's states, as the node would produce them."""
    settings = TemporalSettings() if temporal else TemporalSettings(smoothing=1.0, max_jump=1e9)
    aligner = TemporalAligner(settings)
    errors, states = [], []
    for index in range(scene.frames):
        fit = x = None
        if sparse[index] is not None:
            samples = samples_from_depth_image(sparse[index], prediction[index].shape)
            x = samples.values_at(prediction[index])
            fit = fit_alignment(x, samples.depth, False, FitSettings(method=method))
        status = aligner.update(index * PERIOD, fit, x)
        assert status.alignment is not None, f"frame {index}: no alignment ({status.state}, {status.note})"
        errors.append(frame_abs_rel(status.alignment.apply(prediction[index]), scene.depth[index]))
        states.append(status.state)
    return np.array(errors), states


def test_robust_temporal_alignment_meets_the_bound_and_least_squares_does_not(sequence):
    scene, prediction, sparse = sequence
    robust, states = run_sequence(scene, prediction, sparse, "robust", temporal=True)
    assert np.median(robust) <= 0.04 and robust.max() <= 0.08
    assert all(states[i] == TrackState.HOLDING for i in DROPPED_FRAMES | CORRUPTED_FRAMES)
    least_squares, _ = run_sequence(scene, prediction, sparse, "least_squares", temporal=True)
    assert np.median(least_squares) > 0.08  # outliers drag the plain fit far off
    per_frame, _ = run_sequence(scene, prediction, sparse, "robust", temporal=False)
    assert max(per_frame[i] for i in CORRUPTED_FRAMES) > 0.08  # only the temporal filter refuses those frames


def test_a_robust_fit_recovers_the_true_map_despite_outliers(sequence):
    _, prediction, sparse = sequence
    samples = samples_from_depth_image(sparse[0], prediction[0].shape)
    fit = fit_alignment(samples.values_at(prediction[0]), samples.depth, False, FitSettings())
    assert fit.alignment is not None
    assert 0.85 * fit.samples <= fit.inliers < fit.samples  # the 7 % outliers are found, the rest kept
    assert fit.residual < 0.02
    # prediction = a / depth + b, so depth = 1 / (x / a - b / a)
    scale, shift = 1 / 0.8 / 1.0, -(0.05 + 0.02) / 0.8
    assert fit.alignment.scale == pytest.approx(scale, rel=0.03)
    assert fit.alignment.shift == pytest.approx(shift, abs=0.02)


def test_metric_input_fits_scale_alone():
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.5, 10.0, 500)
    predicted = 1.3 * truth  # a metric model 30 % too far
    sparse = truth * (1 + 0.005 * rng.standard_normal(500))
    sparse[:40] = 0.2  # near returns
    fit = fit_alignment(predicted, sparse, True, FitSettings())
    assert fit.alignment is not None and fit.alignment.shift == 0.0
    np.testing.assert_allclose(fit.alignment.apply(predicted), truth, rtol=0.01)


def test_too_few_samples_or_inliers_are_rejected_with_a_reason():
    x = np.linspace(0.2, 1.0, 10)
    fit = fit_alignment(x, 1 / x, False, FitSettings())
    assert fit.alignment is None and "fewer than min_inliers" in fit.reason
    rng = np.random.default_rng(0)
    noise = rng.uniform(0.3, 10.0, 400)
    fit = fit_alignment(rng.uniform(0.1, 1.0, 400), noise, False, FitSettings())
    assert fit.alignment is None and "inliers of 400" in fit.reason


def test_temporal_filter_holds_for_hold_time_then_is_lost_and_relocks():
    aligner = TemporalAligner(TemporalSettings(hold_time=0.5, jump_frames=3))
    x = np.linspace(0.1, 1.0, 50)
    good = fit_alignment(x, 1 / (2 * x + 0.1), False, FitSettings(min_inliers=10))
    assert aligner.update(0.0, None).state == TrackState.WAITING
    assert aligner.update(0.1, good, x).state == TrackState.TRACKING
    held = aligner.update(0.5, None)
    assert held.state == TrackState.HOLDING and held.since_good == pytest.approx(0.4)
    lost = aligner.update(0.7, None)
    assert lost.state == TrackState.LOST and lost.alignment is None
    # after a loss the first good fit is taken at once, even far from the old one
    moved = fit_alignment(x, 1 / (3 * x + 0.1), False, FitSettings(min_inliers=10))
    status = aligner.update(0.8, moved, x)
    assert status.state == TrackState.TRACKING and status.alignment.scale == pytest.approx(3.0)
    # a persistent jump is held back twice, then followed
    jumped = fit_alignment(x, 1 / (4 * x + 0.1), False, FitSettings(min_inliers=10))
    states = [aligner.update(0.9 + 0.1 * i, jumped, x).state for i in range(3)]
    assert states == [TrackState.HOLDING, TrackState.HOLDING, TrackState.TRACKING]
    assert aligner.alignment.scale == pytest.approx(4.0)


def test_points_with_an_extrinsic_give_the_same_samples_as_the_depth_image(sequence):
    scene, prediction, sparse = sequence
    points = lidar_points(sparse[0], scene.intrinsics)
    # the LiDAR frame: rotated 90 degrees about z and 0.2 m to the side of the camera
    rotation = quaternion_matrix(0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4))
    translation = np.array([0.2, 0.0, 0.0])
    in_lidar = (points - translation) @ rotation  # inverse of p_camera = R p_lidar + t
    fx, fy, cx, cy = scene.intrinsics[0, 0], scene.intrinsics[1, 1], scene.intrinsics[0, 2], scene.intrinsics[1, 2]
    from_points = samples_from_points(in_lidar, Extrinsic(translation, rotation), (fx, fy, cx, cy), prediction[0].shape)
    from_image = samples_from_depth_image(sparse[0], prediction[0].shape)
    order_p = np.lexsort((from_points.cols, from_points.rows))
    order_i = np.lexsort((from_image.cols, from_image.rows))
    np.testing.assert_array_equal(from_points.rows[order_p], from_image.rows[order_i])
    np.testing.assert_array_equal(from_points.cols[order_p], from_image.cols[order_i])
    np.testing.assert_allclose(from_points.depth[order_p], from_image.depth[order_i], rtol=1e-6)


def test_depth_image_samples_map_onto_another_resolution():
    sparse = np.zeros((4, 6), dtype=np.float32)
    sparse[1, 2], sparse[3, 5] = 2.0, np.nan
    samples = samples_from_depth_image(sparse, (8, 12))
    assert (samples.rows.tolist(), samples.cols.tolist(), samples.depth.tolist()) == ([3], [5], [2.0])


def test_stamped_history_pairs_the_nearest_within_the_offset():
    history: StampedHistory[str] = StampedHistory(capacity=3)
    for stamp, name in ((100, "a"), (300, "c"), (200, "b"), (400, "d")):
        history.add(stamp, name)
    assert history.nearest(190, 50) == "b"
    assert history.nearest(390, 50) == "d"
    assert history.nearest(100, 50) is None  # "a" fell out of the capacity
    assert history.nearest(600, 50) is None


def test_stamped_history_of_a_whole_recording_pairs_every_frame_in_linear_time():
    """Each query rebuilt the list of stamps: pairing the 50,000 frames of a recording took minutes."""
    stamps = range(0, 500_000, 10)
    history: StampedHistory[int] = StampedHistory(capacity=None)
    for stamp in stamps:
        history.add(stamp, stamp)
    start = time.perf_counter()
    assert [history.nearest(stamp + 3, 4) for stamp in stamps] == list(stamps)
    assert time.perf_counter() - start < 10.0, "quadratic: about 60 s on a 2-core machine; linear: 0.2 s"


def test_alignment_apply_gives_nan_where_no_positive_depth():
    depth = Alignment(scale=2.0, shift=-0.5, metric_input=False).apply(np.array([[1.0, 0.1]], dtype=np.float32))
    assert depth[0, 0] == pytest.approx(1 / 1.5) and np.isnan(depth[0, 1])


def test_quaternion_of_a_lidar_mounted_x_forward_z_up_maps_its_axes_onto_the_optical_frame():
    rotation = quaternion_matrix(0.5, -0.5, 0.5, 0.5)  # the README's example
    np.testing.assert_allclose(rotation @ [1, 0, 0], [0, 0, 1], atol=1e-12)  # forward -> optical z
    np.testing.assert_allclose(rotation @ [0, 1, 0], [-1, 0, 0], atol=1e-12)  # left -> optical -x
    np.testing.assert_allclose(rotation @ [0, 0, 1], [0, -1, 0], atol=1e-12)  # up -> optical -y


def test_millimetre_and_metre_depth_images_read_as_metres_with_nan_for_no_return():
    from sensor_msgs.msg import Image

    from vda_ros.ros.conversions import ImageConversionError, depth_to_msg, msg_to_metres

    millimetres = np.array([[0, 1500], [65535, 250]], dtype=">u2")
    padded = np.zeros((2, 3), dtype=">u2")
    padded[:, :2] = millimetres
    msg = Image(height=2, width=2, encoding="16UC1", is_bigendian=1, step=6, data=padded.tobytes())
    np.testing.assert_allclose(msg_to_metres(msg), [[np.nan, 1.5], [65.535, 0.25]], rtol=1e-6)
    metres = msg_to_metres(depth_to_msg(np.array([[0.0, np.inf], [2.0, np.nan]], dtype=np.float32), Image().header))
    assert np.isnan(metres[0]).all() and metres[1, 0] == 2.0 and np.isnan(metres[1, 1])
    with pytest.raises(ImageConversionError, match="16UC1"):
        msg_to_metres(Image(height=1, width=1, encoding="mono8", step=1, data=b"\x00"))
