"""Conversions between ROS 2 messages (sensor_msgs) and numpy arrays.

cv_bridge and sensor_msgs_py are not available from PyPI for ROS 2, so the few conversions the
depth node needs live here, written on numpy and OpenCV without per-pixel Python. No torch
import: tools and tests use this module without loading a model.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header

from vda_ros.core.geometry import scale_intrinsics, scale_projection
from vda_ros.core.outputs import CameraModel
from vda_ros.core.settings import DEFAULT_MAX_IMAGE_PIXELS
from vda_ros.errors import VdaError

_NATIVE_BIG_ENDIAN = sys.byteorder == "big"

# encoding -> (bytes per pixel, OpenCV conversion to RGB, or None when the bytes already are RGB)
_RGB_SOURCES: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    # 8-bit YUV 4:2:2, two bytes per pixel; ROS names UYVY "yuv422" and YUYV "yuv422_yuy2".
    "yuv422": (2, cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2RGB_YUY2),
}
SUPPORTED_IMAGE_ENCODINGS: tuple[str, ...] = tuple(_RGB_SOURCES)

DEPTH_ENCODING = "32FC1"
_OUTPUT_COLOR_ENCODINGS = ("rgb8", "bgr8")


class MessageConversionError(VdaError, ValueError):
    """A message could not be turned into an array; the text says what was wrong with it.

    Everything raised for what a publisher put in a message (sizes its data cannot hold, an unknown
    encoding or layout) is one of these, so a node reports and skips such a message by catching this
    alone, while any other exception stays a bug with its traceback.
    """


class ImageConversionError(MessageConversionError):
    """An Image or CompressedImage could not be read."""


class CloudConversionError(MessageConversionError):
    """A PointCloud2 could not be read."""


def _buffer(data: Any) -> np.ndarray:
    """View a message's data field as uint8 without copying when it is bytes-like.

    rclpy gives array.array('B'), rosbags and hand-built messages may give bytes, bytearray,
    numpy arrays or plain lists; only a list needs a copy.
    """
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8)


def _pixel_rows(msg: Image, bytes_per_pixel: int) -> np.ndarray:
    """Return the image's pixel bytes as an (H, W * bytes_per_pixel) uint8 view, skipping row padding.

    Rows start `step` bytes apart and may carry padding after their pixels, so the view keeps
    the row stride instead of assuming packed rows.
    """
    height, width, step = msg.height, msg.width, msg.step
    if width == 0 or height == 0:
        raise ImageConversionError(f"{msg.encoding!r} image has zero size ({width}x{height})")
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f"{msg.encoding!r} image step {step} is smaller than "
            f"width {width} * {bytes_per_pixel} bytes per pixel = {row_bytes}"
        )
    data = _buffer(msg.data)
    expected = step * height
    if data.size < expected:
        raise ImageConversionError(
            f"{msg.encoding!r} image data too short: "
            f"expected step {step} * height {height} = {expected} bytes, got {data.size}"
        )
    return data[:expected].reshape(height, step)[:, :row_bytes]


def image_to_rgb(msg: Image, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Convert an Image of any supported 8-bit encoding to an (H, W, 3) uint8 RGB array.

    rgb8 input is returned as a zero-copy view of msg.data (rows may be strided by padding and
    the view may be read-only): copy it before modifying it in place. is_bigendian does not
    matter for 8-bit data and is ignored. Images above max_pixels (0: no limit) are refused, as
    compressed ones are.
    """
    check_pixel_count(msg.width, msg.height, max_pixels, f"{msg.encoding!r} image")
    try:
        bytes_per_pixel, conversion = _RGB_SOURCES[msg.encoding]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(SUPPORTED_IMAGE_ENCODINGS)}"
        ) from None
    if bytes_per_pixel == 2 and msg.width % 2:
        raise ImageConversionError(f"{msg.encoding!r} (YUV 4:2:2) needs an even width, got {msg.width}")
    rows = _pixel_rows(msg, bytes_per_pixel)
    pixels = rows.reshape(msg.height, msg.width, bytes_per_pixel) if bytes_per_pixel > 1 else rows
    return pixels if conversion is None else cv2.cvtColor(pixels, conversion)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_START = b"\xff\xd8"
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (SOF0..SOF15), which hold the image size; C4, C8 and CC are other segments."""
_JPEG_STANDALONE_MARKERS = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})
"""Markers without a length field: TEM, SOI, RST0..RST7."""


def _png_size(data: memoryview) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, which the format requires to come first."""
    if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: memoryview) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame segment, found by hopping from segment to segment."""
    position = len(_JPEG_START)
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
        elif marker in _JPEG_STANDALONE_MARKERS:
            position += 2
        elif marker in _JPEG_FRAME_MARKERS:
            if position + 9 > len(data):
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return (width, height) if height else None  # height 0: defined later (DNL), unsupported
        else:
            position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def encoded_image_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) of a JPEG or PNG read from its header alone; None for anything else or a broken header."""
    view = data.data  # the array's bytes, not copied
    if bytes(view[: len(_PNG_SIGNATURE)]) == _PNG_SIGNATURE:
        return _png_size(view)
    if bytes(view[: len(_JPEG_START)]) == _JPEG_START:
        return _jpeg_size(view)
    return None


def check_pixel_count(width: int, height: int, max_pixels: int, what: str) -> None:
    """Refuse an image above max_pixels before anything of its size is allocated (a decompression bomb)."""
    if max_pixels > 0 and width * height > max_pixels:
        raise ImageConversionError(
            f"{what} is {width}x{height} = {width * height / 1e6:.3g} MP, above the limit of "
            f"{max_pixels / 1e6:g} MP (max_image_pixels)"
        )


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a JPEG or PNG CompressedImage (what image_transport's compressed plugin sends) to (H, W, 3) RGB.

    The size is read from the header first and images above max_pixels (0: no limit) are refused
    before decoding: a few hundred kilobytes of PNG can otherwise expand to gigabytes. Grey
    images are expanded to three channels so the model always sees RGB.
    """
    data = _buffer(msg.data)
    size = encoded_image_size(data)
    if size is None:
        raise ImageConversionError(
            f"cannot decode CompressedImage with format {msg.format!r} ({data.size} bytes): "
            "not a JPEG or PNG, or its header is damaged"
        )
    check_pixel_count(*size, max_pixels, f"CompressedImage ({msg.format})")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as error:  # e.g. above OpenCV's own size limit (2^30 pixels) when max_pixels is 0
        width, height = size
        raise ImageConversionError(
            f"cannot decode CompressedImage with format {msg.format!r} ({data.size} bytes) of {width}x{height}: "
            f"{error.err}"
        ) from None
    if image is None:
        raise ImageConversionError(f"cannot decode CompressedImage with format {msg.format!r} ({data.size} bytes)")
    # Decoded as BGR and converted: IMREAD_COLOR_RGB exists only from OpenCV 4.11 (Humble ships 4.5, Jazzy 4.6).
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _array_to_image(array: np.ndarray, header: Header, encoding: str) -> Image:
    """Build an Image of packed rows from an (H, W[, C]) array whose dtype already matches encoding.

    data is assigned as bytes: rclpy converts a numpy array element by element (about 100x slower).
    """
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    image = Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=_NATIVE_BIG_ENDIAN,
        step=array.strides[0],
    )
    image.data = array.tobytes()  # after construction: the constructor would copy the bytes twice
    return image


def depth_to_msg(depth: np.ndarray, header: Header) -> Image:
    """Wrap an (H, W) depth array in metres (or another float image: a confidence) as a '32FC1' Image (NaN kept:
    REP 117 invalid)."""
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
    return _array_to_image(depth.astype(np.float32, copy=False), header, DEPTH_ENCODING)


def msg_to_depth(msg: Image) -> np.ndarray:
    """Read a '32FC1' Image into an (H, W) native float32 array, honouring step padding and byte order."""
    if msg.encoding != DEPTH_ENCODING:
        raise ImageConversionError(f"expected a {DEPTH_ENCODING!r} depth image, got encoding {msg.encoding!r}")
    stored = np.dtype(">f4" if msg.is_bigendian else "<f4")
    # Packed copy first: NumPy < 1.23 (Humble ships 1.21) cannot view padded (non-contiguous) rows as float32.
    return _pixel_rows(msg, 4).copy().view(stored).astype(np.float32, copy=False)


MILLIMETRE_DEPTH_ENCODINGS = ("16UC1", "mono16")
"""Depth cameras (RealSense, Kinect, OAK) publish millimetres as 16-bit integers, 0 for no return."""


def msg_to_metres(msg: Image, depth_scale: float = 0.001) -> np.ndarray:
    """Read a depth camera's Image as (H, W) float32 metres, NaN for no return.

    '32FC1' is metres; '16UC1' (and 'mono16', which some drivers use for it) is integer units of
    depth_scale metres (REP 118: millimetres, 0.001). Both conventions of REP 118 mark a missing
    return: 0 (16UC1 and many 32FC1 drivers) and NaN or inf.
    """
    if msg.encoding in MILLIMETRE_DEPTH_ENCODINGS:
        stored = np.dtype(">u2" if msg.is_bigendian else "<u2")
        # Packed copy first: NumPy < 1.23 cannot view padded (non-contiguous) rows as another dtype.
        metres = _pixel_rows(msg, 2).copy().view(stored).astype(np.float32) * np.float32(depth_scale)
    elif msg.encoding == DEPTH_ENCODING:
        metres = msg_to_depth(msg)
    else:
        raise ImageConversionError(
            f"expected a depth image in {DEPTH_ENCODING!r} (metres) or {'/'.join(MILLIMETRE_DEPTH_ENCODINGS)!r} "
            f"(millimetres), got encoding {msg.encoding!r}"
        )
    with np.errstate(invalid="ignore"):
        metres[~(np.isfinite(metres) & (metres > 0))] = np.nan
    return metres


def _check_color_array(image: np.ndarray) -> None:
    """Reject arrays that are not (H, W, 3) uint8, which every 8-bit colour encoding here needs."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {image.shape} dtype {image.dtype}")


def bgr_to_msg(bgr: np.ndarray, header: Header) -> Image:
    """Wrap an (H, W, 3) uint8 BGR array (OpenCV's layout, e.g. colorize output) as a 'bgr8' Image."""
    _check_color_array(bgr)
    return _array_to_image(bgr, header, "bgr8")


def rgb_to_msg(rgb: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    """Wrap an (H, W, 3) uint8 RGB array as an 'rgb8' or 'bgr8' Image (the latter for OpenCV-minded consumers)."""
    _check_color_array(rgb)
    if encoding not in _OUTPUT_COLOR_ENCODINGS:
        raise ValueError(f"unsupported output encoding {encoding!r}; supported: {', '.join(_OUTPUT_COLOR_ENCODINGS)}")
    pixels = rgb if encoding == "rgb8" else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return _array_to_image(pixels, header, encoding)


def stamp_ns(stamp: Time) -> int:
    """A header stamp as integer nanoseconds, exact (no float rounding) for comparisons and keys."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def camera_info_is_calibrated(info: CameraInfo) -> bool:
    """True when K holds usable intrinsics (see CameraModel.calibrated); uncalibrated drivers publish an all-zero K."""
    return camera_model(info).calibrated


def intrinsics(info: CameraInfo) -> tuple[float, float, float, float]:
    """Return (fx, fy, cx, cy) from CameraInfo.K (row-major 3x3)."""
    k = info.k
    return float(k[0]), float(k[4]), float(k[2]), float(k[5])


def _scaled_roi(roi: RegionOfInterest, scale_x: float, scale_y: float) -> RegionOfInterest:
    """Scale a region of interest to the resized image, rounding to whole pixels."""
    return RegionOfInterest(
        x_offset=round(roi.x_offset * scale_x),
        y_offset=round(roi.y_offset * scale_y),
        width=round(roi.width * scale_x),
        height=round(roi.height * scale_y),
        do_rectify=roi.do_rectify,
    )


def scale_camera_info(info: CameraInfo, width: int, height: int) -> CameraInfo:
    """Return a new CameraInfo describing the image resized from (info.width, info.height) to (width, height).

    The depth image is published at the model's working resolution, and consumers
    (point clouds, RViz's DepthCloud) need intrinsics for exactly that image. K and P are scaled
    as image_proc's resize does; binning is folded into the scale (info.width/height are the
    calibrated, unbinned size) and reset to 0; D, R, distortion model and header are kept.
    """
    if (width, height) == (info.width, info.height):
        return copy.deepcopy(info)
    src_size, dst_size = (info.width, info.height), (width, height)
    k = scale_intrinsics(np.reshape(info.k, (3, 3)), src_size, dst_size)
    p = scale_projection(np.reshape(info.p, (3, 4)), src_size, dst_size)
    return CameraInfo(
        header=copy.deepcopy(info.header),
        height=height,
        width=width,
        distortion_model=info.distortion_model,
        d=list(info.d),
        k=k.ravel(),
        r=np.array(info.r, dtype=np.float64),
        p=p.ravel(),
        binning_x=0,
        binning_y=0,
        roi=_scaled_roi(info.roi, width / info.width, height / info.height),
    )


def depth_camera_info(info: CameraInfo, header: Header, width: int, height: int) -> CameraInfo:
    """The CameraInfo of a width x height depth image, stamped like it; an info without a size is taken as is."""
    described = scale_camera_info(info, width, height) if info.width and info.height else copy.deepcopy(info)
    described.header = header
    return described


def _cloud_fields(with_rgb: bool) -> list[PointField]:
    """Fields x, y, z (and rgb) as FLOAT32 at offsets 0, 4, 8 (12): the layout PCL and RViz expect."""
    names = ("x", "y", "z", "rgb") if with_rgb else ("x", "y", "z")
    return [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, name in enumerate(names)]


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pack (N, 3) uint8 RGB into uint32 0x00RRGGBB: the bit pattern PCL/RViz read from a float32 'rgb' field."""
    packed = rgb[:, 0].astype(np.uint32)
    for channel in (1, 2):
        packed <<= 8
        packed |= rgb[:, channel]
    return packed


def points_to_cloud(xyz: np.ndarray, header: Header, rgb: np.ndarray | None = None) -> PointCloud2:
    """Build a PointCloud2 from (H, W, 3) (organised) or (N, 3) (unorganised) float32 points.

    With rgb (same leading shape, uint8 RGB) each point gets a packed 'rgb' field. Points are
    written as one (N, 3 or 4) 32-bit block: the same bytes as a structured array of those
    fields, built with fewer copies, so the whole cloud is a single tobytes().
    NaN points are kept (organised clouds keep their grid) and make is_dense False.
    """
    if xyz.ndim not in (2, 3) or xyz.shape[-1] != 3:
        raise ValueError(f"xyz must be (H, W, 3) or (N, 3), got shape {xyz.shape}")
    height, width = xyz.shape[:2] if xyz.ndim == 3 else (1, xyz.shape[0])
    points = np.ascontiguousarray(xyz, dtype=np.float32).reshape(-1, 3)
    if rgb is None:
        block = points
    else:
        if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8 with the shape of xyz {xyz.shape}, got {rgb.shape} {rgb.dtype}")
        # Join raw 32-bit patterns so the packed colours are copied bit for bit.
        block = np.concatenate((points.view(np.uint32), _pack_rgb(rgb.reshape(-1, 3))[:, np.newaxis]), axis=1)
    point_step = 4 * block.shape[1]
    cloud = PointCloud2(
        header=header,
        height=height,
        width=width,
        fields=_cloud_fields(rgb is not None),
        is_bigendian=_NATIVE_BIG_ENDIAN,
        point_step=point_step,
        row_step=point_step * width,
        is_dense=not bool(np.isnan(points).any()),
    )
    cloud.data = block.tobytes()  # after construction: the constructor would copy the bytes twice
    return cloud


_COORDINATES = ("x", "y", "z")
_FLOAT32_SIZE = 4
_DATATYPE_NAMES = {
    PointField.INT8: "INT8",
    PointField.UINT8: "UINT8",
    PointField.INT16: "INT16",
    PointField.UINT16: "UINT16",
    PointField.INT32: "INT32",
    PointField.UINT32: "UINT32",
    PointField.FLOAT32: "FLOAT32",
    PointField.FLOAT64: "FLOAT64",
}


def _check_cloud_sizes(msg: PointCloud2, data_size: int) -> None:
    """Refuse a cloud whose declared sizes its data cannot hold, before anything of those sizes exists.

    A strided view checks nothing when a stride is 0 (it fits any buffer), so without this a cloud of
    a hundred bytes could claim billions of points and have them allocated.
    """
    height, width, point_step, row_step = msg.height, msg.width, msg.point_step, msg.row_step
    if point_step == 0:
        raise CloudConversionError("PointCloud2 point_step is 0")
    if width * point_step > row_step:
        raise CloudConversionError(
            f"PointCloud2 row_step {row_step} is smaller than width {width} * point_step {point_step} = "
            f"{width * point_step}"
        )
    if height * row_step > data_size:
        raise CloudConversionError(
            f"PointCloud2 data too short: expected row_step {row_step} * height {height} = "
            f"{height * row_step} bytes, got {data_size}"
        )


def _coordinate_offsets(msg: PointCloud2) -> list[int]:
    """Offsets of the x, y and z fields, each one FLOAT32 lying inside point_step."""
    fields = {field.name: field for field in msg.fields}
    missing = [name for name in _COORDINATES if name not in fields]
    if missing:
        raise CloudConversionError(f"PointCloud2 has no field {', '.join(missing)}; x, y and z are needed")
    for name in _COORDINATES:
        field = fields[name]
        if field.datatype != PointField.FLOAT32:
            kind = _DATATYPE_NAMES.get(field.datatype, "unknown")
            raise CloudConversionError(
                f"PointCloud2 field {name} has datatype {field.datatype} ({kind}); only FLOAT32 is read"
            )
        if field.count != 1:
            raise CloudConversionError(f"PointCloud2 field {name} has count {field.count}; 1 is needed")
        if field.offset + _FLOAT32_SIZE > msg.point_step:
            raise CloudConversionError(
                f"PointCloud2 field {name} at offset {field.offset} does not fit in point_step {msg.point_step}"
            )
    return [fields[name].offset for name in _COORDINATES]


def cloud_to_xyz(msg: PointCloud2) -> np.ndarray:
    """Read the FLOAT32 x, y, z fields of any PointCloud2 layout into an (H, W, 3) float32 array.

    Rows may carry padding (row_step) and points other fields (point_step); either byte order is read.
    Every declared size is checked against the data first (CloudConversionError), so the array made
    is at most three times the size of the message's data.
    """
    data = _buffer(msg.data)
    _check_cloud_sizes(msg, data.size)
    offsets = _coordinate_offsets(msg)
    stored = ">f4" if msg.is_bigendian else "<f4"
    point = np.dtype(
        {"names": list(_COORDINATES), "formats": [stored] * 3, "offsets": offsets, "itemsize": msg.point_step}
    )
    grid = np.ndarray((msg.height, msg.width), dtype=point, buffer=data, strides=(msg.row_step, msg.point_step))
    xyz = np.empty((msg.height, msg.width, 3), dtype=np.float32)
    for axis, name in enumerate(_COORDINATES):
        xyz[..., axis] = grid[name]
    return xyz


def camera_model(info: CameraInfo) -> CameraModel:
    """The ROS-free intrinsics the per-frame pipeline works with (vda_ros.core.outputs.CameraModel)."""
    return CameraModel(
        frame_id=info.header.frame_id,
        width=int(info.width),
        height=int(info.height),
        k=np.reshape(np.asarray(info.k, dtype=np.float64), (3, 3)),
        p=np.reshape(np.asarray(info.p, dtype=np.float64), (3, 4)),
    )
