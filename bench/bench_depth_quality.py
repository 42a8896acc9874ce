#!/usr/bin/env python3
"""Flying-pixel filter and confidence on the network-like synthetic scene: issue 23's figures and their cost.

The scene is the tests' (test/synthetic_scene.py quality_sequence): 640x480 ray-cast boxes before the walls of a
room, a relative prediction whose boundaries are the network's (true inverse depth averaged over the 37x49
patch grid of a 518 input, 2 % noise per patch, bilinearly upsampled, 0.2 % noise per pixel, a region 15 % off,
drifting scale and shift), turned into metres by the true alignment, and LiDAR-like scan lines with 7 % outliers.
Printed:
- the filter at several angles: flying points (within 3 px of a true discontinuity, more than 10 % off) with
  the filter off and on, and the interior pixels (6 px or more from every discontinuity) it keeps;
- the sparsification gain of each confidence: how much dropping the 20 % least-confident pixels lowers the
  AbsRel of the rest (unfiltered metres; a constant gives 0, the true error as confidence gives the most);
- the cost per 640x480 frame (median and fastest of --repeat runs on this CPU) beside the back-projection of the
  same frame;
- the whole per-frame output code (vda_ros.core.outputs.frame_outputs: metric depth, coloured points, as every node
  and tool makes them) without the filter and the confidence, and with them as depth_node and depth_align use them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "test"))  # the generator and figures the tests use, not second copies

from depth_quality_figures import (  # noqa: E402
    align_confidence,
    confidence_gain,
    constant_cue,
    filter_figures,
    geometry_cue,
    intrinsics,
    node_confidence,
    oracle_cue,
    residual_cue,
    temporal_cue,
)
from synthetic_scene import QualitySequence, discontinuity_distance, quality_sequence  # noqa: E402

from vda_ros.core.depth_quality import (  # noqa: E402
    DEFAULT_MAX_ANGLE,
    ConfidenceCues,
    DepthQualitySettings,
    agreement_confidence,
    boundary_radius,
    combine_confidence,
    flying_pixels,
    geometric_confidence,
    patch_pixels,
    residual_confidence,
    surface_angle_sine,
)
from vda_ros.core.geometry import backproject  # noqa: E402
from vda_ros.core.outputs import CameraModel, OutputSettings, frame_outputs  # noqa: E402
from vda_ros.core.sparse import samples_from_depth_image  # noqa: E402

ANGLES = (3.0, 4.0, 5.0, 6.0, 8.0)


def print_filter_table(sequence: QualitySequence) -> None:
    print("| flying_pixel_angle | flying points off | on | fewer | interior valid off | on | kept |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for angle in ANGLES:
        f = filter_figures(sequence, angle)
        mark = " (default)" if angle == DEFAULT_MAX_ANGLE else ""
        print(
            f"| {angle:g}{mark} | {f.flying_off} | {f.flying_on} | {f.flying_reduction:.1f}x | "
            f"{f.interior_off} | {f.interior_on} | {f.interior_kept:.2%} |"
        )


def print_angles(sequence: QualitySequence) -> None:
    """Where the default comes from: the angles flying points and interior pixels are seen at."""
    flying, interior = [], []
    for depth, truth in zip(sequence.metric, sequence.scene.depth, strict=True):
        angle = np.degrees(np.arcsin(surface_angle_sine(depth, *intrinsics(sequence))))
        distance = discontinuity_distance(truth)
        with np.errstate(invalid="ignore"):
            off = np.abs(depth / truth - 1.0) > 0.1
        flying.append(angle[(distance <= 3) & off & np.isfinite(angle)])
        interior.append(angle[(distance >= 6) & np.isfinite(angle)])
    fly, inside = np.concatenate(flying), np.concatenate(interior)
    print(
        f"surface angle (degrees) of flying points: median {np.median(fly):.1f}, "
        f"90th percentile {np.percentile(fly, 90):.1f}; of interior pixels: "
        f"1st percentile {np.percentile(inside, 1):.1f}, median {np.median(inside):.1f}"
    )


def print_confidence_table(sequence: QualitySequence) -> None:
    rows = (
        ("constant (baseline)", constant_cue),
        ("oracle: the true error", oracle_cue),
        ("geometry", geometry_cue),
        ("stability: previous frame", temporal_cue),
        ("range sensor residual", residual_cue),
        ("depth_node: geometry x stability", node_confidence),
        ("depth_align: geometry x stability x residual", align_confidence),
    )
    print("| confidence | AbsRel lower after dropping the 20 % least confident |")
    print("| --- | --- |")
    for name, cue in rows:
        print(f"| {name} | {confidence_gain(sequence, cue):.1%} |")


def timings_ms(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and fastest of `repeat` runs after one warm-up (on a shared machine the fastest is the cost
    without the other processes' interference)."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3, float(np.min(times)) * 1e3


def print_cost_table(sequence: QualitySequence, repeat: int) -> None:
    depth, previous = sequence.metric[1], sequence.metric[0]
    fx, fy, cx, cy = intrinsics(sequence)
    radius, patch = boundary_radius(*depth.shape), patch_pixels(*depth.shape)
    sparse = sequence.sparse[1]
    assert sparse is not None
    samples = samples_from_depth_image(sparse, depth.shape)
    flying = flying_pixels(depth, fx, fy, cx, cy)

    def apply_filter() -> np.ndarray:
        return np.where(flying_pixels(depth, fx, fy, cx, cy), np.float32(np.nan), depth)

    def confidence() -> np.ndarray:
        return combine_confidence(
            depth,
            geometric_confidence(flying, radius),
            agreement_confidence(depth, previous),
            residual_confidence(depth, samples, patch),
        )

    rows = (
        ("back-projection (reference: the cloud)", lambda: backproject(depth, fx, fy, cx, cy)),
        ("flying-pixel filter (mask + NaN)", apply_filter),
        ("confidence: geometry (distance transform)", lambda: geometric_confidence(flying, radius)),
        ("confidence: stability (previous frame)", lambda: agreement_confidence(depth, previous)),
        (f"confidence: residual ({len(samples)} samples)", lambda: residual_confidence(depth, samples, patch)),
        ("confidence: all three, combined", confidence),
    )
    height, width = depth.shape
    print(f"| {width}x{height}, {repeat} runs | median ms per frame | fastest |")
    print("| --- | --- | --- |")
    for name, call in rows:
        median, fastest = timings_ms(call, repeat)
        print(f"| {name} | {median:.2f} | {fastest:.2f} |")


def print_frame_outputs_table(sequence: QualitySequence, repeat: int) -> None:
    """frame_outputs of one frame (metres, coloured organised cloud) with the quality rules off and on."""
    depth, previous, rgb = sequence.metric[1], sequence.metric[0], sequence.scene.rgb[1]
    sparse = sequence.sparse[1]
    assert sparse is not None
    samples = samples_from_depth_image(sparse, depth.shape)
    k = sequence.scene.intrinsics
    height, width = depth.shape
    camera = CameraModel("camera", width, height, k, np.hstack([k, np.zeros((3, 1))]))
    settings = OutputSettings()

    def outputs(quality: DepthQualitySettings | None, confidence: bool, with_samples: bool) -> Callable[[], object]:
        def call() -> object:
            cues = ConfidenceCues()
            cues.next_frame(previous)  # a stream with a previous frame, as every frame but the first
            factors = cues.next_frame(depth, samples if with_samples else None)
            return frame_outputs(
                rgb,
                depth,
                metric=True,
                settings=settings,
                camera=camera,
                quality=quality,
                want_confidence=confidence,
                confidence_factors=factors,
            )

        return call

    on = DepthQualitySettings()
    rows = (
        ("without the filter and the confidence", outputs(None, False, False)),
        ("flying-pixel filter (the default)", outputs(on, False, False)),
        ("filter + confidence, depth_node's cues (geometry, previous frame)", outputs(on, True, False)),
        ("filter + confidence, depth_align's cues (+ range sensor residual)", outputs(on, True, True)),
        (
            "filter + min_confidence 0.5 (confidence made for the points)",
            outputs(on.replace(min_confidence=0.5), False, False),
        ),
    )
    print(
        f"| frame_outputs, {width}x{height} metres + rgb points, {repeat} runs | median ms | fastest | added (median) |"
    )
    print("| --- | --- | --- | --- |")
    base = None
    for name, call in rows:
        median, fastest = timings_ms(call, repeat)
        base = median if base is None else base
        print(f"| {name} | {median:.2f} | {fastest:.2f} | {median - base:+.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4, help="frames of the sequence (figures over frames 1..)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per cost row")
    args = parser.parse_args()
    sequence = quality_sequence(args.frames)
    print_filter_table(sequence)
    print()
    print_angles(sequence)
    print()
    print_confidence_table(sequence)
    print()
    print_cost_table(sequence, args.repeat)
    print()
    print_frame_outputs_table(sequence, args.repeat)


if __name__ == "__main__":
    main()
