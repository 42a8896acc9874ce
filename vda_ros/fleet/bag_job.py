"""The one link between vda-process-bags and vda-process-bag: its settings, its engine and its per-bag function.

Every option of vda-process-bag but its two paths is an option of vda-process-bags, its flag added from the
same BagSettings, so options added to the single-bag tool reach the fleet without a change here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from vda_ros.batch.plan import choose_image_topic
from vda_ros.batch.report import Summary
from vda_ros.batch.run import build_engine, process
from vda_ros.batch.settings import NOT_OFFERED, BagSettings
from vda_ros.core.options import add_flags, from_args
from vda_ros.model.backends import check_backend

__all__ = [
    "BagSettings",
    "Summary",
    "add_shared_flags",
    "build_engine",
    "choose_image_topic",
    "process",
    "settings_for",
    "shared_settings",
]

PER_BAG = ("input", "output")
"""Options that vda-process-bags sets for each bag instead of taking them from the command line."""


def add_shared_flags(parser: argparse.ArgumentParser) -> None:
    """vda-process-bag's flags, but the input and output paths."""
    add_flags(parser, BagSettings, exclude=PER_BAG + NOT_OFFERED)


def shared_settings(args: argparse.Namespace, warn: Callable[[str], None] | None = None) -> BagSettings:
    """The settings every bag of the run shares, checked before any work.

    The backend is checked here as vda-process-bag checks it; the graph cache is not, since it is a folder
    on the workers' machines, which need not be this one.
    """
    settings = from_args(BagSettings, args, warn)
    check_backend(settings.model.backend, settings.model.engine_precision, offline=True)
    return settings


def settings_for(
    shared: BagSettings, bag: Path, output: Path, image_topic: str, overwrite: bool = False
) -> BagSettings:
    """One bag's settings: the shared ones with its paths and image topic ("" lets the tool choose)."""
    return shared.replace(
        input=str(bag), output=str(output), image_topic=image_topic, overwrite=shared.overwrite or overwrite
    )
