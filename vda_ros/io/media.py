"""Frames in from a video file or an image folder, depth files out (colourised mp4, npz).

No ROS and no torch here. Memory stays constant however long the input is: frames are decoded
one at a time, and depth maps are spooled to a raw file on disk, because the two outputs that
need the whole video (a visualisation normalised by the global min/max, an npz whose header
holds the frame count) can then be written in a second pass. Every output appears under its
final name only once it is complete.
"""

from __future__ import annotations

import math
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import cv2
import numpy as np

from vda_ros.core.colormap import colorize
from vda_ros.core.options import Settings, option
from vda_ros.errors import VdaError
from vda_ros.io.files import atomic_output, unique_temporary_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# An image folder carries no frame rate; this one is used for the videos written from it.
DEFAULT_FOLDER_FPS = 30.0
# Depth maps are stored little-endian float32, the dtype the npz must hold.
DEPTH_DTYPE = np.dtype("<f4")
NPZ_KEY = "depths"


class MediaError(VdaError, RuntimeError):
    """An input cannot be read or an output cannot be written; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    """What a frame source yields.

    width/height are those of the frames after downscaling; fps is the rate the kept frames
    represent (the source rate divided by the frame stride; for an image folder, which has no
    rate, the target rate if one was asked for); frame_count is an estimate taken from the
    container's header before decoding, so the real number may differ by a few frames.
    source_size is (width, height) before downscaling, the size a camera calibration refers to.
    """

    name: str
    fps: float
    width: int
    height: int
    frame_count: int
    source_size: tuple[int, int] | None = None


def read_frames(
    path: str | Path, max_res: int = 1280, target_fps: float = -1, max_len: int = -1
) -> tuple[Iterator[np.ndarray], VideoInfo]:
    """Open a video file or an image folder and return a lazy iterator of RGB uint8 frames.

    Mirrors the official OpenCV reading path: frames are converted BGR->RGB, every
    round(source_fps / target_fps)-th frame is kept when target_fps > 0, and frames whose longer
    side exceeds max_res are shrunk with bilinear cv2.resize to (round(w*s), round(h*s)).
    max_len > 0 limits the number of frames yielded (kept frames, as the official decord path
    counts them). Image folders are read in file-name order at DEFAULT_FOLDER_FPS (or target_fps).
    Opening errors raise MediaError at once; an unreadable image raises it during iteration.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(f"input not found: {path}")
    if path.is_dir():
        return _read_folder(path, max_res, target_fps, max_len)
    return _read_video(path, max_res, target_fps, max_len)


def scaled_size(width: int, height: int, max_res: int) -> tuple[int, int]:
    """(width, height) after the official max_res rule; max_res <= 0 disables shrinking."""
    longest = max(width, height)
    if max_res <= 0 or longest <= max_res:
        return width, height
    scale = max_res / longest
    return round(width * scale), round(height * scale)


def frame_stride(source_fps: float, target_fps: float) -> int:
    """Keep every n-th frame to approximate target_fps; 1 when no target or no source rate."""
    if target_fps <= 0 or source_fps <= 0:
        return 1
    return max(round(source_fps / target_fps), 1)


def _read_video(path: Path, max_res: int, target_fps: float, max_len: int) -> tuple[Iterator[np.ndarray], VideoInfo]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise MediaError(f"cannot open video (not a format OpenCV can decode?): {path}")
    source_fps = capture.get(cv2.CAP_PROP_FPS)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    stride = frame_stride(source_fps, target_fps)
    count = math.ceil(max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0) / stride)
    if max_len > 0:
        count = min(count, max_len)
    # The rate the kept frames really have: a target above the source rate keeps every frame.
    fps = source_fps / stride if source_fps > 0 else (target_fps if target_fps > 0 else DEFAULT_FOLDER_FPS)
    size = scaled_size(width, height, max_res)
    info = VideoInfo(
        name=path.stem, fps=float(fps), width=size[0], height=size[1], frame_count=count, source_size=(width, height)
    )
    return _video_frames(capture, stride, size, max_len), info


def _video_frames(capture: cv2.VideoCapture, stride: int, size: tuple[int, int], max_len: int) -> Iterator[np.ndarray]:
    """Decode kept frames only (skipped ones are grabbed, not converted); release at the end."""
    try:
        index = kept = 0
        while max_len <= 0 or kept < max_len:
            if index % stride == 0:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield _to_rgb(bgr, size)
                kept += 1
            elif not capture.grab():
                return
            index += 1
    finally:
        capture.release()


def _read_folder(folder: Path, max_res: int, target_fps: float, max_len: int) -> tuple[Iterator[np.ndarray], VideoInfo]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise MediaError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder: {folder}")
    if max_len > 0:
        files = files[:max_len]
    first = _load_image(files[0])
    height, width = first.shape[:2]
    size = scaled_size(width, height, max_res)
    fps = target_fps if target_fps > 0 else DEFAULT_FOLDER_FPS
    info = VideoInfo(
        name=folder.resolve().name,
        fps=float(fps),
        width=size[0],
        height=size[1],
        frame_count=len(files),
        source_size=(width, height),
    )
    return _folder_frames(files, first, size), info


def _folder_frames(files: list[Path], first: np.ndarray, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Yield the already decoded first image, then load the others one by one."""
    yield _to_rgb(first, size)
    for path in files[1:]:
        bgr = _load_image(path)
        if bgr.shape != first.shape:
            raise MediaError(
                f"image {path} is {bgr.shape[1]}x{bgr.shape[0]}, but the folder's first image "
                f"{files[0].name} is {first.shape[1]}x{first.shape[0]}: all frames must share one size"
            )
        yield _to_rgb(bgr, size)


def _load_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaError(f"cannot read image: {path}")
    return bgr


def _to_rgb(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if (rgb.shape[1], rgb.shape[0]) != size:
        rgb = cv2.resize(rgb, size)
    return rgb


class DepthSpool:
    """Depth maps appended to a hidden raw float32 file, with the running finite min/max.

    The file lives in the output directory (same file system as the outputs, which may be far
    larger than /tmp) and is deleted by close().
    """

    def __init__(self, directory: Path) -> None:
        # A name that says whose it is, so a later run can remove it if this process gets killed.
        self.path = unique_temporary_path(directory, "depth_spool", ".f32")
        self._file: BinaryIO = open(self.path, "xb")
        self.shape: tuple[int, int] | None = None
        self.count = 0
        self._min = math.inf
        self._max = -math.inf

    def append(self, depth: np.ndarray) -> None:
        """Store one (H, W) map; every map of a video must have the first one's shape."""
        depth = np.ascontiguousarray(depth, dtype=DEPTH_DTYPE)
        if depth.ndim != 2:
            raise ValueError(f"a depth map must be 2-D (H, W), got shape {depth.shape}")
        if self.shape is None:
            self.shape = depth.shape
        elif depth.shape != self.shape:
            raise ValueError(f"depth map shape {depth.shape} differs from the first one {self.shape}")
        finite = depth[np.isfinite(depth)]
        if finite.size:
            self._min = min(self._min, float(finite.min()))
            self._max = max(self._max, float(finite.max()))
        self._file.write(depth.tobytes())
        self.count += 1

    @property
    def value_range(self) -> tuple[float, float]:
        """Global (min, max) over all finite values stored; (0, 1) if there were none."""
        if self._min > self._max:
            return 0.0, 1.0
        return self._min, self._max

    def frames(self) -> Iterator[np.ndarray]:
        """Read the stored maps back in order, one at a time."""
        shape = self.frame_shape()
        frame_bytes = shape[0] * shape[1] * DEPTH_DTYPE.itemsize
        self._file.flush()
        with open(self.path, "rb") as source:
            for _ in range(self.count):
                yield np.frombuffer(source.read(frame_bytes), dtype=DEPTH_DTYPE).reshape(shape)

    def copy_to(self, target: IO[bytes]) -> None:
        """Copy the raw (count, H, W) C-order bytes into an open binary file."""
        self.frame_shape()
        self._file.flush()
        with open(self.path, "rb") as source:
            shutil.copyfileobj(source, target, length=1 << 22)

    def close(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)

    def frame_shape(self) -> tuple[int, int]:
        """(H, W) of the stored maps; MediaError if none was stored (an empty input)."""
        if self.shape is None:
            raise MediaError("no depth maps were produced, nothing to write")
        return self.shape

    def __enter__(self) -> DepthSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_depth_video(spool: DepthSpool, path: Path, fps: float, grayscale: bool = False) -> Path:
    """Colourised depth video (mp4v), normalised by the global min/max like the official one."""
    height, width = spool.frame_shape()
    vmin, vmax = spool.value_range
    with atomic_output(path) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise MediaError(f"cannot write video: {path}")
        try:
            for depth in spool.frames():
                writer.write(colorize(depth, vmin, vmax, grayscale=grayscale))
        finally:
            writer.release()
    return path


def write_depth_npz(spool: DepthSpool, path: Path) -> Path:
    """An npz readable by np.load with key 'depths' float32 (T, H, W), streamed from the spool.

    np.savez needs the whole array in memory; here the .npy member's header is written with
    the final shape and the raw bytes are copied behind it, which is the same file layout.
    """
    height, width = spool.frame_shape()
    header = {
        "descr": np.lib.format.dtype_to_descr(DEPTH_DTYPE),
        "fortran_order": False,
        "shape": (spool.count, height, width),
    }
    with atomic_output(path) as temporary:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open(f"{NPZ_KEY}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(member, header)
                spool.copy_to(member)
    return path


@dataclass(frozen=True)
class DepthFileSettings(Settings):
    """Which depth files of a whole input are written beside the colourised video (see DepthVideoOutputs)."""

    save_npz: bool = option(False, f"Also write NAME_depths.npz (float32 T x H x W, key '{NPZ_KEY}').")
    grayscale: bool = option(False, "Grey instead of the inferno colour map in NAME_vis.mp4.")


class DepthVideoOutputs:
    """The depth files of one input: always NAME_vis.mp4, NAME_depths.npz on request.

    Use as a context manager: add() each depth map in order, then finish() writes the files.
    Leaving the block without finish() (an error, Ctrl-C) writes nothing and leaves no
    temporary file behind.
    """

    def __init__(
        self, output_dir: Path, name: str, fps: float, save_npz: bool = False, grayscale: bool = False
    ) -> None:
        self._output_dir = output_dir
        self.vis_path = output_dir / f"{name}_vis.mp4"
        self.npz_path = output_dir / f"{name}_depths.npz" if save_npz else None
        self._fps = fps
        self._grayscale = grayscale
        self._spool: DepthSpool | None = None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """File-system failures (no permission, disk full, a file where the folder should be) as MediaError."""
        try:
            yield
        except OSError as error:
            raise MediaError(
                f"cannot write to the output folder {self._output_dir}: {error.strerror or error}"
            ) from error

    @property
    def spool(self) -> DepthSpool:
        """The spool of the depth maps added so far (only inside the with block)."""
        if self._spool is None:
            raise RuntimeError("DepthVideoOutputs is used outside its with block")
        return self._spool

    @property
    def count(self) -> int:
        return self.spool.count

    def add(self, depth: np.ndarray) -> None:
        with self._writing():
            self.spool.append(depth)

    def finish(self) -> list[Path]:
        """Write every requested file and return their paths."""
        with self._writing():
            written = [write_depth_video(self.spool, self.vis_path, self._fps, self._grayscale)]
            if self.npz_path is not None:
                written.append(write_depth_npz(self.spool, self.npz_path))
        return written

    def __enter__(self) -> DepthVideoOutputs:
        # The spool is made here, not in __init__: between a constructor and its with block a signal (Ctrl-C,
        # SIGTERM) would leave a spool nobody closes. __exit__ does not run if __enter__ fails: close it here.
        try:
            with self._writing():
                self._output_dir.mkdir(parents=True, exist_ok=True)
                self._spool = DepthSpool(self._output_dir)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
