"""Training data: RGB + ground-truth depth sequences, random 32-frame clips with crops and flips, targets.

ROS-free: sequences come from image folders here and from rosbag2 bags in `bag_data`. Frames are kept in
memory at a working resolution (shorter side = the crop's larger side), which bounds memory for long
recordings while leaving room for random crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from vda_ros.core.geometry import mask_depth_range
from vda_ros.errors import VdaError
from vda_ros.model.preprocess import preprocess

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEPTH_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".exr")
DEFAULT_DEPTH_SCALE = 0.001
"""Metres per unit of integer depth images (16-bit PNG, 16UC1): millimetres, as RealSense and most drivers."""


class DataError(VdaError, ValueError):
    """Training data cannot be used; the text names the file, folder or topic and why."""


@dataclass
class Sequence:
    """One recording: RGB uint8 (h, w, 3) frames and aligned depth in metres (NaN where invalid), same size."""

    name: str
    rgb: list[np.ndarray]
    depth: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.rgb)

    def split(self, val_fraction: float) -> tuple[Sequence, Sequence | None]:
        """The first frames for training and the last `val_fraction` for validation (no overlap in time)."""
        count = round(len(self) * val_fraction)
        if count == 0:
            return self, None
        cut = len(self) - count
        return (
            Sequence(self.name, self.rgb[:cut], self.depth[:cut]),
            Sequence(f"{self.name}[val]", self.rgb[cut:], self.depth[cut:]),
        )


def working_rgb(rgb: np.ndarray, shorter_side: int) -> np.ndarray:
    """An RGB frame shrunk (area filter) so its shorter side is `shorter_side`; smaller frames are kept as they are."""
    scale = shorter_side / min(rgb.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)


def working_pair(rgb: np.ndarray, depth: np.ndarray, shorter_side: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB frame at the working resolution and its depth resampled to it (nearest neighbour).

    Nearest neighbour keeps invalid pixels from blending into valid ones; it also brings an aligned depth
    stream of another resolution (or a depth already rendered at the working size) onto the RGB grid.
    """
    rgb = working_rgb(rgb, shorter_side)
    if depth.shape != rgb.shape[:2]:
        depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    return rgb, depth.astype(np.float32)


def read_depth_file(path: Path, depth_scale: float = DEFAULT_DEPTH_SCALE) -> np.ndarray:
    """A depth image file in metres, NaN where invalid: 16-bit PNG/TIFF × depth_scale, float TIFF/EXR/.npy as metres."""
    if path.suffix == ".npy":
        depth = np.load(path)
    else:
        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if depth is None:
            raise DataError(f"cannot read depth image {path}")
    if depth.ndim == 3:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise DataError(f"depth image {path} must be single-channel, got shape {depth.shape}")
    if np.issubdtype(depth.dtype, np.integer):
        depth = depth.astype(np.float32) * np.float32(depth_scale)
    elif not np.issubdtype(depth.dtype, np.floating):
        raise DataError(f"depth image {path} has unsupported type {depth.dtype}")
    return mask_depth_range(depth.astype(np.float32))


def _files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        raise DataError(f"not a folder: {folder}")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes}


def folder_sequence(
    rgb_dir: Path, depth_dir: Path, shorter_side: int, depth_scale: float = DEFAULT_DEPTH_SCALE
) -> Sequence:
    """Frames of an RGB folder paired with the depth files of the same name stem, in name order."""
    images, depths = _files(rgb_dir, IMAGE_SUFFIXES), _files(depth_dir, DEPTH_SUFFIXES)
    stems = [stem for stem in images if stem in depths]
    if not stems:
        raise DataError(f"no RGB image in {rgb_dir} has a depth file of the same name in {depth_dir}")
    sequence = Sequence(str(rgb_dir), [], [])
    for stem in stems:
        bgr = cv2.imread(str(images[stem]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataError(f"cannot read image {images[stem]}")
        rgb, depth = working_pair(
            cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), read_depth_file(depths[stem], depth_scale), shorter_side
        )
        if sequence.rgb and rgb.shape != sequence.rgb[0].shape:
            raise DataError(f"{images[stem]} is {rgb.shape[1]}×{rgb.shape[0]}, unlike the folder's first image")
        sequence.rgb.append(rgb)
        sequence.depth.append(depth)
    return sequence


@dataclass(frozen=True)
class ClipSpec:
    """Shape of training clips: frames per clip and crop (height, width), multiples of 14."""

    length: int
    height: int
    width: int

    def check(self, sequences: list[Sequence]) -> None:
        """Every sequence must hold a whole clip at a size the crop fits in."""
        for sequence in sequences:
            h, w = sequence.rgb[0].shape[:2]
            if len(sequence) < self.length:
                raise DataError(f"{sequence.name} has {len(sequence)} frames, fewer than a clip ({self.length})")
            if h < self.height or w < self.width:
                raise DataError(f"{sequence.name} frames are {w}×{h}, smaller than the crop {self.width}×{self.height}")


@dataclass
class Clip:
    """uint8 RGB (T, h, w, 3) and depth in metres (T, h, w), NaN where invalid."""

    rgb: np.ndarray
    depth: np.ndarray


MAX_CLIP_DRAWS = 100
"""Draws of a clip with no valid ground truth at all (sensor blinded, sky only) before giving up."""


def random_clip(sequences: list[Sequence], spec: ClipSpec, rng: np.random.Generator, flip: bool = True) -> Clip:
    """A random clip with some valid ground truth; clips without any are drawn again (from the same generator)."""
    for _ in range(MAX_CLIP_DRAWS):
        clip = _draw_clip(sequences, spec, rng, flip)
        if np.isfinite(clip.depth).any():
            return clip
    raise DataError(f"{MAX_CLIP_DRAWS} random clips in a row had no valid ground-truth depth")


def _draw_clip(sequences: list[Sequence], spec: ClipSpec, rng: np.random.Generator, flip: bool) -> Clip:
    """A clip at a random place in a random sequence (weighted by length), one random crop and flip for all frames."""
    starts = np.array([len(s) - spec.length + 1 for s in sequences], dtype=np.float64)
    sequence = sequences[rng.choice(len(sequences), p=starts / starts.sum())]
    start = int(rng.integers(0, len(sequence) - spec.length + 1))
    h, w = sequence.rgb[0].shape[:2]
    top, left = int(rng.integers(0, h - spec.height + 1)), int(rng.integers(0, w - spec.width + 1))
    mirror = flip and bool(rng.integers(0, 2))
    rows, cols = slice(top, top + spec.height), slice(left, left + spec.width)
    rgb = np.stack([f[rows, cols] for f in sequence.rgb[start : start + spec.length]])
    depth = np.stack([d[rows, cols] for d in sequence.depth[start : start + spec.length]])
    if mirror:
        rgb, depth = rgb[:, :, ::-1], depth[:, :, ::-1]
    return Clip(np.ascontiguousarray(rgb), np.ascontiguousarray(depth))


def validation_clips(sequences: list[Sequence], spec: ClipSpec) -> list[Clip]:
    """Consecutive non-overlapping clips of every sequence, centre-cropped: the same set every epoch.

    Clips without any valid ground truth are left out (nothing to measure there).
    """
    clips = []
    for sequence in sequences:
        h, w = sequence.rgb[0].shape[:2]
        top, left = (h - spec.height) // 2, (w - spec.width) // 2
        rows, cols = slice(top, top + spec.height), slice(left, left + spec.width)
        for start in range(0, len(sequence) - spec.length + 1, spec.length):
            frames = range(start, start + spec.length)
            depth = np.stack([sequence.depth[i][rows, cols] for i in frames])
            if np.isfinite(depth).any():
                clips.append(Clip(np.stack([sequence.rgb[i][rows, cols] for i in frames]), depth))
    return clips


def clip_tensors(clips: list[Clip], metric: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Network input (B, T, 3, h, w), target (B, T, h, w) and mask (B, T, h, w) of a batch of clips.

    Frames go through the inference preprocessing, so training sees exactly what the engines see. Targets
    are metres for metric models and inverse depth (1/m) for relative ones, which predict disparity.
    """
    frames = torch.stack([torch.stack([preprocess(f, f.shape[:2]) for f in clip.rgb]) for clip in clips])
    depth = np.stack([clip.depth for clip in clips])
    mask = np.isfinite(depth)
    safe = np.where(mask, depth, 1.0)
    target = np.where(mask, safe if metric else 1.0 / safe, 0.0).astype(np.float32)
    return frames, torch.from_numpy(target), torch.from_numpy(mask)


def limit_depth(sequences: list[Sequence], min_depth: float, max_depth: float) -> None:
    """Mark ground truth outside [min_depth, max_depth] invalid (NaN), in place, once for the whole run."""
    for sequence in sequences:
        sequence.depth = [mask_depth_range(d, min_depth, max_depth) for d in sequence.depth]
