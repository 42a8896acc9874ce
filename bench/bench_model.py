#!/usr/bin/env python3
"""Model speed: streaming per-frame latency and offline throughput per backend, optionally beside the official code.

Prints one table row per (encoder, input size, backend, precision): the first start's graph build time (in an
empty cache), streaming latency, the largest error against torch fp32 on the same frames (relative to the
frame's depth range), and the offline rate where the backend has offline windows. With `--reference DIR` (a
checkout of the official Video-Depth-Anything repository that you cloned yourself) the official streaming and
offline modes run on the same weights and frames in the same process, and the speed-ups are printed. Weights
are the seeded random ones: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import platform
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import cv2
import numpy as np
import torch

from vda_ros.core.settings import PRECISION_CHOICES
from vda_ros.model import (
    BACKEND_NAMES,
    ENCODERS,
    BackendError,
    OfflineDepth,
    StreamingDepth,
    random_model,
    select_device,
)
from vda_ros.model.backends import BACKENDS
from vda_ros.model.config import ENCODER_CONFIGS
from vda_ros.model.preprocess import network_size

DEFAULT_VIDEO = Path(__file__).resolve().parent.parent / "assets" / "davis_rollercoaster.mp4"


def load_frames(video: Path, count: int, width: int, height: int) -> list[np.ndarray]:
    """`count` RGB frames of the video at width×height, looping the video if it is short."""
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            if not frames:
                raise SystemExit(f"cannot read frames from {video}")
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        frames.append(cv2.cvtColor(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(functions: list, inputs: list, device: torch.device, warmup: int) -> list[list[float]]:
    """Seconds per call of each function after `warmup` untimed calls (first frames allocate caches).

    The functions take turns on each input, so a machine whose speed drifts (shared CPUs, clocks) slows
    them alike and their ratio stays fair.
    """
    times: list[list[float]] = [[] for _ in functions]
    for index, item in enumerate(inputs):
        for function, series in zip(functions, times, strict=True):
            synchronize(device)
            start = time.perf_counter()
            function(item)
            synchronize(device)
            if index >= warmup:
                series.append(time.perf_counter() - start)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def import_official(checkout: Path) -> types.SimpleNamespace:
    """The official streaming and offline classes, imported from the user's checkout (never copied here)."""
    if importlib.util.find_spec("torchvision") is None:
        # The official code imports torchvision only for transforms.Compose: a stand-in avoids a 5 GB install.
        transforms = types.ModuleType("torchvision.transforms")

        class Compose:
            def __init__(self, steps):
                self.steps = steps

            def __call__(self, sample):
                for step in self.steps:
                    sample = step(sample)
                return sample

        transforms.Compose = Compose
        sys.modules["torchvision"] = types.ModuleType("torchvision")
        sys.modules["torchvision.transforms"] = transforms
    sys.path.insert(0, str(checkout))
    with contextlib.redirect_stdout(sys.stderr):
        stream = importlib.import_module("video_depth_anything.video_depth_stream")
        offline = importlib.import_module("video_depth_anything.video_depth")
    return types.SimpleNamespace(stream=stream.VideoDepthAnything, offline=offline.VideoDepthAnything)


def official_model(cls, encoder: str, state: dict, device: torch.device) -> torch.nn.Module:
    cfg = ENCODER_CONFIGS[encoder]
    model = cls(encoder=encoder, features=cfg.features, out_channels=list(cfg.out_channels))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def peak_memory(device: torch.device) -> str:
    if device.type != "cuda":
        return "-"
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return f"{peak:.0f} MiB"


def bench_row(
    args: argparse.Namespace,
    official,
    encoder: str,
    input_size: int,
    backend: str,
    precision: str,
    frames: list[np.ndarray],
    device: torch.device,
) -> None:
    """One table row: our engine on `backend`, taking turns frame by frame with torch fp32 (for the error) and,
    with --reference, the official streaming mode. The graph cache starts empty, so the build is timed."""
    model = random_model(encoder)
    height, width = frames[0].shape[:2]
    net = network_size(height, width, input_size)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory(prefix="vda_bench_graphs_") as cache_dir:
        settings = {"input_size": input_size, "device": device, "cache_dir": Path(cache_dir), "log": lambda line: None}
        try:
            engine = StreamingDepth(model, precision=precision, backend=backend, **settings)
        except BackendError as error:
            print(f"| {encoder} | {input_size} | {backend} | {precision} | not available here: {error} |", flush=True)
            return
        # Its own copy of the weights: backends move their network (to the CPU, to the device) in place.
        exact = StreamingDepth(random_model(encoder), precision="fp32", **settings)
        outputs: dict[str, list[np.ndarray]] = {"ours": [], "exact": []}
        steps = [lambda f: outputs["ours"].append(engine.step(f)), lambda f: outputs["exact"].append(exact.step(f))]
        # The official code has fp32 and autocast (fp16 on CUDA, bf16 on CPU): the lossy rows of another kind
        # (int8) are compared with its fp32.
        fp32 = precision not in ("fp16", "bf16")
        if official is not None:
            ref = official_model(official.stream, encoder, model.state_dict(), device)
            steps.append(lambda f: ref.infer_video_depth_one(f, input_size=input_size, device=device.type, fp32=fp32))
        # Frames 0 and 1 build the two streaming graphs: never time them.
        stream, _, *ref_stream = time_calls(steps, frames, device, max(args.warmup, 2))
        build_seconds = engine.backend.cache.build_seconds
    stream_memory = peak_memory(device)
    pairs = zip(outputs["ours"], outputs["exact"], strict=True)
    error = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in pairs)
    offline = "-"
    clip = (frames * (args.offline_frames // len(frames) + 1))[: args.offline_frames]
    if args.offline_frames and engine.backend.offline:
        offline_engine = OfflineDepth(model, input_size=input_size, device=device, precision=precision, backend=backend)
        start = time.perf_counter()
        for _ in offline_engine.run(iter(clip)):
            pass
        synchronize(device)
        offline = f"{len(clip) / (time.perf_counter() - start):.2f}"
    row = (
        f"| {encoder} | {input_size} | {net[0]}×{net[1]} | {backend} | {engine.precision} | {build_seconds:.1f} s | "
        f"{1e3 * statistics.median(stream):.1f} | {1e3 * percentile(stream, 90):.1f} | "
        f"{1 / statistics.median(stream):.2f} | {error:.1e} | {offline} | {stream_memory} |"
    )
    if official is not None:
        ref_median = statistics.median(ref_stream[0])
        row += f" {1e3 * ref_median:.1f} | ×{ref_median / statistics.median(stream):.2f} |"
    print(row, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", nargs="+", default=["vits"], choices=ENCODERS)
    parser.add_argument("--input-sizes", nargs="+", type=int, default=[518])
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=BACKEND_NAMES)
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=None,
        choices=PRECISION_CHOICES[1:],
        help="default: fp16 on CUDA, fp32 on CPU; each backend runs those it offers",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--size", default="640x480", help="frame size WxH fed to the model (default 640x480)")
    parser.add_argument("--frames", type=int, default=20, help="streaming frames timed per row (after warm-up)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--offline-frames", type=int, default=64, help="frames for the offline rate (0: skip)")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="checkout of the official Video-Depth-Anything repository to time beside this one",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    width, height = (int(v) for v in args.size.lower().split("x"))
    frames = load_frames(args.video, args.frames + args.warmup, width, height)
    official = import_official(args.reference) if args.reference else None
    precisions = args.precisions or (["fp16"] if device.type == "cuda" else ["fp32"])
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(
        f"device: {device} ({name}); torch {torch.__version__}; frames {width}×{height}; "
        f"{args.frames} timed streaming frames, {args.offline_frames} offline frames"
    )
    header = (
        "| encoder | input | network | backend | precision | build (first start) | stream median ms | p90 ms | "
        "stream fps | max error vs torch fp32 | offline fps | peak device memory |"
    )
    if official is not None:
        header += " official stream ms | stream speed-up |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for encoder in args.encoders:
        for input_size in args.input_sizes:
            for backend in args.backends:
                for precision in precisions:
                    if precision in BACKENDS[backend].precisions:
                        bench_row(args, official, encoder, input_size, backend, precision, frames, device)


if __name__ == "__main__":
    main()
