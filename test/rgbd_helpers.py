"""A synthetic RGB-D recording with exact depth: a textured room ray-cast from a moving camera.

Floor, back wall and two spheres, each with a texture fixed in the world, seen by a pinhole camera that
slides sideways and forward; depth is the ray-cast Z (metres). Written as image folders or as a rosbag2 bag
(colour Image, 16UC1 millimetre depth, CameraInfo, optionally a LiDAR-like PointCloud2).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from bag_helpers import T, camera_info, message_writer

SPHERES = ((np.array([-0.6, 0.2, 3.5]), 0.6), (np.array([0.9, 0.4, 5.0]), 0.7))
FLOOR_Y, WALL_Z = 1.0, 7.0


def render(index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame `index`: RGB uint8 (height, width, 3) and depth float32 (height, width) in metres."""
    # Rays that miss a surface carry inf; they never win the depth test, so their NaN colours are discarded.
    with np.errstate(all="ignore"):
        focal = 0.9 * width
        eye = np.array([0.04 * index - 0.3, 0.0, 0.05 * index])
        u, v = np.meshgrid(np.arange(width) - width / 2 + 0.5, np.arange(height) - height / 2 + 0.5)
        rays = np.stack([u / focal, v / focal, np.ones_like(u)], axis=-1)
        best = np.full((height, width), np.inf)
        colour = np.zeros((height, width, 3))
        t_floor = np.where(rays[..., 1] > 0, (FLOOR_Y - eye[1]) / rays[..., 1], np.inf)
        t_wall = (WALL_Z - eye[2]) / rays[..., 2]
        for t, surface in ((t_floor, 0), (t_wall, 1)):
            hit = eye + t[..., None] * rays
            nearer = t < best
            best = np.where(nearer, t, best)
            if surface == 0:
                pattern = np.stack(
                    [
                        0.5 + 0.4 * ((np.floor(hit[..., 0] * 2) + np.floor(hit[..., 2] * 2)) % 2),
                        0.4 + 0 * t,
                        0.3 + 0 * t,
                    ],
                    -1,
                )
            else:
                pattern = np.stack(
                    [0.3 + 0 * t, 0.5 + 0.3 * np.sin(hit[..., 0] * 5) * np.sin(hit[..., 1] * 5), 0.8 + 0 * t], -1
                )
            colour = np.where(nearer[..., None], pattern, colour)
        for centre, radius in SPHERES:
            oc = eye - centre
            b = (rays * oc).sum(-1)
            a = (rays * rays).sum(-1)
            disc = b * b - a * ((oc * oc).sum() - radius * radius)
            t = np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / a, np.inf)
            nearer = (t > 0) & (t < best)
            best = np.where(nearer, t, best)
            hit = eye + t[..., None] * rays
            shade = np.clip(0.3 + 0.7 * ((hit - centre) / radius) @ np.array([-0.4, -0.6, -0.7]), 0, 1)
            stripes = 0.5 + 0.5 * np.sin(hit[..., 1] * 12)
            pattern = np.stack([shade, shade * stripes, 0.2 + 0 * t], -1)
            colour = np.where(nearer[..., None], pattern, colour)
    rgb = np.clip(colour * 255, 0, 255).astype(np.uint8)
    return rgb, best.astype(np.float32)


def write_folders(root: Path, count: int, width: int, height: int) -> tuple[Path, Path]:
    """RGB PNGs in root/rgb and 16-bit millimetre depth PNGs of the same names in root/depth."""
    rgb_dir, depth_dir = root / "rgb", root / "depth"
    rgb_dir.mkdir(parents=True)
    depth_dir.mkdir(parents=True)
    for i in range(count):
        rgb, depth = render(i, width, height)
        cv2.imwrite(str(rgb_dir / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(depth_dir / f"{i:05d}.png"), np.round(depth * 1000).astype(np.uint16))
    return rgb_dir, depth_dir


def _header(stamp: int) -> object:
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="cam"
    )


def _cloud(points: np.ndarray, stamp: int) -> object:
    fields = [T["sensor_msgs/msg/PointField"](name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate("xyz")]
    data = np.ascontiguousarray(points, dtype="<f4")
    return T["sensor_msgs/msg/PointCloud2"](
        header=_header(stamp),
        height=1,
        width=len(points),
        fields=fields,
        is_bigendian=False,
        point_step=12,
        row_step=12 * len(points),
        data=data.view(np.uint8).ravel(),
        is_dense=True,
    )


def write_rgbd_bag(path: Path, count: int, width: int, height: int, depth_offset_ns: int = 3_000_000) -> None:
    """/cam/image_raw (rgb8), /cam/depth (16UC1 mm, stamped depth_offset_ns later), /cam/camera_info and
    /lidar/points (every 3rd pixel back-projected, in the camera optical frame)."""
    with message_writer(path) as put:
        for i in range(count):
            rgb, depth = render(i, width, height)
            stamp = 1_700_000_000 * 10**9 + i * 33_333_333
            put(
                "/cam/image_raw",
                stamp,
                T["sensor_msgs/msg/Image"](
                    header=_header(stamp),
                    height=height,
                    width=width,
                    encoding="rgb8",
                    is_bigendian=0,
                    step=3 * width,
                    data=rgb.ravel(),
                ),
            )
            millimetres = np.round(depth * 1000).astype("<u2")
            put(
                "/cam/depth",
                stamp + depth_offset_ns,
                T["sensor_msgs/msg/Image"](
                    header=_header(stamp + depth_offset_ns),
                    height=height,
                    width=width,
                    encoding="16UC1",
                    is_bigendian=0,
                    step=2 * width,
                    data=millimetres.view(np.uint8).ravel(),
                ),
            )
            put("/cam/camera_info", stamp, _info(stamp, width, height))
            put("/lidar/points", stamp + depth_offset_ns, _cloud(lidar_points(depth), stamp + depth_offset_ns))


def _info(stamp: int, width: int, height: int) -> object:
    info = camera_info(stamp, width, height)
    focal = 0.9 * width
    info.k = np.array([focal, 0, width / 2 - 0.5, 0, focal, height / 2 - 0.5, 0, 0, 1], dtype=np.float64)
    return info


def lidar_points(depth: np.ndarray) -> np.ndarray:
    """Every 3rd pixel of a rendered depth back-projected with the renderer's camera (optical frame)."""
    height, width = depth.shape
    focal = 0.9 * width
    v, u = np.mgrid[0:height:3, 0:width:3]
    z = depth[v, u]
    return np.stack([(u - (width / 2 - 0.5)) / focal * z, (v - (height / 2 - 0.5)) / focal * z, z], -1).reshape(-1, 3)
