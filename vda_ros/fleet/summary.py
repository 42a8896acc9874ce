"""The run's result per unit: a table for the terminal and the same as JSON beside the outputs."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vda_ros import __version__
from vda_ros.fleet.units import Unit
from vda_ros.io.files import atomic_output

SUMMARY_FILE = "vda_process_bags_summary.json"

DONE = "done"
COMPLETE = "complete"
"""Already complete from an earlier run (verified by its manifest), so not recomputed."""
FAILED = "failed"
INTERRUPTED = "interrupted"
NOT_RUN = "not run"
SUCCEEDED = (DONE, COMPLETE)


@dataclass
class Outcome:
    """What became of one unit."""

    name: str
    bag: str
    image_topic: str
    output: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    attempts: int = 0
    error: str = ""
    worker: str = ""
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, unit: Unit, status: str, **details: Any) -> Outcome:
        return cls(unit.name, str(unit.bag), unit.image_topic, str(unit.output), status, **details)

    @property
    def rate(self) -> float | None:
        return self.frames / self.seconds if self.status == DONE and self.seconds > 0 else None


@dataclass(frozen=True)
class RunTotals:
    wall_seconds: float
    """From the start of Ray (or the cluster connection) to the last unit, model loading included."""
    ray_start_seconds: float
    workers: int
    interrupted: bool

    def frames(self, outcomes: list[Outcome]) -> int:
        """Frames processed by this run (not those of outputs that were already complete)."""
        return sum(o.frames for o in outcomes if o.status == DONE)

    def rate(self, outcomes: list[Outcome]) -> float:
        """Frames per second over the whole run, after Ray's start."""
        seconds = self.wall_seconds - self.ray_start_seconds
        return self.frames(outcomes) / seconds if seconds > 0 else 0.0


def table(outcomes: list[Outcome], totals: RunTotals) -> str:
    """Bag, frames, seconds, frames/s, status, attempts, error: one row per unit, then the totals."""
    header = ("bag", "frames", "seconds", "frames/s", "status", "attempts", "error")
    rows = [
        (
            o.name,
            str(o.frames),
            f"{o.seconds:.1f}" if o.status == DONE else "-",
            f"{o.rate:.2f}" if o.rate is not None else "-",
            o.status,
            str(o.attempts) if o.attempts else "-",
            o.error,
        )
        for o in outcomes
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        # Every column but the last (free text) is padded to its width.
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in [header, *rows]
    ]
    statuses = (DONE, COMPLETE, FAILED, INTERRUPTED, NOT_RUN)
    counts = {status: sum(o.status == status for o in outcomes) for status in statuses}
    frames = totals.frames(outcomes)
    lines.append(
        f"{len(outcomes)} bags: "
        + ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        + f"; {frames} frames in {totals.wall_seconds:.1f} s on {totals.workers} workers"
        + f" ({totals.rate(outcomes):.2f} frames/s; Ray start {totals.ray_start_seconds:.1f} s)"
    )
    lines += [f"warning: {o.name}: {text}" for o in outcomes for text in o.warnings]
    return "\n".join(line.rstrip() for line in lines)


def write_json(path: Path, outcomes: list[Outcome], totals: RunTotals, options: dict[str, Any]) -> None:
    """The summary as JSON (written atomically): the run, its options, and every unit's outcome."""
    document = {
        "tool": "vda-process-bags",
        "vda_ros": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "interrupted": totals.interrupted,
        "succeeded": all(o.status in SUCCEEDED for o in outcomes),
        "wall_seconds": round(totals.wall_seconds, 3),
        "ray_start_seconds": round(totals.ray_start_seconds, 3),
        "workers": totals.workers,
        "frames": totals.frames(outcomes),
        "frames_per_second": round(totals.rate(outcomes), 3),
        "options": options,
        "bags": [asdict(o) for o in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(document, indent=1) + "\n")
