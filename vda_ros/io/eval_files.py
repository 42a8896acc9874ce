"""The files vda-eval reads and writes: depth arrays, poses and intrinsics (numpy files), and the scores (JSON).

PRED is an .npz with key 'depths' (T x H x W), as vda-video --save-npz writes it; GT an .npz in metres
or a folder of 16-bit PNG / .npy frames; poses and K one array each in a .npy file. Every file that
cannot be used is a UsageError naming it and saying why, never a numpy traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, overload

import cv2
import numpy as np
from numpy.lib.npyio import NpzFile

from vda_ros.core.metrics import (
    EvalSettings,
    Metrics,
    about,
    check_frames,
    check_intrinsics,
    check_pair,
    check_poses,
    evaluate,
)
from vda_ros.errors import UsageError
from vda_ros.io.files import atomic_output

NPZ_KEY = "depths"
FRAME_SUFFIXES = (".png", ".npy")
NUMPY_MAGIC = (b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")
"""How .npy files and .npz archives (zip, possibly empty) start; np.load takes anything else for a pickle."""
PNG_DEPTH_SCALE = 0.001
"""Metres per stored unit of 16-bit PNG ground-truth frames when depth_scale is left at 0: millimetres."""
NPY_DEPTH_SCALE = 1.0
"""Metres per stored unit of .npy ground-truth frames when depth_scale is left at 0: metres."""


def _reason(error: Exception) -> str:
    """The first line of an error's text, or its type when it has none (EOFError(), MemoryError())."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


@overload
def _read_numpy(path: Path, what: str, archive: Literal[True]) -> NpzFile: ...
@overload
def _read_numpy(path: Path, what: str, archive: Literal[False]) -> np.ndarray: ...
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


def _load_frame(path: Path, depth_scale: float) -> np.ndarray:
    """One ground-truth frame in metres: stored values times depth_scale (0: PNG_DEPTH_SCALE or NPY_DEPTH_SCALE)."""
    values: np.ndarray | None
    if path.suffix == ".npy":
        values = _read_numpy(path, "ground-truth frame", archive=False)
        default = NPY_DEPTH_SCALE
    else:
        values = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        default = PNG_DEPTH_SCALE
    if values is None or values.ndim != 2:
        raise UsageError(f"{path} is not a single-channel depth image")
    return _as_float(values, path, "ground-truth frame") * (depth_scale or default)


def load_truth(path: Path, depth_scale: float = 0.0) -> np.ndarray:
    """Ground truth in metres (T, H, W): an .npz, or a folder of .png / .npy frames in name order."""
    if not path.is_dir():
        return _load_npz(path, "ground truth")
    frames = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not frames:
        raise UsageError(f"ground-truth folder {path} has no {' or '.join(FRAME_SUFFIXES)} frames")
    loaded = [_load_frame(p, depth_scale) for p in frames]
    if len({f.shape for f in loaded}) > 1:
        raise UsageError(f"the frames in {path} differ in size")
    truth = np.stack(loaded)
    with about(f"ground-truth folder {path}"):
        check_frames(truth)
    return truth


def _load_matrix(path: Path, what: str) -> np.ndarray:
    """One array of numbers from a .npy file."""
    return _as_float(_read_numpy(path, what, archive=False), path, what)


def score_files(settings: EvalSettings) -> Metrics:
    """The scores of the arrays the settings name (PRED, GT, and poses with K for TAE)."""
    pred, gt = Path(settings.pred), Path(settings.gt)
    poses = _load_matrix(Path(settings.poses), "poses") if settings.poses else None
    intrinsics = _load_matrix(Path(settings.intrinsics), "intrinsics") if settings.intrinsics else None
    prediction, truth = _load_npz(pred, "prediction"), load_truth(gt, settings.depth_scale)
    with about(f"prediction {pred} and ground truth {gt}"):
        check_pair(prediction, truth)
    if poses is not None and intrinsics is not None:
        with about(f"poses {settings.poses}"):
            check_poses(poses, len(prediction))
        with about(f"intrinsics {settings.intrinsics}"):
            check_intrinsics(intrinsics, len(prediction))
    return evaluate(
        prediction,
        truth,
        settings.align,
        settings.min_depth,
        settings.max_depth,
        settings.crop_box,
        poses=poses,
        intrinsics=intrinsics,
    )


def write_scores(path: Path, align: str, metrics: Metrics) -> None:
    """The scores as JSON (keys align and those of Metrics.as_dict), written atomically."""
    try:
        with atomic_output(path) as temporary:
            temporary.write_text(json.dumps({"align": align, **metrics.as_dict()}, indent=2) + "\n")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error}") from error
