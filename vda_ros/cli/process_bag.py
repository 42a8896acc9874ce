"""vda-process-bag (`ros2 run vda_ros process_bag`): depth for a whole rosbag2 recording (see vda_ros.batch)."""

from __future__ import annotations

import sys

from vda_ros.batch.report import report
from vda_ros.batch.run import process
from vda_ros.batch.settings import PROG, parse_options
from vda_ros.interruption import run_tool


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-process-bag and of the process_bag node.

    Exit status 0 when the bag was written, 2 for a refused option or an unusable input (message, no
    traceback), 130 when interrupted; an unexpected failure shows its traceback (status 1). In every
    case but 0, no output exists.
    """
    argv = sys.argv[1:] if argv is None else argv
    return run_tool(PROG, lambda: report(process(parse_options(argv))), "no output was written")


if __name__ == "__main__":
    sys.exit(main())
