"""The training losses of Video Depth Anything, equal to the official `loss/loss.py` (same defaults, same numbers).

`VideoDepthLoss` = a spatial term (per frame: robust scale-and-shift normalisation of prediction and target,
masked mean absolute error plus a multi-scale gradient-matching regulariser) and a temporal term (the whole
clip fitted to the target with one least-squares scale and shift, then the frame-to-frame changes of the
prediction matched to those of the target where the target changes little). Both work on relative
(affine-invariant) targets, so the same loss trains relative models and fine-tunes metric ones.

Conventions kept from the official code because they change the numbers:
- the median of a frame is taken over mask·values, i.e. masked-out pixels count as zeros;
- masked means divide by the number of valid pixels of the whole batch, not per frame;
- the gradient of the median and of the fitted scale/shift flows back into the prediction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

MIN_DEVIATION = 1e-6
"""Floor of a frame's mean absolute deviation, so flat frames do not divide by zero."""

DET_EPSILON = 1e-6
"""Added to the determinant of the clip's 2×2 scale/shift system."""

TEMPORAL_CHANGE_LIMIT = 0.05
"""Temporal pairs count only where the target changes by less than this fraction of the later frame's range."""


class LossInputError(ValueError):
    """Prediction, target and mask cannot be compared (shapes, mask values, nothing valid)."""


def check_loss_inputs(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Validate (B, T, H, W) inputs and return the mask as booleans; raises LossInputError naming the problem."""
    if prediction.dim() != 4:
        raise LossInputError(f"prediction must be (B, T, H, W), got shape {tuple(prediction.shape)}")
    if target.shape != prediction.shape or mask.shape != prediction.shape:
        raise LossInputError(
            f"prediction {tuple(prediction.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} "
            "must have the same (B, T, H, W) shape"
        )
    if prediction.shape[1] < 2:
        raise LossInputError(f"the temporal loss needs at least 2 frames per clip, got T={prediction.shape[1]}")
    if not prediction.is_floating_point() or not target.is_floating_point():
        raise LossInputError(f"prediction and target must be floating point, got {prediction.dtype}, {target.dtype}")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise LossInputError("mask must be boolean or hold only 0 and 1")
        mask = mask != 0
    if not bool(mask.any()):
        raise LossInputError("mask is empty: no valid target pixel in the batch")
    return mask


def masked_mean_abs(residual: Tensor, mask: Tensor, trim: float = 0.0) -> Tensor:
    """Σ|residual| over valid pixels (the largest `trim` fraction left out) ÷ number of valid pixels.

    Zero, still connected to the graph, when nothing is valid.
    """
    count = mask.sum()
    if count == 0:
        return residual.sum() * 0.0
    values = residual[mask].abs()
    if trim > 0:
        keep = int(values.numel() * (1.0 - trim))
        if keep <= 0:
            return residual.sum() * 0.0
        values = torch.sort(values).values[:keep]
    return values.sum() / count


def robust_normalise(x: Tensor, mask: Tensor) -> Tensor:
    """Each (H, W) frame minus its median, divided by its mean absolute deviation over valid pixels.

    Frames without a valid pixel are left as they are (median 0, deviation 1).
    """
    weights = mask.to(x.dtype)
    count = weights.sum((1, 2))
    valid = count > 0
    median = torch.median((weights * x).flatten(1), dim=1).values
    median = torch.where(valid, median, torch.zeros_like(median))
    centred = x - median[:, None, None]
    deviation = (weights * centred.abs()).sum((1, 2)) / count.clamp(min=1)
    deviation = torch.where(valid, deviation.clamp(min=MIN_DEVIATION), torch.ones_like(deviation))
    return centred / deviation[:, None, None]


def gradient_matching(prediction: Tensor, target: Tensor, mask: Tensor, scales: int) -> Tensor:
    """Σ over strides 1, 2, 4, … of the masked |Δx| + |Δy| of the residual, each ÷ that stride's valid count."""
    total = prediction.new_zeros(())
    for scale in range(scales):
        step = 2**scale
        m = mask[:, ::step, ::step].to(prediction.dtype)
        residual = m * (prediction[:, ::step, ::step] - target[:, ::step, ::step])
        dx = (residual[:, :, 1:] - residual[:, :, :-1]).abs() * (m[:, :, 1:] * m[:, :, :-1])
        dy = (residual[:, 1:, :] - residual[:, :-1, :]).abs() * (m[:, 1:, :] * m[:, :-1, :])
        count = m.sum()
        term = dx.sum() + dy.sum()
        total = total + (term / count if count > 0 else term * 0.0)
    return total


def fit_clip_scale_shift(prediction: Tensor, target: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per clip (all frames together) the least-squares (s, t) with s·prediction + t ≈ target; (0, 0) if singular."""
    m = mask.to(prediction.dtype)
    dims = (1, 2, 3)
    a00 = (m * prediction * prediction).sum(dims)
    a01 = (m * prediction).sum(dims)
    a11 = m.sum(dims)
    b0 = (m * prediction * target).sum(dims)
    b1 = (m * target).sum(dims)
    det = a00 * a11 - a01 * a01
    nonsingular = det != 0
    scale = torch.where(nonsingular, (a11 * b0 - a01 * b1) / (det + DET_EPSILON), torch.zeros_like(det))
    shift = torch.where(nonsingular, (a00 * b1 - a01 * b0) / (det + DET_EPSILON), torch.zeros_like(det))
    return scale, shift


def temporal_gradient_matching(prediction: Tensor, target: Tensor, mask: Tensor, trim: float = 0.0) -> Tensor:
    """Masked mean |Δt prediction − Δt target| over consecutive frames.

    A pixel pair counts when valid in both frames and when the target's change there is below 5 % of the
    later frame's target range (larger changes are motion or occlusion edges, not flicker).
    """
    low = torch.where(mask, target, torch.inf).amin((-2, -1))
    high = torch.where(mask, target, -torch.inf).amax((-2, -1))
    limit = ((high - low) * TEMPORAL_CHANGE_LIMIT)[:, 1:, None, None]
    d_pred = prediction[:, 1:] - prediction[:, :-1]
    d_target = target[:, 1:] - target[:, :-1]
    pairs = mask[:, 1:] & mask[:, :-1] & (d_target.abs() < limit)
    return masked_mean_abs(d_pred - d_target, pairs, trim)


class VideoDepthLoss(nn.Module):
    """Spatial + temporal loss on (B, T, H, W) clips, with the official defaults.

    Args:
        alpha: weight of the multi-scale gradient regulariser in the spatial term.
        scales: strides 1, 2, …, 2^(scales−1) of that regulariser.
        trim: fraction of the largest absolute residuals left out of each mean (0: plain mean).
        stable_scale: weight of the temporal term.

    `forward(prediction, target, mask)` returns {'spatial_loss', 'stable_loss', 'total_loss'} (scalars).
    The mask (bool, or 0/1) marks valid target pixels; an empty mask or mismatched shapes raise LossInputError.
    """

    def __init__(self, alpha: float = 0.5, scales: int = 4, trim: float = 0.0, stable_scale: float = 10.0) -> None:
        super().__init__()
        if not 0.0 <= trim < 1.0:
            raise ValueError(f"trim must be in [0, 1), got {trim}")
        if scales < 0:
            raise ValueError(f"scales must be ≥ 0, got {scales}")
        self.alpha = alpha
        self.scales = scales
        self.trim = trim
        self.stable_scale = stable_scale

    def spatial(self, prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Scale-and-shift-invariant per-frame term on (N, H, W) frames."""
        pred_n = robust_normalise(prediction, mask)
        target_n = robust_normalise(target, mask)
        loss = masked_mean_abs(pred_n - target_n, mask, self.trim)
        if self.alpha > 0:
            loss = loss + self.alpha * gradient_matching(pred_n, target_n, mask, self.scales)
        return loss

    def stable(self, prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Weighted temporal term on (B, T, H, W) clips, after fitting each clip to its target."""
        scale, shift = fit_clip_scale_shift(prediction, target, mask)
        aligned = scale[:, None, None, None] * prediction + shift[:, None, None, None]
        return temporal_gradient_matching(aligned, target, mask, self.trim) * self.stable_scale

    def forward(self, prediction: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        mask = check_loss_inputs(prediction, target, mask)
        spatial = self.spatial(prediction.flatten(0, 1), target.flatten(0, 1), mask.flatten(0, 1))
        stable = self.stable(prediction, target, mask)
        return {"spatial_loss": spatial, "stable_loss": stable, "total_loss": spatial + stable}


class MetricVideoDepthLoss(VideoDepthLoss):
    """For metric targets (metres): a scale-sensitive spatial term in place of the scale-invariant one.

    Spatial = SILog, sqrt(mean(d²) − λ·mean(d)²) with d = log target − log prediction over valid pixels
    (λ = 0.5, the loss Depth Anything V2 fine-tunes its metric models with); the temporal term is the official
    one. Same call and result keys as VideoDepthLoss.
    """

    def __init__(self, variance_focus: float = 0.5, stable_scale: float = 10.0) -> None:
        super().__init__(stable_scale=stable_scale)
        self.variance_focus = variance_focus

    def spatial(self, prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        d = torch.log(target[mask].clamp(min=MIN_DEVIATION)) - torch.log(prediction[mask].clamp(min=MIN_DEVIATION))
        return torch.sqrt((d * d).mean() - self.variance_focus * d.mean() ** 2 + MIN_DEVIATION)
