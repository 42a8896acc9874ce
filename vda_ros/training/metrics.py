"""Validation error of predicted depth against ground truth: AbsRel and δ1, as the official benchmark computes them.

Relative (inverse-depth) predictions are first aligned to the ground truth's disparity with one least-squares
scale and shift per clip (float64), clipped at 1e-3 and inverted; metric predictions are compared as they are.
"""

from __future__ import annotations

import numpy as np

MIN_DISPARITY = 1e-3
DELTA1_RATIO = 1.25


def depth_from_relative(prediction: np.ndarray, depth: np.ndarray, mask: np.ndarray, max_depth: float) -> np.ndarray:
    """Metric depth from relative disparity: fitted to 1/depth over the valid pixels of the whole clip."""
    p = np.clip(prediction[mask].astype(np.float64), MIN_DISPARITY, None)
    design = np.stack([p, np.ones_like(p)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, 1.0 / depth[mask].astype(np.float64), rcond=None)
    aligned = np.clip(scale * np.clip(prediction.astype(np.float64), MIN_DISPARITY, None) + shift, MIN_DISPARITY, None)
    return np.clip(1.0 / aligned, MIN_DISPARITY, max_depth)


def clip_errors(prediction: np.ndarray, depth: np.ndarray, metric: bool) -> tuple[float, float, int]:
    """Per clip (T, h, w): sums over the frames with ground truth of their AbsRel and δ1, and that frame count.

    `depth` holds metres with NaN where invalid. Sums, so that a caller averages over all frames of all clips.
    """
    mask = np.isfinite(depth)
    if not mask.any():
        return 0.0, 0.0, 0
    max_depth = float(np.nanmax(depth))
    estimate = prediction.astype(np.float64) if metric else depth_from_relative(prediction, depth, mask, max_depth)
    abs_rel, delta1, frames = 0.0, 0.0, 0
    for e, g, m in zip(estimate, depth, mask):
        if not m.any():
            continue
        e_valid, g_valid = np.maximum(e[m], MIN_DISPARITY), g[m].astype(np.float64)
        abs_rel += float(np.mean(np.abs(e_valid - g_valid) / g_valid))
        delta1 += float(np.mean(np.maximum(e_valid / g_valid, g_valid / e_valid) < DELTA1_RATIO))
        frames += 1
    return abs_rel, delta1, frames
