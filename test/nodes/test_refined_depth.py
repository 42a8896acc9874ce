"""Refined depth over DDS: depth_node's refined/ outputs equal `vda-video --mode offline` on the frames it processed.

Every stream is sent so that nothing is dropped: each frame waits for its live depth (the streaming path took
it) and, from frame 40 on, for the refined depth of frame i − 40 (the windowed worker has taken enough frames
that its queue cannot fill). References are computed by vda-video in this process (random weights, fp32, CPU).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from rclpy.client import Client
from ros_helpers import Collector, NodeProcess, TestNode, diagnostic_values, node_env, wait_for_subscribers, wait_until
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_srvs.srv import Trigger
from test_depth_node import depth_array, image_msg, info_msg, random_rgb, stamp_at
from test_lifecycle import Lifecycle
from test_multi_camera import stream_reference

from vda_ros.ros.child_nodes import node_command

pytestmark = pytest.mark.ros

INPUT_SIZE = 56
PARAMS = {
    "random_weights": True,
    "device": "cpu",
    "precision": "fp32",
    "input_size": INPUT_SIZE,
    "max_res": 0,
    "metric": False,
    "refined": True,
    "input_reliability": "reliable",
    "input_queue_depth": 100,
    "diagnostics_period": 0.5,
}
WAIT = 120.0
"""Seconds to wait for one output (reached only when something is wrong)."""
STATUS = "/robot/depth_node: depth"
"""The diagnostics status of the single-camera node."""
LAG = 40
"""Frame i is sent once frame i − LAG has its refined depth: the worker's queue (32 frames) never fills."""


@pytest.fixture(scope="module")
def ros() -> Iterator[TestNode]:
    node = TestNode("refined_depth_test")
    yield node
    node.close()


@dataclass
class Camera:
    """The test's side of one camera: its publishers and the live and refined outputs it collects."""

    topic: str
    width: int
    height: int
    image: object
    info: object
    live: Collector[Image]
    refined: Collector[Image]
    refined_info: Collector[CameraInfo]
    refined_points: Collector[PointCloud2]

    @classmethod
    def open(cls, ros: TestNode, topic: str, size: tuple[int, int] = (64, 48)) -> Camera:
        camera = cls(
            topic,
            *size,
            ros.publisher(Image, f"{topic}/image", depth=100),
            ros.publisher(CameraInfo, f"{topic}/camera_info", depth=100),
            ros.collect(Image, f"{topic}/depth/relative", depth=100),
            ros.collect(Image, f"{topic}/refined/depth/relative", depth=100),
            ros.collect(CameraInfo, f"{topic}/refined/depth/camera_info", depth=100),
            ros.collect(PointCloud2, f"{topic}/refined/points", depth=100),
        )
        wait_for_subscribers(camera.image)
        wait_for_subscribers(camera.info)
        return camera

    def send(self, rgb: np.ndarray, stamp: Time) -> None:
        frame_id = self.topic.strip("/") + "_optical"
        self.info.publish(info_msg(stamp, frame_id=frame_id, width=self.width, height=self.height))
        self.image.publish(image_msg(rgb, stamp, frame_id=frame_id))

    def refined_count(self, stamps: list[Time]) -> int:
        """How many of these frames have their refined depth (each counted once)."""
        return sum(self.refined.with_stamp(stamp) is not None for stamp in stamps)


def wait_for_diag(diagnostics: Collector[DiagnosticArray], name: str, wanted: dict[str, str]) -> dict[str, str]:
    """The newest status of `name` once it shows every wanted value; fails with the last one seen."""
    seen: dict[str, str] = {}

    def shows() -> bool:
        seen.update(diagnostic_values(diagnostics, name) or {})
        return all(seen.get(key) == value for key, value in wanted.items())

    assert wait_until(shows, WAIT, 0.1), (wanted, seen)
    return seen


def start(tmp_path: Path, module: str = "vda_ros.nodes.depth_node", **params: object) -> NodeProcess:
    command = node_command(module, {**PARAMS, **params}, {"__ns": "/robot"})
    # Tiny inputs run fastest on one thread, and one thread is least disturbed by a busy machine.
    return NodeProcess(command, tmp_path / "node.log", node_env(OMP_NUM_THREADS="1"))


def wait_listening(process: NodeProcess) -> None:
    assert process.wait_for_log("listening on", WAIT), process.log()


def open_robot(ros: TestNode, process: NodeProcess) -> tuple[Camera, Collector[DiagnosticArray], Client]:
    """Once the single-camera node in /robot listens: its camera, the /diagnostics collected and its ~/reset."""
    wait_listening(process)
    camera = Camera.open(ros, "/robot")
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics", depth=100)
    reset = ros.node.create_client(Trigger, "/robot/depth_node/reset")
    assert reset.wait_for_service(20.0)
    return camera, diagnostics, reset


def send_stream(
    process: NodeProcess, cameras: list[Camera], frames: dict[str, list[np.ndarray]], start: float
) -> dict[str, list[Time]]:
    """Send each camera's frames, frame by frame, so that neither the stream nor the refined worker drops one."""
    stamps: dict[str, list[Time]] = {camera.topic: [] for camera in cameras}
    for index in range(len(frames[cameras[0].topic])):
        stamp = stamp_at(start + index / 30)
        for camera in cameras:
            if index >= LAG:
                earlier = stamps[camera.topic][index - LAG]
                assert wait_until(lambda c=camera, s=earlier: c.refined.with_stamp(s) is not None, WAIT), (
                    camera.topic,
                    index,
                    process.log(),
                )
            camera.send(frames[camera.topic][index], stamp)
            stamps[camera.topic].append(stamp)
        for camera in cameras:
            assert wait_until(lambda c=camera, s=stamp: c.live.with_stamp(s) is not None, WAIT), (
                camera.topic,
                index,
                process.log(),
            )
    return stamps


def depths(collector: Collector[Image], stamps: list[Time]) -> np.ndarray:
    found = [collector.with_stamp(stamp) for stamp in stamps]
    assert all(msg is not None for msg in found)
    return np.stack([depth_array(msg) for msg in found])


def assert_close(got: np.ndarray, expected: np.ndarray) -> None:
    """Equal to 1e-4 of the reference's range (the tolerance of every node-against-tool comparison)."""
    assert got.shape == expected.shape
    span = float(expected.max() - expected.min())
    assert float(np.abs(got - expected).max()) <= 1e-4 * span


def reference(frames: list[np.ndarray], tmp_path: Path, name: str, mode: str) -> np.ndarray:
    return stream_reference(frames, tmp_path, name, mode, INPUT_SIZE)


def test_refined_follows_one_window_behind_ends_on_reset_and_equals_offline(ros: TestNode, tmp_path: Path) -> None:
    process = start(tmp_path, refined_flush_timeout=0.0)
    try:
        camera, diagnostics, reset = open_robot(ros, process)
        first = [random_rgb() for _ in range(64)]
        stamps = send_stream(process, [camera], {"/robot": first}, time.time())["/robot"]

        # Before any end of stream: frames 0-45 are final (windows at 0 and 22 ran), 46-63 wait for the end.
        assert wait_until(lambda: camera.refined_count(stamps[:46]) == 46, WAIT), process.log()
        assert camera.refined_count(stamps[46:]) == 0
        wait_for_diag(diagnostics, STATUS, {"refined frames pending": "18", "refined frames published": "46"})

        assert ros.call(reset, Trigger.Request()).success  # ends the stream: its last frames are finished now
        assert wait_until(lambda: camera.refined_count(stamps) == 64, WAIT), process.log()
        offline, streaming = (
            reference(first, tmp_path, "first", "offline"),
            reference(first, tmp_path, "live", "stream"),
        )
        assert float(np.abs(offline - streaming).max()) > 1e-2 * float(offline.max() - offline.min())
        assert_close(depths(camera.refined, stamps), offline)
        assert_close(depths(camera.live, stamps), streaming)  # refined on leaves the live outputs as they were
        for stamp in stamps[:3]:  # the refined outputs carry the frame's header, intrinsics and points
            refined = camera.refined.with_stamp(stamp)
            assert refined.header == camera.live.with_stamp(stamp).header
            assert wait_until(lambda s=stamp: camera.refined_info.with_stamp(s) is not None, WAIT)
        assert camera.refined_points.messages() == [], "a relative model without a scale publishes no cloud"

        second = [random_rgb() for _ in range(30)]  # a second stream after the reset, ended by another reset
        more = send_stream(process, [camera], {"/robot": second}, time.time() + 100)
        assert ros.call(reset, Trigger.Request()).success
        assert wait_until(lambda: camera.refined_count(more["/robot"]) == 30, WAIT), process.log()
        assert_close(depths(camera.refined, more["/robot"]), reference(second, tmp_path, "second", "offline"))

        values = wait_for_diag(
            diagnostics,
            STATUS,
            {"refined frames published": "94", "refined frames pending": "0", "refined frames dropped (behind)": "0"},
        )
        # A window's frames are final 8 to 31 frames after them, plus what waited for the worker (at most 32).
        assert 8 <= int(values["refined delay p95 (frames)"]) <= 31 + 32, values
        assert float(values["refined delay median (s)"]) > 0, values
        model = diagnostic_values(diagnostics, "/robot/depth_node: model")
        assert model["refined depth"].startswith("on: windowed engine"), model
    finally:
        assert process.stop() == 0, process.log()


def test_two_cameras_end_by_the_timeout_each_equal_to_offline(ros: TestNode, tmp_path: Path) -> None:
    sizes = {"/cam_a": (64, 48), "/cam_b": (80, 60)}
    process = start(tmp_path, refined_flush_timeout=3.0, cameras="[/cam_a, /cam_b]")
    try:
        wait_listening(process)
        cameras = [Camera.open(ros, topic, size) for topic, size in sizes.items()]
        frames = {topic: [random_rgb(*size) for _ in range(36)] for topic, size in sizes.items()}
        stamps = send_stream(process, cameras, frames, time.time())
        for camera in cameras:  # no reset: three seconds without a frame end both streams
            assert wait_until(lambda c=camera: c.refined_count(stamps[c.topic]) == 36, WAIT), process.log()
            expected = reference(frames[camera.topic], tmp_path, camera.topic.strip("/"), "offline")
            assert_close(depths(camera.refined, stamps[camera.topic]), expected)
    finally:
        assert process.stop() == 0, process.log()


def test_deactivating_a_managed_node_finishes_the_pending_frames(ros: TestNode, tmp_path: Path) -> None:
    process = start(tmp_path, "vda_ros.nodes.managed_depth_node", refined_flush_timeout=0.0, autostart=True)
    try:
        wait_listening(process)
        lifecycle = Lifecycle(ros, "/robot/depth_node")
        camera = Camera.open(ros, "/robot")
        frames = [random_rgb() for _ in range(10)]
        stamps = send_stream(process, [camera], {"/robot": frames}, time.time())
        assert camera.refined_count(stamps["/robot"]) == 0, "ten frames fill no window"
        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert wait_until(lambda: camera.refined_count(stamps["/robot"]) == 10, WAIT), process.log()
        assert_close(depths(camera.refined, stamps["/robot"]), reference(frames, tmp_path, "managed", "offline"))
        assert "finishing the refined depth of the frames still pending" in process.log()
    finally:
        assert process.stop() == 0, process.log()
