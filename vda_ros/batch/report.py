"""What vda-process-bag says when a bag is done: frames, rate, topics written, warnings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Summary:
    frames: int
    seconds: float
    output: Path
    storage: str
    version: int
    counts: dict[str, int]
    warnings: list[str]
    random_weights: bool


def report(summary: Summary) -> str:
    rate = summary.frames / summary.seconds if summary.seconds > 0 else float("inf")
    lines = [
        f"{summary.frames} frames in {summary.seconds:.1f} s ({rate:.2f} frames/s)",
        f"wrote {summary.output} ({summary.storage}, rosbag2 format {summary.version}):",
    ]
    width = max(map(len, summary.counts))
    lines += [f"  {topic:<{width}}  {count} messages" for topic, count in summary.counts.items()]
    lines += [f"warning: {text}" for text in summary.warnings]
    if summary.random_weights:
        lines.append("RANDOM WEIGHTS were used: this bag is a smoke test, its depth is meaningless.")
    return "\n".join(lines)
