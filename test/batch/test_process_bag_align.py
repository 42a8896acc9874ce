"""vda-process-bag --align-topic on a generated bag with LiDAR-like sparse depth, scored by vda-eval --bag.

The bag holds the synthetic scene's camera images, CameraInfo, a half-resolution sparse depth topic and
the true depth (as a depth camera would record it). The network's depth is meaningless with random
weights, so the engine is replaced by one replaying the synthetic relative prediction with the offline
engine's look-ahead (a window of frames read before the first depth comes out); everything else is the
real tool: bag reading, pairing, alignment, writing, and vda-eval reading the written bag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from bag_helpers import FRAME_ID, TYPESTORE, read_bag, stamp_ns
from depth_quality_figures import output_figures, published_gain
from rosbags.rosbag2 import StoragePlugin, Writer
from synthetic_scene import frame_abs_rel, lidar_points, quality_sequence, synthetic_sequence

from vda_ros.batch import run as bag_run
from vda_ros.cli import process_bag
from vda_ros.cli.eval import main as eval_main
from vda_ros.core.metrics import evaluate

T = TYPESTORE.types
START_NS = 1_700_000_000 * 10**9
PERIOD_NS = 100_000_000
LOOK_AHEAD = 8
TOPICS = {
    "image": "/cam/image_raw",
    "info": "/cam/camera_info",
    "sparse": "/cam/sparse_depth",
    "truth": "/cam/gt_depth",
    "pose": "/cam/pose",
    "points": "/cam/sparse_points",
}


def _header(stamp: int):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=FRAME_ID
    )


def _depth_image(depth: np.ndarray, stamp: int):
    height, width = depth.shape
    return T["sensor_msgs/msg/Image"](
        header=_header(stamp),
        height=height,
        width=width,
        encoding="32FC1",
        is_bigendian=0,
        step=4 * width,
        data=np.ascontiguousarray(depth, dtype="<f4").view(np.uint8).ravel(),
    )


def _pose(matrix: np.ndarray, stamp: int):
    """A PoseStamped of a camera-to-world matrix (the scene's rotations are about one axis: w > 0 throughout)."""
    r = matrix[:3, :3]
    w = np.sqrt(max(1.0 + np.trace(r), 0.0)) / 2
    x, y, z = (r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w)
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](*matrix[:3, 3]),
        orientation=T["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
    )
    return T["geometry_msgs/msg/PoseStamped"](header=_header(stamp), pose=pose)


def _cloud(points: np.ndarray, stamp: int, height: int = 1, width: int | None = None, row_step: int | None = None):
    """A PointCloud2 of FLOAT32 x, y, z from (N, 3) points: one row of them unless the sizes given claim otherwise."""
    field = T["sensor_msgs/msg/PointField"]
    fields = [field(name=name, offset=4 * i, datatype=field.FLOAT32, count=1) for i, name in enumerate("xyz")]
    width = len(points) if width is None else width
    return T["sensor_msgs/msg/PointCloud2"](
        header=_header(stamp),
        height=height,
        width=width,
        fields=fields,
        is_bigendian=False,
        point_step=12,
        row_step=12 * width if row_step is None else row_step,
        data=np.ascontiguousarray(points, dtype="<f4").view(np.uint8).ravel(),
        is_dense=True,
    )


def _hostile_cloud(stamp: int):
    """Issue 20's cloud: 24 bytes of data (2 points) claiming 2^31 rows of them through a row_step of 0."""
    return _cloud(np.zeros((2, 3)), stamp, height=2**31, width=2, row_step=0)


def write_scene_bag(path: Path, scene, sparse, sparse_message=None, sparse_key: str = "sparse", extra=()) -> None:
    """The scene's bag; sparse_message(image, stamp) makes each sparse message (default: the depth image itself),
    written on TOPICS[sparse_key].

    extra: (record time, topic key, message) written besides, e.g. a hostile message among the good ones.
    """
    sparse_message = _depth_image if sparse_message is None else sparse_message
    k = scene.intrinsics
    height, width = scene.depth.shape[1:]
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}

        def put(key: str, timestamp: int, message) -> None:
            if key not in connections:
                connections[key] = writer.add_connection(TOPICS[key], message.__msgtype__, typestore=TYPESTORE)
            writer.write(connections[key], timestamp, TYPESTORE.serialize_cdr(message, message.__msgtype__))

        for index in range(scene.frames):
            stamp = START_NS + index * PERIOD_NS
            rgb = scene.rgb[index]
            put(
                "image",
                stamp,
                T["sensor_msgs/msg/Image"](
                    header=_header(stamp),
                    height=height,
                    width=width,
                    encoding="rgb8",
                    is_bigendian=0,
                    step=3 * width,
                    data=rgb.ravel(),
                ),
            )
            roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
            put(
                "info",
                stamp + 1,
                T["sensor_msgs/msg/CameraInfo"](
                    header=_header(stamp),
                    height=height,
                    width=width,
                    distortion_model="plumb_bob",
                    d=np.zeros(5),
                    k=k.ravel(),
                    r=np.eye(3).ravel(),
                    p=np.hstack((k, np.zeros((3, 1)))).ravel(),
                    binning_x=0,
                    binning_y=0,
                    roi=roi,
                ),
            )
            if sparse[index] is not None:  # the LiDAR's scan is recorded a little after the image, stamped 10 ms later
                put(sparse_key, stamp + 2_000_000, sparse_message(sparse[index], stamp + 10_000_000))
            put("truth", stamp + 3_000_000, _depth_image(scene.depth[index], stamp))
            put("pose", stamp + 4_000_000, _pose(scene.poses[index], stamp))
        for timestamp, key, message in extra:
            put(key, timestamp, message)


class ReplayEngine:
    """Stands in for OfflineDepth: yields the synthetic prediction of each frame read, LOOK_AHEAD frames late."""

    def __init__(self, predictions: np.ndarray) -> None:
        self._predictions = predictions

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        read = 0
        for _ in frames:
            read += 1
            if read > LOOK_AHEAD:
                yield self._predictions[read - 1 - LOOK_AHEAD]
        yield from self._predictions[max(read - LOOK_AHEAD, 0) : read]


@pytest.fixture(scope="module")
def scene_bag(tmp_path_factory):
    scene, prediction, sparse = synthetic_sequence()
    path = tmp_path_factory.mktemp("align") / "scene"
    write_scene_bag(path, scene, sparse)
    return path, scene, prediction


def test_aligned_bag_has_metric_depth_and_points_and_vda_eval_scores_it(scene_bag, tmp_path, monkeypatch, capsys):
    path, scene, prediction = scene_bag
    monkeypatch.setattr(bag_run, "build_engine", lambda options: ReplayEngine(prediction))
    output = tmp_path / "aligned"
    assert (
        process_bag.main(
            [
                str(path),
                str(output),
                "--image-topic",
                TOPICS["image"],
                "--align-topic",
                TOPICS["sparse"],
                "--copy-input",
                # Scored as the official benchmark scores: every pixel a prediction (a NaN one counts as 0, and
                # TAE warps it from 1 mm away), so the bag keeps them all.
                "--no-flying-pixel-filter",
            ]
        )
        == 0
    )
    written = read_bag(output)
    depth_msgs = written["/cam/depth/image"]
    assert len(depth_msgs) == scene.frames and len(written["/cam/points"]) == scene.frames
    assert "/cam/depth/relative" not in written
    assert "/cam/depth/confidence" not in written, "written only when asked (--write-confidence)"
    assert [stamp_ns(m.header) for _, m in depth_msgs] == [START_NS + i * PERIOD_NS for i in range(scene.frames)]
    depths = np.stack([np.frombuffer(bytes(m.data), "<f4").reshape(m.height, m.width) for _, m in depth_msgs])

    report = tmp_path / "eval.json"
    assert (
        eval_main(
            [
                "--bag",
                str(output),
                "--pred-topic",
                "/cam/depth/image",
                "--gt-topic",
                TOPICS["truth"],
                "--align",
                "none",
                "--max-depth",
                "20",
                "--json",
                str(report),
            ]
        )
        == 0
    )
    result = json.loads(report.read_text())
    assert result["frames"] == scene.frames and result["abs_rel"] <= 0.04
    assert f"{result['abs_rel']:.4f}" in capsys.readouterr().out
    expected = evaluate(depths, scene.depth, "none", max_depth=20.0)
    assert result["abs_rel"] == pytest.approx(expected.abs_rel, rel=1e-9)

    # TAE from the recorded poses and the depth's CameraInfo equals TAE on the arrays
    assert (
        eval_main(
            [
                "--bag",
                str(output),
                "--pred-topic",
                "/cam/depth/image",
                "--gt-topic",
                TOPICS["truth"],
                "--align",
                "none",
                "--max-depth",
                "20",
                "--odom-topic",
                TOPICS["pose"],
                "--camera-info-topic",
                "/cam/depth/camera_info",
                "--json",
                str(report),
            ]
        )
        == 0
    )
    with_tae = json.loads(report.read_text())
    arrays = evaluate(depths, scene.depth, "none", max_depth=20.0, poses=scene.poses, intrinsics=scene.intrinsics)
    assert with_tae["tae"] == pytest.approx(arrays.tae, rel=1e-6) and with_tae["tae"] < 5.0


def _images(messages) -> list[np.ndarray]:
    """32FC1 Images (rosbags messages) as arrays."""
    return [np.frombuffer(bytes(m.data), "<f4").reshape(m.height, m.width) for _, m in messages]


@pytest.mark.slow
def test_the_filter_and_the_confidence_in_an_aligned_bag(tmp_path, monkeypatch):
    """Issue 23 through the bag tool: the network-like 640x480 scene aligned to its LiDAR-like topic, with the
    filter off and on; depth/confidence written when asked, for every frame written, with the depth's header."""
    sequence = quality_sequence(4)
    path = tmp_path / "scene"
    write_scene_bag(path, sequence.scene, sequence.sparse)
    monkeypatch.setattr(bag_run, "build_engine", lambda options: ReplayEngine(sequence.prediction))
    written = {}
    for name, extra in (("off", ["--no-flying-pixel-filter"]), ("on", ["--min-confidence", "0.3"])):
        args = [str(path), str(tmp_path / name), "--image-topic", TOPICS["image"], "--align-topic", TOPICS["sparse"]]
        assert process_bag.main([*args, "--write-confidence", *extra]) == 0
        written[name] = read_bag(tmp_path / name)
    for bag in written.values():
        depth_msgs, confidence_msgs = bag["/cam/depth/image"], bag["/cam/depth/confidence"]
        assert len(confidence_msgs) == sequence.scene.frames
        assert [(t, m.header) for t, m in confidence_msgs] == [(t, m.header) for t, m in depth_msgs]
        for depth, confidence in zip(_images(depth_msgs), _images(confidence_msgs), strict=True):
            assert ((confidence >= 0) & (confidence <= 1)).all() and (confidence[np.isnan(depth)] == 0).all()
    off = (_images(written["off"]["/cam/depth/image"]), _images(written["off"]["/cam/depth/confidence"]))
    on = (_images(written["on"]["/cam/depth/image"]), _images(written["on"]["/cam/depth/confidence"]))
    figures = output_figures(sequence, off[0], on[0])
    assert figures.flying_reduction >= 5.0 and figures.interior_kept >= 0.95, figures
    assert published_gain(sequence, off[0][1:], off[1][1:], 1) >= 0.25
    (_, cloud) = written["on"]["/cam/points"][-1]
    z = np.frombuffer(bytes(cloud.data), "<f4").reshape(cloud.height, cloud.width, -1)[..., 2]
    np.testing.assert_array_equal(np.isnan(z), np.isnan(on[0][-1]) | (on[1][-1] < 0.3))


def test_a_hostile_cloud_on_the_align_topic_is_skipped_and_counted(tmp_path, monkeypatch, capsys):
    scene, prediction, sparse = synthetic_sequence()
    path = tmp_path / "clouds"

    def cloud(image: np.ndarray, stamp: int):
        return _cloud(lidar_points(image, scene.intrinsics), stamp)

    hostile_at = START_NS + 4 * PERIOD_NS  # recorded just before frame 4's image, stamped like its scan
    hostile = (hostile_at - 1, "points", _hostile_cloud(hostile_at + 10_000_000))
    write_scene_bag(path, scene, sparse, cloud, "points", [hostile])
    monkeypatch.setattr(bag_run, "build_engine", lambda options: ReplayEngine(prediction))
    output = tmp_path / "aligned"
    assert (
        process_bag.main([str(path), str(output), "--image-topic", TOPICS["image"], "--align-topic", TOPICS["points"]])
        == 0
    )
    captured = capsys.readouterr()
    assert (
        "warning: skipped 1 message of /cam/sparse_points that could not be read (the last: PointCloud2 row_step 0 "
        "is smaller than width 2 * point_step 12 = 24)"
    ) in captured.out, captured
    assert "Traceback" not in captured.err
    depth_msgs = read_bag(output)["/cam/depth/image"]
    assert len(depth_msgs) == scene.frames
    errors = [
        frame_abs_rel(np.frombuffer(bytes(m.data), "<f4").reshape(m.height, m.width), truth)
        for (_, m), truth in zip(depth_msgs, scene.depth, strict=True)
    ]
    assert np.median(errors) <= 0.04 and max(errors) <= 0.08, errors


def test_align_topic_of_the_wrong_type_is_refused(scene_bag, tmp_path, capsys):
    path, _, _ = scene_bag
    assert (
        process_bag.main(
            [
                str(path),
                str(tmp_path / "out"),
                "--image-topic",
                TOPICS["image"],
                "--align-topic",
                TOPICS["info"],
                "--random-weights",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "has type sensor_msgs/msg/CameraInfo" in err and not (tmp_path / "out").exists()


def test_vda_eval_bag_errors_name_the_topic(scene_bag, capsys):
    path, _, _ = scene_bag
    assert eval_main(["--bag", str(path), "--pred-topic", "/cam/nothing", "--gt-topic", TOPICS["truth"]]) == 2
    assert "prediction topic /cam/nothing is not in the bag" in capsys.readouterr().err
