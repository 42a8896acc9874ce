"""How far a depth map can be trusted, pixel by pixel: flying pixels and a confidence image, on numpy arrays.

A depth network's output is smooth across object boundaries: it works on 14-pixel patches, so a jump from a
foreground object to the background becomes a ramp about two patches wide. Back-projected, the ramp's pixels
are points floating between the two surfaces ("flying pixels"), which a costmap marks as obstacles in free
space. Depth cameras ship filters for the same artefact (RealSense's edge filter, PCL's shadow points).

The flying-pixel rule (flying_pixels) works in the back-projected geometry: a pixel is flying when the surface
through it and its neighbours is seen at less than `max_angle` degrees from the viewing ray, on both sides of
the pixel along a row or a column. The slope of the depth along each image axis is the smaller of the two
one-sided slopes, and zero when they disagree in sign (the "minmod" limiter): inside a ramp both sides are
steep, so its pixels go; at a sharp step the pixels on either side each have a flat side, so neither goes (no
point floats there); noise that zigzags from pixel to pixel gives no slope at all. A real surface is caught only
where it is itself seen at a grazing angle below `max_angle`.

The default, 5 degrees, is the smallest angle that removes the flying points of the synthetic scene of
test/test_depth_quality.py with a margin (640x480, boxes 2-5 m before walls up to 8 m away, network-like ramps
from a 37x49 patch grid; bench/bench_depth_quality.py prints these figures). Flying points there (within 3 px of
a true discontinuity and more than 10 % off) are seen at a median 2.9 degrees, 90 % of them below 5.2; pixels
6 px or more from every discontinuity at 4.5 degrees or more for 99 % of them. At 5 degrees 8.7 times fewer
flying points remain and 98.7 % of those interior pixels stay; at 4 degrees only 4.8 times fewer; at 8, 32
times fewer but 97.5 % stay, and every degree more takes real oblique surfaces with it: a floor seen from h
metres up survives to 11.4 h at 5 degrees, to 7.1 h at 8.

The confidence (values in [0, 1], float32, higher = more trustworthy) is a product of factors, each 1 where its
cue has nothing against a pixel, so cues a node lacks simply drop out:
- geometry (geometric_confidence): 0 on a flying pixel, rising linearly to 1 at `radius` pixels from the
  nearest one (by default two network patches: the width of the network's blur around a boundary);
- stability (agreement_confidence): exp(-d / error_scale), d the relative disagreement between this depth and
  another estimate of it (the previous frame, or streaming against refined depth);
- the range sensor (residual_confidence): exp(-r / error_scale), r the relative residual of the alignment at
  the sensor's samples near the pixel (capped, so one sensor outlier cannot condemn a region), spread over
  about one network patch and pulled towards the frame's median residual where samples are few.
With the default error_scale 0.1, a 10 % disagreement gives a factor 0.37 and a 1 % one 0.90. Invalid pixels
have confidence 0.

No ROS and no PyTorch here: the nodes, the bag tool and vda-video all call this module through
vda_ros.core.outputs, each stream keeping its ConfidenceCues.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from vda_ros.core.options import Settings, option
from vda_ros.core.sparse import SparseSamples

DEFAULT_MAX_ANGLE = 5.0
"""Degrees between the viewing ray and the surface below which a pixel is flying (see the module docstring)."""
ERROR_SCALE = 0.1
"""The relative disagreement that brings an agreement factor to 1/e."""
RESIDUAL_CAP = 2 * ERROR_SCALE
"""Sensor residuals above this count as this much: as likely a sensor outlier (a near return, a point seen
behind an edge) as a depth error, so one of them must not outweigh its neighbours."""
PRIOR_SAMPLES = 1.0
"""How many samples' worth of weight the frame's median residual has at every pixel."""
PATCH_SIZE = 14
"""The network's patch size in pixels (vda_ros.model.config.PATCH_SIZE; a test keeps them equal)."""
DEFAULT_INPUT_SIZE = 518
BOUNDARY_PATCHES = 2.0
"""How many patches wide a boundary's blur is: a bilinearly upsampled patch grid spreads a jump over the
two patch cells around it."""


@dataclass(frozen=True)
class DepthQualitySettings(Settings):
    """Which pixels of published metres are kept and which points a cloud keeps; applied from the next frame."""

    flying_pixel_filter: bool = option(
        True,
        "Mark flying pixels (on the network's smooth ramps across depth discontinuities, floating between "
        "foreground and background when back-projected) invalid (NaN) in published metric depth and points.",
        runtime=True,
    )
    flying_pixel_angle: float = option(
        DEFAULT_MAX_ANGLE,
        "A pixel is flying when the surface through it and its neighbours is seen at less than this angle "
        "(degrees) from the viewing ray on both sides; real surfaces seen this obliquely go too.",
        float_range=(0.5, 45.0),
        runtime=True,
    )
    min_confidence: float = option(
        0.0,
        "Points whose confidence (depth/confidence) is below this are left out of points (NaN); 0: keep all.",
        float_range=(0.0, 1.0),
        runtime=True,
    )


def patch_pixels(height: int, width: int, input_size: int = DEFAULT_INPUT_SIZE) -> float:
    """Image pixels one network patch covers in a height x width depth image.

    The network sees the image with its shorter side resized to input_size, so one patch covers
    PATCH_SIZE * min(height, width) / input_size image pixels (about 13 at 640x480 and 518).
    """
    return PATCH_SIZE * min(height, width) / input_size


def boundary_radius(height: int, width: int, input_size: int = DEFAULT_INPUT_SIZE) -> float:
    """Pixels over which the network blurs a boundary of a height x width depth image: BOUNDARY_PATCHES patches."""
    return BOUNDARY_PATCHES * patch_pixels(height, width, input_size)


def _limited_slope(depth: np.ndarray, axis: int) -> np.ndarray:
    """Depth change per pixel along `axis`: the smaller one-sided slope, 0 where the two differ in sign.

    That is the median of 0 and the two one-sided slopes (the minmod limiter): the forward slope clipped to
    [min(0, backward), max(0, backward)]. Where one side has no valid neighbour (an invalid pixel, the image
    border) the other side's slope is used; with neither, the slope is 0.
    """
    steps = np.diff(depth, axis=axis)
    inner: tuple[slice, slice]
    first: tuple[slice, slice]
    last: tuple[slice, slice]
    if axis:
        forward, backward, inner = steps[:, 1:], steps[:, :-1], np.s_[:, 1:-1]
        first, last = np.s_[:, :1], np.s_[:, -1:]
    else:
        forward, backward, inner = steps[1:], steps[:-1], np.s_[1:-1, :]
        first, last = np.s_[:1, :], np.s_[-1:, :]
    slope = np.empty_like(depth)
    if depth.shape[axis] < 2:
        slope.fill(0.0)
        return slope
    np.maximum(forward, np.minimum(backward, 0.0), out=slope[inner])
    np.minimum(slope[inner], np.maximum(backward, 0.0), out=slope[inner])
    slope[first], slope[last] = steps[first], steps[last]
    gaps = np.isnan(slope)
    if gaps.any():  # next to invalid pixels: the side that has a neighbour, else 0
        np.copyto(slope[inner], np.where(np.isnan(forward), backward, forward), where=gaps[inner])
        np.copyto(slope, 0.0, where=np.isnan(slope))
    return slope


def _check_intrinsics(depth: np.ndarray, fx: float, fy: float) -> None:
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
    if not (0 < fx < math.inf and 0 < fy < math.inf):
        raise ValueError(f"focal lengths must be finite and positive, got fx={fx} fy={fy}")


BAND_PIXELS = 30_000
"""Pixels computed at once (whole rows): a band's float32 temporaries (120 kB) stay in the CPU cache and their
memory is reused, which makes the rule several times faster on a 640x480 frame than whole-image temporaries."""


def _sine_squared(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Squared sine of surface_angle_sine per pixel (float32, NaN where invalid), computed in bands of rows."""
    _check_intrinsics(depth, fx, fy)
    height, width = depth.shape
    rows = max(4, BAND_PIXELS // max(width, 1))
    out = np.empty(depth.shape, dtype=np.float32)
    for start in range(0, height, rows):
        stop = min(start + rows, height)
        low, high = max(start - 1, 0), min(stop + 1, height)  # a row beyond each edge for the vertical slope
        band = _band_sine_squared(depth[low:high], fx, fy, cx, cy - low)
        out[start:stop] = band[start - low : stop - low]
    return out


def _band_sine_squared(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """z^2 / (|m|^2 |(x, y, 1)|^2) for rows of depth whose first row is at cy = -(its row - principal row)."""
    z = np.asarray(depth, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        z = np.where((z > 0) & (z < np.inf), z, np.float32(np.nan))
    height, width = z.shape
    du = (np.arange(width, dtype=np.float32) - np.float32(cx))[np.newaxis, :]
    dv = (np.arange(height, dtype=np.float32) - np.float32(cy))[:, np.newaxis]
    z_u, z_v = _limited_slope(z, 1), _limited_slope(z, 0)
    normal = du * z_u
    normal += dv * z_v
    normal += z
    np.square(normal, out=normal)
    z_u *= np.float32(fx)
    normal += np.square(z_u, out=z_u)
    z_v *= np.float32(fy)
    normal += np.square(z_v, out=z_v)
    normal *= 1.0 + np.square(du / np.float32(fx)) + np.square(dv / np.float32(fy))
    np.square(z, out=z)
    result: np.ndarray = np.divide(z, normal, out=z)
    return result


def surface_angle_sine(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Sine of the angle between each pixel's viewing ray and the surface through it (float32, NaN where invalid).

    With depth z(u, v) and the limited slopes z_u, z_v, the back-projected surface P = z (x, y, 1) has the
    normal m = (fx z_u, fy z_v, z + (u - cx) z_u + (v - cy) z_v) (up to sign and length) and m . (x, y, 1) = z,
    so the sine is z / (|m| |(x, y, 1)|): 1 for a surface facing the camera, 0 for one seen edge-on.
    """
    result: np.ndarray = np.sqrt(_sine_squared(depth, fx, fy, cx, cy))
    return result


def flying_pixels(
    depth: np.ndarray, fx: float, fy: float, cx: float, cy: float, max_angle: float = DEFAULT_MAX_ANGLE
) -> np.ndarray:
    """Boolean mask of the valid pixels of a metric depth map (metres, NaN/<= 0 invalid) that are flying.

    A pixel is flying when its surface (see surface_angle_sine) is seen at less than max_angle degrees from
    its viewing ray. Invalid pixels are never in the mask: they already are invalid. The depth may be scaled
    by any factor (angles do not change), so relative inverse depth inverted works too.
    """
    with np.errstate(invalid="ignore"):
        result: np.ndarray = _sine_squared(depth, fx, fy, cx, cy) < np.float32(math.sin(math.radians(max_angle)) ** 2)
        return result


def geometric_confidence(flying: np.ndarray, radius: float | None = None) -> np.ndarray:
    """0 on flying pixels, rising linearly with the distance (pixels) to the nearest one, 1 from `radius` on.

    radius None: boundary_radius of the image at the default input size.
    """
    radius = boundary_radius(*flying.shape) if radius is None else radius
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    if not flying.any():
        return np.ones(flying.shape, dtype=np.float32)
    distance = cv2.distanceTransform((~flying).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    result: np.ndarray = np.minimum(distance / np.float32(radius), np.float32(1.0))
    return result


def agreement_confidence(depth: np.ndarray, other: np.ndarray, error_scale: float = ERROR_SCALE) -> np.ndarray:
    """exp(-|depth - other| / (error_scale * depth)) per pixel: how well two estimates of the same depth agree.

    `other` is the previous frame's depth (a camera that moves little between frames) or the refined depth of
    the same frame. Pixels where either is invalid (not finite, or not positive: combine_confidence's rule)
    get 1: nothing to compare, so no evidence against them. Works on metres and on relative inverse depth alike
    (the disagreement is relative).
    """
    if depth.shape != other.shape:
        raise ValueError(f"depth is {depth.shape}, the other estimate {other.shape}")
    a = np.asarray(depth, dtype=np.float32)
    b = np.asarray(other, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.exp(-np.abs(a - b) / (np.float32(error_scale) * a))
        compared = (a > 0) & (b > 0) & np.isfinite(factor)
    result: np.ndarray = np.where(compared, factor, np.float32(1.0)).astype(np.float32)
    return result


def residual_confidence(
    depth: np.ndarray, samples: SparseSamples, radius: float | None = None, error_scale: float = ERROR_SCALE
) -> np.ndarray:
    """exp(-r / error_scale) per pixel, r the range sensor's relative residual |depth / sensor - 1| nearby.

    Each sample's residual (capped at RESIDUAL_CAP) is spread with a Gaussian of `radius` pixels (None: one
    network patch, patch_pixels at the default input size); where samples are few the frame's median residual
    (PRIOR_SAMPLES samples' weight) fills in, so a pixel far from every sample gets the frame's typical
    agreement. Without usable samples every pixel gets 1.
    """
    if samples.shape != depth.shape:
        raise ValueError(f"samples are on a {samples.shape} grid, the depth is {depth.shape}")
    radius = patch_pixels(*depth.shape) if radius is None else radius
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    at_samples = np.asarray(depth, dtype=np.float64)[samples.rows, samples.cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        residuals = np.abs(at_samples / samples.depth - 1.0)
    usable = np.isfinite(residuals)
    if not usable.any():
        return np.ones(depth.shape, dtype=np.float32)
    residuals = np.minimum(residuals[usable], RESIDUAL_CAP)
    spread = _spread(samples.rows[usable], samples.cols[usable], residuals, depth.shape, radius)
    result: np.ndarray = np.exp(-spread / np.float32(error_scale)).astype(np.float32)
    return result


def _spread(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int], radius: float
) -> np.ndarray:
    """Gaussian-weighted mean of sparse values around every pixel, shrunk towards their median.

    Computed on a grid of cells radius / 2 wide (the Gaussian spans two cells), then bilinearly resized: the
    same smooth field at a fraction of a full-resolution blur's cost.
    """
    height, width = shape
    cell = max(1, int(radius / 2))
    grid = (-(-height // cell), -(-width // cell))
    index = (rows // cell) * grid[1] + cols // cell
    sums = np.bincount(index, weights=values, minlength=grid[0] * grid[1]).reshape(grid)
    counts = np.bincount(index, minlength=grid[0] * grid[1]).reshape(grid).astype(np.float64)
    sigma = radius / cell
    total = cv2.GaussianBlur(sums, (0, 0), sigma)
    count = cv2.GaussianBlur(counts, (0, 0), sigma)
    prior = PRIOR_SAMPLES / (2 * math.pi * sigma * sigma)
    mean = (total + prior * float(np.median(values))) / (count + prior)
    return cv2.resize(mean.astype(np.float32), (grid[1] * cell, grid[0] * cell), interpolation=cv2.INTER_LINEAR)[
        :height, :width
    ]


def combine_confidence(depth: np.ndarray, *factors: np.ndarray | None) -> np.ndarray:
    """The confidence image: the product of the given factors (None: a cue not available), 0 where depth is invalid.

    `depth` is what the confidence describes (metres, or relative inverse depth): its non-finite and
    non-positive pixels get 0.
    """
    with np.errstate(invalid="ignore"):
        confidence: np.ndarray = (np.isfinite(depth) & (depth > 0)).astype(np.float32)
    for factor in factors:
        if factor is not None:
            if factor.shape != confidence.shape:
                raise ValueError(f"a confidence factor is {factor.shape}, the depth {confidence.shape}")
            confidence *= np.clip(factor, 0.0, 1.0)
    return confidence


ConfidenceFactors = Callable[[], tuple[np.ndarray, ...]]
"""A frame's confidence factors beside the geometry, made only when called (frame_outputs calls it only when the
confidence is needed: a subscriber, or min_confidence)."""


class ConfidenceCues:
    """What one stream (a camera, a bag, a video) knows of its frames beside their geometry, as confidence factors.

    Stability over time: each frame is compared with the stream's previous frame (agreement_confidence), where
    something moved or the network hesitated they disagree. The caller adds what else it knows of a frame: the
    range sensor's samples (residual_confidence) and, where a refined estimate of the same frame exists, that
    estimate (streaming against refined depth). reset() when the stream starts over (another camera, a size
    change, a jump back in time): the first frame of a new stream has nothing to be compared with.
    """

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None

    def next_frame(
        self, depth: np.ndarray, samples: SparseSamples | None = None, refined: np.ndarray | None = None
    ) -> ConfidenceFactors:
        """This frame's factors, computed only when called; the frame becomes the previous one of the next.

        Args:
            depth: the frame's depth as the stream has it, before any filter (metres, or relative inverse
                depth: the disagreements are relative). Kept, not copied: the caller must not change it later.
            samples: the range sensor's samples of this frame on the depth's grid (metres only).
            refined: the refined depth of this same frame, where the stream has a refined path; its
                disagreement with `depth` is one more factor.
        """
        previous = self._previous if self._previous is not None and self._previous.shape == depth.shape else None
        self._previous = depth

        def factors() -> tuple[np.ndarray, ...]:
            found = [agreement_confidence(depth, other) for other in (previous, refined) if other is not None]
            if samples is not None:
                found.append(residual_confidence(depth, samples))
            return tuple(found)

        return factors

    def reset(self) -> None:
        """Forget the previous frame (a new stream)."""
        self._previous = None
