"""vda-process-bag (`ros2 run vda_ros process_bag`): depth for a whole rosbag2 recording (see vda_ros.batch).

Its settings (vda_ros.batch.settings.BagSettings) come from the command line, or from ROS parameters when it
runs as a node (`--ros-args -p name:=value`): the same options under the same names on both surfaces.
"""

from __future__ import annotations

import argparse
import sys

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

from vda_ros.batch.report import report
from vda_ros.batch.run import process
from vda_ros.batch.settings import NOT_OFFERED, PROG, BagSettings
from vda_ros.core.options import add_flags, from_args
from vda_ros.errors import UsageError
from vda_ros.interruption import run_tool
from vda_ros.ros.parameters import ParameterTable

NODE_NAME = "process_bag"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Depth for every frame of a rosbag2 recording with Video Depth Anything's offline "
        "(windowed) engine, written to a new bag in constant memory.",
        epilog="As a ROS node: ros2 run vda_ros process_bag --ros-args -p input:=IN -p output:=OUT ... "
        "(every option is a parameter of the same name with underscores).",
    )
    add_flags(parser, BagSettings, exclude=NOT_OFFERED)
    return parser


def warn(note: str) -> None:
    """An older spelling was used: one warning line on standard error, from either surface."""
    print(f"{PROG}: warning: {note}", file=sys.stderr)


def settings_from_ros(argv: list[str]) -> BagSettings:
    """The settings of ROS parameters (`--ros-args -p name:=value`), through a node that lives only to read them.

    rclpy's signal handlers stay off: no node spins here, and Ctrl-C must reach the processing loop
    through the tool's own handler (vda_ros.interruption).
    """
    extra = remove_ros_args(args=argv)
    if extra:
        raise UsageError(
            f"with --ros-args, give every option as a parameter (-p name:=value); unexpected: {' '.join(extra)}"
        )
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = Node(NODE_NAME)
        try:
            return ParameterTable(node, BagSettings, warn=warn, exclude=NOT_OFFERED).settings
        except ParameterException as error:
            raise UsageError(f"bad parameter: {error}") from error
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown()


def parse_settings(argv: list[str]) -> BagSettings:
    """The settings of the command line, or of ROS parameters when run as a node."""
    if "--ros-args" in argv:
        return settings_from_ros(argv)
    return from_args(BagSettings, build_parser().parse_args(argv), warn=warn)


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-process-bag and of the process_bag node.

    Exit status 0 when the bag was written, 2 for a refused option or an unusable input (message, no
    traceback), 130 when interrupted; an unexpected failure shows its traceback (status 1). In every
    case but 0, no output exists.
    """
    argv = sys.argv[1:] if argv is None else argv
    return run_tool(PROG, lambda: report(process(parse_settings(argv))), "no output was written")


if __name__ == "__main__":
    sys.exit(main())
