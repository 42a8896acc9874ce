"""vda-eval: depth quality of a prediction against ground truth, with the official benchmark's metrics.

Two ways in: arrays (PRED as vda-video --save-npz writes it, GT as an .npz or a folder of depth frames),
or a recording (--bag) holding a processed depth topic and a depth camera's. Prints a table and, with
--json, writes the numbers (keys abs_rel, rmse, delta1, and tae with poses). See vda_ros.core.metrics for
what each number means and how it matches the official code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from numpy.lib.npyio import NpzFile

from vda_ros.core.metrics import (
    ALIGN_MODES,
    Crop,
    Metrics,
    about,
    check_frames,
    check_intrinsics,
    check_pair,
    check_poses,
    evaluate,
)
from vda_ros.errors import UsageError, VdaError
from vda_ros.interruption import EXIT_USAGE
from vda_ros.io.files import atomic_output
from vda_ros.ros.eval_bag import read_bag_sequence

PROG = "vda-eval"
"""Unusable input or options: the status every vda tool (and argparse) uses for the user's mistakes."""
NPZ_KEY = "depths"
FRAME_SUFFIXES = (".png", ".npy")
NUMPY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")
"""How .npy files and .npz archives (zip, possibly empty) start; np.load takes anything else for a pickle."""
DEFAULT_MAX_TIME_OFFSET = 0.02


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Score predicted depth against ground truth with the official Video Depth Anything benchmark "
        "metrics (AbsRel, RMSE, delta1, and TAE with poses).",
    )
    parser.add_argument(
        "pred", nargs="?", type=Path, help="prediction .npz, key 'depths' (T x H x W), as vda-video --save-npz writes"
    )
    parser.add_argument(
        "gt",
        nargs="?",
        type=Path,
        help="ground truth .npz (key 'depths', metres, 0 invalid) or a folder of 16-bit PNG / .npy frames",
    )
    parser.add_argument(
        "--align",
        choices=ALIGN_MODES,
        default="affine-disparity",
        help="affine-disparity: relative inverse depth, per-sequence least squares as the official "
        "benchmark (default); scale: metric prediction, one factor; none: metric prediction as it is",
    )
    parser.add_argument(
        "--min-depth",
        type=float,
        default=1e-3,
        help="valid ground truth is above this, metres (default 1e-3, as the official code)",
    )
    parser.add_argument(
        "--max-depth",
        type=float,
        default=80.0,
        help="valid ground truth is below this; predictions are clipped to it (default 80, KITTI's)",
    )
    parser.add_argument(
        "--crop",
        type=int,
        nargs=4,
        metavar=("TOP", "BOTTOM", "LEFT", "RIGHT"),
        help="keep rows TOP:BOTTOM and columns LEFT:RIGHT of the ground truth (Python slices, e.g. 8 -8 11 -11)",
    )
    parser.add_argument(
        "--gt-scale",
        type=float,
        default=None,
        help="metres = stored value / this, for GT frame folders (default 1000 for PNG: millimetres; 1 for .npy)",
    )
    parser.add_argument("--poses", type=Path, help="T x 4 x 4 camera-to-world poses (.npy), for TAE")
    parser.add_argument("--intrinsics", type=Path, help="3 x 3 K of the ground-truth grid (.npy), for TAE")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    bag = parser.add_argument_group("from a recording")
    bag.add_argument(
        "--bag", type=Path, help="rosbag2 bag with the predicted and the reference depth (instead of PRED GT)"
    )
    bag.add_argument("--pred-topic", help="predicted depth (32FC1: depth/image in metres or depth/relative)")
    bag.add_argument("--gt-topic", help="reference depth (32FC1 metres or 16UC1 millimetres, 0 or NaN invalid)")
    bag.add_argument(
        "--odom-topic", default="", help="nav_msgs/Odometry or PoseStamped of the camera optical frame, for TAE"
    )
    bag.add_argument("--camera-info-topic", default="", help="CameraInfo of the depth, for TAE (with --odom-topic)")
    bag.add_argument(
        "--max-time-offset",
        type=float,
        default=DEFAULT_MAX_TIME_OFFSET,
        help=f"pair messages whose stamps differ by at most this, seconds (default {DEFAULT_MAX_TIME_OFFSET})",
    )
    return parser


def _reason(error: Exception) -> str:
    """The first line of an error's text, or its type when it has none (EOFError(), MemoryError())."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _read_numpy(path: Path, what: str, archive: bool) -> np.ndarray | NpzFile:
    """An archive (.npz) or one array (.npy), as `archive` asks, or a UsageError naming the file.

    Damaged files raise many types inside numpy (EOFError, BadZipFile, zlib.error, ValueError,
    tokenize.TokenError for a broken header, MemoryError for a header that claims terabytes); every one
    means the file is unusable.
    """
    if not path.exists():
        raise UsageError(f"{what} file not found: {path}")
    if path.is_dir():
        raise UsageError(f"{what} {path} is a folder, not a file")
    try:
        with open(path, "rb") as stream:
            start = stream.read(len(NUMPY_MAGIC[0]))
    except OSError as error:
        raise UsageError(f"cannot read {what} {path}: {error.strerror or error}") from error
    if not start:
        raise UsageError(f"{what} {path} is empty")
    if not start.startswith(NUMPY_MAGIC):
        raise UsageError(f"{what} {path} is not a numpy .npy or .npz file")
    try:
        loaded = np.load(path)
    except Exception as error:  # see the docstring: all of them mean "unreadable"
        raise UsageError(f"cannot read {what} {path}: {_reason(error)}") from error
    if isinstance(loaded, NpzFile) and not archive:
        loaded.close()
        raise UsageError(f"{what} {path} is an .npz archive; give a .npy file (numpy.save) holding one array")
    if archive and not isinstance(loaded, NpzFile):
        raise UsageError(f"{what} {path} is a single .npy array, not an .npz archive with key '{NPZ_KEY}'")
    return loaded


def _as_float(values: np.ndarray, path: Path, what: str, dtype: type = np.float64) -> np.ndarray:
    """values as floats; strings and other non-numbers are the file's fault, not a crash."""
    try:
        return np.asarray(values, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise UsageError(f"{what} {path} does not hold numbers (dtype {values.dtype})") from error


def _load_npz(path: Path, what: str) -> np.ndarray:
    """The (T, H, W) array under key 'depths' of an .npz archive, as float32."""
    with _read_numpy(path, what, archive=True) as archive:
        if NPZ_KEY not in archive:
            raise UsageError(f"{what} {path} has no key '{NPZ_KEY}' (keys: {', '.join(archive.files) or 'none'})")
        try:
            values = archive[NPZ_KEY]
        except Exception as error:  # the member is damaged: the same types as in _read_numpy
            raise UsageError(f"cannot read '{NPZ_KEY}' of {what} {path}: {_reason(error)}") from error
    depths = _as_float(values, path, what, np.float32)
    with about(f"{what} {path}"):
        check_frames(depths)
    return depths


def _load_frame(path: Path, scale: float | None) -> np.ndarray:
    if path.suffix == ".npy":
        values = _read_numpy(path, "ground-truth frame", archive=False)
        default = 1.0
    else:
        values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        default = 1000.0
    if values is None or values.ndim != 2:
        raise UsageError(f"{path} is not a single-channel depth image")
    return _as_float(values, path, "ground-truth frame") / (scale or default)


def load_truth(path: Path, scale: float | None) -> np.ndarray:
    """Ground truth in metres (T, H, W): an .npz, or a folder of .png / .npy frames in name order."""
    if not path.is_dir():
        return _load_npz(path, "ground truth")
    frames = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not frames:
        raise UsageError(f"ground-truth folder {path} has no {' or '.join(FRAME_SUFFIXES)} frames")
    loaded = [_load_frame(p, scale) for p in frames]
    if len({f.shape for f in loaded}) > 1:
        raise UsageError(f"the frames in {path} differ in size")
    truth = np.stack(loaded)
    with about(f"ground-truth folder {path}"):
        check_frames(truth)
    return truth


def _load_matrix(path: Path, what: str) -> np.ndarray:
    """One array of numbers from a .npy file."""
    return _as_float(_read_numpy(path, what, archive=False), path, what)


def run(args: argparse.Namespace) -> tuple[Metrics, list[str]]:
    """Evaluate what the arguments name; returns the metrics and notes for the report."""
    crop = Crop(*args.crop) if args.crop else None
    settings = dict(align=args.align, min_depth=args.min_depth, max_depth=args.max_depth, crop=crop)
    if args.bag is not None:
        if args.pred is not None or not (args.pred_topic and args.gt_topic):
            raise UsageError("with --bag give --pred-topic and --gt-topic (and no PRED GT)")
        sequence = read_bag_sequence(
            args.bag, args.pred_topic, args.gt_topic, args.max_time_offset, args.odom_topic, args.camera_info_topic
        )
        notes = (
            [f"{sequence.skipped} predictions had no reference within {args.max_time_offset} s"]
            if sequence.skipped
            else []
        )
        metrics = evaluate(
            sequence.prediction, sequence.truth, poses=sequence.poses, intrinsics=sequence.intrinsics, **settings
        )
        return metrics, notes
    if args.pred is None or args.gt is None:
        raise UsageError("give PRED and GT, or --bag with --pred-topic and --gt-topic")
    if (args.poses is None) != (args.intrinsics is None):
        raise UsageError("TAE needs both --poses and --intrinsics")
    poses = _load_matrix(args.poses, "poses") if args.poses else None
    intrinsics = _load_matrix(args.intrinsics, "intrinsics") if args.intrinsics else None
    prediction, truth = _load_npz(args.pred, "prediction"), load_truth(args.gt, args.gt_scale)
    with about(f"prediction {args.pred} and ground truth {args.gt}"):
        check_pair(prediction, truth)
    if poses is not None and intrinsics is not None:
        with about(f"poses {args.poses}"):
            check_poses(poses, len(prediction))
        with about(f"intrinsics {args.intrinsics}"):
            check_intrinsics(intrinsics, len(prediction))
    return evaluate(prediction, truth, poses=poses, intrinsics=intrinsics, **settings), []


def table(metrics: Metrics, align: str) -> str:
    columns = ["frames", "align", "abs_rel", "rmse", "delta1"] + (["tae"] if metrics.tae is not None else [])
    values = [str(metrics.frames), align, f"{metrics.abs_rel:.4f}", f"{metrics.rmse:.4f}", f"{metrics.delta1:.4f}"]
    if metrics.tae is not None:
        values.append(f"{metrics.tae:.4f}")
    widths = [max(len(c), len(v)) for c, v in zip(columns, values)]
    return "\n".join("  ".join(item.ljust(w) for item, w in zip(row, widths)).rstrip() for row in (columns, values))


def write_json(path: Path, values: dict[str, object]) -> None:
    try:
        with atomic_output(path) as temporary:
            temporary.write_text(json.dumps(values, indent=2) + "\n")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error}") from error


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-eval: 0 with the table printed, 2 (message, no traceback) for unusable inputs."""
    args = build_parser().parse_args(argv)
    try:
        metrics, notes = run(args)
        if args.json is not None:
            write_json(args.json, {"align": args.align, **metrics.as_dict()})
    except VdaError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(table(metrics, args.align))
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
