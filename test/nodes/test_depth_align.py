"""depth_align over real DDS: a synthetic relative-depth stream and LiDAR-like sparse depth in, metric depth out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from depth_quality_figures import output_figures, published_gain
from diagnostic_msgs.msg import DiagnosticArray
from ros_helpers import NodeProcess, TestNode, diagnostic_values, wait_for_subscribers, wait_until
from ruamel.yaml import YAML
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header
from synthetic_scene import DROPPED_FRAMES, frame_abs_rel, lidar_points, quality_sequence, synthetic_sequence

from vda_ros.core.alignment import AlignerSettings, DepthAligner, FitSettings
from vda_ros.core.depth_quality import flying_pixels
from vda_ros.core.geometry import backproject, scale_intrinsics
from vda_ros.core.sparse import samples_from_depth_image
from vda_ros.nodes.depth_align import UNUSED_OUTPUTS, AlignSettings
from vda_ros.ros.child_nodes import node_command
from vda_ros.ros.conversions import cloud_to_xyz, depth_to_msg, msg_to_depth, points_to_cloud

# Every test here starts rclpy or ROS nodes.
pytestmark = pytest.mark.ros

MODULE = "vda_ros.nodes.depth_align"
START_S = 1_700_000_000
PERIOD_NS = 100_000_000
FRAME_ID = "cam_optical"
WAIT = 60.0
PARAMS_FILE = Path(__file__).resolve().parents[2] / "config" / "depth_align.yaml"
RELIABLE = {"input_reliability": "reliable", "input_queue_depth": 50, "diagnostics_period": 0.2}


@pytest.fixture(scope="module")
def ros() -> Iterator[TestNode]:
    node = TestNode("depth_align_test")
    yield node
    node.close()


@pytest.fixture(scope="module")
def sequence():
    return synthetic_sequence()


def header(index: int) -> Header:
    stamp_ns_value = START_S * 10**9 + index * PERIOD_NS
    return Header(stamp=Time(sec=stamp_ns_value // 10**9, nanosec=stamp_ns_value % 10**9), frame_id=FRAME_ID)


def camera_info(scene, scale: int = 1) -> CameraInfo:
    """The scene camera's CameraInfo; scale 2: of the camera's full-size image, twice the depth's size."""
    height, width = scene.depth.shape[1:]
    k = scale_intrinsics(scene.intrinsics, (width, height), (scale * width, scale * height))
    p = np.hstack((k, np.zeros((3, 1))))
    height, width = scale * height, scale * width
    return CameraInfo(
        header=header(0),
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=k.ravel(),
        r=np.eye(3).ravel(),
        p=p.ravel(),
    )


@dataclass
class Streamed:
    """What depth_align published for a stream."""

    depths: list[np.ndarray]
    """depth/image of each frame."""
    cloud: PointCloud2
    """points of the last frame."""
    diagnostics: dict[str, str]
    """The alignment status once every frame was published."""
    confidences: list[np.ndarray]
    """depth/confidence of each frame (when asked for: a subscriber makes the node compute it)."""


def stream(
    ros: TestNode,
    namespace: str,
    scene,
    prediction,
    sparse_messages,
    frames: int,
    info_scale: int = 1,
    confidence: bool = False,
    lead: int = 1,
) -> Streamed:
    """Publish the stream frame by frame, each sparse message `lead` frames ahead; return the outputs by frame.

    depth/camera_info is published once, for an image info_scale times the depth's size.
    """
    depth_pub = ros.publisher(Image, f"{namespace}/depth/relative", depth=50)
    info_pub = ros.publisher(CameraInfo, f"{namespace}/depth/camera_info")
    sparse_type = type(next(m for m in sparse_messages if m is not None))
    sparse_topic = "sparse_points" if sparse_type is PointCloud2 else "sparse_depth"
    sparse_pub = ros.publisher(sparse_type, f"{namespace}/{sparse_topic}", depth=50)
    depth_out = ros.collect(Image, f"{namespace}/depth/image", depth=100)
    points_out = ros.collect(PointCloud2, f"{namespace}/points", depth=100)
    confidence_out = ros.collect(Image, f"{namespace}/depth/confidence", depth=100) if confidence else None
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics", depth=100)
    for publisher in (depth_pub, info_pub, sparse_pub):
        wait_for_subscribers(publisher)
    if confidence:  # the node publishes the confidence only to a subscriber it knows of
        topic = f"{namespace}/depth/confidence"
        assert wait_until(lambda: ros.node.count_publishers(topic) >= 1, WAIT), f"nobody publishes {topic}"
    info_pub.publish(camera_info(scene, info_scale))
    for message in sparse_messages[:lead]:
        if message is not None:
            sparse_pub.publish(message)
    name = f"{namespace.strip('/')}/depth_align: alignment"

    def sparse_received() -> bool:
        values = diagnostic_values(diagnostics, f"/{name}")
        return values is not None and int(values["sparse messages"]) >= 1

    assert wait_until(sparse_received, WAIT), "the node never reported the first sparse message"
    outputs, confidences = [], []
    wanted = [collector for collector in (depth_out, confidence_out) if collector is not None]
    for index in range(frames):
        ahead = index + lead
        if ahead < frames and sparse_messages[ahead] is not None:
            sparse_pub.publish(sparse_messages[ahead])
        frame_header = header(index)
        depth_pub.publish(depth_to_msg(prediction[index], frame_header))
        assert wait_until(lambda h=frame_header: all(c.with_stamp(h.stamp) is not None for c in wanted), WAIT), (
            f"no depth (or confidence) for frame {index}"
        )
        outputs.append(msg_to_depth(depth_out.with_stamp(frame_header.stamp)))
        if confidence_out is not None:
            confidences.append(msg_to_depth(confidence_out.with_stamp(frame_header.stamp)))
    last = header(frames - 1).stamp
    assert wait_until(lambda: points_out.with_stamp(last) is not None, WAIT), "no cloud for the last frame"

    def all_reported() -> bool:
        values = diagnostic_values(diagnostics, f"/{name}")
        return values is not None and int(values["published"]) == frames

    assert wait_until(all_reported, WAIT), diagnostic_values(diagnostics, f"/{name}")
    return Streamed(outputs, points_out.with_stamp(last), diagnostic_values(diagnostics, f"/{name}"), confidences)


def sparse_image_message(image: np.ndarray | None, index: int) -> Image | None:
    return None if image is None else depth_to_msg(image, header(index))


def test_metric_depth_meets_the_bound_on_every_frame_and_least_squares_fails_it(ros, sequence, tmp_path: Path):
    scene, prediction, sparse = sequence
    messages = [sparse_image_message(image, i) for i, image in enumerate(sparse)]
    command = node_command(MODULE, RELIABLE, {"__ns": "/cam_a"}, params_file=PARAMS_FILE)
    with NodeProcess(command, tmp_path / "align.log") as process:
        streamed = stream(ros, "/cam_a", scene, prediction, messages, scene.frames)
        assert process.running(), process.log()
    outputs, cloud, diagnostics = streamed.depths, streamed.cloud, streamed.diagnostics
    errors = np.array([frame_abs_rel(depth, truth) for depth, truth in zip(outputs, scene.depth, strict=True)])
    assert np.median(errors) <= 0.04, errors
    assert errors.max() <= 0.08, errors
    assert max(errors[i] for i in DROPPED_FRAMES) <= 0.08  # frames without sparse data got the held alignment
    # the cloud is the published depth back-projected through depth/camera_info
    k = scene.intrinsics
    expected = backproject(outputs[-1], k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    np.testing.assert_allclose(cloud_to_xyz(cloud), expected, rtol=1e-6, equal_nan=True)
    assert diagnostics["state"] in ("tracking", "holding") and int(diagnostics["inliers"]) > 100
    assert int(diagnostics["without sparse data"]) == len(DROPPED_FRAMES)
    assert int(diagnostics["confidence not computed (no subscriber)"]) == scene.frames, "lazy: nobody listened"
    assert float(diagnostics["residual"]) < 0.03

    # The same pairing with a plain least-squares fit: the outliers break it, far beyond the bound.
    plain = DepthAligner(AlignerSettings(fit=FitSettings(method="least_squares")))
    plain_errors = []
    for index in range(scene.frames):
        samples = None if sparse[index] is None else samples_from_depth_image(sparse[index], prediction[index].shape)
        depth, _ = plain.align(index * PERIOD_NS / 1e9, prediction[index], samples)
        plain_errors.append(frame_abs_rel(depth, scene.depth[index]))
    assert np.median(plain_errors) > 0.08


def test_the_cloud_scales_a_camera_info_of_the_full_size_image_to_the_depth(ros, sequence, tmp_path: Path):
    """A camera_info of the camera's own resolution, the depth shrunk to half: points at the depth's intrinsics."""
    scene, prediction, sparse = sequence
    frames = 4
    messages = [sparse_image_message(image, i) for i, image in enumerate(sparse[:frames])]
    with NodeProcess(node_command(MODULE, RELIABLE, {"__ns": "/cam_d"}), tmp_path / "align.log") as process:
        streamed = stream(ros, "/cam_d", scene, prediction, messages, frames, info_scale=2)
        assert process.running(), process.log()
    outputs, cloud, diagnostics = streamed.depths, streamed.cloud, streamed.diagnostics
    k = scene.intrinsics
    expected = backproject(outputs[-1], k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    np.testing.assert_allclose(cloud_to_xyz(cloud), expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert diagnostics["bad inputs"] == "0", diagnostics


def lidar_clouds(scene, sparse, frames: int, translation: list[float]) -> list[PointCloud2 | None]:
    """The sparse depth of the first frames as LiDAR clouds, in a LiDAR placed at translation in the optical frame."""
    clouds: list[PointCloud2 | None] = []
    for index in range(frames):
        if sparse[index] is None:
            clouds.append(None)
            continue
        in_lidar = (lidar_points(sparse[index], scene.intrinsics) - translation).astype(np.float32)
        clouds.append(points_to_cloud(in_lidar, header(index)))
    return clouds


def assert_outputs_are_the_alignment_modules(outputs, scene, prediction, sparse) -> None:
    """Each output is the alignment module's depth of its frame, its flying pixels filtered (the default)."""
    reference = DepthAligner(AlignerSettings())
    fx, fy, cx, cy = scene.intrinsics[0, 0], scene.intrinsics[1, 1], scene.intrinsics[0, 2], scene.intrinsics[1, 2]
    for index, output in enumerate(outputs):
        samples = None if sparse[index] is None else samples_from_depth_image(sparse[index], prediction[index].shape)
        expected, _ = reference.align(index * PERIOD_NS / 1e9, prediction[index], samples)
        expected[flying_pixels(expected, fx, fy, cx, cy)] = np.nan
        np.testing.assert_allclose(output, expected, rtol=1e-4, equal_nan=True)


def test_points_with_an_extrinsic_give_what_the_alignment_module_gives(ros, sequence, tmp_path: Path):
    scene, prediction, sparse = sequence
    frames = 8
    translation = [0.1, -0.05, 0.02]  # the LiDAR sits 10 cm right of the camera, axes as the camera's
    messages = lidar_clouds(scene, sparse, frames, translation)
    params = {**RELIABLE, "sparse_source": "points", "sparse_translation": translation}
    with NodeProcess(node_command(MODULE, params, {"__ns": "/cam_b"}), tmp_path / "align.log") as process:
        outputs = stream(ros, "/cam_b", scene, prediction, messages, frames).depths
        assert process.running(), process.log()
    assert_outputs_are_the_alignment_modules(outputs, scene, prediction, sparse)


def hostile_cloud() -> PointCloud2:
    """Issue 20's cloud: 24 bytes of data (about 100 serialised) claiming 2^32 points through a row_step of 0."""
    fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, name in enumerate("xyz")]
    cloud = PointCloud2(header=header(0), height=2**31, width=2, fields=fields, point_step=12, row_step=0)
    cloud.data = bytes(24)
    return cloud


def test_a_hostile_cloud_is_reported_and_skipped_and_alignment_goes_on(ros, sequence, tmp_path: Path):
    scene, prediction, sparse = sequence
    frames = 6
    params = {**RELIABLE, "sparse_source": "points"}
    with NodeProcess(node_command(MODULE, params, {"__ns": "/cam_c"}), tmp_path / "align.log") as process:
        hostile = ros.publisher(PointCloud2, "/cam_c/sparse_points")
        diagnostics = ros.collect(DiagnosticArray, "/diagnostics", depth=100)
        wait_for_subscribers(hostile)
        hostile.publish(hostile_cloud())

        def reported() -> bool:
            values = diagnostic_values(diagnostics, "/cam_c/depth_align: alignment")
            return not process.running() or (values is not None and values["bad inputs"] == "1")

        assert wait_until(reported, WAIT) and process.running(), process.log()
        assert process.wait_for_log(
            "/cam_c/sparse_points: PointCloud2 row_step 0 is smaller than width 2 * point_step 12 = 24 (skipped", WAIT
        ), process.log()
        streamed = stream(ros, "/cam_c", scene, prediction, lidar_clouds(scene, sparse, frames, [0.0] * 3), frames)
        assert process.running(), process.log()
    outputs, values = streamed.depths, streamed.diagnostics
    assert_outputs_are_the_alignment_modules(outputs, scene, prediction, sparse)
    assert values["bad inputs"] == "1" and int(values["sparse messages"]) == sum(m is not None for m in sparse[:frames])


def test_bad_extrinsic_parameters_stop_the_node_with_a_message(tmp_path: Path):
    params = {"sparse_source": "points", "sparse_rotation": [0.0, 0.0, 0.0, 0.0]}
    with NodeProcess(node_command(MODULE, params), tmp_path / "align.log") as process:
        assert process.wait(WAIT) == 1
        assert "non-zero quaternion" in process.log()


QUALITY_FRAMES = 6
"""Frames of the network-like scene streamed with the flying-pixel filter off and on (issue 23's figures)."""


def test_flying_pixels_and_confidence_over_dds_meet_the_issue_figures(ros, tmp_path: Path):
    """Issue 23, measured through depth_align: 640x480 ray-cast boxes whose relative depth has the network's smooth
    boundaries, LiDAR-like scan lines with 7 % outliers; the filter off, then on (with min_confidence)."""
    sequence = quality_sequence(QUALITY_FRAMES)
    scene, prediction = sequence.scene, sequence.prediction
    messages = [sparse_image_message(image, i) for i, image in enumerate(sequence.sparse)]
    published = {}
    for namespace, quality in (("/q_off", {"flying_pixel_filter": False}), ("/q_on", {"min_confidence": 0.3})):
        command = node_command(MODULE, {**RELIABLE, **quality}, {"__ns": namespace})
        with NodeProcess(command, tmp_path / f"{namespace[1:]}.log") as process:
            published[namespace] = stream(ros, namespace, scene, prediction, messages, QUALITY_FRAMES, confidence=True)
            assert process.running(), process.log()
    off, on = published["/q_off"], published["/q_on"]
    figures = output_figures(sequence, off.depths, on.depths)
    assert figures.flying_off > 10_000, figures  # unfiltered, the network-like boundaries do fly
    assert figures.flying_reduction >= 5.0, figures
    assert figures.interior_kept >= 0.95, figures
    # every pixel published (flying ones too): the least confident 20 % hold much of the error
    assert published_gain(sequence, off.depths[1:], off.confidences[1:], 1) >= 0.25
    for streamed in (off, on):
        for depth, confidence in zip(streamed.depths, streamed.confidences, strict=True):
            assert confidence.shape == depth.shape and ((confidence >= 0) & (confidence <= 1)).all()
            assert (confidence[np.isnan(depth)] == 0).all() and (confidence[np.isfinite(depth)] > 0).mean() > 0.9
    # min_confidence 0.3 leaves the less confident pixels out of the cloud, not out of the depth
    z = cloud_to_xyz(on.cloud)[..., 2]
    np.testing.assert_array_equal(np.isnan(z), np.isnan(on.depths[-1]) | (on.confidences[-1] < 0.3))
    assert (np.isfinite(on.depths[-1]) & (on.confidences[-1] < 0.3)).sum() > 1000


def test_the_parameters_file_holds_every_default():
    with open(PARAMS_FILE) as stream:
        values = YAML(typ="safe").load(stream)["depth_align"]["ros__parameters"]
    offered = (o for o in AlignSettings.options() if o.name not in UNUSED_OUTPUTS)
    assert values == {o.name: list(o.default) if isinstance(o.default, tuple) else o.default for o in offered}


def test_depth_arriving_late_pairs_with_a_longer_sparse_history(ros, sequence, tmp_path: Path):
    """Depth 4 s behind its sensor (as depth_node's refined/ stream is about a window behind): every frame finds its
    measurement when sparse_history holds the 34 sent before it. (The default 32 would have forgotten frame 0's:
    without a measurement or a held alignment, frame 0 would get no output at all.)"""
    scene, prediction, sparse = sequence
    messages = [sparse_image_message(image, i) for i, image in enumerate(sparse)]
    lead = scene.frames  # every sparse message is sent before the first depth frame
    assert sum(message is not None for message in messages) == 34
    namespace = "/late"
    params = {**RELIABLE, "sparse_history": 40}
    command = node_command(MODULE, params, {"__ns": namespace}, params_file=PARAMS_FILE)
    with NodeProcess(command, tmp_path / "align.log") as process:
        streamed = stream(ros, namespace, scene, prediction, messages, scene.frames, lead=lead)
        assert process.running(), process.log()
    assert int(streamed.diagnostics["without sparse data"]) == len(DROPPED_FRAMES), streamed.diagnostics
