"""The life of a node process: init, build, spin, and a clean shutdown on every path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.logging import get_logger


class OwningNode(Protocol):
    """An rclpy node (plain or lifecycle) with a close() that releases what it owns (threads, capture devices)."""

    def close(self) -> None: ...

    def destroy_node(self) -> None: ...


N = TypeVar("N", bound=OwningNode)


def run_node(
    name: str,
    args: list[str] | None,
    build: Callable[[], N],
    spin: Callable[[N], None],
    startup_errors: tuple[type[BaseException], ...],
) -> N | None:
    """Build and spin a node until Ctrl-C or shutdown; None when it could not start (reason logged as fatal).

    `startup_errors` are caught while the node is built only: the same exception type raised later, from a
    callback while spinning, is a bug and propagates with its traceback instead of passing for a start-up
    failure. A background child of a non-interactive shell gets shutdown as ExternalShutdownException rather than
    KeyboardInterrupt: both end the node quietly. The node's own resources (threads, devices) are released
    by its close() before it is destroyed.
    """
    rclpy.init(args=args)
    node: N | None = None
    try:
        try:
            node = build()
        except startup_errors as error:
            get_logger(name).fatal(f"cannot start: {error}")
            return None
        spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return node
