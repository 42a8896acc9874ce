"""Alignment of a model's depth to sparse metric range data (LiDAR, depth camera), per frame and over time.

A relative model predicts inverse depth up to an unknown scale and shift; a metric model predicts metres
whose scale is a guess from one image. A sparse metric sensor fixes both, but its samples carry
outliers that a plain least-squares fit follows: spurious near returns (dust, the robot's own body),
points the sensor sees behind a foreground edge that the camera does not (parallax), and regions where
the model itself is wrong. So:

- the fit (fit_alignment) works in inverse-depth space, 1 / z = scale * x + shift, where x is the
  prediction as inverse depth (a relative model's output, or 1 / metres of a metric model with the shift
  fixed at 0), and measures each sample by its *relative* residual (scale * x + shift) * z - 1, about its
  relative depth error, so near and far samples count alike;
- it is RANSAC with local optimisation: minimal samples (2 for scale and shift, 1 for scale) drawn by a
  seeded generator give hypotheses, the one with most samples inside `inlier_threshold` wins, and it is
  refined by least squares of the relative residual over its inliers, re-selecting the inliers a few
  times; the result is accepted only with enough inliers;
- over time (TemporalAligner) the relative model's scale drifts slowly: accepted fits are blended
  into the running estimate, a fit that jumps from it is rejected unless the jump persists for a few
  frames (then it is a real change and the estimate re-locks), and the last good alignment is held
  through sensor dropouts for a bounded time, after which the state is lost.

No ROS here: the depth_align node and vda-process-bag --align-topic both call this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from vda_ros.core.geometry import inverse_depth_to_metric, mask_depth_range
from vda_ros.core.sparse import SparseSamples

FIT_METHODS = ("robust", "least_squares")
"""robust: RANSAC + refinement (the default); least_squares: one plain fit over every sample, for comparison."""
INPUT_KINDS = ("relative", "metric")
REFINE_ROUNDS = 3


@dataclass(frozen=True)
class Alignment:
    """The map from a prediction to metres: 1 / z = scale * x + shift, x the prediction as inverse depth."""

    scale: float
    shift: float
    metric_input: bool
    """True when the prediction is metres (x = 1 / prediction, shift 0), False for relative inverse depth."""

    def apply(self, prediction: np.ndarray) -> np.ndarray:
        """Metric depth (float32 metres, NaN where the map gives no positive depth) for a prediction."""
        return inverse_depth_to_metric(as_inverse_depth(prediction, self.metric_input), self.scale, self.shift)

    def blend(self, other: Alignment, weight: float) -> Alignment:
        """(1 - weight) of this map plus weight of other: still an affine map of inverse depth."""
        return replace(
            self,
            scale=(1.0 - weight) * self.scale + weight * other.scale,
            shift=(1.0 - weight) * self.shift + weight * other.shift,
        )


def as_inverse_depth(prediction: np.ndarray, metric_input: bool) -> np.ndarray:
    """The prediction as (unscaled) inverse depth: relative outputs are already; metres are inverted (0 if invalid)."""
    values = np.asarray(prediction, dtype=np.float32)
    if not metric_input:
        return values
    inverse = np.zeros(values.shape, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values) & (values > 0)
    np.divide(np.float32(1.0), values, out=inverse, where=valid)
    return inverse


@dataclass(frozen=True)
class FitSettings:
    """How one frame is fitted; the defaults suit a LiDAR or depth camera with a few per cent of outliers."""

    method: str = "robust"
    inlier_threshold: float = 0.05
    """A sample is an inlier when its relative depth residual is below this."""
    min_inliers: int = 30
    min_inlier_ratio: float = 0.3
    iterations: int = 100
    """RANSAC hypotheses per frame."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in FIT_METHODS:
            raise ValueError(f"fit method must be one of {', '.join(FIT_METHODS)}, got {self.method!r}")
        if not self.inlier_threshold > 0:
            raise ValueError(f"inlier_threshold must be positive, got {self.inlier_threshold}")
        if self.min_inliers < 2 or self.iterations < 1 or not 0 <= self.min_inlier_ratio <= 1:
            raise ValueError("min_inliers must be >= 2, iterations >= 1 and min_inlier_ratio in [0, 1]")


@dataclass(frozen=True)
class Fit:
    """The outcome of one frame's fit: the alignment (None when rejected) and how well the samples agree."""

    alignment: Alignment | None
    samples: int
    inliers: int
    residual: float
    """Median absolute relative depth residual of the inliers (NaN without a fit)."""
    reason: str = ""
    """Why the fit was rejected ('' when accepted)."""


def _weighted_fit(x: np.ndarray, z: np.ndarray, metric_input: bool) -> tuple[float, float] | None:
    """Least squares of the relative residual (scale * x + shift) * z - 1 over the given samples.

    Multiplying 1 / z = scale * x + shift by z gives the linear system [x z, z] (scale, shift) = 1,
    whose residuals are the relative ones; None when the samples cannot determine the parameters.
    """
    if metric_input:
        design = (x * z)[:, np.newaxis]
    else:
        design = np.stack((x * z, z), axis=1)
    if len(design) < design.shape[1]:
        return None
    solution, _, rank, _ = np.linalg.lstsq(design, np.ones(len(design)), rcond=None)
    if rank < design.shape[1]:
        return None
    return float(solution[0]), (0.0 if metric_input else float(solution[1]))


def _relative_residuals(
    scale: np.ndarray | float, shift: np.ndarray | float, x: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """(scale * x + shift) * z - 1 for one or many (broadcast) hypotheses."""
    residuals: np.ndarray = (scale * x + shift) * z - 1.0
    return residuals


def _hypotheses(
    x: np.ndarray, z: np.ndarray, settings: FitSettings, metric_input: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and shift of `iterations` exact fits to minimal random subsets (column vectors)."""
    rng = np.random.default_rng(settings.seed)
    inverse = 1.0 / z
    if metric_input:
        pick = rng.integers(0, len(x), settings.iterations)
        return (inverse[pick] / x[pick])[:, np.newaxis], np.zeros((settings.iterations, 1))
    first = rng.integers(0, len(x), settings.iterations)
    second = rng.integers(0, len(x), settings.iterations)
    spread = x[first] - x[second]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (inverse[first] - inverse[second]) / spread
    shift = inverse[first] - scale * x[first]
    usable = np.isfinite(scale) & (scale > 0)  # larger inverse depth is nearer: a real map has scale > 0
    return scale[usable, np.newaxis], shift[usable, np.newaxis]


def _robust(x: np.ndarray, z: np.ndarray, settings: FitSettings, metric_input: bool) -> tuple[float, float] | None:
    """RANSAC (most inliers) then least squares over the inliers, re-selected REFINE_ROUNDS times."""
    scales, shifts = _hypotheses(x, z, settings, metric_input)
    if len(scales) == 0:
        return None
    counts = (np.abs(_relative_residuals(scales, shifts, x, z)) < settings.inlier_threshold).sum(axis=1)
    best = int(np.argmax(counts))
    params: tuple[float, float] | None = (float(scales[best, 0]), float(shifts[best, 0]))
    for _ in range(REFINE_ROUNDS):
        assert params is not None
        inliers = np.abs(_relative_residuals(params[0], params[1], x, z)) < settings.inlier_threshold
        refined = _weighted_fit(x[inliers], z[inliers], metric_input)
        if refined is None:
            break
        params = refined
    return params


def fit_alignment(
    prediction_at_samples: np.ndarray, sparse_depth: np.ndarray, metric_input: bool, settings: FitSettings
) -> Fit:
    """Fit one frame: the prediction's values at the sparse samples against the samples' depths in metres.

    Samples with a non-finite or non-positive depth, or no usable prediction, are ignored. The fit is
    rejected (alignment None, reason given) with too few samples or inliers, or a map that is not
    increasing (scale <= 0 would put nearer things farther).
    """
    x = as_inverse_depth(prediction_at_samples, metric_input).astype(np.float64).ravel()
    z = np.asarray(sparse_depth, dtype=np.float64).ravel()
    if x.shape != z.shape:
        raise ValueError(f"{x.size} prediction samples for {z.size} sparse depths")
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(x) & np.isfinite(z) & (z > 0)
    if metric_input:
        keep &= x > 0
    x, z = x[keep], z[keep]
    if len(x) < settings.min_inliers:
        return Fit(None, len(x), 0, math.nan, f"{len(x)} valid samples, fewer than min_inliers {settings.min_inliers}")
    if settings.method == "least_squares":
        params = _plain_least_squares(x, z, metric_input)
    else:
        params = _robust(x, z, settings, metric_input)
    if params is None or not params[0] > 0:
        return Fit(None, len(x), 0, math.nan, "the samples determine no increasing map")
    residuals = np.abs(_relative_residuals(params[0], params[1], x, z))
    inliers = residuals < settings.inlier_threshold
    count = int(inliers.sum())
    residual = float(np.median(residuals[inliers])) if count else math.nan
    alignment = Alignment(params[0], params[1], metric_input)
    robust = settings.method == "robust"  # plain least squares has no notion of outliers to reject on
    if robust and count < max(settings.min_inliers, settings.min_inlier_ratio * len(x)):
        return Fit(None, len(x), count, residual, f"{count} inliers of {len(x)} samples")
    return Fit(alignment, len(x), count, residual)


def _plain_least_squares(x: np.ndarray, z: np.ndarray, metric_input: bool) -> tuple[float, float] | None:
    """Ordinary least squares of 1 / z on x over every sample (what the benchmarks do with dense ground truth)."""
    design = x[:, np.newaxis] if metric_input else np.stack((x, np.ones_like(x)), axis=1)
    solution, _, rank, _ = np.linalg.lstsq(design, 1.0 / z, rcond=None)
    if rank < design.shape[1]:
        return None
    return float(solution[0]), (0.0 if metric_input else float(solution[1]))


class TrackState(str, Enum):
    """What the temporal filter is doing; published in diagnostics."""

    WAITING = "waiting"
    """No alignment yet: nothing can be converted to metres."""
    TRACKING = "tracking"
    """This frame's fit was accepted and blended in."""
    HOLDING = "holding"
    """No accepted fit this frame (no sparse data, a rejected or jumping fit): the last alignment is used."""
    LOST = "lost"
    """No accepted fit for longer than hold_time: no metric output until the next good fit."""


@dataclass(frozen=True)
class TemporalSettings:
    """How fits are filtered over time (stamps in seconds)."""

    smoothing: float = 0.5
    """Weight of a new accepted fit in the running estimate (1: no filtering)."""
    max_jump: float = 0.1
    """A fit whose depths differ from the running estimate's by more than this (median relative) is a jump."""
    jump_frames: int = 3
    """Consecutive mutually consistent jumping fits after which the estimate re-locks onto them."""
    hold_time: float = 2.0
    """Seconds the last good alignment is used without an accepted fit."""

    def __post_init__(self) -> None:
        if not 0 < self.smoothing <= 1 or not self.max_jump > 0 or self.jump_frames < 1 or self.hold_time < 0:
            raise ValueError("smoothing must be in (0, 1], max_jump > 0, jump_frames >= 1, hold_time >= 0")


@dataclass(frozen=True)
class AlignmentStatus:
    """The filter's answer for one frame: the alignment to use (None: no metric output) and its state."""

    alignment: Alignment | None
    state: TrackState
    fit: Fit | None
    since_good: float
    """Seconds since the last accepted fit (inf before the first)."""
    note: str = ""


def depth_disagreement(a: Alignment, b: Alignment, x: np.ndarray) -> float:
    """Median |z_a / z_b - 1| over inverse-depth values x: how differently two maps place the same points."""
    inverse_a = a.scale * x + a.shift
    inverse_b = b.scale * x + b.shift
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = inverse_b / inverse_a
    ratio = ratio[np.isfinite(ratio)]
    return float(np.median(np.abs(ratio - 1.0))) if ratio.size else math.inf


class TemporalAligner:
    """Filters per-frame fits into a stable alignment that follows slow drift and survives dropouts."""

    def __init__(self, settings: TemporalSettings) -> None:
        self._settings = settings
        self._current: Alignment | None = None
        self._last_good: float | None = None
        self._jumps: list[Alignment] = []

    @property
    def alignment(self) -> Alignment | None:
        return self._current

    def reset(self) -> None:
        """Forget everything (a new stream: another camera, a bag played again)."""
        self._current, self._last_good, self._jumps = None, None, []

    def update(self, stamp: float, fit: Fit | None, x_reference: np.ndarray | None = None) -> AlignmentStatus:
        """Take this frame's fit (None: no sparse data) and return the alignment for the frame at `stamp`.

        x_reference are inverse-depth values (the frame's prediction at its samples) over which a jump is
        measured; without them a jump is measured over inverse depths 0..1.
        """
        expired = self._last_good is not None and stamp - self._last_good > self._settings.hold_time
        note = "no sparse data" if fit is None else fit.reason
        used = False
        if fit is not None and fit.alignment is not None:
            note = self._accept(fit.alignment, x_reference, restart=expired)
            used = not note
            if used:
                self._last_good = stamp
        since = math.inf if self._last_good is None else stamp - self._last_good
        if self._current is None:
            return AlignmentStatus(None, TrackState.WAITING, fit, since, note)
        if used:
            return AlignmentStatus(self._current, TrackState.TRACKING, fit, 0.0)
        if since <= self._settings.hold_time:
            return AlignmentStatus(self._current, TrackState.HOLDING, fit, since, note)
        return AlignmentStatus(None, TrackState.LOST, fit, since, note)

    def _accept(self, new: Alignment, x_reference: np.ndarray | None, restart: bool) -> str:
        """Blend an accepted fit in, or hold it back as a jump; returns why it was not used ('' if used).

        After a loss (restart) the first good fit is taken as it is: there is nothing left to compare with.
        """
        settings = self._settings
        if self._current is None or restart:
            self._current, self._jumps = new, []
            return ""
        x = x_reference if x_reference is not None else np.array([0.0, 1.0])
        jump = depth_disagreement(self._current, new, x)
        if jump <= settings.max_jump:
            self._current, self._jumps = self._current.blend(new, settings.smoothing), []
            return ""
        if self._jumps and depth_disagreement(self._jumps[-1], new, x) > settings.max_jump:
            self._jumps = []  # jumps that disagree with each other are outliers, not a new level
        self._jumps.append(new)
        if len(self._jumps) >= settings.jump_frames:
            self._current, self._jumps = new, []
            return ""
        return f"fit jumps {jump:.0%} from the running alignment (rejected)"


@dataclass(frozen=True)
class AlignerSettings:
    """Everything a stream of depth frames is aligned with (the depth_align node's and the bag tool's options)."""

    metric_input: bool = False
    fit: FitSettings = FitSettings()
    temporal: TemporalSettings = TemporalSettings()
    min_depth: float = 0.0
    max_depth: float = 0.0
    """Metres; aligned depth outside [min_depth, max_depth] is NaN (max_depth 0: no limit)."""


class DepthAligner:
    """One stream of predictions in, metric depth out: the per-frame fit and the temporal filter together.

    Time going backwards (a bag played again, a simulator reset) starts a new stream.
    """

    def __init__(self, settings: AlignerSettings) -> None:
        self._settings = settings
        self._temporal = TemporalAligner(settings.temporal)
        self._last_stamp = -math.inf

    def align(
        self, stamp: float, prediction: np.ndarray, samples: SparseSamples | None
    ) -> tuple[np.ndarray | None, AlignmentStatus]:
        """Metric depth for the prediction at `stamp` (seconds), NaN where invalid, or None without an alignment.

        samples are the sparse measurements paired with this frame (None: none within the time offset).
        """
        settings = self._settings
        if stamp < self._last_stamp:
            self._temporal.reset()
        self._last_stamp = stamp
        fit = x = None
        if samples is not None:
            values = samples.values_at(prediction)
            fit = fit_alignment(values, samples.depth, settings.metric_input, settings.fit)
            x = as_inverse_depth(values, settings.metric_input)
        status = self._temporal.update(stamp, fit, x)
        if status.alignment is None:
            return None, status
        depth = mask_depth_range(status.alignment.apply(prediction), settings.min_depth, settings.max_depth or math.inf)
        return depth, status
