"""vda-video: depth for a video file or an image folder, written as a colourised mp4 (and npz, exr, ply).

The command line of vda_ros.batch.video, whose VideoSettings declare every option.
"""

from __future__ import annotations

import argparse
import sys

from vda_ros.batch.video import FLAG_HELP, NOT_OFFERED, PROG, VideoSettings, report, run
from vda_ros.cli.help_format import DefaultsHelpFormatter
from vda_ros.core.options import add_flags, from_args
from vda_ros.interruption import run_tool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=DefaultsHelpFormatter,
        description="Video Depth Anything on a video file or an image folder: writes NAME_vis.mp4 "
        "(colourised depth) and, with --save-npz, NAME_depths.npz (float32 T x H x W, key 'depths').",
    )
    add_flags(parser, VideoSettings, exclude=NOT_OFFERED, help_overrides=FLAG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-video.

    Exit status 0 when every file was written, 2 for a problem the user can fix (message, no
    traceback), 130 when interrupted by SIGINT or SIGTERM. In every case but 0 no output file is
    created or changed, and no temporary file is left.
    """
    args = build_parser().parse_args(argv)

    def work() -> str:
        settings = from_args(VideoSettings, args)
        return report(run(settings), settings)

    return run_tool(PROG, work, "no incomplete file was left")


if __name__ == "__main__":
    sys.exit(main())
