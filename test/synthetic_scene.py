"""Synthetic sequences with known depth, for testing alignment and evaluation without real weights.

A camera moves through a textured room with boxes; every pixel's ray is cast against the room and the
boxes, giving exact depth (metres along the optical axis), poses (camera-to-world) and intrinsics. From
that truth come:
- a relative "prediction" like a relative model's: an affine map of inverse depth whose scale and shift
  drift slowly, with multiplicative noise and a region where the model is wrong by a fixed factor;
- a network-like one (network_like_prediction) that also blurs boundaries as the network does: inverse depth
  averaged over the network's patch grid and bilinearly upsampled, so that every depth discontinuity becomes a
  ramp about two patches wide, whose back-projected pixels fly between foreground and background;
- sparse metric data like a LiDAR's: a pattern of scan lines on a half-resolution depth image with range
  noise, 7 % outliers (spurious near returns and points seen behind foreground edges), dropped frames
  and a few corrupted frames.

Everything is seeded, so a test sees the same sequence on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vda_ros.core.alignment import FitSettings, fit_alignment
from vda_ros.core.depth_quality import DEFAULT_INPUT_SIZE, PATCH_SIZE
from vda_ros.core.metrics import frame_metrics

WIDTH, HEIGHT = 128, 96
FOCAL = 100.0
ROOM = (np.array([-3.0, -1.2, -2.0]), np.array([3.0, 1.5, 8.0]))
"""Room corners in the world frame (x right, y down, z forward, like the camera at the start)."""
BOXES = (
    (np.array([-1.8, 0.3, 2.5]), np.array([-0.8, 1.5, 3.3])),
    (np.array([0.6, -0.2, 3.5]), np.array([1.7, 1.5, 4.6])),
    (np.array([-0.4, 0.8, 1.8]), np.array([0.2, 1.5, 2.2])),
)


def bias_region(height: int, width: int) -> tuple[slice, slice]:
    """Image rows and columns where the synthetic model's inverse depth is 15 % too large."""
    return slice(height // 2, 3 * height // 4), slice(0, width // 4)


BIAS_REGION = bias_region(HEIGHT, WIDTH)
BIAS_FACTOR = 1.15
DROPPED_FRAMES = frozenset({8, 9, 10, 11, 25, 33})
"""Frames without sparse data (a LiDAR dropout)."""
CORRUPTED_FRAMES = frozenset({18, 19})
"""Frames whose scan is mostly consistently wrong (its left 65 % reads 25 % short, like a mis-timed sweep):
a per-frame robust fit follows that majority; only the temporal filter can refuse it."""


@dataclass(frozen=True)
class Scene:
    """A rendered sequence: depth (T, H, W) metres, rgb (T, H, W, 3), poses (T, 4, 4) camera-to-world, K (3, 3)."""

    depth: np.ndarray
    rgb: np.ndarray
    poses: np.ndarray
    intrinsics: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.depth)


def camera_matrix(width: int = WIDTH, height: int = HEIGHT, focal: float = FOCAL) -> np.ndarray:
    return np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])


def _yaw(angle: float) -> np.ndarray:
    """Rotation about the (downward) y axis: turning left or right."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def camera_pose(index: int) -> np.ndarray:
    """A smooth path forward with a sideways sway and a slow turn."""
    pose = np.eye(4)
    pose[:3, :3] = _yaw(0.15 * np.sin(index / 9.0))
    pose[:3, 3] = (0.5 * np.sin(index / 13.0), 0.0, 0.03 * index)
    return pose


def _slab_hits(
    origin: np.ndarray, dirs: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit ray parameters of an axis-aligned box (slab method), for (N, 3) directions."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (low - origin) / dirs
        t2 = (high - origin) / dirs
    return np.minimum(t1, t2).max(axis=1), np.maximum(t1, t2).min(axis=1)


def render(
    index: int, intrinsics: np.ndarray, width: int = WIDTH, height: int = HEIGHT
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H, W) and a textured RGB image (H, W, 3) of frame `index`."""
    pose = camera_pose(index)
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = np.stack(((u - cx) / fx, (v - cy) / fy, np.ones_like(u)), axis=-1).reshape(-1, 3)  # z = 1: t is depth
    dirs = rays @ pose[:3, :3].T
    origin = pose[:3, 3]
    _, depth = _slab_hits(origin, dirs, *ROOM)  # inside the room: the exit is the wall seen
    surface = np.zeros(len(depth), dtype=np.int64)
    for number, (low, high) in enumerate(BOXES, start=1):
        near, far = _slab_hits(origin, dirs, low, high)
        hit = (near <= far) & (near > 0) & (near < depth)
        depth[hit] = near[hit]
        surface[hit] = number
    points = origin + dirs * depth[:, np.newaxis]
    checker = (np.floor(points * 2.0).astype(np.int64).sum(axis=1) % 2).astype(np.float64)
    palette = np.array([[200, 190, 170], [90, 140, 200], [200, 90, 80], [100, 180, 110]], dtype=np.float64)
    rgb = palette[surface] * (0.6 + 0.4 * checker[:, np.newaxis])
    return depth.reshape(height, width).astype(np.float32), rgb.reshape(height, width, 3).astype(np.uint8)


def make_scene(frames: int = 40, width: int = WIDTH, height: int = HEIGHT) -> Scene:
    intrinsics = camera_matrix(width, height, FOCAL * width / WIDTH)
    rendered = [render(i, intrinsics, width, height) for i in range(frames)]
    return Scene(
        depth=np.stack([d for d, _ in rendered]),
        rgb=np.stack([c for _, c in rendered]),
        poses=np.stack([camera_pose(i) for i in range(frames)]),
        intrinsics=intrinsics,
    )


def drift(index: int) -> tuple[float, float]:
    """The synthetic model's (scale, shift) at a frame: prediction = scale / depth + shift, drifting slowly."""
    return 0.8 * (1.0 + 0.1 * np.sin(2 * np.pi * index / 80.0)), 0.05 + 0.02 * np.cos(2 * np.pi * index / 60.0)


def relative_prediction(scene: Scene, noise: float = 0.01, seed: int = 1) -> np.ndarray:
    """Relative model output for the scene (T, H, W float32): drifting affine inverse depth, noise, a biased region."""
    rng = np.random.default_rng(seed)
    inverse = 1.0 / scene.depth.astype(np.float64)
    inverse *= 1.0 + noise * rng.standard_normal(inverse.shape)
    inverse[(slice(None), *bias_region(*scene.depth.shape[1:]))] *= BIAS_FACTOR
    out = np.empty_like(inverse)
    for index in range(scene.frames):
        scale, shift = drift(index)
        out[index] = scale * inverse[index] + shift
    return out.astype(np.float32)


QUALITY_WIDTH, QUALITY_HEIGHT = 640, 480
"""The flying-pixel and confidence figures' image size: a patch covers about 13 pixels, a ramp about 26."""
PATCH_NOISE = 0.02
PIXEL_NOISE = 0.002


def patch_grid(height: int, width: int, input_size: int = DEFAULT_INPUT_SIZE) -> tuple[int, int]:
    """Rows and columns of the network's patch grid for a height x width image (shorter side at input_size)."""
    scale = input_size / min(height, width)
    return max(1, round(height * scale / PATCH_SIZE)), max(1, round(width * scale / PATCH_SIZE))


def network_like_prediction(
    scene: Scene,
    input_size: int = DEFAULT_INPUT_SIZE,
    patch_noise: float = PATCH_NOISE,
    pixel_noise: float = PIXEL_NOISE,
    seed: int = 3,
) -> np.ndarray:
    """A relative model's output with the network's smooth boundaries (T, H, W float32).

    The true inverse depth is averaged over the patch grid (what one token can know), given `patch_noise`
    multiplicative noise per patch (a network's errors are smooth at the pixel scale) and bilinearly
    upsampled, so each discontinuity becomes a ramp about two patches wide; then `pixel_noise` per pixel, the
    biased region (bias_region, BIAS_FACTOR) and the drifting scale and shift of relative_prediction.
    """
    rng = np.random.default_rng(seed)
    height, width = scene.depth.shape[1:]
    rows, cols = patch_grid(height, width, input_size)
    region = bias_region(height, width)
    out = np.empty(scene.depth.shape, dtype=np.float32)
    for index, depth in enumerate(scene.depth):
        coarse = cv2.resize(1.0 / depth.astype(np.float64), (cols, rows), interpolation=cv2.INTER_AREA)
        coarse *= 1.0 + patch_noise * rng.standard_normal(coarse.shape)
        inverse = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        inverse *= 1.0 + pixel_noise * rng.standard_normal(inverse.shape)
        inverse[region] *= BIAS_FACTOR
        scale, shift = drift(index)
        out[index] = scale * inverse + shift
    return out


def truly_aligned(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Metres from relative predictions (T, H, W) by each frame's affine map of inverse depth fitted to the truth.

    The map alignment finds (1 / z = scale * x + shift), fitted by least squares over every pixel: the
    alignment a perfect range sensor would give, so that what remains is the prediction's own error.
    """
    fitted = np.empty(prediction.shape, dtype=np.float32)
    for index, (frame, depth) in enumerate(zip(prediction, truth, strict=True)):
        fit = fit_alignment(frame, depth, False, FitSettings(method="least_squares"))
        assert fit.alignment is not None
        fitted[index] = fit.alignment.apply(frame)
    return fitted


def discontinuity_distance(depth: np.ndarray, jump: float = 0.05) -> np.ndarray:
    """Pixels from each pixel of a true depth image (H, W) to the nearest depth discontinuity.

    Both pixels of a row or column neighbour pair whose depths differ by more than `jump` (relative to the
    nearer) are on a discontinuity: no continuous surface of the scene changes that fast from pixel to pixel
    (the floor seen farthest away changes about 1 % per pixel at 640x480).
    """
    on_edge = np.zeros(depth.shape, dtype=bool)
    for axis in (0, 1):
        near = np.minimum(np.delete(depth, 0, axis), np.delete(depth, -1, axis))
        step = np.abs(np.diff(depth, axis=axis)) > jump * near
        pad_before, pad_after = [(0, 0), (0, 0)], [(0, 0), (0, 0)]
        pad_before[axis], pad_after[axis] = (1, 0), (0, 1)
        on_edge |= np.pad(step, pad_before) | np.pad(step, pad_after)
    return cv2.distanceTransform((~on_edge).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


@dataclass(frozen=True)
class QualitySequence:
    """What the flying-pixel and confidence figures are measured on (see quality_sequence)."""

    scene: Scene
    prediction: np.ndarray
    """Network-like relative prediction (T, H, W)."""
    metric: np.ndarray
    """The prediction in metres by the true alignment (T, H, W); NaN where the map gives none."""
    sparse: list[np.ndarray | None]
    """LiDAR-like half-resolution depth images (lidar_depth_images)."""


def quality_sequence(
    frames: int = 4, width: int = QUALITY_WIDTH, height: int = QUALITY_HEIGHT, seed: int = 3
) -> QualitySequence:
    """The scene at width x height, its network-like prediction, that prediction in metres and LiDAR-like data."""
    scene = make_scene(frames, width, height)
    prediction = network_like_prediction(scene, seed=seed)
    return QualitySequence(scene, prediction, truly_aligned(prediction, scene.depth), lidar_depth_images(scene))


LIDAR_LINES = 12
OUTLIER_FRACTION = 0.07


def lidar_depth_images(scene: Scene, seed: int = 2) -> list[np.ndarray | None]:
    """Per frame, a half-resolution depth image (metres, 0 = no return) with LIDAR_LINES scan lines, or None (dropout).

    Half resolution: sparse pixel (r, c) measures the true depth of depth pixel (2r + 1, 2c + 1), the pixel
    its centre falls in. 1 % range noise; OUTLIER_FRACTION of the returns are outliers, half of them
    spurious near returns (0.15-0.6 m: dust, the robot's body), half 1.3-2.5 times too far (points behind a
    foreground edge, seen from the LiDAR's other viewpoint).
    """
    rng = np.random.default_rng(seed)
    height, width = scene.depth.shape[1] // 2, scene.depth.shape[2] // 2
    lines = np.linspace(2, height - 3, LIDAR_LINES).round().astype(int)
    images: list[np.ndarray | None] = []
    for index in range(scene.frames):
        if index in DROPPED_FRAMES:
            images.append(None)
            continue
        true = scene.depth[index, 2 * lines + 1][:, 1::2][:, :width].astype(np.float64)
        measured = true * (1.0 + 0.01 * rng.standard_normal(true.shape))
        outlier = rng.random(true.shape) < OUTLIER_FRACTION
        near = outlier & (rng.random(true.shape) < 0.5)
        far = outlier & ~near
        measured[near] = rng.uniform(0.15, 0.6, int(near.sum()))
        measured[far] *= rng.uniform(1.3, 2.5, int(far.sum()))
        if index in CORRUPTED_FRAMES:
            measured[:, : int(0.65 * width)] *= 0.75
        image = np.zeros((height, width), dtype=np.float32)
        image[lines] = measured
        images.append(image)
    return images


def lidar_points(image: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """The returns of a half-resolution sparse image as (N, 3) points in the full-resolution camera's optical frame."""
    rows, cols = np.nonzero(image > 0)
    z = image[rows, cols].astype(np.float64)
    u, v = 2 * cols + 1, 2 * rows + 1
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    return np.stack(((u - cx) / fx * z, (v - cy) / fy * z, z), axis=1)


def synthetic_sequence(frames: int = 40) -> tuple[Scene, np.ndarray, list[np.ndarray | None]]:
    """The scene, its relative prediction and its LiDAR-like sparse images: what the alignment tests use."""
    scene = make_scene(frames)
    return scene, relative_prediction(scene), lidar_depth_images(scene)


def frame_abs_rel(depth: np.ndarray, truth: np.ndarray) -> float:
    """The benchmark's AbsRel of one frame over all valid true pixels (a NaN output counts as an error)."""
    abs_rel, _, _ = frame_metrics(np.nan_to_num(depth[np.newaxis], nan=0.0), truth[np.newaxis], (truth > 0)[np.newaxis])
    return float(abs_rel[0])
