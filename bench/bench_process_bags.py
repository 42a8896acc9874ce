#!/usr/bin/env python3
"""vda-process-bags throughput (frames per second over all bags) with 1, 2, ... workers on this machine.

The same generated bags are processed once per worker count, each time by the real console entry point in
a fresh child process with its own embedded Ray, into a fresh output folder. The figures come from the
run's JSON summary: frames/s counts from the moment Ray is up (worker start and model loading included,
as a user waits for them), and the wall time includes starting Ray. Weights are the seeded random ones:
speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "test"))  # the bag generator the tests use, not a second copy of it

from bag_helpers import synthetic_frames, write_test_bag  # noqa: E402

from vda_ros.fleet.summary import SUMMARY_FILE  # noqa: E402


def run(inputs: Path, output: Path, workers: int, tool_args: list[str]) -> dict[str, object]:
    """One run of vda-process-bags; its JSON summary."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [
        sys.executable,
        "-m",
        "vda_ros.cli.process_bags",
        str(inputs),
        "--output-dir",
        str(output),
        "--workers",
        str(workers),
        *tool_args,
    ]
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"vda-process-bags failed with exit code {result.returncode}:\n{result.stderr[-2000:]}")
    return json.loads((output / SUMMARY_FILE).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=4)
    parser.add_argument("--frames", type=int, default=44, help="frames per bag (44: two offline windows)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--input-size", type=int, default=196)
    parser.add_argument("--encoder", default="vits")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    tool_args = ["--random-weights", "--encoder", args.encoder, "--device", "cpu", "--input-size", str(args.input_size)]

    with tempfile.TemporaryDirectory(prefix="bench_process_bags_") as directory:
        root = Path(directory)
        for index in range(args.bags):
            write_test_bag(root / "in" / f"bag{index}", synthetic_frames(args.frames, args.width, args.height))
        print(
            f"{args.bags} bags × {args.frames} frames of {args.width}×{args.height} rgb8, {args.encoder}, "
            f"input {args.input_size}, CPU ({os.cpu_count()} CPUs), embedded Ray"
        )
        print("| workers | threads per worker | wall time | of which Ray start | frames/s | speed-up |")
        print("| --- | --- | --- | --- | --- | --- |")
        first_rate = None
        for workers in args.workers:
            summary = run(root / "in", root / f"out{workers}", workers, tool_args)
            rate = float(summary["frames_per_second"])  # type: ignore[arg-type]
            first_rate = first_rate or rate
            threads = max(1, (os.cpu_count() or 1) // workers)
            print(
                f"| {workers} | {threads} | {summary['wall_seconds']:.1f} s | {summary['ray_start_seconds']:.1f} s "
                f"| {rate:.2f} | ×{rate / first_rate:.2f} |"
            )


if __name__ == "__main__":
    main()
