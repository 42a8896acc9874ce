"""Depth quality metrics with the official Video Depth Anything benchmark's conventions, on numpy arrays.

The numbers match the official benchmark/eval code on the same arrays and settings (tested against a
fixture computed with it):
- valid ground truth is min_depth < gt < max_depth (the official code uses 1e-3 as the lower bound for
  every dataset; its min_depth_eval is set but never applied);
- a relative prediction (inverse depth) is aligned per *sequence*: the prediction, clipped below at 1e-3,
  is fitted to 1 / (gt + 1e-8) by one least-squares scale and shift over every valid pixel of every
  frame; the aligned inverse depth is clipped below at 1e-3, inverted, and clipped to [1e-3, max_depth];
- AbsRel, RMSE and delta1 are computed per frame over its valid pixels and averaged over the frames
  that have any;
- TAE (temporal alignment error) warps each frame's aligned depth into the next frame with the known
  poses and intrinsics (nearest pixel, the last point written to a pixel wins, as the official
  scatter does on one thread), takes the AbsRel against the next frame's depth where both exist, does
  the same backwards, and averages over the 2 (T - 1) directed pairs, in per cent.

The two alignments the official code lacks are ours: `scale` (metric predictions in metres, one factor
fitted by least squares in disparity, the official fit without its shift) and `none` (metric
predictions used as they are, clipped to [1e-3, max_depth]).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from vda_ros.core.geometry import MIN_FOCAL_LENGTH, focal_lengths_valid
from vda_ros.core.options import Alias, OptionError, Settings, group, option
from vda_ros.core.sparse import PairingSettings
from vda_ros.errors import VdaError

ALIGN_MODES = ("affine-disparity", "scale", "none")
CLIP = 1e-3
"""The official lower clip of predictions and aligned depths, and its lower bound of valid ground truth."""
GT_EPSILON = 1e-8
DELTA1_THRESHOLD = 1.25
ASPECT_TOLERANCE = 0.02
RIGID_TOLERANCE = 1e-3
"""How far a pose may be from rigid (R^T R = I, last row 0 0 0 1): the rounding of stored poses, never a
scale, a shear or a transposed matrix, which would make the warp of TAE meaningless."""
NO_CROP = (0.0, 0.0, 0.0, 0.0)
"""The crop option's default: rows 0:None and columns 0:None, the whole frame."""


class EvaluationError(VdaError, ValueError):
    """Inputs that cannot be evaluated together; the text says what is wrong."""


@contextmanager
def about(source: str) -> Iterator[None]:
    """Prefix an EvaluationError of the block with where its values came from (a file, a topic)."""
    try:
        yield
    except EvaluationError as error:
        raise EvaluationError(f"{source}: {error}") from error


@dataclass(frozen=True)
class Crop:
    """Rows top:bottom and columns left:right kept, as Python slices (negative counts from the end)."""

    top: int
    bottom: int
    left: int
    right: int

    def apply(self, frames: np.ndarray) -> np.ndarray:
        cropped = frames[:, self.top : self.bottom or None, self.left : self.right or None]
        if cropped.shape[1] == 0 or cropped.shape[2] == 0:
            raise EvaluationError(f"crop {self} leaves nothing of {frames.shape[2]}x{frames.shape[1]} frames")
        return cropped


@dataclass(frozen=True)
class EvalSettings(Settings):
    """vda-eval: what is scored against what (arrays or a recording), and how (see evaluate)."""

    pred: str = option(
        "",
        "prediction .npz, key 'depths' (T x H x W), as vda-video --save-npz writes",
        positional=True,
        metavar="PRED",
    )
    gt: str = option(
        "",
        "ground truth .npz (key 'depths', metres, 0 invalid) or a folder of 16-bit PNG / .npy frames",
        positional=True,
        metavar="GT",
    )
    align: str = option(
        "affine-disparity",
        "affine-disparity: relative inverse depth, per-sequence least squares as the official benchmark "
        "(default); scale: metric prediction, one factor; none: metric prediction as it is",
        choices=ALIGN_MODES,
    )
    min_depth: float = option(CLIP, "valid ground truth is above this, metres (default 1e-3, as the official code)")
    max_depth: float = option(
        80.0, "valid ground truth is below this; predictions are clipped to it (default 80, KITTI's)"
    )
    crop: tuple[float, ...] = option(
        NO_CROP,
        "keep rows TOP:BOTTOM and columns LEFT:RIGHT of the ground truth (Python slices, e.g. 8 -8 11 -11)",
    )
    depth_scale: float = option(
        0.0,
        "metres per stored unit of ground-truth frame folders (default 0.001 for PNG: millimetres; 1 for .npy)",
        float_range=(0.0, 1e6),
        aliases=(
            Alias("gt_scale", "depth_scale (metres per unit, 1 / gt_scale)", 0.0, lambda old: {"depth_scale": 1 / old}),
        ),
    )
    poses: str = option("", "T x 4 x 4 camera-to-world poses (.npy), for TAE")
    intrinsics: str = option("", "3 x 3 K of the ground-truth grid (.npy), for TAE")
    json: str = option("", "also write the results to this JSON file")
    bag: str = option("", "rosbag2 bag with the predicted and the reference depth (instead of PRED GT)")
    pred_topic: str = option("", "predicted depth (32FC1: depth/image in metres or depth/relative)")
    gt_topic: str = option("", "reference depth (32FC1 metres or 16UC1 millimetres, 0 or NaN invalid)")
    odom_topic: str = option("", "nav_msgs/Odometry or PoseStamped of the camera optical frame, for TAE")
    camera_info_topic: str = option("", "CameraInfo of the depth, for TAE (with --odom-topic)")
    pairing: PairingSettings = group(PairingSettings)

    @property
    def crop_box(self) -> Crop | None:
        """The crop to apply, or None for the whole frame."""
        return None if self.crop == NO_CROP else Crop(*(int(edge) for edge in self.crop))

    def check(self) -> None:
        """A crop of four whole numbers, and one complete source: PRED and GT (TAE: poses and K), or a recording."""
        super().check()
        if len(self.crop) != 4 or not all(float(edge).is_integer() for edge in self.crop):
            raise OptionError(f"crop must be four integers TOP BOTTOM LEFT RIGHT, got {list(self.crop)}")
        if self.bag:
            if self.pred or not (self.pred_topic and self.gt_topic):
                raise OptionError("with --bag give --pred-topic and --gt-topic (and no PRED GT)")
            return
        if not (self.pred and self.gt):
            raise OptionError("give PRED and GT, or --bag with --pred-topic and --gt-topic")
        if bool(self.poses) != bool(self.intrinsics):
            raise OptionError("TAE needs both --poses and --intrinsics")


@dataclass(frozen=True)
class Metrics:
    """One sequence's scores, and the alignment used (scale and shift of the inverse depth; 1 and 0 for none)."""

    abs_rel: float
    rmse: float
    delta1: float
    frames: int
    """Frames with valid ground truth (those averaged)."""
    scale: float
    shift: float
    tae: float | None = None

    def as_dict(self) -> dict[str, float | int]:
        values: dict[str, float | int] = {
            "abs_rel": self.abs_rel,
            "rmse": self.rmse,
            "delta1": self.delta1,
            "frames": self.frames,
            "scale": self.scale,
            "shift": self.shift,
        }
        if self.tae is not None:
            values["tae"] = self.tae
        return values

    def table(self, align: str) -> str:
        """The scores as a two-line table (header, values), as vda-eval prints them."""
        columns = ["frames", "align", "abs_rel", "rmse", "delta1"] + (["tae"] if self.tae is not None else [])
        values = [str(self.frames), align, f"{self.abs_rel:.4f}", f"{self.rmse:.4f}", f"{self.delta1:.4f}"]
        if self.tae is not None:
            values.append(f"{self.tae:.4f}")
        widths = [max(len(c), len(v)) for c, v in zip(columns, values, strict=True)]
        return "\n".join(
            "  ".join(item.ljust(w) for item, w in zip(row, widths, strict=True)).rstrip() for row in (columns, values)
        )


def check_frames(depth: np.ndarray) -> None:
    """A depth sequence is frames x height x width with at least one pixel (an empty one would divide by zero)."""
    if depth.ndim != 3 or 0 in depth.shape:
        raise EvaluationError(f"depth frames must be frames x height x width, none of them 0; got shape {depth.shape}")


def check_pair(prediction: np.ndarray, truth: np.ndarray) -> None:
    """Prediction and ground truth that can be scored together: the same frames, views of the same aspect ratio."""
    for what, depth in (("the prediction", prediction), ("the ground truth", truth)):
        with about(what):
            check_frames(depth)
    if len(prediction) != len(truth):
        raise EvaluationError(f"the prediction has {len(prediction)} frames, the ground truth {len(truth)}")
    pred_aspect, truth_aspect = prediction.shape[2] / prediction.shape[1], truth.shape[2] / truth.shape[1]
    if abs(pred_aspect / truth_aspect - 1) > ASPECT_TOLERANCE:
        raise EvaluationError(
            f"prediction frames are {prediction.shape[2]}x{prediction.shape[1]}, ground truth "
            f"{truth.shape[2]}x{truth.shape[1]}: different aspect ratios, not the same view"
        )


def check_poses(poses: np.ndarray, frames: int) -> np.ndarray:
    """Camera-to-world poses (frames, 4, 4) that describe rigid motion, as float64.

    A NaN or a scaled, sheared or transposed matrix is refused rather than scored: the warp of TAE
    would send every point off the image, and a TAE of 0 (nothing overlaps) reads as a perfect score.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape != (frames, 4, 4):
        raise EvaluationError(f"poses must be {frames}x4x4 (one camera-to-world matrix per frame), got {poses.shape}")
    finite = np.isfinite(poses).all(axis=(1, 2))
    if not finite.all():
        raise EvaluationError(
            f"the pose of frame {np.flatnonzero(~finite)[0]} has NaN or infinite values "
            f"({np.count_nonzero(~finite)} of {frames} poses)"
        )
    rotation = poses[:, :3, :3]
    orthonormal_error = np.abs(rotation.transpose(0, 2, 1) @ rotation - np.eye(3)).max(axis=(1, 2))
    last_row_error = np.abs(poses[:, 3] - (0.0, 0.0, 0.0, 1.0)).max(axis=1)
    rigid = (orthonormal_error <= RIGID_TOLERANCE) & (np.linalg.det(rotation) > 0) & (last_row_error <= RIGID_TOLERANCE)
    if not rigid.all():
        index = np.flatnonzero(~rigid)[0]
        raise EvaluationError(
            f"the pose of frame {index} is not a rigid transform (a rotation, determinant 1, and the last row "
            f"0 0 0 1): {poses[index].tolist()}"
        )
    return poses


def check_intrinsics(intrinsics: np.ndarray, frames: int) -> np.ndarray:
    """K as (frames, 3, 3) float64, from one 3x3 or one per frame, each a calibration (see focal_lengths_valid).

    A zero or NaN K would put every warped point off the image and TAE would read 0, a perfect score.
    """
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    ks = np.broadcast_to(intrinsics, (frames, 3, 3)) if intrinsics.shape == (3, 3) else intrinsics
    if ks.shape != (frames, 3, 3):
        raise EvaluationError(f"intrinsics must be 3x3 or {frames}x3x3, got {intrinsics.shape}")
    for index, k in enumerate(ks):
        which = "K" if intrinsics.shape == (3, 3) else f"K of frame {index}"
        if not np.isfinite(k).all():
            raise EvaluationError(f"{which} has NaN or infinite values: {k.tolist()}")
        if not focal_lengths_valid(k[0, 0], k[1, 1]):
            raise EvaluationError(
                f"{which} is not a calibration: focal lengths must be at least {MIN_FOCAL_LENGTH} px, "
                f"got fx={k[0, 0]} fy={k[1, 1]}"
            )
        if not np.array_equal(k[2], (0.0, 0.0, 1.0)):
            raise EvaluationError(f"{which} must have the last row 0 0 1 (is it transposed?), got {k.tolist()}")
    return ks


def match_prediction(prediction: np.ndarray, truth: np.ndarray, crop: Crop | None) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and ground truth on one grid: (T, H, W) each, cropped, the prediction resized if needed.

    As the official code does, the ground truth is cropped and the prediction resized (bilinear) to the
    cropped size; a prediction with the uncropped ground truth's size is cropped the same way instead
    (the official code would stretch it). Non-finite ground truth is invalid.
    """
    check_pair(prediction, truth)
    same_grid = prediction.shape[1:] == truth.shape[1:]
    if crop is not None:
        truth = crop.apply(truth)
        if same_grid:
            prediction = crop.apply(prediction)
    height, width = truth.shape[1:]
    if prediction.shape[1:] != (height, width):
        prediction = np.stack([cv2.resize(frame, (width, height)) for frame in prediction.astype(np.float32)])
    # A missing prediction (NaN: REP 117 invalid) counts as 0, which the official clip turns into an error.
    prediction = np.nan_to_num(prediction.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return prediction, np.nan_to_num(truth.astype(np.float64), nan=0.0)


def valid_mask(truth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (truth > min_depth) & (truth < max_depth)


def aligned_depth(
    prediction: np.ndarray, truth: np.ndarray, mask: np.ndarray, align: str, max_depth: float
) -> tuple[np.ndarray, float, float]:
    """The prediction as metres after the sequence alignment (see the module docstring), with its scale and shift."""
    if align not in ALIGN_MODES:
        raise EvaluationError(f"align must be one of {', '.join(ALIGN_MODES)}, got {align!r}")
    clipped = np.clip(prediction, CLIP, None)
    if align == "none":
        return np.clip(clipped.astype(np.float64), CLIP, max_depth), 1.0, 0.0
    target = 1.0 / (truth[mask].astype(np.float64) + GT_EPSILON)
    if align == "affine-disparity":
        x = clipped[mask].astype(np.float64)
        design = np.stack((x, np.ones_like(x)), axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
        inverse = clipped * scale + shift
    else:
        x = 1.0 / clipped[mask].astype(np.float64)
        scale, shift = float(x @ target / (x @ x)), 0.0
        inverse = scale / clipped.astype(np.float64)
    depth = 1.0 / np.clip(inverse, CLIP, None)
    return np.clip(depth, CLIP, max_depth), float(scale), float(shift)


def frame_metrics(depth: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame AbsRel, RMSE and delta1 over each frame's valid pixels, for the frames that have any."""
    counts = mask.sum(axis=(1, 2))
    keep = counts > 0
    depth, truth, mask, counts = depth[keep], truth[keep], mask[keep], counts[keep]
    safe_truth = np.where(mask, truth, 1.0)
    error = np.where(mask, depth - truth, 0.0)
    abs_rel = np.abs(error / safe_truth).sum(axis=(1, 2)) / counts
    rmse = np.sqrt((error**2).sum(axis=(1, 2)) / counts)
    with np.errstate(divide="ignore"):
        ratio = np.maximum(depth / safe_truth, safe_truth / depth)
    delta1 = ((ratio < DELTA1_THRESHOLD) & mask).sum(axis=(1, 2)) / counts
    return abs_rel, rmse, delta1


def _warp_error(depth1: np.ndarray, depth2: np.ndarray, motion: np.ndarray, k: np.ndarray) -> float:
    """AbsRel of depth1 warped into view 2 (4x4 motion from camera 1 to 2) against depth2, 0 if nothing overlaps."""
    height, width = depth1.shape
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    points = np.stack(((u - cx) * depth1 / fx, (v - cy) * depth1 / fy, depth1), axis=-1).reshape(-1, 3)
    moved = points @ motion[:3, :3].T + motion[:3, 3]
    z = moved[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = np.round(moved[:, 0] * fx / z + cx)
        rows = np.round(moved[:, 1] * fy / z + cy)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    if not inside.any():
        return 0.0
    pixel = rows[inside].astype(np.int64) * width + cols[inside].astype(np.int64)
    # The last point written to a pixel wins: the first occurrence in reversed order.
    targets, first_reversed = np.unique(pixel[::-1], return_index=True)
    projected = np.zeros(height * width)
    projected[targets] = z[inside][::-1][first_reversed]
    projected = projected.reshape(height, width)
    both = (projected > 0) & (depth2 > 0)
    if not both.any():
        return 0.0
    return float(np.mean(np.abs(depth2[both] - projected[both]) / depth2[both]))


def temporal_alignment_error(depth: np.ndarray, poses: np.ndarray, intrinsics: np.ndarray) -> float:
    """TAE in per cent of aligned depth (T, H, W) with camera-to-world poses (T, 4, 4) and K (3, 3) or (T, 3, 3)."""
    frames = len(depth)
    if frames < 2:
        raise EvaluationError("TAE needs at least two frames")
    poses, ks = check_poses(poses, frames), check_intrinsics(intrinsics, frames)
    total = 0.0
    for i in range(frames - 1):
        forward = np.linalg.inv(poses[i + 1]) @ poses[i]
        total += _warp_error(depth[i], depth[i + 1], forward, ks[i])
        total += _warp_error(depth[i + 1], depth[i], np.linalg.inv(forward), ks[i])
    return total / (2 * (frames - 1)) * 100.0


def evaluate(
    prediction: np.ndarray,
    truth: np.ndarray,
    align: str = "affine-disparity",
    min_depth: float = CLIP,
    max_depth: float = 80.0,
    crop: Crop | None = None,
    poses: np.ndarray | None = None,
    intrinsics: np.ndarray | None = None,
) -> Metrics:
    """Score one sequence: prediction (T, H, W; inverse depth for affine-disparity, metres otherwise) against
    ground truth (T, H', W' metres, 0 or NaN invalid); TAE too when poses and intrinsics are given."""
    if not 0 <= min_depth < max_depth:
        raise EvaluationError(f"need 0 <= min_depth < max_depth, got {min_depth} and {max_depth}")
    if (poses is None) != (intrinsics is None):
        raise EvaluationError("TAE needs both poses and intrinsics")
    prediction, truth = match_prediction(prediction, truth, crop)
    mask = valid_mask(truth, min_depth, max_depth)
    if not mask.any():
        raise EvaluationError(f"no valid ground truth: no pixel has {min_depth} < depth < {max_depth} m")
    depth, scale, shift = aligned_depth(prediction, truth, mask, align, max_depth)
    abs_rel, rmse, delta1 = frame_metrics(depth, truth, mask)
    tae = None if poses is None or intrinsics is None else temporal_alignment_error(depth, poses, intrinsics)
    return Metrics(
        abs_rel=float(abs_rel.mean()),
        rmse=float(rmse.mean()),
        delta1=float(delta1.mean()),
        frames=len(abs_rel),
        scale=scale,
        shift=shift,
        tae=tae,
    )
