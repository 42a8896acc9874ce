"""Proof that an output is complete and current, so that a rerun skips it and redoes everything else.

An output bag appears under its name only once complete (vda-process-bag stages and renames it), but
that alone does not say it was made from this input with these options. Beside each output, the worker
that wrote it leaves <output>.vda-manifest.json with the input's file sizes and modification times, a
digest of the settings' values, the frame count, and the size of every file of the output. An output is
taken as done only if all of these still match; a bag re-recorded, other options, or an output damaged or
trimmed since, means the work is done again.
"""

from __future__ import annotations

import hashlib
import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

from vda_ros import __version__
from vda_ros.fleet.bag_job import BagSettings
from vda_ros.io.files import atomic_output

MANIFEST_SUFFIX = ".vda-manifest.json"
_NOT_HASHED = ("input", "output", "overwrite")
"""Options that do not change an output's content."""


class OutputState(Enum):
    ABSENT = "absent"
    COMPLETE = "complete"
    STALE = "stale"
    """Written by an earlier run, but from another input or other options, or changed since."""
    FOREIGN = "foreign"
    """Something is there that no run of vda-process-bags vouches for."""


def manifest_path(output: Path) -> Path:
    return output.with_name(output.name + MANIFEST_SUFFIX)


def file_listing(path: Path) -> dict[str, list[int]]:
    """Relative file name → [size, modification time in ns] for a file or every file below a directory."""
    if path.is_file():
        stat = path.stat()
        return {path.name: [stat.st_size, stat.st_mtime_ns]}
    listing = {}
    for directory, _, files in os.walk(path):
        for name in files:
            file = Path(directory, name)
            stat = file.stat()
            listing[str(file.relative_to(path))] = [stat.st_size, stat.st_mtime_ns]
    return dict(sorted(listing.items()))


def options_digest(settings: BagSettings) -> str:
    """sha256 of what decides an output's content: the options but the paths, the checkpoint file, the version."""
    described: dict[str, Any] = {k: v for k, v in settings.offered().items() if k not in _NOT_HASHED}
    described["vda_ros"] = __version__
    if settings.model.checkpoint:
        checkpoint = Path(settings.model.checkpoint)
        described["checkpoint_file"] = file_listing(checkpoint) if checkpoint.is_file() else None
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _record(settings: BagSettings, frames: int) -> dict[str, Any]:
    """What a manifest holds, for an output that exists."""
    return {
        "tool": "vda-process-bags",
        "input": settings.input,
        "image_topic": settings.image_topic,
        "input_files": file_listing(Path(settings.input)),
        "options_digest": options_digest(settings),
        "frames": frames,
        "output_files": file_listing(Path(settings.output)),
    }


def write_manifest(settings: BagSettings, frames: int) -> None:
    """Vouch for a just-written output (atomically: a manifest is never seen half-written)."""
    path = manifest_path(Path(settings.output))
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(_record(settings, frames), indent=1) + "\n")


def output_state(settings: BagSettings) -> OutputState:
    """Whether a unit's output exists, and if so whether its manifest still vouches for it."""
    output = Path(settings.output)
    if not (output.exists() or output.is_symlink()):
        return OutputState.ABSENT
    try:
        recorded = json.loads(manifest_path(output).read_text())
    except (OSError, ValueError):
        return OutputState.FOREIGN
    if not isinstance(recorded, dict) or recorded.get("tool") != "vda-process-bags":
        return OutputState.FOREIGN
    try:
        current = _record(settings, recorded.get("frames", -1))
    except OSError:  # the input vanished or the output cannot be listed: it cannot be vouched for
        return OutputState.STALE
    return OutputState.COMPLETE if recorded == current else OutputState.STALE
