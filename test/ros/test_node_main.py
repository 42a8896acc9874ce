"""run_node: start-up errors end a node quietly only while it is built, never while it spins."""

from __future__ import annotations

import pytest
from rclpy.node import Node

from vda_ros.ros.node_main import run_node

# Every test here starts rclpy or ROS nodes.
pytestmark = pytest.mark.ros


class _ClosingNode(Node):
    """A node that records that run_node released it."""

    def __init__(self) -> None:
        super().__init__("run_node_test")
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _BuildFailure(ValueError):
    pass


def _fail_to_build() -> _ClosingNode:
    raise _BuildFailure("no such checkpoint")


def test_a_startup_error_while_building_is_reported_and_gives_none() -> None:
    assert run_node("run_node_test", [], _fail_to_build, lambda node: None, (ValueError,)) is None


def test_the_same_error_type_raised_while_spinning_propagates_and_the_node_is_still_released() -> None:
    built: list[_ClosingNode] = []

    def build() -> _ClosingNode:
        built.append(_ClosingNode())
        return built[0]

    def spin(node: _ClosingNode) -> None:
        raise ValueError("a bug in a callback")

    with pytest.raises(ValueError, match="a bug in a callback"):
        run_node("run_node_test", [], build, spin, (ValueError,))
    assert built[0].closed
