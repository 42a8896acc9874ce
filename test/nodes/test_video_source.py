"""video_source over DDS, and the demo that chains it with depth_node into an mp4.

The video is written here with OpenCV and decoded here with the same OpenCV, so published
frames can be compared with the decoded ones exactly.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.qos import ReliabilityPolicy
from ros_helpers import REPO_ROOT, NodeProcess, TestNode, node_env, wait_until
from sensor_msgs.msg import CameraInfo, Image

from vda_ros.ros.child_nodes import node_command

# Every test here starts rclpy or ROS nodes.
pytestmark = pytest.mark.ros

MODULE = "vda_ros.nodes.video_source"
WIDTH, HEIGHT, FRAMES, FPS = 64, 48, 6, 20.0


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short mp4 whose frames differ (a moving bright bar) so they can be told apart."""
    path = tmp_path_factory.mktemp("video") / "bars.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for i in range(FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), (30, 60, 90), np.uint8)
        frame[:, 8 * i : 8 * i + 8] = (250, 200, 150)
        writer.write(frame)
    writer.release()
    return path


def decoded_rgb_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="module")
def ros() -> Iterator[TestNode]:
    node = TestNode("video_source_test")
    yield node
    node.close()


def pixels(msg: Image) -> np.ndarray:
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    return rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)


def test_publishes_looped_frames_with_matching_camera_info(ros: TestNode, video: Path, tmp_path: Path) -> None:
    images = ros.collect(Image, "/vs/image")
    infos = ros.collect(CameraInfo, "/vs/camera_info")
    command = node_command(MODULE, {"source": video, "fps": FPS, "frame_id": "test_optical"}, {"__ns": "/vs"})
    with NodeProcess(command, tmp_path / "source.log") as process:
        assert wait_until(lambda: len(images.messages()) >= 2 * FRAMES + 2, 30.0), process.log()
        assert process.running()
    received = images.items()[: 2 * FRAMES + 2]

    expected = decoded_rgb_frames(video)
    indices = []
    for msg, _ in received:
        assert (msg.encoding, msg.width, msg.height, msg.header.frame_id) == ("rgb8", WIDTH, HEIGHT, "test_optical")
        matches = [i for i, frame in enumerate(expected) if np.array_equal(pixels(msg), frame)]
        assert len(matches) == 1
        indices.append(matches[0])
    assert set(indices) == set(range(FRAMES)), indices  # every frame, and the video looped

    # The source's own stamps, not arrival here: the test process's scheduling must not matter.
    periods = np.diff([msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 for msg, _ in received])
    assert 0.5 / FPS < np.median(periods) < 1.5 / FPS, "published near the requested rate"

    info_by_stamp = {(i.header.stamp.sec, i.header.stamp.nanosec): i for i in infos.messages()}
    for msg, _ in received:
        info = info_by_stamp[(msg.header.stamp.sec, msg.header.stamp.nanosec)]
        assert info.header == msg.header and (info.width, info.height) == (WIDTH, HEIGHT)
    fx = (WIDTH / 2) / math.tan(math.radians(60.0) / 2)  # the default 60 degree field of view
    np.testing.assert_allclose(info.k, [fx, 0, (WIDTH - 1) / 2, 0, fx, (HEIGHT - 1) / 2, 0, 0, 1])


def test_intrinsics_are_scaled_with_max_res_and_the_video_ends_without_loop(
    ros: TestNode, video: Path, tmp_path: Path
) -> None:
    """Played once, the clip is over in about a second: the source holds it until this test has subscribed."""
    params = {
        "source": str(video),
        "loop": False,
        "fps": 5.0,
        "max_res": 32,
        "encoding": "bgr8",
        "fx": 40.0,
        "fy": 44.0,
        "cx": 30.0,
        "cy": 20.0,
        "wait_for_subscribers": 1,
    }
    with NodeProcess(node_command(MODULE, params, {"__ns": "/vs2"}), tmp_path / "source.log") as process:
        # Subscribing only once the source runs: without the hold, its frames could all be gone by then.
        assert process.wait_for_log("waiting for 1 subscriptions on image and camera_info", 30.0), process.log()
        images = ros.collect(Image, "/vs2/image")
        infos = ros.collect(CameraInfo, "/vs2/camera_info")
        assert process.wait(30.0) == 0, process.log()
        assert f"end of {video}" in process.log()
    # Every frame once, in order (reliable, and the source waited for their delivery before exiting).
    expected = [
        cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), (32, 24), interpolation=cv2.INTER_AREA)
        for f in decoded_rgb_frames(video)
    ]
    assert wait_until(lambda: len(images.messages()) >= FRAMES and len(infos.messages()) >= FRAMES, 5.0)
    received = images.messages()
    assert len(received) == FRAMES and len(infos.messages()) == FRAMES
    assert all(np.array_equal(pixels(m), frame) for m, frame in zip(received, expected, strict=True))
    image, info = received[-1], infos.messages()[-1]
    assert (image.encoding, image.width, image.height) == ("bgr8", 32, 24) and info.header == image.header
    np.testing.assert_allclose([info.k[0], info.k[4], info.k[2], info.k[5]], [20.0, 22.0, 15.0, 10.0])
    assert (info.width, info.height) == (32, 24)


def test_missing_video_stops_with_a_message_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_video.mp4"
    with NodeProcess(node_command(MODULE, {"source": missing}), tmp_path / "source.log") as process:
        assert process.wait(30.0) == 1
        assert f"cannot open video file (missing, or a format OpenCV cannot decode): {missing}" in process.log()


def test_demo_records_live_depth_to_an_mp4(video: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "live.mp4"
    namespace = f"/demo_test_{os.getpid()}"  # pgrep sees the whole machine: other test runs too
    command = [
        sys.executable,
        "-m",
        "vda_ros.cli.demo",
        str(video),
        "--frames",
        "3",
        "--output",
        str(output),
        "--random-weights",
        "--input-size",
        "112",
        "--device",
        "cpu",
        "--namespace",
        namespace,
        "--timeout",
        "120",
    ]
    before = time.time()
    result = subprocess.run(command, env=node_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"wrote {output}" in result.stdout and "RANDOM WEIGHTS" in result.stdout
    capture = cv2.VideoCapture(str(output))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    ok, frame = capture.read()
    assert ok and frame.shape == (HEIGHT, WIDTH, 3)
    assert output.stat().st_mtime >= before
    leftover = subprocess.run(["pgrep", "-f", f"__ns:={namespace}( |$)"], capture_output=True, text=True)
    assert leftover.stdout == "", "the demo must stop its nodes"


def test_the_old_qos_spellings_still_work_and_say_what_replaces_them(
    ros: TestNode, video: Path, tmp_path: Path
) -> None:
    """reliability and queue_depth were video_source's names; every node now says output_reliability and
    output_queue_depth."""
    params = {"source": video, "reliability": "best_effort", "queue_depth": 7}
    with NodeProcess(node_command(MODULE, params, {"__ns": "/vs3"}), tmp_path / "source.log") as process:
        assert process.wait_for_log("publishing", 30.0), process.log()
        values = ros.get_parameters("/vs3/video_source", ["output_reliability", "output_queue_depth"])
        assert values == {"output_reliability": "best_effort", "output_queue_depth": 7}, values
        assert wait_until(lambda: len(ros.node.get_publishers_info_by_topic("/vs3/image")) == 1, 20.0)
        (endpoint,) = ros.node.get_publishers_info_by_topic("/vs3/image")
        assert endpoint.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        log = process.log()
    assert "'reliability' is deprecated; use output_reliability" in log, log
    assert "'queue_depth' is deprecated; use output_queue_depth" in log, log


def test_the_new_qos_names_set_the_publications(ros: TestNode, video: Path, tmp_path: Path) -> None:
    params = {"source": video, "output_reliability": "best_effort", "output_queue_depth": 3}
    with NodeProcess(node_command(MODULE, params, {"__ns": "/vs4"}), tmp_path / "source.log") as process:
        assert process.wait_for_log("publishing", 30.0), process.log()
        assert wait_until(lambda: len(ros.node.get_publishers_info_by_topic("/vs4/camera_info")) == 1, 20.0)
        (endpoint,) = ros.node.get_publishers_info_by_topic("/vs4/camera_info")
        assert endpoint.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        assert "deprecated" not in process.log()
