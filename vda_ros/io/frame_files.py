"""Per-frame depth files: OpenEXR depth maps and PLY point clouds, one file per frame.

The counterparts of the official run.py's --save_exr and its point clouds, written with kept
libraries (OpenEXR, plyfile) rather than hand-made encoders. Each kind goes to one folder
(NAME_depths_exr/, NAME_points_ply/) that appears under its final name only once every frame
is in it (files.atomic_directory), so an interrupted run leaves nothing that looks complete.
Points are vda_ros.core.outputs's cloud of the frame, as the ROS point clouds are (same metres, same
intrinsics scaling, same back-projection, the same flying pixels left out unless the filter is off). No ROS and
no torch here.
"""

from __future__ import annotations

import importlib
import math
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType

import numpy as np

from vda_ros.core.depth_quality import DepthQualitySettings
from vda_ros.core.geometry import Size
from vda_ros.core.options import OptionError, Settings, option
from vda_ros.core.outputs import CameraModel, OutputSettings, frame_outputs
from vda_ros.errors import UsageError, VdaError
from vda_ros.io.files import atomic_directory

EXR_CHANNEL = "Z"
"""The official tool's channel name for depth (OpenEXR's conventional depth channel)."""
DEFAULT_FOCAL_LENGTH = 470.4
"""The official run.py's default --focal-length-x/-y, in pixels of the depth map."""
FRAME_FILE_PATTERN = "frame_{:05d}{}"
_PLY_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])


WRITER_LIBRARIES = {"save_exr": ("OpenEXR", "OpenEXR"), "save_ply": ("plyfile", "plyfile")}
"""Option → (module, pip package) it writes with. Imported only when asked for: vda-video without these
outputs, and everything else that imports this module, works without them (a ROS workspace may not have them)."""


@dataclass(frozen=True)
class FrameFileSettings(Settings):
    """Which per-frame files are written and, for point clouds, the camera they are made with.

    How relative depth becomes metres is OutputSettings' (relative_scale, relative_shift), as on the ROS cloud.
    """

    save_exr: bool = option(
        False, "Also write NAME_depths_exr/frame_00000.exr, ... (float32 depth in channel Z, one file per frame)."
    )
    save_ply: bool = option(
        False,
        "Also write NAME_points_ply/frame_00000.ply, ... (binary PLY, xyz in metres + rgb); metric models, or "
        "relative ones with relative_scale.",
    )
    focal_length_x: float = option(
        DEFAULT_FOCAL_LENGTH,
        "Point clouds: focal length in pixels of the depth map, principal point at its centre; the default is "
        "the official tool's.",
    )
    focal_length_y: float = option(DEFAULT_FOCAL_LENGTH, "Point clouds: see focal_length_x.")
    intrinsics: str = option(
        "",
        "Point clouds: .npy file with the 3x3 camera matrix K of the input (before max_res), instead of the focal "
        "lengths.",
    )

    def check(self) -> None:
        focal_lengths = (self.focal_length_x, self.focal_length_y)
        if self.intrinsics and focal_lengths != (DEFAULT_FOCAL_LENGTH, DEFAULT_FOCAL_LENGTH):
            raise OptionError("point clouds: give either intrinsics or focal_length_x/focal_length_y, not both")

    def check_writers(self) -> None:
        """MissingLibraryError naming the package when a library of an asked-for output is not installed."""
        for name in WRITER_LIBRARIES:
            if getattr(self, name):
                writer_library(name)

    def cloud(self, metric: bool, outputs: OutputSettings, quality: DepthQualitySettings) -> CloudSettings:
        """The point-cloud settings for a model (metric or not), its outputs and which points are trusted (the
        flying-pixel filter); UsageError saying why there are none.

        Reads the intrinsics file, so a tool calls it once, before its run.
        """
        try:
            intrinsics = load_intrinsics(Path(self.intrinsics)) if self.intrinsics else None
            return CloudSettings(metric, self.focal_length_x, self.focal_length_y, intrinsics, outputs, quality)
        except ValueError as error:
            raise UsageError(f"point clouds: {error}") from error


class MissingLibraryError(VdaError, RuntimeError):
    """An output was asked for whose library is not installed; the message says what to install."""


def writer_library(option: str) -> ModuleType:
    """The library the option's files are written with; MissingLibraryError naming the package if absent."""
    module, package = WRITER_LIBRARIES[option]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        flag = "--" + option.replace("_", "-")
        raise MissingLibraryError(f"{flag} needs the Python package {package}: pip install {package}") from error


def write_exr(path: Path, depth: np.ndarray) -> None:
    """One (H, W) map as a scanline EXR with a single float32 channel 'Z' (lossless ZIP)."""
    OpenEXR = writer_library("save_exr")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    pixels = np.ascontiguousarray(depth, dtype=np.float32)
    with OpenEXR.File(header, {EXR_CHANNEL: pixels}) as exr:
        exr.write(str(path))


def write_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """N points as a binary little-endian PLY 'vertex' element: float x, y, z and uchar red, green, blue."""
    vertices = np.empty(len(xyz), dtype=_PLY_VERTEX)
    for axis, name in enumerate("xyz"):
        vertices[name] = xyz[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        vertices[name] = rgb[:, channel]
    plyfile = writer_library("save_ply")
    plyfile.PlyData([plyfile.PlyElement.describe(vertices, "vertex")], text=False, byte_order="<").write(str(path))


@dataclass(frozen=True)
class CloudSettings:
    """How depth maps become metric points: the camera, and for relative depth the scale to metres.

    With no intrinsics matrix the camera is the official one: focal lengths in pixels of the
    depth map and the principal point at its centre (w/2, h/2). A 3x3 `intrinsics` matrix is
    the calibration of the input as read (before max_res) and is scaled to the depth map.
    The cloud is vda_ros.core.outputs's under `outputs`: relative models give inverse depth, turned into
    metres = 1 / (relative_scale * relative + relative_shift), as the ROS node's parameters of those names.
    `quality`'s flying-pixel filter leaves out the points on the network's ramps across depth edges.
    """

    metric: bool
    focal_length_x: float = DEFAULT_FOCAL_LENGTH
    focal_length_y: float = DEFAULT_FOCAL_LENGTH
    intrinsics: np.ndarray | None = None
    outputs: OutputSettings = field(default_factory=OutputSettings)
    quality: DepthQualitySettings = field(default_factory=DepthQualitySettings)

    def __post_init__(self) -> None:
        """Reject settings that cannot give a cloud, with the reason (ValueError)."""
        if not self.metric and not self.outputs.relative_scale > 0.0:
            raise ValueError(
                "need depth in metres: use a metric model (--metric), or give "
                "--relative-scale (and --relative-shift) to turn relative inverse depth into metres"
            )
        if self.intrinsics is None:
            if not (
                self.focal_length_x > 0.0
                and self.focal_length_y > 0.0
                and math.isfinite(self.focal_length_x)
                and math.isfinite(self.focal_length_y)
            ):
                raise ValueError(f"focal lengths must be positive, got {self.focal_length_x} and {self.focal_length_y}")
            return
        k = self.intrinsics
        if k.shape != (3, 3) or not np.isfinite(k).all() or not (k[0, 0] > 0 and k[1, 1] > 0):
            raise ValueError(f"intrinsics must be a finite 3x3 matrix K with fx, fy > 0, got {k.tolist()}")

    def camera(self, depth_size: Size, source_size: Size) -> CameraModel:
        """The camera of a depth map of depth_size (width, height): the official one, or `intrinsics` scaled to it.

        The intrinsics are those of the input as read (source_size), and this tool resized the frames
        from it, so they describe the depth map exactly once scaled (uneven rounding of the size included).
        """
        width, height = depth_size
        if self.intrinsics is None:
            fx, fy = self.focal_length_x, self.focal_length_y
            k = np.array([[fx, 0.0, width / 2], [0.0, fy, height / 2], [0.0, 0.0, 1.0]])
            return _camera_model(k, depth_size)
        return _camera_model(self.intrinsics, source_size).scaled_to(width, height)


def _camera_model(k: np.ndarray, size: Size) -> CameraModel:
    """A pipeline camera for K of an image of size (width, height); its projection P is K beside a zero column."""
    return CameraModel("", size[0], size[1], k, np.hstack([k, np.zeros((3, 1))]))


def load_intrinsics(path: Path) -> np.ndarray:
    """A 3x3 camera matrix K from a .npy file; ValueError naming the file when it is not one."""
    try:
        k = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read intrinsics {path} (a .npy file with a 3x3 matrix K): {error}") from error
    if not isinstance(k, np.ndarray) or k.shape != (3, 3) or not np.issubdtype(k.dtype, np.number):
        raise ValueError(f"intrinsics {path} must hold a numeric 3x3 matrix K, got {getattr(k, 'shape', k)}")
    return k.astype(np.float64)


def point_cloud(
    depth: np.ndarray, rgb: np.ndarray, settings: CloudSettings, source_size: Size
) -> tuple[np.ndarray, np.ndarray]:
    """The valid points of one frame, (N, 3) float32 xyz in the camera optical frame and (N, 3) uint8 rgb.

    The organised cloud is vda_ros.core.outputs's for the frame; pixels without a usable depth (NaN
    under its validity rules) are left out, since a PLY file is an unorganised list of points.
    """
    height, width = depth.shape
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"frame {rgb.shape[1]}x{rgb.shape[0]} does not match depth {width}x{height}")
    outputs = frame_outputs(
        rgb,
        depth,
        metric=settings.metric,
        settings=settings.outputs,
        camera=settings.camera((width, height), source_size),
        quality=settings.quality,
    )
    if outputs.cloud is None:
        raise UsageError(f"point clouds: {outputs.cloud_state}")
    xyz = outputs.cloud.xyz
    valid = ~np.isnan(xyz[..., 2])
    return xyz[valid], rgb[valid]


class FrameFileOutputs:
    """The per-frame files of one input: NAME_depths_exr/ and NAME_points_ply/ on request.

    Use as a context manager: add() each frame and its depth in order, then finish() puts the
    folders in place. Leaving the block without finish() removes everything written so far.
    """

    def __init__(
        self,
        output_dir: Path,
        name: str,
        save_exr: bool = False,
        cloud: CloudSettings | None = None,
        source_size: Size | None = None,
    ) -> None:
        self._stack = ExitStack()
        self._cloud = cloud
        self._source_size = source_size
        self._count = 0
        self.exr_dir = output_dir / f"{name}_depths_exr" if save_exr else None
        self.ply_dir = output_dir / f"{name}_points_ply" if cloud is not None else None
        output_dir.mkdir(parents=True, exist_ok=True)
        self._exr_tmp = self._stack.enter_context(atomic_directory(self.exr_dir)) if self.exr_dir else None
        self._ply_tmp = self._stack.enter_context(atomic_directory(self.ply_dir)) if self.ply_dir else None

    @property
    def needs_frames(self) -> bool:
        """True when add() needs the colour frame (point clouds take their colours from it)."""
        return self._ply_tmp is not None

    def add(self, frame: np.ndarray | None, depth: np.ndarray) -> None:
        """Write the files of the next frame; `frame` (RGB, depth's size) may be None without clouds."""
        if self._exr_tmp is not None:
            write_exr(self._exr_tmp / FRAME_FILE_PATTERN.format(self._count, ".exr"), depth)
        if self._ply_tmp is not None and self._cloud is not None:
            if frame is None:
                raise ValueError("point clouds need the colour frame of each depth map")
            size = self._source_size or (depth.shape[1], depth.shape[0])
            xyz, rgb = point_cloud(depth, frame, self._cloud, size)
            write_ply(self._ply_tmp / FRAME_FILE_PATTERN.format(self._count, ".ply"), xyz, rgb)
        self._count += 1

    def finish(self) -> list[Path]:
        """Put the complete folders under their final names and return them."""
        self._stack.close()
        return [path for path in (self.exr_dir, self.ply_dir) if path is not None]

    def __enter__(self) -> FrameFileOutputs:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.__exit__(kind, error, trace)
