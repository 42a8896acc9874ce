"""Camera geometry on numpy arrays: intrinsics scaling, depth validity, back-projection.

Kept free of ROS imports so that the maths can be tested and reused (tools, benchmarks)
without a ROS installation.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

Size = tuple[int, int]
"""Image size as (width, height), the order OpenCV and CameraInfo use."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)
MIN_FOCAL_LENGTH = 1e-3
"""Smallest focal length (pixels) taken as a calibration. Real ones are hundreds of pixels; anything near 0
(a driver's placeholder, a unit mix-up) would send every point of a cloud to infinity."""


def focal_lengths_valid(fx: float, fy: float) -> bool:
    """True for finite focal lengths of at least MIN_FOCAL_LENGTH pixels (NaN fails the comparison)."""
    return bool(MIN_FOCAL_LENGTH <= fx < math.inf and MIN_FOCAL_LENGTH <= fy < math.inf)


def _scale_factors(src_size: Size, dst_size: Size) -> tuple[float, float]:
    """Return (dst_w / src_w, dst_h / src_h), rejecting empty sizes that would divide by zero."""
    (src_w, src_h), (dst_w, dst_h) = src_size, dst_size
    if min(src_w, src_h, dst_w, dst_h) <= 0:
        raise ValueError(f"image sizes must be positive, got src={src_size} dst={dst_size}")
    return dst_w / src_w, dst_h / src_h


def _scale_camera_matrix(matrix: np.ndarray, shape: tuple[int, int], src_size: Size, dst_size: Size) -> np.ndarray:
    """Scale the first (u) row by the width ratio and the second (v) row by the height ratio.

    Both K (3x3) and P (3x4) map a ray to homogeneous pixels, so resizing the image by
    (sx, sy) multiplies exactly their u and v rows: fx, skew, cx and P's Tx by sx; fy, cy and
    P's Ty by sy. This matches image_proc's resize node (which scales fx, cx, fy, cy, Tx, Ty;
    skew is zero in practice), so a resized image and its CameraInfo stay consistent with the
    rest of the ROS ecosystem.
    """
    scaled = np.array(matrix, dtype=np.float64)
    if scaled.shape != shape:
        raise ValueError(f"expected a {shape[0]}x{shape[1]} matrix, got shape {scaled.shape}")
    scale_x, scale_y = _scale_factors(src_size, dst_size)
    scaled[0] *= scale_x
    scaled[1] *= scale_y
    return scaled


def scale_intrinsics(k: np.ndarray, src_size: Size, dst_size: Size) -> np.ndarray:
    """Return a new 3x3 intrinsic matrix K for an image resized from src_size to dst_size."""
    return _scale_camera_matrix(k, (3, 3), src_size, dst_size)


def scale_projection(p: np.ndarray, src_size: Size, dst_size: Size) -> np.ndarray:
    """Return a new 3x4 projection matrix P for an image resized from src_size to dst_size."""
    return _scale_camera_matrix(p, (3, 4), src_size, dst_size)


def mask_depth_range(depth: np.ndarray, min_depth: float = 0.0, max_depth: float = math.inf) -> np.ndarray:
    """Return a float32 copy of depth with NaN wherever it is not a usable measurement.

    This is the single place that defines validity (REP 117 marks invalid ranges with NaN so
    consumers never mistake a sentinel like 0 for a real distance): a value is kept only when it
    is finite, strictly positive and inside [min_depth, max_depth].
    """
    if min_depth > max_depth:
        raise ValueError(f"min_depth {min_depth} is greater than max_depth {max_depth}")
    masked = np.array(depth, dtype=np.float32, copy=True)
    # NaN fails every comparison and +inf fails "<= float32 max", so no separate isfinite pass.
    with np.errstate(invalid="ignore"):
        valid = masked > 0.0
        if min_depth > 0.0:
            valid &= masked >= min_depth
        valid &= masked <= min(max_depth, _FLOAT32_MAX)
    np.copyto(masked, np.float32(np.nan), where=~valid)
    return masked


def inverse_depth_to_metric(rel: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Turn a relative model's affine-invariant inverse depth into metric depth (float32).

    Relative models predict disparity-like values known only up to scale and shift (larger is
    nearer), so metric depth is 1 / (scale * rel + shift). A denominator that is not a finite
    positive number describes no physical distance and becomes NaN.
    """
    denominator = np.asarray(rel, dtype=np.float32) * np.float32(scale) + np.float32(shift)
    with np.errstate(invalid="ignore"):
        valid = (denominator > 0.0) & (denominator <= _FLOAT32_MAX)
    metric = np.full(denominator.shape, np.nan, dtype=np.float32)
    np.divide(np.float32(1.0), denominator, out=metric, where=valid)
    return metric


@lru_cache(maxsize=16)
def _ray_slopes(
    width: int, height: int, fx: float, fy: float, cx: float, cy: float, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the per-column (u - cx) / fx and per-row (v - cy) / fy for the sampled pixels.

    The ray grid is separable, so one row vector and one column vector broadcast to the full
    grid. They are cached because a stream calls back-projection with the same camera and size
    every frame; the arrays are read-only so a caller cannot corrupt the cache.
    """
    x_slope = ((np.arange(0, width, stride, dtype=np.float64) - cx) / fx).astype(np.float32)
    y_slope = ((np.arange(0, height, stride, dtype=np.float64) - cy) / fy).astype(np.float32)
    x_slope.flags.writeable = False
    y_slope.flags.writeable = False
    return x_slope, y_slope[:, np.newaxis]


def backproject(
    depth: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    stride: int = 1,
    min_depth: float = 0.0,
    max_depth: float = math.inf,
) -> np.ndarray:
    """Back-project a depth image into an organised (H', W', 3) float32 xyz grid.

    depth holds metres along the optical axis (Z). Points are in the camera optical frame
    (REP 103: x right, y down, z forward) with pixel (u=column, v=row) at integer coordinates:
    X = (u - cx) / fx * Z, Y = (v - cy) / fy * Z. stride s keeps rows and columns 0, s, 2s, ...
    (depth[::s, ::s]) to make lighter clouds. Invalid depths (see mask_depth_range) give NaN in
    all three coordinates, so the grid stays organised as REP 117 and RViz expect.
    """
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if not focal_lengths_valid(fx, fy):
        raise ValueError(f"focal lengths must be finite and at least {MIN_FOCAL_LENGTH} px, got fx={fx} fy={fy}")
    height, width = depth.shape
    x_slope, y_slope = _ray_slopes(width, height, float(fx), float(fy), float(cx), float(cy), stride)
    z = mask_depth_range(depth[::stride, ::stride], min_depth, max_depth)
    xyz = np.empty((*z.shape, 3), dtype=np.float32)
    np.multiply(x_slope, z, out=xyz[..., 0])
    np.multiply(y_slope, z, out=xyz[..., 1])
    xyz[..., 2] = z
    return xyz


def depth_for_publishing(prediction: np.ndarray, metric: bool) -> np.ndarray:
    """The values a depth topic carries for a model's output.

    Metric depth gets NaN where the model gives no positive depth (REP 117: invalid is NaN, never 0);
    relative inverse depth is passed through, since 0 there is a value (infinitely far), not a gap.
    """
    return mask_depth_range(prediction) if metric else prediction


def optical_to_opengl(xyz: np.ndarray) -> np.ndarray:
    """Points from the camera optical frame (x right, y down, z forward) to OpenGL camera axes.

    3D viewers (three.js, Babylon.js, MeshLab) expect y up and the camera looking down -z; the
    same points turned 180 degrees about x then appear upright and unmirrored, as the camera saw them.
    """
    return np.asarray(xyz, dtype=np.float32) * np.array([1.0, -1.0, -1.0], dtype=np.float32)


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """The 3x3 rotation of a quaternion in ROS order (x, y, z, w), normalised first; a zero quaternion is refused."""
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if not norm > 0.0:
        raise ValueError("the rotation quaternion is zero")
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def transform_points(xyz: np.ndarray, translation: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Points (N, 3) moved by the rigid transform p' = rotation @ p + translation (float64)."""
    matrix = np.asarray(rotation, dtype=np.float64)
    moved: np.ndarray = np.asarray(xyz, dtype=np.float64) @ matrix.T + np.asarray(translation)
    return moved


def project_points(
    xyz: np.ndarray, fx: float, fy: float, cx: float, cy: float, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project points (N, 3) of the camera optical frame to pixels: (rows, cols, depth) of those that land inside.

    The inverse of backproject: u = fx X / Z + cx, v = fy Y / Z + cy, rounded to the nearest pixel;
    points behind the camera, non-finite ones and those outside width x height are left out.
    """
    if not focal_lengths_valid(fx, fy):
        raise ValueError(f"focal lengths must be finite and at least {MIN_FOCAL_LENGTH} px, got fx={fx} fy={fy}")
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    z = xyz[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        front = np.isfinite(xyz).all(axis=1) & (z > 0)
        cols = np.rint(fx * xyz[front, 0] / z[front] + cx)
        rows = np.rint(fy * xyz[front, 1] / z[front] + cy)
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    return rows[inside].astype(np.intp), cols[inside].astype(np.intp), z[front][inside]


def render_depth(xyz: np.ndarray, fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> np.ndarray:
    """Render points of the camera optical frame into a (height, width) float32 depth image (Z, metres).

    Each point goes to its project_points pixel; where several land on one pixel the nearest wins (a
    LiDAR sees through nothing); pixels without a point are NaN.
    """
    rows, cols, z = project_points(xyz, fx, fy, cx, cy, width, height)
    depth = np.full(width * height, np.inf)
    np.minimum.at(depth, rows * width + cols, z)
    depth[np.isinf(depth)] = np.nan
    return depth.reshape(height, width).astype(np.float32)
