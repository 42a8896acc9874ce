"""vda-finetune: fine-tune Video Depth Anything on your own RGB + ground-truth depth recordings.

Data: rosbag2 bags (an image topic and a depth camera's aligned depth or a LiDAR cloud, paired by stamp) and
folders of RGB and depth frames. Mode `offline` trains the official setting (bidirectional 32-frame windows);
mode `streaming` trains exactly the function the live node runs. Writes the weights in the official format
(loadable by every vda_ros tool and the official code) and a resumable training state. The options are
vda_ros.training.settings.FinetuneSettings; the run is vda_ros.training.run.
"""

from __future__ import annotations

import argparse
import sys

from vda_ros.core.options import add_flags, from_args
from vda_ros.interruption import run_tool
from vda_ros.training.run import PROG, fine_tune
from vda_ros.training.settings import ENGINE_OPTIONS, MODEL_HELP, POSE_FIELDS, FinetuneSettings

REPEATED = ("bag", "rgb_dir", "depth_dir")
"""Lists given one item per flag (--bag a --bag b), which add_flags' lists (--bag a b) would not take."""


def build_parser() -> argparse.ArgumentParser:
    """The flags of FinetuneSettings; the lists and the LiDAR pose take shapes add_flags does not make."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fine-tune Video Depth Anything on RGB + ground-truth depth from rosbag2 bags or image folders.",
    )
    add_flags(
        parser, FinetuneSettings, exclude=(*ENGINE_OPTIONS, *REPEATED, "lidar_to_camera"), help_overrides=MODEL_HELP
    )
    for name in REPEATED:
        item = FinetuneSettings.option(name)
        parser.add_argument(item.flag, dest=name, action="append", help=item.help)
    lidar = FinetuneSettings.option("lidar_to_camera")  # exactly seven numbers, as tf2's static transform takes
    parser.add_argument(
        lidar.flag, dest=lidar.name, type=float, nargs=len(POSE_FIELDS), metavar=POSE_FIELDS, help=lidar.help
    )
    return parser


def parse_settings(argv: list[str] | None = None) -> FinetuneSettings:
    """The settings a command line gives (OptionError for values or combinations the run cannot take)."""
    return from_args(FinetuneSettings, build_parser().parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-finetune: 0 when trained, 2 (message, no traceback) for unusable options, data or
    output, 130 when interrupted (the last save is what --resume continues from)."""
    return run_tool(PROG, lambda: fine_tune(parse_settings(argv)), "--resume continues from the last saved step")


if __name__ == "__main__":
    sys.exit(main())
