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
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterValueException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from vda_ros.nodes.depth_node import NODE_NAME, DepthCore, StartupError
from vda_ros.ros.node_main import run_node


class ManagedDepthNode(DepthCore, LifecycleNode):
    """depth_node whose model, publishers and subscriptions follow the lifecycle states."""

    def __init__(self) -> None:
        LifecycleNode.__init__(self, NODE_NAME)
        self._declare()
        self._configured = self._active = False
        self.finalized = False
        descriptor = ParameterDescriptor(description="Configure and activate at start-up.", read_only=True)
        if self.declare_parameter("autostart", False, descriptor).value:
            self.trigger_configure()
            if self._configured:
                self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except StartupError as error:
            self.get_logger().error(f"configure failed: {error}")
            self._cleanup()
            return TransitionCallbackReturn.FAILURE
        self._configured = True
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._activate()
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release(deactivate_only=True)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.finalized = True
        return TransitionCallbackReturn.SUCCESS

    def _release(self, deactivate_only: bool = False) -> None:
        """Undo activate (if active) and, unless deactivate_only, configure (if configured)."""
        if self._active:
            self._deactivate()
            self._active = False
        if self._configured and not deactivate_only:
            self._cleanup()
            self._configured = False

    def close(self) -> None:
        """Ctrl-C or the end of the process: release everything still held."""
        self._release()


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
