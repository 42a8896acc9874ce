"""Finding the bags of a run and naming their outputs: one unit of work per bag, or per image topic of a bag.

INPUTS are bags (a rosbag2 directory, or a single .mcap or .db3 file) or folders searched for bags.
A bag given directly is written to OUTPUT_DIR/<its name>; one found under a searched folder keeps its
path relative to that folder, so two bags of the same name in different sub-folders cannot collide.
With one unit per image topic, each topic's bag goes inside that folder, named after the topic with
dots for slashes (/left/image_raw → left.image_raw; ROS names have no dots, so names stay distinct).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vda_ros.errors import UsageError, VdaError
from vda_ros.fleet.bag_job import choose_image_topic
from vda_ros.io.bags import COMPRESSED_IMAGE_TYPE, IMAGE_TYPE, message_count, open_bag, topic_types

BAG_FILE_SUFFIXES = (".mcap", ".db3")
BAG_METADATA = "metadata.yaml"


@dataclass(frozen=True)
class Unit:
    """One piece of work: an image topic of a bag ("": the tool's own choice) and where its output goes."""

    bag: Path
    image_topic: str
    output: Path
    name: str
    """The output's path below the output folder: how the unit is named in logs and the summary."""
    frames: int = 0
    """Images on the topic according to the bag's index (0 when the bag could not be read)."""
    error: str = ""
    """Why the unit cannot run at all (unreadable bag, no such topic), found before any work."""


def find_bags(inputs: list[Path], exclude: Path) -> list[tuple[Path, Path]]:
    """(bag, output name) for every bag given or found below a given folder, in a stable order.

    `exclude` (the output folder) is never searched, so a rerun does not take its own outputs for inputs.
    """
    found: dict[Path, Path] = {}
    for given in inputs:
        if not given.exists():
            raise UsageError(f"input not found: {given}")
        if given.is_file():
            if given.suffix not in BAG_FILE_SUFFIXES:
                suffixes = " or ".join(BAG_FILE_SUFFIXES)
                raise UsageError(f"{given} is not a bag (expected a directory, or a {suffixes} file)")
            found.setdefault(given.resolve(), Path(given.stem))
        elif (given / BAG_METADATA).is_file():
            found.setdefault(given.resolve(), Path(given.resolve().name))
        else:
            below = _search(given, exclude.resolve())
            if not below:
                raise UsageError(f"no rosbag2 bag found under {given}")
            for bag, name in below:
                found.setdefault(bag, name)
    return sorted(found.items(), key=lambda item: str(item[1]))


def _search(folder: Path, exclude: Path) -> list[tuple[Path, Path]]:
    """Bags below a folder: directories with a metadata.yaml (not searched further) and loose bag files."""
    bags = []
    for directory, subdirectories, files in os.walk(folder):
        here = Path(directory)
        if BAG_METADATA in files:
            bags.append((here.resolve(), here.relative_to(folder)))
            subdirectories.clear()
            continue
        subdirectories[:] = sorted(
            d for d in subdirectories if not d.startswith(".") and (here / d).resolve() != exclude
        )
        bags += [
            ((here / f).resolve(), (here / f).relative_to(folder).with_suffix(""))
            for f in sorted(files)
            if Path(f).suffix in BAG_FILE_SUFFIXES
        ]
    return bags


def topic_folder_name(topic: str) -> str:
    """The output name of one image topic's bag: /left/image_raw → left.image_raw."""
    return topic.strip("/").replace("/", ".")


def plan_units(bags: list[tuple[Path, Path]], output_dir: Path, image_topic: str, each_image_topic: bool) -> list[Unit]:
    """The units of every bag, read from the bags' indexes; a bag that cannot be read is one failed unit."""
    units: list[Unit] = []
    for bag, name in bags:
        try:
            with open_bag(bag) as reader:
                types = topic_types(reader)
                if each_image_topic:
                    topics = sorted(t for t, msgtype in types.items() if msgtype in (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE))
                    if not topics:
                        choose_image_topic(types, "")  # raises the single-bag tool's "no image topic" error
                    named = [(topic, topic, name / topic_folder_name(topic)) for topic in topics]
                else:
                    # The unit keeps the topic as given: the tool makes the same choice again.
                    named = [(image_topic, choose_image_topic(types, image_topic), name)]
                units += [
                    Unit(bag, given, output_dir / out, str(out), message_count(reader, chosen))
                    for given, chosen, out in named
                ]
        except VdaError as error:
            units.append(Unit(bag, image_topic, output_dir / name, str(name), error=str(error)))
    _check_distinct(units)
    return units


def _check_distinct(units: list[Unit]) -> None:
    """Two inputs that would write the same output are a mistake to fix before anything runs."""
    seen: dict[Path, Path] = {}
    for unit in units:
        other = seen.setdefault(unit.output, unit.bag)
        if other != unit.bag:
            raise UsageError(
                f"{other} and {unit.bag} would both be written to {unit.output}; "
                "rename one, or process them in separate runs"
            )
