"""Colourised depth for people looking at it (RViz, rqt_image_view, recorded videos).

Kept free of ROS imports: it maps arrays to BGR images, the layout of OpenCV and of the
ROS 'bgr8' encoding, so the result can be published or written to a video file unchanged.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_MAX_PERCENTILE_SAMPLES = 1 << 16
"""Percentiles are estimated on at most this many values: a colour range does not need the
exact 2nd/98th percentile of a 1280x720 frame, and sorting a million values per frame would
cost more than the rest of the colouring."""


def _colormap_index(values: np.ndarray, vmin: float, vmax: float, invalid: np.ndarray) -> np.ndarray:
    """Map values to uint8 indices: truncate(clip((v - vmin) / (vmax - vmin), 0, 1) * 255).

    A degenerate range (vmax <= vmin) cannot be divided by; it becomes a step at vmin
    (0 at or below, 255 above) so a constant image still renders instead of raising.
    Values flagged in `invalid` get index 0 (never cast NaN to an integer); the caller paints
    them black.
    """
    span = vmax - vmin
    with np.errstate(invalid="ignore"):
        if not span > 0.0:
            step: np.ndarray = np.where(values > vmin, np.uint8(255), np.uint8(0))
            return step
        normalised: np.ndarray = np.subtract(values, np.float32(vmin), dtype=np.float32)
        normalised /= np.float32(span)
        np.clip(normalised, 0.0, 1.0, out=normalised)
    normalised *= 255.0
    np.copyto(normalised, 0.0, where=invalid)
    return normalised.astype(np.uint8)


def colorize(values: np.ndarray, vmin: float, vmax: float, grayscale: bool = False) -> np.ndarray:
    """Render an (H, W) array as an (H, W, 3) uint8 BGR image; non-finite values are black.

    The inferno map is perceptually uniform and stays readable when printed in grey; the
    grayscale option writes the raw index to all channels for tools that want intensities.
    Black for NaN/inf makes missing depth obvious instead of looking like a real distance.
    """
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D (H, W) array, got shape {values.shape}")
    invalid = ~np.isfinite(values)
    index = _colormap_index(values, vmin, vmax, invalid)
    if grayscale:
        image = cv2.cvtColor(index, cv2.COLOR_GRAY2BGR)
    else:
        image = cv2.applyColorMap(index, cv2.COLORMAP_INFERNO)
    image[invalid] = 0
    return image


def robust_range(values: np.ndarray, low: float = 2.0, high: float = 98.0) -> tuple[float, float] | None:
    """Return the (low, high) percentiles of the finite values, or None when there are none.

    Percentiles instead of min/max so that a few outliers (sky, a speck of noise) do not
    squeeze the whole scene into a handful of colours.
    """
    flat = np.ravel(values)
    if flat.size > _MAX_PERCENTILE_SAMPLES:
        flat = flat[:: math.ceil(flat.size / _MAX_PERCENTILE_SAMPLES)]
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [low, high])
    return float(lo), float(hi)


class ColorScale:
    """A colour range for live streams that changes slowly, so colours do not flicker.

    Per-frame ranges jump with every small change in what the camera sees (and a relative
    depth model's output range drifts from frame to frame), which makes the same wall change
    colour constantly. This class either keeps a fixed range or follows the frames' robust
    percentiles with exponential smoothing: the first frame sets the range, later frames move
    each bound by `smoothing` times its distance to that frame's percentile.

    A bound given at construction is fixed forever; giving both makes the whole range fixed.
    """

    def __init__(
        self,
        vmin: float | None = None,
        vmax: float | None = None,
        smoothing: float = 0.05,
        low_percentile: float = 2.0,
        high_percentile: float = 98.0,
    ) -> None:
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        if not 0.0 <= low_percentile < high_percentile <= 100.0:
            raise ValueError(
                f"need 0 <= low_percentile < high_percentile <= 100, got {low_percentile}, {high_percentile}"
            )
        self._fixed_min = vmin
        self._fixed_max = vmax
        self._smoothing = smoothing
        self._percentiles = (low_percentile, high_percentile)
        self._tracked: tuple[float, float] | None = None

    @property
    def fixed(self) -> bool:
        """True when both bounds were given, so update() never looks at the data."""
        return self._fixed_min is not None and self._fixed_max is not None

    def reset(self) -> None:
        """Forget the tracked range (e.g. after a camera or model change) so the next frame sets it afresh."""
        self._tracked = None

    def update(self, values: np.ndarray) -> tuple[float, float]:
        """Fold one frame into the range and return (vmin, vmax) to colour it with.

        Frames without finite values leave the range unchanged; before any such frame the
        automatic bounds default to (0, 1).
        """
        if not self.fixed:
            frame_range = robust_range(values, *self._percentiles)
            if frame_range is not None:
                self._tracked = self._smoothed(frame_range)
        tracked_min, tracked_max = self._tracked if self._tracked is not None else (0.0, 1.0)
        vmin = self._fixed_min if self._fixed_min is not None else tracked_min
        vmax = self._fixed_max if self._fixed_max is not None else tracked_max
        return float(vmin), float(vmax)

    def _smoothed(self, frame_range: tuple[float, float]) -> tuple[float, float]:
        """Move the tracked range toward frame_range by the smoothing factor (or adopt it at first)."""
        if self._tracked is None:
            return frame_range
        alpha = self._smoothing
        return (
            self._tracked[0] + alpha * (frame_range[0] - self._tracked[0]),
            self._tracked[1] + alpha * (frame_range[1] - self._tracked[1]),
        )
