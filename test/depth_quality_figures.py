"""The figures of issue 23 on a QualitySequence: flying points and interior pixels kept, with the flying-pixel
filter off and on, and the sparsification gain of confidence images. The tests assert them and
bench/bench_depth_quality.py prints them, from this one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from synthetic_scene import QualitySequence, discontinuity_distance

from vda_ros.core.depth_quality import (
    agreement_confidence,
    combine_confidence,
    flying_pixels,
    geometric_confidence,
    residual_confidence,
)
from vda_ros.core.sparse import samples_from_depth_image

NEAR_EDGE = 3.0
"""A flying point is within this many pixels of a true discontinuity ..."""
FLYING_ERROR = 0.1
"""... and more than this far off (relative)."""
INTERIOR = 6.0
"""Interior pixels are at least this many pixels from every true discontinuity."""
DROPPED = 0.2
"""The fraction of least-confident pixels a sparsification drops."""


@dataclass(frozen=True)
class FilterFigures:
    """Counts over a sequence with the filter off and on."""

    flying_off: int
    flying_on: int
    interior_off: int
    interior_on: int

    @property
    def flying_reduction(self) -> float:
        """How many times fewer flying points the filter leaves."""
        return self.flying_off / max(self.flying_on, 1)

    @property
    def interior_kept(self) -> float:
        """Fraction of the interior pixels valid without the filter that stay valid with it."""
        return self.interior_on / self.interior_off


def flying_points(depth: np.ndarray, truth: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Finite pixels within NEAR_EDGE of a true discontinuity whose depth is more than FLYING_ERROR off."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (distance <= NEAR_EDGE) & (np.abs(depth / truth - 1.0) > FLYING_ERROR)


def filter_figures(sequence: QualitySequence, max_angle: float) -> FilterFigures:
    """Flying points and valid interior pixels of every frame's metres, unfiltered and filtered at max_angle."""
    fx, fy, cx, cy = intrinsics(sequence)
    filtered = [
        np.where(flying_pixels(depth, fx, fy, cx, cy, max_angle), np.float32(np.nan), depth)
        for depth in sequence.metric
    ]
    return output_figures(sequence, sequence.metric, filtered)


def output_figures(
    sequence: QualitySequence, unfiltered: Sequence[np.ndarray], filtered: Sequence[np.ndarray]
) -> FilterFigures:
    """Flying points and valid interior pixels of a path's published metres for every frame of the sequence, with
    the filter off (unfiltered) and on (filtered)."""
    counts = np.zeros(4, dtype=np.int64)
    for off, on, truth in zip(unfiltered, filtered, sequence.scene.depth, strict=True):
        distance = discontinuity_distance(truth)
        interior = distance >= INTERIOR
        counts += (
            flying_points(off, truth, distance).sum(),
            flying_points(on, truth, distance).sum(),
            (np.isfinite(off) & interior).sum(),
            (np.isfinite(on) & interior).sum(),
        )
    return FilterFigures(*(int(count) for count in counts))


def intrinsics(sequence: QualitySequence) -> tuple[float, float, float, float]:
    k = sequence.scene.intrinsics
    return float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])


def sparsification_gain(errors: np.ndarray, confidence: np.ndarray, fraction: float = DROPPED) -> float:
    """How much dropping the `fraction` least-confident pixels lowers the mean error of the rest (1 - rest / all).

    Pixels of equal confidence at the cut are dropped in proportion (the expected result of breaking the tie at
    random), so a constant confidence gives exactly 0.
    """
    order = np.argsort(confidence, kind="stable")
    errors, confidence = errors[order], confidence[order]
    drop = fraction * errors.size
    cut = confidence[min(int(drop), errors.size - 1)]
    below, tied = confidence < cut, confidence == cut
    kept_tied = tied.sum() - (drop - below.sum())
    rest = (errors[confidence > cut].sum() + errors[tied].mean() * kept_tied) / (errors.size - drop)
    return float(1.0 - rest / errors.mean())


Cue = Callable[[QualitySequence, int], np.ndarray]
"""A confidence image for frame `index` of a sequence (index >= 1: the previous frame exists)."""


def geometry_cue(sequence: QualitySequence, index: int, max_angle: float = 5.0) -> np.ndarray:
    depth = sequence.metric[index]
    flying = flying_pixels(depth, *intrinsics(sequence), max_angle)
    return geometric_confidence(flying)


def temporal_cue(sequence: QualitySequence, index: int) -> np.ndarray:
    return agreement_confidence(sequence.metric[index], sequence.metric[index - 1])


def residual_cue(sequence: QualitySequence, index: int) -> np.ndarray:
    depth = sequence.metric[index]
    sparse = sequence.sparse[index]
    assert sparse is not None, f"frame {index} has no sparse data"
    samples = samples_from_depth_image(sparse, depth.shape)
    return residual_confidence(depth, samples)


def node_confidence(sequence: QualitySequence, index: int) -> np.ndarray:
    """What depth_node knows: the geometry and the previous frame."""
    depth = sequence.metric[index]
    return combine_confidence(depth, geometry_cue(sequence, index), temporal_cue(sequence, index))


def align_confidence(sequence: QualitySequence, index: int) -> np.ndarray:
    """What depth_align knows: the geometry, the previous frame and the range sensor."""
    depth = sequence.metric[index]
    return combine_confidence(
        depth, geometry_cue(sequence, index), temporal_cue(sequence, index), residual_cue(sequence, index)
    )


def constant_cue(sequence: QualitySequence, index: int) -> np.ndarray:
    return np.ones(sequence.metric[index].shape, dtype=np.float32)


def oracle_cue(sequence: QualitySequence, index: int) -> np.ndarray:
    """The best possible ranking: the true error, negated."""
    return -np.abs(sequence.metric[index] / sequence.scene.depth[index] - 1.0)


def confidence_gain(sequence: QualitySequence, cue: Cue) -> float:
    """Mean sparsification gain over frames 1.. of the unfiltered metres (every pixel published)."""
    frames = range(1, sequence.scene.frames)
    return published_gain(sequence, [sequence.metric[i] for i in frames], [cue(sequence, i) for i in frames], 1)


def published_gain(
    sequence: QualitySequence, depths: Sequence[np.ndarray], confidences: Sequence[np.ndarray], first: int
) -> float:
    """Mean sparsification gain of a path's published confidence over its published depth (filter off), for the
    frames first, first + 1, ... of the sequence."""
    gains = []
    for depth, confidence, truth in zip(depths, confidences, sequence.scene.depth[first:], strict=True):
        valid = np.isfinite(depth) & (truth > 0)
        errors = np.abs(depth[valid] / truth[valid] - 1.0)
        gains.append(sparsification_gain(errors, confidence[valid]))
    return float(np.mean(gains))
