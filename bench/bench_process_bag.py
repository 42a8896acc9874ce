#!/usr/bin/env python3
"""vda-process-bag throughput and peak memory on a short bag and on one four times longer.

The claim under test: memory does not grow with the recording's length, because frames stream
through the offline engine and every output is written as soon as it exists. Each bag is processed
in a fresh child process (the real console entry point) and its own peak resident memory is read from
the kernel with wait4(), so the two runs cannot share or hide memory. By default the model is metric
with calibrated CameraInfo, so the runs write point clouds too: the largest per-frame output, and the
one a leak would show first. Weights are the seeded random ones: speed and memory do not depend on them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "test"))  # the bag generator the tests use, not a second copy of it

from bag_helpers import synthetic_frames, write_test_bag  # noqa: E402


@dataclass(frozen=True)
class Measurement:
    frames: int
    wall_s: float
    tool_fps: float
    peak_rss_mib: float
    output_mib: float


def directory_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir()) / 2**20


def measure(bag: Path, output: Path, frames: int, tool_args: list[str]) -> Measurement:
    """Run the tool on one bag in a child process; its peak RSS comes from wait4 (ru_maxrss, KiB on Linux)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "vda_ros.cli.process_bag", str(bag), str(output), *tool_args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    summary = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"vda-process-bag failed with exit code {child.returncode} on {bag}")
    rate = re.search(r"\(([\d.]+) frames/s\)", summary)
    tool_fps = float(rate.group(1)) if rate else float("nan")
    return Measurement(frames, wall, tool_fps, usage.ru_maxrss / 1024, directory_mib(output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="short bag (default 40); the long one: 4x")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--input-size", type=int, default=112, help="network input size (default 112: CPU-friendly)")
    parser.add_argument("--encoder", default="vits")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--relative", action="store_true", help="relative model: no point clouds")
    args = parser.parse_args()

    tool_args = ["--random-weights", "--encoder", args.encoder, "--device", args.device]
    tool_args += ["--input-size", str(args.input_size)] + ([] if args.relative else ["--metric"])
    print(
        f"vda-process-bag: {args.width}x{args.height} rgb8 frames, {args.storage}, {args.encoder} "
        f"{'relative' if args.relative else 'metric + points'}, input size {args.input_size}, device {args.device}"
    )
    print(f"{'frames':>7} {'wall s':>8} {'frames/s':>9} {'peak RSS MiB':>13} {'output MiB':>11}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_process_bag_") as scratch:
        for count in (args.frames, 4 * args.frames):
            bag = write_test_bag(
                Path(scratch, f"in_{count}"), synthetic_frames(count, args.width, args.height), storage=args.storage
            )
            result = measure(bag.path, Path(scratch, f"out_{count}"), count, tool_args)
            results.append(result)
            print(
                f"{result.frames:>7} {result.wall_s:>8.1f} {result.tool_fps:>9.2f} "
                f"{result.peak_rss_mib:>13.0f} {result.output_mib:>11.1f}",
                flush=True,
            )
    short, long = results
    growth = long.peak_rss_mib - short.peak_rss_mib
    more_output = long.output_mib - short.output_mib
    print(
        f"peak RSS, {long.frames} vs {short.frames} frames: {growth:+.0f} MiB "
        f"({long.peak_rss_mib / short.peak_rss_mib:.2f}x) while writing {more_output:.0f} MiB more"
    )


if __name__ == "__main__":
    main()
