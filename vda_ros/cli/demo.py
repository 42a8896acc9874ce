"""vda-demo: the live pipeline on a video file, recorded to an mp4 (see vda_ros.ros.demo).

vda-demo VIDEO [--frames N] [--output FILE] [--random-weights] ...
"""

from __future__ import annotations

import argparse
import sys

from rclpy.executors import ExternalShutdownException

from vda_ros.cli.help_format import DefaultsHelpFormatter
from vda_ros.core.options import OptionError, add_flags, from_args
from vda_ros.ros.demo import PROG, DemoError, DemoSettings, run_demo

EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=DefaultsHelpFormatter,
        description="Run video_source and depth_node on a video file and record depth/colored to an mp4.",
    )
    add_flags(parser, DemoSettings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-demo: 0 once the video is written, 2 for a bad option, 1 when the pipeline failed or
    was interrupted (nothing written)."""
    parser = build_parser()
    try:
        settings = from_args(DemoSettings, parser.parse_args(argv))
    except OptionError as error:
        parser.error(str(error))
    try:
        print(run_demo(settings))
    except DemoError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, ExternalShutdownException):
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
