#!/usr/bin/env python3
"""Fine-tuning speed and peak memory: optimizer steps per second, offline vs streaming mode, frozen vs full.

Each configuration trains in a fresh child process on a synthetic ray-cast RGB-D recording (the tests'
generator), so its peak resident memory (wait4's ru_maxrss) is its own; on CUDA the peak allocated device
memory is reported too. The first step (allocation, warm-up) is not timed. Weights are the seeded random
ones: speed and memory do not depend on them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "test"))  # the RGB-D generator the tests use, not a second copy of it


def child(args: argparse.Namespace) -> None:
    """Train args.steps + 1 steps of one configuration and print its timing as JSON."""
    import torch
    from rgbd_helpers import write_folders

    from vda_ros.cli.finetune import parse_settings
    from vda_ros.training.run import build_trainer

    with tempfile.TemporaryDirectory() as tmp:
        side = args.crop_size
        rgb_dir, depth_dir = write_folders(Path(tmp) / "data", args.clip_length + 4, side + 14, side)
        options = [
            "--rgb-dir",
            str(rgb_dir),
            "--depth-dir",
            str(depth_dir),
            "--random-weights",
            "--encoder",
            args.encoder,
            "--mode",
            args.mode,
            "--clip-length",
            str(args.clip_length),
            "--crop-size",
            str(side),
            "--val-fraction",
            "0",
            "--steps-per-epoch",
            str(args.steps + 1),
            "--device",
            args.device,
            "--output-dir",
            str(Path(tmp) / "out"),
        ] + (["--freeze-backbone"] if args.freeze else [])
        trainer = build_trainer(parse_settings(options))
        trainer.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        device_mib = torch.cuda.max_memory_allocated() / 2**20 if trainer.device.type == "cuda" else float("nan")
        print(json.dumps({"steps_per_s": args.steps / seconds, "device_mib": device_mib}))


def measure(args: argparse.Namespace, mode: str, freeze: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = [
        sys.executable,
        __file__,
        "--child",
        "--mode",
        mode,
        "--encoder",
        args.encoder,
        "--crop-size",
        str(args.crop_size),
        "--clip-length",
        str(args.clip_length),
        "--steps",
        str(args.steps),
        "--device",
        args.device,
    ] + (["--freeze"] if freeze else [])
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {mode} run failed (exit {os.waitstatus_to_exitcode(status)})")
    result = json.loads(output.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="vits")
    parser.add_argument("--crop-size", type=int, default=70, help="square crop side, multiple of 14 (default 70)")
    parser.add_argument("--clip-length", type=int, default=8, help="frames per clip (default 8)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (default 3)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--freeze", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    print(
        f"{args.encoder}, crop {args.crop_size}×{args.crop_size}, clips of {args.clip_length} frames, batch 1, "
        f"fp32, {args.device}, {args.steps} timed steps"
    )
    print("| mode | trained | steps/s | clip frames/s | peak RSS (MiB) | peak device memory (MiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mode in ("offline", "streaming"):
        for freeze in (True, False):
            r = measure(args, mode, freeze)
            trained = "head + temporal" if freeze else "all"
            device = "–" if r["device_mib"] != r["device_mib"] else f"{r['device_mib']:.0f}"
            print(
                f"| {mode} | {trained} | {r['steps_per_s']:.3f} | {r['steps_per_s'] * args.clip_length:.2f} | "
                f"{r['peak_rss_mib']:.0f} | {device} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
