"""Sparse metric measurements on the depth image's pixel grid, and their pairing with depth frames in time.

Two sources: a depth image registered to the camera (a depth camera's, or a LiDAR projected by its
driver) at any resolution, and a point cloud (LiDAR) in the camera's optical frame or moved into it by
a fixed extrinsic. Both become SparseSamples: pixel rows and columns of the depth image and the metric
depth there, which is what the alignment (vda_ros.core.alignment) needs. No ROS here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from vda_ros.core.geometry import project_points, transform_points
from vda_ros.core.options import Alias, Settings, option

Item = TypeVar("Item")


@dataclass(frozen=True)
class SparseSamples:
    """Metric depths at pixels of a (height, width) depth image."""

    rows: np.ndarray
    cols: np.ndarray
    depth: np.ndarray
    shape: tuple[int, int]

    def __len__(self) -> int:
        return int(self.depth.size)

    def values_at(self, prediction: np.ndarray) -> np.ndarray:
        """The prediction's values at the samples' pixels; the prediction must have the samples' grid."""
        if prediction.shape != self.shape:
            raise ValueError(f"samples are on a {self.shape} grid, the prediction is {prediction.shape}")
        values: np.ndarray = prediction[self.rows, self.cols]
        return values


def _in_range(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Finite depths in [min_depth, max_depth] (max_depth 0: no upper limit)."""
    with np.errstate(invalid="ignore"):
        keep: np.ndarray = np.isfinite(depth) & (depth > 0) & (depth >= min_depth)
        if max_depth > 0:
            keep &= depth <= max_depth
    return keep


def samples_from_depth_image(
    sparse: np.ndarray, shape: tuple[int, int], min_depth: float = 0.0, max_depth: float = 0.0
) -> SparseSamples:
    """Samples from a registered depth image in metres (NaN or 0: no return) of any size, mapped onto `shape`.

    Each measured pixel goes to the depth-image pixel whose area holds its centre, so a depth camera at
    another resolution than the model's depth lands where it belongs.
    """
    if sparse.ndim != 2:
        raise ValueError(f"a sparse depth image must be 2-D, got shape {sparse.shape}")
    height, width = shape
    rows, cols = np.nonzero(_in_range(sparse, min_depth, max_depth))
    depth = sparse[rows, cols].astype(np.float64)
    src_height, src_width = sparse.shape
    target_rows = np.minimum(((rows + 0.5) * height / src_height).astype(np.intp), height - 1)
    target_cols = np.minimum(((cols + 0.5) * width / src_width).astype(np.intp), width - 1)
    return SparseSamples(target_rows, target_cols, depth, shape)


@dataclass(frozen=True)
class Extrinsic:
    """The sensor's pose in the camera's optical frame: p_camera = rotation @ p_sensor + translation."""

    translation: np.ndarray
    rotation: np.ndarray

    @property
    def is_identity(self) -> bool:
        return bool(np.allclose(self.rotation, np.eye(3)) and not np.any(self.translation))


def samples_from_points(
    xyz: np.ndarray,
    extrinsic: Extrinsic,
    intrinsics: tuple[float, float, float, float],
    shape: tuple[int, int],
    min_depth: float = 0.0,
    max_depth: float = 0.0,
) -> SparseSamples:
    """Samples from points (any leading shape, last axis xyz) of the sensor, projected into the depth image.

    intrinsics (fx, fy, cx, cy) are the depth image's (depth/camera_info). The depth of a sample is the
    point's Z in the optical frame, the quantity a depth image holds.
    """
    points = np.asarray(xyz).reshape(-1, 3)
    if not extrinsic.is_identity:
        points = transform_points(points, extrinsic.translation, extrinsic.rotation)
    height, width = shape
    rows, cols, depth = project_points(points, *intrinsics, width, height)
    keep = _in_range(depth, min_depth, max_depth)
    return SparseSamples(rows[keep], cols[keep], depth[keep], shape)


@dataclass(frozen=True)
class PairingSettings(Settings):
    """How two streams are paired in time: each message with the other's nearest stamp (StampedHistory)."""

    max_time_offset: float = option(
        0.02,
        "Pair messages whose header stamps differ by at most this many seconds (the nearest one, either way).",
        float_range=(0.0, 3600.0),
        aliases=(Alias("max_stamp_diff", "max_time_offset", -1.0),),
    )

    @property
    def max_offset_ns(self) -> int:
        """The tolerance in nanoseconds, the unit of header stamps (StampedHistory.nearest)."""
        return round(self.max_time_offset * 1e9)


class StampedHistory(Generic[Item]):
    """The latest measurements by stamp (ns), for pairing each depth frame with the one nearest in time.

    LiDAR and camera are not synchronised: the nearest measurement within max_offset is used, looking
    both ways, because a measurement may arrive before or after its frame. Bounded to `capacity` items
    (None: unbounded, for a whole recording). This is the one nearest-stamp rule of the package: the
    nodes, vda-eval --bag and vda-finetune's bags all pair through it.
    """

    def __init__(self, capacity: int | None = 32) -> None:
        self._items: deque[tuple[int, Item]] = deque(maxlen=capacity)
        self._stamps: list[int] | None = None
        """The items' stamps in order, kept between queries until the next add (a whole recording is
        queried once per frame: rebuilding them per query would make the pairing quadratic)."""

    def add(self, stamp_ns: int, item: Item) -> None:
        """Keep an item; out-of-order stamps are placed in order."""
        self._stamps = None
        if self._items and stamp_ns < self._items[-1][0]:
            ordered = sorted([*self._items, (stamp_ns, item)], key=lambda entry: entry[0])
            self._items.clear()
            self._items.extend(ordered[-self._items.maxlen :] if self._items.maxlen else ordered)
            return
        self._items.append((stamp_ns, item))

    def nearest(self, stamp_ns: int, max_offset_ns: int) -> Item | None:
        """The item nearest in time to stamp_ns, if it is within max_offset_ns (the earlier on a tie); else None."""
        if self._stamps is None:
            self._stamps = [stamp for stamp, _ in self._items]
        stamps = self._stamps
        index = bisect_left(stamps, stamp_ns)
        best: tuple[int, Item] | None = None
        for candidate in (index - 1, index):
            if 0 <= candidate < len(stamps):
                offset = abs(stamps[candidate] - stamp_ns)
                if offset <= max_offset_ns and (best is None or offset < best[0]):
                    best = (offset, self._items[candidate][1])
        return None if best is None else best[1]

    def clear(self) -> None:
        self._items.clear()
        self._stamps = None
