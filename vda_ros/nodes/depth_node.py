"""depth_node: live, temporally consistent depth from one camera, or from several through one model.

The node declares its parameters (vda_ros.nodes.depth_settings) and runs a DepthService
(vda_ros.nodes.depth_service), which does the work, configured and activated at start-up. The lifecycle
variant is managed_depth_node.
"""

from __future__ import annotations

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node

from vda_ros.nodes.depth_service import DepthService, StartupError
from vda_ros.nodes.depth_settings import DepthSettings
from vda_ros.ros.node_main import run_node
from vda_ros.ros.parameters import ParameterTable

NODE_NAME = "depth_node"


class DepthNode(Node):
    """Subscribes to one or several cameras and publishes depth, colourised depth, CameraInfo and points."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._params = ParameterTable(self, DepthSettings)
        self._depth = DepthService(self, lambda: self._params.settings)
        self._depth.configure()
        self._depth.activate()

    def close(self) -> None:
        """Stop the worker and release the model before the node goes away, so it never publishes on a destroyed
        node."""
        self._depth.shutdown()


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; exit 1 with a clear message when it cannot start."""
    node = run_node(NODE_NAME, args, DepthNode, rclpy.spin, (StartupError, InvalidParameterValueException))
    return 1 if node is None else 0


if __name__ == "__main__":
    raise SystemExit(main())
