"""Offline engine: 32-frame windows with 10-frame overlap, aligned into one consistent depth video.

It consumes frames as an iterator and yields each depth map as soon as it is final, holding at most one
window of input frames and eight pending depth maps, so memory does not grow with the video's length.
The output equals the official whole-video algorithm (same windows, keyframes, alignment and cross-fade).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from .config import NUM_FRAMES
from .engine import Engine
from .network import VideoDepthAnything
from .preprocess import check_frame, network_size, to_frame_size

OVERLAP = 10
STEP = NUM_FRAMES - OVERLAP
"""Window k starts at frame 22·k."""

KEYFRAMES = (0, 12, 24, 25, 26, 27, 28, 29, 30, 31)
"""Positions of window k−1 that fill positions 0..9 of window k: frame 0, frame s−10, frames s+2..s+9."""

INTERP_LEN = 8
"""Maps cross-faded between consecutive windows (frames s+2..s+9)."""

ALIGN_POSITIONS = (0, 1)
"""Positions of window k compared with the reference pair (frame 0 and frame s−10) to fit scale and shift."""

REFERENCE_NEXT = 12
"""Position of window k whose aligned map becomes the second reference for window k+1."""


def fit_scale_shift(prediction: np.ndarray, target: np.ndarray) -> tuple[np.float32, np.float32]:
    """Least-squares (a, b) minimising Σ(a·p + b − r)², in float32 like the official solver; (1, 0) if singular."""
    p = prediction.astype(np.float32, copy=False)
    r = target.astype(np.float32, copy=False)
    a00 = np.sum(p * p)
    a01 = np.sum(p)
    a11 = np.float32(p.size)
    b0 = np.sum(p * r)
    b1 = np.sum(r)
    det = a00 * a11 - a01 * a01
    if det == 0:
        return np.float32(1.0), np.float32(0.0)
    return (a11 * b0 - a01 * b1) / det, (-a01 * b0 + a00 * b1) / det


def window_frame_ids(start: int, length: int) -> list[int]:
    """Frames that window positions 0..31 hold, the tail padded with the last frame.

    In every window after the first, positions 0..9 are the previous window's keyframes; that works out to
    frame 0, frame s − 10, then frames s+2 … s+9 as usual.
    """
    ids = [min(start + i, length - 1) for i in range(NUM_FRAMES)]
    if start > 0:
        ids[:2] = [0, min(start - 10, length - 1)]
    return ids


class OfflineDepth(Engine):
    """Windowed video depth (more accurate than streaming: each frame sees past and future frames)."""

    offline = True

    def __init__(
        self,
        model: VideoDepthAnything,
        input_size: int = 518,
        device: torch.device | str = "cpu",
        precision: str | None = None,
        metric: bool | None = None,
        device_preprocess: bool | None = None,
        **backend: Any,
    ) -> None:
        """See Engine for the arguments; `metric` overrides the model's family for the alignment (None: keep)."""
        super().__init__(model, input_size, device, precision, device_preprocess, **backend)
        self.metric = model.metric if metric is None else metric

    @torch.inference_mode()
    def _infer(self, inputs: list[torch.Tensor], height: int, width: int) -> np.ndarray:
        """One 32-frame window → 32 float32 maps at the frame size."""
        depth = self.backend.window(torch.stack(inputs)[None])[0]
        return to_frame_size(depth, height, width).cpu().numpy()

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yield one float32 (h, w) depth map per input frame, in order, as soon as each is final."""
        source = iter(frames)
        first = next(source, None)
        if first is None:
            return
        check_frame(first)
        height, width = first.shape[:2]
        size = network_size(height, width, self.input_size)

        def prepared(frame: np.ndarray) -> torch.Tensor:
            check_frame(frame)
            if frame.shape[:2] != (height, width):
                raise ValueError(f"frame size changed from {width}×{height} to {frame.shape[1]}×{frame.shape[0]}")
            return self.preprocess(frame, size)

        # Inputs by frame id: the current window's frames and the keyframes the next window reuses.
        inputs: dict[int, torch.Tensor] = {0: prepared(first)}
        length: int | None = None
        reference: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        start = 0
        while True:
            # Read up to the window's last frame; the iterator running dry fixes the length and the padding.
            while length is None and max(inputs) < start + NUM_FRAMES - 1:
                frame = next(source, None)
                if frame is None:
                    length = max(inputs) + 1
                else:
                    inputs[max(inputs) + 1] = prepared(frame)
            total = length if length is not None else start + NUM_FRAMES
            ids = window_frame_ids(start, total)
            maps = self._infer([inputs[i] for i in ids], height, width)
            last_window = length is not None and start + STEP >= length
            if start == 0:
                reference = [maps[0], maps[REFERENCE_NEXT]]
                aligned, first_id = list(maps), 0
            else:
                aligned, first_id = self._align(maps, reference, pending), start + len(ALIGN_POSITIONS)
            # Frames from s+24 on are blended with the next window, so they wait unless this is the last one;
            # padding frames (ids ≥ length) are never yielded.
            blend_start = start + NUM_FRAMES - INTERP_LEN
            final_end = total if last_window else min(blend_start, total)
            yield from aligned[: max(final_end - first_id, 0)]
            pending = aligned[blend_start - first_id :]
            keyframe_ids = {ids[k] for k in KEYFRAMES}
            inputs = {i: t for i, t in inputs.items() if i in keyframe_ids or i > start + NUM_FRAMES - 1}
            start += STEP
            if last_window:
                break

    def _align(self, maps: np.ndarray, reference: list[np.ndarray], pending: list[np.ndarray]) -> list[np.ndarray]:
        """Bring window k into window 0's affine frame and cross-fade it into the previous window's tail.

        Returns the window's maps from position 2 on (the first two only serve the fit); updates the second
        reference in place.
        """
        if self.metric:
            scale, shift = np.float32(1.0), np.float32(0.0)
        else:
            scale, shift = fit_scale_shift(
                np.concatenate([maps[p] for p in ALIGN_POSITIONS]), np.concatenate(reference)
            )
        weights = np.linspace(0, 1, INTERP_LEN, dtype=np.float32)
        out = []
        for i, old in enumerate(pending):
            new = np.maximum(maps[2 + i] * scale + shift, 0)
            out.append(old * (1 - weights[i]) + new * weights[i])
        out.extend(np.maximum(m * scale + shift, 0) for m in maps[2 + INTERP_LEN :])
        reference[1] = np.maximum(maps[REFERENCE_NEXT] * scale + shift, 0)
        return out
