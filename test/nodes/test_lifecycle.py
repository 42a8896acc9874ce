"""managed_depth_node through the real lifecycle services (change_state, get_state) over DDS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.task import Future
from ros_helpers import NodeProcess, TestNode, node_env, wait_for_subscribers, wait_until
from sensor_msgs.msg import CameraInfo, Image
from test_depth_node import HOOKED_MODULE, hooked_env, image_msg, random_rgb, stamp_at

from vda_ros.ros.child_nodes import node_command

# Every test here starts rclpy or ROS nodes.
pytestmark = pytest.mark.ros

MODULE = "vda_ros.nodes.managed_depth_node"
PARAMS = {"random_weights": True, "device": "cpu", "input_size": 56, "metric": True, "diagnostics_period": 0.5}


@pytest.fixture(scope="module")
def ros() -> Iterator[TestNode]:
    node = TestNode("lifecycle_test")
    yield node
    node.close()


class Lifecycle:
    """The lifecycle services of one node, called from the test."""

    def __init__(self, ros: TestNode, node_name: str) -> None:
        self.ros = ros
        self._change = ros.node.create_client(ChangeState, f"{node_name}/change_state")
        self._get = ros.node.create_client(GetState, f"{node_name}/get_state")
        assert self._change.wait_for_service(120.0) and self._get.wait_for_service(120.0)

    def state(self) -> int:
        """The node's state, asked again when no answer comes within 10 s (asking is idempotent): on a loaded CI
        machine one get_state call went unanswered for 60 s while the node was up."""
        for _ in range(6):
            future = self._get.call_async(GetState.Request())
            if wait_until(future.done, 10.0):
                return future.result().current_state.id
        raise AssertionError(f"no answer from {self._get.srv_name} in 60 s")

    def change(self, transition: int) -> bool:
        return self.ros.call(self._change, self.request(transition), 120.0).success

    def change_async(self, transition: int) -> Future:
        """Ask for a transition without waiting for the answer."""
        return self._change.call_async(self.request(transition))

    @staticmethod
    def request(transition: int) -> ChangeState.Request:
        return ChangeState.Request(transition=Transition(id=transition))


def test_transitions_load_serve_stop_and_release(ros: TestNode, tmp_path: Path) -> None:
    process = NodeProcess(
        node_command(MODULE, PARAMS, {"__ns": "/managed"}), tmp_path / "node.log", node_env(OMP_NUM_THREADS="1")
    )
    try:
        lifecycle = Lifecycle(ros, "/managed/depth_node")
        image_pub = ros.publisher(Image, "/managed/image")
        ros.publisher(CameraInfo, "/managed/camera_info")
        depth = ros.collect(Image, "/managed/depth/image")
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert depth.messages() == [] and image_pub.get_subscription_count() == 0

        assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
        assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
        publishers = lambda: ros.node.count_publishers("/managed/depth/image")  # noqa: E731
        assert wait_until(lambda: publishers() == 1, 20.0), "configure creates the publishers"
        assert image_pub.get_subscription_count() == 0, "an inactive node does not listen"

        assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == State.PRIMARY_STATE_ACTIVE
        wait_for_subscribers(image_pub)
        stamp = stamp_at(time.time())
        msg = image_msg(random_rgb(), stamp)
        # Best-effort input: publish again until the depth of this stamp arrives.
        assert wait_until(lambda: depth.with_stamp(stamp) is not None or image_pub.publish(msg), 120.0, 0.5)

        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.state() == State.PRIMARY_STATE_INACTIVE
        assert wait_until(lambda: image_pub.get_subscription_count() == 0, 20.0), "deactivated: nothing is heard"

        assert lifecycle.change(Transition.TRANSITION_ACTIVATE), "it can be activated again"
        wait_for_subscribers(image_pub)
        assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.change(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert wait_until(lambda: publishers() == 0, 20.0), "cleanup releases the publishers"

        assert lifecycle.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert process.wait(60.0) == 0, process.log()
        assert "Traceback" not in process.log()
    finally:
        process.stop()


def test_a_missing_checkpoint_fails_configure_and_the_node_stays_up(ros: TestNode, tmp_path: Path) -> None:
    params = {"checkpoint": "/nonexistent/video_depth_anything_vits.pth", "device": "cpu", "autostart": True}
    process = NodeProcess(node_command(MODULE, params, {"__ns": "/broken"}), tmp_path / "node.log")
    try:
        assert process.wait_for_log("configure failed", 120.0), process.log()  # autostart tried to configure
        lifecycle = Lifecycle(ros, "/broken/depth_node")
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert not lifecycle.change(Transition.TRANSITION_CONFIGURE), "configure through the service fails too"
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert process.running()
        log = process.log()
        assert log.count("configure failed") == 2 and "/nonexistent/video_depth_anything_vits.pth" in log, log
        assert "vda-download-weights" in log and "Traceback" not in log, log
    finally:
        assert process.stop() == 0, process.log()


def test_deactivate_waits_for_the_step_in_progress_and_cleanup_releases_the_model_after_it(
    ros: TestNode, tmp_path: Path
) -> None:
    """A step that outlasts the transitions (a first-frame graph build): they wait for it, nothing runs on after."""
    gate = tmp_path / "gate"  # the node's steps wait for this file
    env = hooked_env(VDA_TEST_MANAGED="1", VDA_TEST_STEP_GATE=str(gate), OMP_NUM_THREADS="1")
    process = NodeProcess(node_command(HOOKED_MODULE, PARAMS, {"__ns": "/slow"}), tmp_path / "node.log", env)
    try:
        lifecycle = Lifecycle(ros, "/slow/depth_node")
        image_pub = ros.publisher(Image, "/slow/image")
        depth = ros.collect(Image, "/slow/depth/image")
        assert lifecycle.change(Transition.TRANSITION_CONFIGURE) and lifecycle.change(Transition.TRANSITION_ACTIVATE)
        wait_for_subscribers(image_pub)
        msg = image_msg(random_rgb(), stamp_at(time.time()))
        assert wait_until(lambda: "test hook: step started" in process.log() or image_pub.publish(msg), 60.0, 0.5)

        deactivate = lifecycle.change_async(Transition.TRANSITION_DEACTIVATE)
        cleanup = lifecycle.change_async(Transition.TRANSITION_CLEANUP)
        waiting = "stopping: waiting for the inference step in progress to end"
        assert wait_until(lambda: waiting in process.log() or deactivate.done(), 120.0), process.log()
        assert not deactivate.done() and not cleanup.done(), "deactivate and cleanup must wait for the running step"

        gate.touch()
        assert wait_until(lambda: deactivate.done() and cleanup.done(), 120.0), process.log()
        assert deactivate.result().success and cleanup.result().success
        assert lifecycle.state() == State.PRIMARY_STATE_UNCONFIGURED
        log = process.log()
        assert log.count("test hook: step started") == 1, "no step after deactivation"
        assert log.index("test hook: step ended") < log.index("released the model and its device memory"), log
        assert "Traceback" not in log and "inference failed" not in log, log
        assert depth.messages() == [], "a step that ends after deactivation publishes nothing"

        assert lifecycle.change(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
        assert process.wait(60.0) == 0, process.log()
    finally:
        process.stop()
