"""The one link between vda-process-bags and vda-process-bag: its options, its engine and its per-bag function.

Every option of vda-process-bag but its two paths is an option of vda-process-bags, added from the same
dataclass fields, so options added to the single-bag tool reach the fleet without a change here.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from vda_ros.batch.plan import choose_image_topic
from vda_ros.batch.report import Summary
from vda_ros.batch.run import build_engine, process
from vda_ros.batch.settings import Options, add_arguments, options_from

__all__ = [
    "Options",
    "Summary",
    "add_shared_arguments",
    "build_engine",
    "choose_image_topic",
    "options_for",
    "process",
    "shared_options",
]

PER_BAG = ("input", "output")
"""Options that vda-process-bags sets for each bag instead of taking them from the command line."""


def add_shared_arguments(parser: argparse.ArgumentParser) -> None:
    """vda-process-bag's flags, but the input and output paths."""
    add_arguments(parser, exclude=PER_BAG)


def shared_options(args: argparse.Namespace) -> Options:
    """The options every bag of the run shares, checked as vda-process-bag checks them."""
    names = {field.name for field in dataclasses.fields(Options)} - set(PER_BAG)
    values: dict[str, Any] = {name: value for name, value in vars(args).items() if name in names}
    options = options_from(values)
    options_for(options, Path("input"), Path("output"), options.image_topic).check()
    return options


def options_for(shared: Options, bag: Path, output: Path, image_topic: str, overwrite: bool = False) -> Options:
    """One bag's options: the shared ones with its paths and image topic ("" lets the tool choose)."""
    return dataclasses.replace(
        shared, input=str(bag), output=str(output), image_topic=image_topic, overwrite=shared.overwrite or overwrite
    )
