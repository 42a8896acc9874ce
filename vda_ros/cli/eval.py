"""vda-eval: depth quality of a prediction against ground truth, with the official benchmark's metrics.

Two ways in: arrays (PRED as vda-video --save-npz writes it, GT as an .npz or a folder of depth frames),
or a recording (--bag) holding a processed depth topic and a depth camera's. Prints a table and, with
--json, writes the numbers (keys abs_rel, rmse, delta1, and tae with poses). The options are
vda_ros.core.metrics.EvalSettings; see that module for what each number means and how it matches the
official code.
"""

from __future__ import annotations

import argparse
import sys

from vda_ros.core.metrics import EvalSettings
from vda_ros.core.options import add_flags, from_args
from vda_ros.interruption import run_tool
from vda_ros.ros.eval_bag import run_evaluation

PROG = "vda-eval"
INPUTS = ("pred", "gt")
"""Positional, but optional: a recording (--bag) replaces them."""
CROP_EDGES = ("TOP", "BOTTOM", "LEFT", "RIGHT")


def build_parser() -> argparse.ArgumentParser:
    """The flags of EvalSettings; PRED, GT and --crop take shapes add_flags does not make (see the comments)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Score predicted depth against ground truth with the official Video Depth Anything benchmark "
        "metrics (AbsRel, RMSE, delta1, and TAE with poses).",
    )
    for name in INPUTS:  # optional positionals (nargs "?"): add_flags makes positionals required
        item = EvalSettings.option(name)
        parser.add_argument(name, nargs="?", metavar=item.metavar, help=item.help)
    add_flags(parser, EvalSettings, exclude=(*INPUTS, "crop"))
    crop = EvalSettings.option("crop")  # exactly four numbers, so PRED GT may follow it
    parser.add_argument(crop.flag, dest="crop", type=int, nargs=len(CROP_EDGES), metavar=CROP_EDGES, help=crop.help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-eval: 0 with the table printed, 2 (message, no traceback) for unusable inputs."""
    args = build_parser().parse_args(argv)
    return run_tool(PROG, lambda: run_evaluation(from_args(EvalSettings, args)), "no file was written")


if __name__ == "__main__":
    sys.exit(main())
