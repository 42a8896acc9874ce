"""managed_depth_node: depth_node as a ROS 2 lifecycle (managed) node.

Same parameters, topics and behaviour as depth_node, driven by the standard lifecycle services
(`~/change_state`, `~/get_state`), e.g. by a lifecycle manager or `ros2 lifecycle set`:

- configure: loads the model and creates the publishers and reset services. A missing or unloadable
  checkpoint fails the transition (the reason is logged) and the node stays up, unconfigured.
- activate: subscribes to the cameras and starts inference and diagnostics.
- deactivate: unsubscribes and stops inference; nothing is published while inactive.
- cleanup: releases the publishers and the model, and with it the device memory.
- shutdown: releases whatever is still held; the process then exits with status 0.

With the parameter `autostart` true the node configures and activates itself at start-up, so it
comes up like the plain node but can still be deactivated and reactivated.
"""

from __future__ import annotations

import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from vda_ros.nodes.depth_node import NODE_NAME
from vda_ros.nodes.depth_service import DepthService, StartupError
from vda_ros.nodes.depth_settings import ManagedDepthSettings
from vda_ros.ros.node_main import run_node
from vda_ros.ros.parameters import ParameterTable


class ManagedDepthNode(LifecycleNode):
    """depth_node whose model, publishers and subscriptions follow the lifecycle states."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._params = ParameterTable(self, ManagedDepthSettings)
        self._depth = DepthService(self, lambda: self._params.settings)
        self.finalized = False
        """The shutdown transition ran: the process ends."""
        if self._params.settings.autostart:
            self.trigger_configure()
            if self._depth.configured:
                self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._depth.configure()
        except StartupError as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._depth.activate()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._depth.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._depth.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._depth.shutdown()
        self.finalized = True
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Ctrl-C or the end of the process: release everything still held."""
        self._depth.shutdown()


def spin_until_finalized(node: ManagedDepthNode) -> None:
    """Serve the lifecycle services until the shutdown transition (or Ctrl-C / rclpy shutdown)."""
    while rclpy.ok() and not node.finalized:
        rclpy.spin_once(node, timeout_sec=0.2)


def main(args: list[str] | None = None) -> int:
    """Run the managed node until shutdown; exit 1 with a clear message when its parameters are invalid."""
    node = run_node(NODE_NAME, args, ManagedDepthNode, spin_until_finalized, (InvalidParameterValueException,))
    return 1 if node is None else 0


if __name__ == "__main__":
    raise SystemExit(main())
