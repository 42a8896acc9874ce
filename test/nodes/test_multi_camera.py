"""Several cameras through one depth_node and one model, over real DDS.

One node serves three cameras (two of one frame size, one of another, so two batch groups). Each
camera's depth sequence must equal `vda-video --mode stream` on that camera's frames, resetting one
camera must leave the others untouched, a slow camera must keep getting outputs while faster ones
fill every batch, and outputs nobody subscribes to must not be computed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from ros_helpers import NodeProcess, TestNode, diagnostic_values, node_env, wait_for_subscribers, wait_until
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from test_depth_node import depth_array, image_msg, info_msg, random_rgb, stamp_at

from vda_ros.cli import video as cli
from vda_ros.ros.child_nodes import node_command

# Every test here starts rclpy or ROS nodes.
pytestmark = pytest.mark.ros

MODULE = "vda_ros.nodes.depth_node"
INPUT_SIZE = 56
SIZES = {"/front": (64, 48), "/left": (64, 48), "/right": (80, 60)}
"""Camera → (width, height): front and left share a network input size, right has its own."""
RATES_SIZES = {"/fast1": (64, 48), "/fast2": (64, 48), "/slow": (80, 60)}
"""Cameras of the starvation test (their own topics: nobody else subscribes to their outputs)."""
COMMON = {
    "random_weights": True,
    "device": "cpu",
    "precision": "fp32",
    "input_size": INPUT_SIZE,
    "max_res": 0,
    "metric": False,
    "diagnostics_period": 0.5,
}


@pytest.fixture(scope="module")
def ros() -> Iterator[TestNode]:
    node = TestNode("multi_camera_test")
    yield node
    node.close()


def start_node(tmp_path: Path, params: dict, sizes: dict[str, tuple[int, int]]) -> NodeProcess:
    cameras = "[" + ", ".join(sizes) + "]"
    command = node_command(MODULE, {**COMMON, **params, "cameras": cameras}, {"__ns": "/robot"})
    # Tiny inputs run fastest on one thread, and one thread is least disturbed by a busy machine.
    process = NodeProcess(command, tmp_path / "node.log", node_env(OMP_NUM_THREADS="1"))
    assert process.wait_for_log("listening on", 120.0), process.log()
    return process


def stream_reference(
    frames: list[np.ndarray], tmp_path: Path, name: str, mode: str = "stream", input_size: int = INPUT_SIZE
) -> np.ndarray:
    """vda-video --mode <mode> on these frames (written as a PNG folder), fp32 on the CPU."""
    folder = tmp_path / name
    folder.mkdir()
    for index, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = tmp_path / f"{name}_out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: fastest on one thread, and least disturbed by a busy machine
    try:
        assert (
            cli.main(
                [
                    str(folder),
                    "--output-dir",
                    str(out),
                    "--mode",
                    mode,
                    "--random-weights",
                    "--fp32",
                    "--device",
                    "cpu",
                    "--input-size",
                    str(input_size),
                    "--max-res",
                    "0",
                    "--save-npz",
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(threads)
    return np.load(out / f"{name}_depths.npz")["depths"]


def test_three_cameras_equal_vda_video_per_camera_and_a_reset_touches_one(ros: TestNode, tmp_path: Path) -> None:
    frames_per_camera, reset_after = 6, 3
    process = start_node(tmp_path, {"input_reliability": "reliable", "input_queue_depth": 10}, SIZES)
    try:
        pubs, infos, outputs = {}, {}, {}
        for camera in SIZES:
            pubs[camera] = ros.publisher(Image, f"{camera}/image")
            infos[camera] = ros.publisher(CameraInfo, f"{camera}/camera_info")
            outputs[camera] = {
                "depth": ros.collect(Image, f"{camera}/depth/relative"),
                "colored": ros.collect(Image, f"{camera}/depth/colored"),
                "info": ros.collect(CameraInfo, f"{camera}/depth/camera_info"),
            }
        for camera in SIZES:
            wait_for_subscribers(pubs[camera])
            wait_for_subscribers(infos[camera])
        frames = {camera: [random_rgb(*size) for _ in range(frames_per_camera)] for camera, size in SIZES.items()}
        reset = ros.node.create_client(Trigger, "/robot/depth_node/left/reset")
        assert reset.wait_for_service(20.0)
        base = time.time()
        for index in range(frames_per_camera):
            stamp = stamp_at(base + index)
            for camera, (width, height) in SIZES.items():
                frame_id = camera.strip("/") + "_optical"
                infos[camera].publish(info_msg(stamp, frame_id=frame_id, width=width, height=height))
                pubs[camera].publish(image_msg(frames[camera][index], stamp, frame_id=frame_id))
            for camera in SIZES:  # every camera's outputs of this frame before the next frame
                assert wait_until(
                    lambda c=camera, s=stamp: all(outputs[c][n].with_stamp(s) for n in outputs[c]), 120.0
                ), (
                    camera,
                    index,
                    process.log(),
                )
            if index + 1 == reset_after:
                assert ros.call(reset, Trigger.Request()).success

        published: dict[str, np.ndarray] = {}
        for camera, (width, height) in SIZES.items():
            header = Header(frame_id=camera.strip("/") + "_optical")
            got = []
            for index in range(frames_per_camera):
                header.stamp = stamp_at(base + index)
                for name, collector in outputs[camera].items():
                    assert collector.with_stamp(header.stamp).header == header, (camera, name)
                got.append(depth_array(outputs[camera]["depth"].with_stamp(header.stamp)))
            published[camera] = got = np.stack(got)
            assert got.shape == (frames_per_camera, height, width)
            if camera == "/left":
                expected = np.concatenate(
                    [
                        stream_reference(frames[camera][:reset_after], tmp_path, "left_a"),
                        stream_reference(frames[camera][reset_after:], tmp_path, "left_b"),
                    ]
                )
            else:
                expected = stream_reference(frames[camera], tmp_path, camera.strip("/"))
            span = float(expected.max() - expected.min())
            assert float(np.abs(got - expected).max()) <= 1e-4 * span, camera
        continuous = stream_reference(frames["/left"], tmp_path, "left_continuous")[reset_after:]
        span = float(continuous.max() - continuous.min())
        assert float(np.abs(published["/left"][reset_after:] - continuous).max()) > 1e-3 * span, (
            "without its reset /left would have continued its stream"
        )
        log = process.log()
        assert "camera /left: temporal cache reset: requested on a reset service" in log, log
        assert "camera /front: temporal cache reset" not in log and "camera /right: temporal cache reset" not in log
    finally:
        assert process.stop() == 0, process.log()


def test_a_slow_camera_is_not_starved_and_unwatched_outputs_are_not_computed(ros: TestNode, tmp_path: Path) -> None:
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics", depth=100)
    process = start_node(tmp_path, {"max_batch": 2}, RATES_SIZES)
    try:
        pubs = {camera: ros.publisher(Image, f"{camera}/image") for camera in RATES_SIZES}
        infos = {camera: ros.publisher(CameraInfo, f"{camera}/camera_info") for camera in RATES_SIZES}
        depths = {camera: ros.collect(Image, f"{camera}/depth/relative") for camera in RATES_SIZES}
        for camera in RATES_SIZES:
            wait_for_subscribers(pubs[camera])
        images = {
            camera: image_msg(random_rgb(*size), stamp_at(0.0), frame_id=camera) for camera, size in RATES_SIZES.items()
        }
        received = {camera: 0 for camera in RATES_SIZES}

        def served_enough() -> bool:
            received.update({camera: len(collector.messages()) for camera, collector in depths.items()})
            return min(received.values()) >= 4

        # fast1 and fast2 always have a frame waiting (faster than the model); slow sends one frame in ten.
        loops, deadline = 0, time.monotonic() + 240.0
        while not served_enough() and time.monotonic() < deadline:
            for camera, msg in images.items():
                if camera != "/slow" or loops % 10 == 0:
                    msg.header.stamp = stamp_at(time.time())
                    width, height = RATES_SIZES[camera]
                    infos[camera].publish(info_msg(msg.header.stamp, frame_id=camera, width=width, height=height))
                    pubs[camera].publish(msg)
            loops += 1
            time.sleep(0.01)  # pacing of the fake cameras (~100 Hz), not a wait for the node
        assert served_enough(), (received, process.log())

        name = "/robot/depth_node: depth /slow"
        assert wait_until(
            lambda: int((diagnostic_values(diagnostics, name) or {}).get("frames processed", 0)) >= 4, 30.0
        )
        values = diagnostic_values(diagnostics, name)
        assert int(values["colored not computed (no subscriber)"]) >= 4, values
        assert int(values["points not computed (no subscriber)"]) >= 4, values
        model = diagnostic_values(diagnostics, "/robot/depth_node: model")
        assert model["max batch"] == "2" and "2:" in model["batches by size"], model
        assert "/fast1/image" in model["cameras"] and model["precision"] == "fp32", model

        # A subscriber appears: the colourised depth is computed and published from then on.
        colored = ros.collect(Image, "/slow/depth/colored")
        right = images["/slow"]
        assert wait_until(lambda: colored.messages() != [] or _send(pubs["/slow"], right), 120.0), process.log()
    finally:
        assert process.stop() == 0, process.log()


def _send(publisher, msg: Image) -> bool:
    """Publish msg with a fresh stamp (best-effort input: repeat until heard); always False for wait_until."""
    msg.header.stamp = stamp_at(time.time())
    publisher.publish(msg)
    time.sleep(0.2)  # pacing of the repeats
    return False


def test_spellings_of_one_camera_are_served_once(ros: TestNode, tmp_path: Path) -> None:
    """'/dup', 'dup' (the node runs in the root namespace) and '/dup/' are one camera: one stream, one warning."""
    command = node_command(MODULE, {**COMMON, "cameras": "['/dup', 'dup', '/dup/']"})
    process = NodeProcess(command, tmp_path / "node.log", node_env(OMP_NUM_THREADS="1"))
    try:
        assert process.wait_for_log("listening on", 120.0), process.log()
        image_pub = ros.publisher(Image, "/dup/image")
        wait_for_subscribers(image_pub)
        publishers = {topic: ros.node.count_publishers(f"/dup/{topic}") for topic in ("depth/relative", "points")}
        assert publishers == {"depth/relative": 1, "points": 1}, publishers
        assert image_pub.get_subscription_count() == 1
        log = process.log()
        assert "cameras: '/dup', 'dup', '/dup/' all name /dup: served once" in log, log
        assert log.count("listening on /dup/image and") == 1 and "/dup/image and /dup/camera_info," not in log, log
    finally:
        assert process.stop() == 0, process.log()


@pytest.mark.parametrize(
    ("camera", "reason"),
    [
        ("has space", "namespace must not contain characters other than alphanumerics"),
        ("", "a camera needs a namespace name"),
        ("~/x", "namespace must not contain characters other than alphanumerics"),
    ],
    ids=["space", "empty", "private"],
)
def test_an_invalid_camera_name_stops_the_node_naming_it(tmp_path: Path, camera: str, reason: str) -> None:
    command = node_command(MODULE, {**COMMON, "cameras": f"['/front', '{camera}']"})
    with NodeProcess(command, tmp_path / "node.log") as process:
        assert process.wait(120.0) == 1, process.log()
        log = process.log()
    assert f"cannot start: cameras: '{camera}' is not a camera namespace: {reason}" in log, log
    assert "Traceback" not in log, log
