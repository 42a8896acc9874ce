"""vda-export-onnx: the backends' ONNX graphs written out for one camera resolution (see vda_ros.model.export)."""

from __future__ import annotations

import argparse
import sys

from vda_ros.cli.help_format import DefaultsHelpFormatter
from vda_ros.core.options import add_flags, from_args
from vda_ros.interruption import run_tool
from vda_ros.model.export import NOT_OFFERED, PROG, ExportSettings, export


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=DefaultsHelpFormatter,
        description="Export the Video Depth Anything streaming step to ONNX.",
    )
    add_flags(parser, ExportSettings, exclude=NOT_OFFERED)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`vda-export-onnx`: export the streaming step for one camera resolution.

    Exit status 0 when every file was written, 2 for a problem the user can fix (`error: ...`, no traceback),
    130 when interrupted; in every case but 0 no file is added or changed.
    """
    args = build_parser().parse_args(argv)
    return run_tool(PROG, lambda: export(from_args(ExportSettings, args)), "no file was written")


if __name__ == "__main__":
    sys.exit(main())
