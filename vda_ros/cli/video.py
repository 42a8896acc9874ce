"""vda-video: depth for a video file or an image folder, written as a colourised mp4 (and npz).

The counterpart of the official run.py / run_streaming.py, with the same defaults, but with
bounded memory: frames stream from the reader through an engine into a disk spool.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vda_ros.core.frame_tap import FrameTap
from vda_ros.core.options import OPTIONS, backend_cache_dir, resolve_precision
from vda_ros.errors import UsageError
from vda_ros.interruption import run_tool
from vda_ros.io.files import remove_stale_temporaries
from vda_ros.io.frame_files import (
    DEFAULT_FOCAL_LENGTH,
    WRITER_LIBRARIES,
    CloudSettings,
    FrameFileOutputs,
    MissingLibraryError,
    load_intrinsics,
    writer_library,
)
from vda_ros.io.media import DepthVideoOutputs, VideoInfo, read_frames
from vda_ros.model import (
    DEFAULT_ENCODER,
    ENCODERS,
    BackendError,
    CheckpointError,
    OfflineDepth,
    StreamingDepth,
    VideoDepthAnything,
    check_backend,
    check_backend_cache,
    input_size_problem,
    open_model,
    select_device,
)

RANDOM_WEIGHTS_BANNER = """\
######################################################################
#  RANDOM WEIGHTS: smoke-test mode. The network has random weights,  #
#  so every depth map and video written by this run is MEANINGLESS.  #
######################################################################"""


@dataclass(frozen=True)
class RunSummary:
    frames: int
    seconds: float
    files: list[Path]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-video",
        description="Video Depth Anything on a video file or an image folder: writes NAME_vis.mp4 "
        "(colourised depth) and, with --save-npz, NAME_depths.npz (float32 T x H x W, key 'depths').",
    )
    parser.add_argument("input", type=Path, help="video file, or folder of images (read in name order)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs"), help="where to write (default ./outputs)")
    parser.add_argument(
        "--encoder",
        choices=ENCODERS,
        default=None,
        help=f"model size (default {DEFAULT_ENCODER}; with --checkpoint, detected from the file)",
    )
    parser.add_argument("--metric", action="store_true", help="metric-depth model (depth in metres)")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint file (default $VDA_CHECKPOINT_DIR or ./checkpoints, official file name)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="smoke test without a checkpoint: random weights, meaningless depth",
    )
    parser.add_argument(
        "--mode",
        choices=("offline", "stream"),
        default="offline",
        help="offline: 32-frame windows, most consistent (default); stream: frame by frame, as the ROS node",
    )
    parser.add_argument("--input-size", type=int, default=518, help="network input size, shorter side (default 518)")
    parser.add_argument(
        "--max-res", type=int, default=1280, help="shrink frames whose longer side exceeds this (default 1280)"
    )
    parser.add_argument("--max-len", type=int, default=-1, help="process at most this many frames (default -1: all)")
    parser.add_argument(
        "--target-fps",
        type=float,
        default=-1,
        help="keep every round(source/target)-th frame (default -1: every frame); the video is written at the rate kept",
    )
    parser.add_argument(
        "--fp32", action="store_true", help="full precision on CUDA too (default fp16 on CUDA, fp32 on CPU)"
    )
    OPTIONS["precision"].add_to(
        parser, help="inference precision (default auto: fp16 on CUDA, fp32 on CPU); --fp32 is --precision fp32"
    )
    parser.add_argument(
        "--device", choices=("auto", "cuda", "cpu"), default="auto", help="default auto: CUDA when available"
    )
    OPTIONS["backend"].add_to(parser)
    OPTIONS["backend_cache"].add_to(parser)
    parser.add_argument("--save-npz", action="store_true", help="also write NAME_depths.npz")
    parser.add_argument("--grayscale", action="store_true", help="grey instead of the inferno colour map")
    parser.add_argument(
        "--save-exr",
        action="store_true",
        help="also write NAME_depths_exr/frame_00000.exr, ... (float32 depth in channel Z, one file per frame)",
    )
    parser.add_argument(
        "--save-ply",
        action="store_true",
        help="also write NAME_points_ply/frame_00000.ply, ... (binary PLY, xyz in metres + rgb); metric "
        "models, or relative ones with --relative-scale",
    )
    parser.add_argument(
        "--focal-length-x",
        type=float,
        default=None,
        help=f"point clouds: focal length in pixels of the depth map, principal point at its centre "
        f"(default {DEFAULT_FOCAL_LENGTH}, as the official tool)",
    )
    parser.add_argument(
        "--focal-length-y", type=float, default=None, help=f"see --focal-length-x (default {DEFAULT_FOCAL_LENGTH})"
    )
    parser.add_argument(
        "--intrinsics",
        type=Path,
        default=None,
        help="point clouds: .npy file with the 3x3 camera matrix K of the input (before --max-res); "
        "instead of the focal lengths",
    )
    parser.add_argument(
        "--relative-scale",
        type=float,
        default=0.0,
        help="point clouds from a relative model: metres = 1 / (scale * relative + shift) (default 0: refused)",
    )
    parser.add_argument("--relative-shift", type=float, default=0.0, help="see --relative-scale (default 0)")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse option values that would fail later with a traceback, or silently mean something else."""
    problem = input_size_problem(args.input_size)
    if problem:
        raise UsageError(f"--input-size: {problem}")
    if args.max_len == 0 or args.max_len < -1:
        raise UsageError(f"--max-len must be a positive number of frames, or -1 for all, got {args.max_len}")
    if args.target_fps != -1 and not args.target_fps > 0:
        raise UsageError(f"--target-fps must be a positive rate, or -1 for the source rate, got {args.target_fps}")
    if args.max_res < 0:
        raise UsageError(f"--max-res must be a positive size, or 0 for no limit, got {args.max_res}")
    try:
        check_backend(args.backend, resolve_precision(args.precision, args.fp32), offline=args.mode == "offline")
    except BackendError as error:
        raise UsageError(f"--backend {args.backend}: {error}") from error
    check_backend_cache(args.backend, backend_cache_dir(args.backend_cache))
    if args.save_ply:
        cloud_settings(args)  # bad point-cloud options fail before anything is read or loaded
    for option in WRITER_LIBRARIES:
        if getattr(args, option):
            try:
                writer_library(option)
            except MissingLibraryError as error:
                raise UsageError(str(error)) from error


def build_model(
    *, random_weights: bool, encoder: str | None, metric: bool, checkpoint: Path | None
) -> VideoDepthAnything:
    """The network the options ask for (see `open_model`); CheckpointError becomes a UsageError."""
    if random_weights:
        print(RANDOM_WEIGHTS_BANNER, file=sys.stderr)
    try:
        return open_model(checkpoint, encoder, metric, random_weights)
    except CheckpointError as error:
        raise UsageError(f"{error}\n(Or pass --checkpoint FILE, or --random-weights for a smoke test.)") from error


def depth_stream(
    args: argparse.Namespace, model: VideoDepthAnything, frames: Iterator[np.ndarray]
) -> Iterator[np.ndarray]:
    """Depth maps, one per frame, from the engine the options select."""
    try:
        device = select_device(args.device)
    except (RuntimeError, ValueError) as error:
        raise UsageError(str(error)) from error
    settings = {
        "input_size": args.input_size,
        "device": device,
        "precision": resolve_precision(args.precision, args.fp32),
        "backend": args.backend,
        "cache_dir": backend_cache_dir(args.backend_cache),
        "log": lambda line: print(line, file=sys.stderr),
    }
    try:
        if args.mode == "offline":
            return OfflineDepth(model, **settings).run(frames)
        engine = StreamingDepth(model, **settings)
    except BackendError as error:
        raise UsageError(f"--backend {args.backend}: {error}") from error
    return (engine.step(frame) for frame in frames)


def cloud_settings(args: argparse.Namespace) -> CloudSettings:
    """The point-cloud settings the options give (for --save-ply); UsageError with the reason."""
    focal_lengths = (args.focal_length_x, args.focal_length_y)
    if args.intrinsics is not None and focal_lengths != (None, None):
        raise UsageError("point clouds: give either --intrinsics or --focal-length-x/--focal-length-y, not both")
    try:
        return CloudSettings(
            metric=args.metric,
            focal_length_x=DEFAULT_FOCAL_LENGTH if args.focal_length_x is None else args.focal_length_x,
            focal_length_y=DEFAULT_FOCAL_LENGTH if args.focal_length_y is None else args.focal_length_y,
            intrinsics=None if args.intrinsics is None else load_intrinsics(args.intrinsics),
            relative_scale=args.relative_scale,
            relative_shift=args.relative_shift,
        )
    except ValueError as error:
        raise UsageError(f"point clouds: {error}") from error


def process(
    args: argparse.Namespace,
    frames: Iterator[np.ndarray],
    info: VideoInfo,
    model: VideoDepthAnything,
    on_frame: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> RunSummary:
    """Run the engine over all frames and write the outputs.

    on_frame, when given, is called with each (RGB frame, depth map) as soon as the depth is
    final (the web app shows them while it runs); an exception it raises aborts the run and
    leaves no output behind.
    """
    start = time.perf_counter()
    with (
        DepthVideoOutputs(args.output_dir, info.name, info.fps, args.save_npz, args.grayscale) as outputs,
        FrameFileOutputs(
            args.output_dir, info.name, args.save_exr, cloud_settings(args) if args.save_ply else None, info.source_size
        ) as frame_files,
    ):
        tap = FrameTap(frames) if on_frame is not None or frame_files.needs_frames else None
        depths = depth_stream(args, model, iter(tap) if tap is not None else frames)
        for depth in tqdm(depths, total=info.frame_count, unit="frame", desc=info.name):
            frame = tap.pop() if tap is not None else None
            outputs.add(depth)
            frame_files.add(frame, depth)
            if on_frame is not None and frame is not None:
                on_frame(frame, depth)
        if outputs.count == 0:
            raise UsageError(f"no frames could be read from {args.input}")
        files = outputs.finish() + frame_files.finish()
        return RunSummary(outputs.count, time.perf_counter() - start, files)


def report(summary: RunSummary, args: argparse.Namespace) -> str:
    rate = summary.frames / summary.seconds if summary.seconds > 0 else float("inf")
    lines = [f"{summary.frames} frames in {summary.seconds:.1f} s ({rate:.2f} frames/s), mode {args.mode}"]
    lines += [f"  wrote {path}" for path in summary.files]
    if args.random_weights:
        lines.append("RANDOM WEIGHTS were used: these outputs are a smoke test, not depth.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> RunSummary:
    """Everything vda-video does for checked arguments; a VdaError (UsageError, MediaError...) for the user."""
    cleaned = remove_stale_temporaries(args.output_dir)
    if cleaned:
        print(f"vda-video: {cleaned}", file=sys.stderr)
    frames, info = read_frames(args.input, args.max_res, args.target_fps, args.max_len)
    model = build_model(
        random_weights=args.random_weights, encoder=args.encoder, metric=args.metric, checkpoint=args.checkpoint
    )
    return process(args, frames, info, model)


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-video.

    Exit status 0 when every file was written, 2 for a problem the user can fix (message, no
    traceback), 130 when interrupted by SIGINT or SIGTERM. In every case but 0 no output file is
    created or changed, and no temporary file is left.
    """
    args = build_parser().parse_args(argv)

    def work() -> str:
        check_arguments(args)
        return report(run(args), args)

    return run_tool("vda-video", work, "no incomplete file was left")


if __name__ == "__main__":
    sys.exit(main())
