#!/usr/bin/env python3
"""AbsRel of aligned depth on the synthetic ray-cast sequence: raw relative, least squares, robust, robust + temporal.

The sequence and its LiDAR-like sparse data are the tests' (test/synthetic_scene.py): a relative
"prediction" whose scale and shift drift, with 1 % noise and a region 15 % off; 12 scan lines with 1 %
range noise, 7 % outliers (near returns and points behind edges), 6 dropped and 2 corrupted frames.
Each row aligns every frame as the depth_align node does (pairing, fit, optional temporal filter) and
reports the per-frame AbsRel against the true depth (vda_ros.core.metrics's, NaN counting as missing).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "test"))  # the generator the tests use, not a second copy of it

from synthetic_scene import frame_abs_rel, synthetic_sequence  # noqa: E402

from vda_ros.core.alignment import AlignerSettings, DepthAligner, FitSettings, TemporalSettings  # noqa: E402
from vda_ros.core.metrics import aligned_depth  # noqa: E402
from vda_ros.core.sparse import samples_from_depth_image  # noqa: E402

PER_FRAME = TemporalSettings(smoothing=1.0, max_jump=1e9)
"""No temporal filtering: every accepted fit is used as it is (dropped frames still hold the last one)."""


def frame_errors(depth: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.array([frame_abs_rel(d, t) for d, t in zip(depth, truth, strict=True)])


def streamed(prediction, sparse, truth, method: str, temporal: TemporalSettings) -> tuple[np.ndarray, float]:
    """Per-frame AbsRel of the stream aligned like the node, and the mean time per frame in ms."""
    aligner = DepthAligner(AlignerSettings(fit=FitSettings(method=method), temporal=temporal))
    outputs, started = [], time.perf_counter()
    for index, frame in enumerate(prediction):
        samples = None if sparse[index] is None else samples_from_depth_image(sparse[index], frame.shape)
        depth, _ = aligner.align(index * 0.1, frame, samples)
        outputs.append(depth if depth is not None else np.full(frame.shape, np.nan, np.float32))
    elapsed = (time.perf_counter() - started) / len(prediction) * 1e3
    return frame_errors(np.stack(outputs), truth), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    scene, prediction, sparse = synthetic_sequence(args.frames)
    truth = scene.depth.astype(np.float64)
    # Raw relative depth read with one fixed alignment, fitted once to the first frame's dense true depth.
    first = truth[:1] > 0
    _, scale, shift = aligned_depth(prediction[:1], truth[:1], first, "affine-disparity", 1e3)
    raw = frame_errors(1.0 / np.clip(scale * prediction + shift, 1e-3, None), truth)
    rows = [("raw relative, fixed alignment from frame 0", raw, float("nan"))]
    rows.append(("plain least squares, per frame", *streamed(prediction, sparse, truth, "least_squares", PER_FRAME)))
    rows.append(("robust (RANSAC + refinement), per frame", *streamed(prediction, sparse, truth, "robust", PER_FRAME)))
    rows.append(("robust + temporal filter", *streamed(prediction, sparse, truth, "robust", TemporalSettings())))
    mask = truth > 0
    oracle, _, _ = aligned_depth(prediction, truth, mask, "affine-disparity", 1e3)
    rows.append(("(reference) benchmark alignment to dense truth", frame_errors(oracle, truth), float("nan")))
    print(f"{args.frames} frames of {scene.depth.shape[2]}x{scene.depth.shape[1]}")
    print("| alignment | median AbsRel | max AbsRel | frames > 0.08 | ms/frame |")
    print("| --- | --- | --- | --- | --- |")
    for name, errors, ms in rows:
        timing = "-" if np.isnan(ms) else f"{ms:.1f}"
        print(f"| {name} | {np.median(errors):.4f} | {errors.max():.4f} | {int((errors > 0.08).sum())} | {timing} |")


if __name__ == "__main__":
    main()
