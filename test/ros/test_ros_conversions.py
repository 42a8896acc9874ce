"""Unit tests for vda_ros.ros.conversions, on hand-built sensor_msgs messages."""

import array
import os
import struct
import sys
import tracemalloc

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import cv2
import numpy as np
import pytest
from encoded_images import png_header_only, png_of_zeros
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header

from vda_ros.core.geometry import backproject
from vda_ros.ros.conversions import (
    CloudConversionError,
    ImageConversionError,
    bgr_to_msg,
    camera_model,
    cloud_to_xyz,
    compressed_to_rgb,
    depth_camera_info,
    depth_to_msg,
    encoded_image_size,
    image_to_rgb,
    intrinsics,
    msg_to_depth,
    msg_to_metres,
    points_to_cloud,
    rgb_to_msg,
    scale_camera_info,
)

RNG = np.random.default_rng(42)
HEIGHT, WIDTH = 5, 6
RGB = RNG.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
PADDING = 7


def _header() -> Header:
    header = Header(frame_id="camera_optical")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    return header


def _padded_image(pixels: np.ndarray, encoding: str, padding: int = PADDING) -> Image:
    """An Image whose rows carry `padding` garbage bytes after the pixels, as some drivers send."""
    rows = pixels.reshape(pixels.shape[0], -1)
    garbage = RNG.integers(0, 256, (rows.shape[0], padding), dtype=np.uint8)
    padded = np.concatenate([rows, garbage], axis=1)
    return Image(
        header=_header(),
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=True,  # meaningless for 8-bit data, must be accepted
        step=padded.shape[1],
        data=padded.tobytes(),
    )


@pytest.mark.parametrize(
    ("encoding", "pixels"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB[..., ::-1]),
        ("rgba8", np.dstack([RGB, np.full((HEIGHT, WIDTH), 9, np.uint8)])),
        ("bgra8", np.dstack([RGB[..., ::-1], np.full((HEIGHT, WIDTH), 200, np.uint8)])),
    ],
)
def test_color_encodings_round_trip_exactly_with_row_padding(encoding, pixels):
    rgb = image_to_rgb(_padded_image(pixels, encoding))
    assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, RGB)


def test_mono8_expands_to_three_equal_channels():
    gray = RGB[..., 0]
    rgb = image_to_rgb(_padded_image(gray, "mono8"))
    np.testing.assert_array_equal(rgb, np.dstack([gray, gray, gray]))


def test_rgb8_without_padding_is_a_zero_copy_view():
    msg = _padded_image(RGB, "rgb8", padding=0)
    assert np.shares_memory(image_to_rgb(msg), np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize(
    ("encoding", "code"),
    [
        ("yuv422", cv2.COLOR_YUV2RGB_UYVY),
        ("uyvy", cv2.COLOR_YUV2RGB_UYVY),
        ("yuv422_yuy2", cv2.COLOR_YUV2RGB_YUY2),
        ("yuyv", cv2.COLOR_YUV2RGB_YUY2),
    ],
)
def test_yuv422_encodings_match_opencv_conversion(encoding, code):
    packed = RNG.integers(16, 240, (HEIGHT, WIDTH, 2), dtype=np.uint8)
    rgb = image_to_rgb(_padded_image(packed, encoding))
    np.testing.assert_array_equal(rgb, cv2.cvtColor(packed, code))


def test_uyvy_and_yuyv_read_their_own_byte_order():
    # One grey-ish pixel pair: Y=200 for both pixels, neutral chroma U=V=128.
    uyvy = np.array([[[128, 200], [128, 200]]], dtype=np.uint8)
    yuyv = np.array([[[200, 128], [200, 128]]], dtype=np.uint8)
    from_uyvy = image_to_rgb(_padded_image(uyvy, "uyvy", padding=0))
    from_yuyv = image_to_rgb(_padded_image(yuyv, "yuyv", padding=0))
    np.testing.assert_array_equal(from_uyvy, from_yuyv)
    assert np.all(np.abs(from_uyvy.astype(int) - 214) <= 2)  # BT.601 limited range: (200 - 16) * 255 / 219


def test_yuv422_odd_width_is_rejected():
    with pytest.raises(ImageConversionError, match="even width"):
        image_to_rgb(_padded_image(np.zeros((2, 3, 2), np.uint8), "uyvy"))


def test_message_data_as_list_or_array_is_accepted():
    msg = _padded_image(RGB, "rgb8")
    expected = image_to_rgb(msg)
    msg_list = _padded_image(RGB, "rgb8", padding=0)
    msg_list.data = list(RGB.tobytes())
    np.testing.assert_array_equal(image_to_rgb(msg_list), expected)
    assert isinstance(msg.data, array.array)


def test_unsupported_encoding_is_named_with_supported_list():
    msg = _padded_image(np.zeros((2, 2), np.uint16), "mono16")
    with pytest.raises(ImageConversionError, match=r"'mono16'.*supported: rgb8, bgr8, .*yuyv"):
        image_to_rgb(msg)


def test_truncated_data_reports_expected_and_actual_bytes():
    msg = _padded_image(RGB, "rgb8")
    step = msg.step
    msg.data = msg.data[:-1]
    with pytest.raises(ImageConversionError, match=rf"expected .*{step * HEIGHT} bytes, got {step * HEIGHT - 1}"):
        image_to_rgb(msg)


def test_step_smaller_than_row_is_rejected():
    msg = _padded_image(RGB, "rgb8")
    msg.step = WIDTH * 3 - 1
    with pytest.raises(ImageConversionError, match="step"):
        image_to_rgb(msg)


@pytest.mark.parametrize(("step", "message"), [(0, r"step 0 is smaller"), (6, r"expected step 6 \* height 2147483648")])
def test_huge_declared_image_without_a_pixel_limit_is_refused_from_its_data_size(step, message):
    msg = Image(encoding="rgb8", height=2**31, width=2, step=step, data=bytes(24))
    with pytest.raises(ImageConversionError, match=message):
        image_to_rgb(msg, max_pixels=0)


def test_zero_size_is_rejected():
    msg = Image(encoding="rgb8", height=0, width=4, step=12)
    with pytest.raises(ImageConversionError, match="zero size"):
        image_to_rgb(msg)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_images_decode_to_rgb(extension):
    smooth = np.zeros((16, 16, 3), np.uint8)
    smooth[..., 0], smooth[..., 2] = 220, 30  # flat colour so JPEG is near exact
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(smooth, cv2.COLOR_RGB2BGR))
    assert ok
    rgb = compressed_to_rgb(CompressedImage(format=extension[1:], data=encoded.tobytes()))
    assert rgb.shape == (16, 16, 3)
    tolerance = 0 if extension == ".png" else 3
    assert np.abs(rgb.astype(int) - smooth).max() <= tolerance


def test_compressed_decoding_works_without_imread_color_rgb(monkeypatch):
    """OpenCV before 4.11 (Humble's 4.5, Jazzy's 4.6) has no IMREAD_COLOR_RGB: decoding must not need it."""
    monkeypatch.delattr(cv2, "IMREAD_COLOR_RGB", raising=False)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(RGB, cv2.COLOR_RGB2BGR))
    assert ok
    np.testing.assert_array_equal(compressed_to_rgb(CompressedImage(format="png", data=encoded.tobytes())), RGB)


def test_compressed_grayscale_png_expands_to_three_channels():
    gray = RGB[..., 1]
    ok, encoded = cv2.imencode(".png", gray)
    assert ok
    rgb = compressed_to_rgb(CompressedImage(format="png", data=encoded.tobytes()))
    np.testing.assert_array_equal(rgb, np.dstack([gray, gray, gray]))


@pytest.mark.parametrize("data", [b"", b"not an image at all"])
def test_undecodable_compressed_image_names_format(data):
    with pytest.raises(ImageConversionError, match="'jpeg'"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=data))


def test_compressed_image_above_the_pixel_limit_is_refused_before_decoding():
    bomb = png_of_zeros(12000, 9000)  # 108 MP from a ~100 KB file
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ImageConversionError, match=r"12000x9000 = 108 MP, above the limit of 50 MP"):
            compressed_to_rgb(CompressedImage(format="png", data=bomb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000, "refused from the header, without decoding"
    small = png_of_zeros(40, 30)
    assert compressed_to_rgb(CompressedImage(format="png", data=small), max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(ImageConversionError, match="40x30"):
        compressed_to_rgb(CompressedImage(format="png", data=small), max_pixels=1199)


def test_compressed_image_beyond_what_opencv_decodes_is_a_conversion_error_without_a_pixel_limit():
    """With max_pixels 0 the header's size reaches OpenCV, which refuses above 2^30 pixels with cv2.error."""
    with pytest.raises(ImageConversionError, match=r"'png' \(\d+ bytes\) of 40000x30000: .*CV_IO_MAX_IMAGE_PIXELS"):
        compressed_to_rgb(CompressedImage(format="png", data=png_header_only(40000, 30000)), max_pixels=0)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_encoded_image_size_reads_the_header(extension):
    ok, encoded = cv2.imencode(extension, np.zeros((37, 53, 3), np.uint8))
    assert ok and encoded_image_size(encoded) == (53, 37)
    assert encoded_image_size(encoded[:10]) is None


def test_jpeg_size_is_found_behind_other_segments():
    _, encoded = cv2.imencode(".jpg", np.zeros((21, 34, 3), np.uint8))
    data = encoded.tobytes()
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 3000) + b"x" * 3000  # a long COM segment before the frame
    assert encoded_image_size(np.frombuffer(data[:2] + comment + data[2:], np.uint8)) == (34, 21)


def test_raw_image_above_the_pixel_limit_is_refused():
    msg = _padded_image(np.zeros((4, 5, 3), np.uint8), "rgb8")
    with pytest.raises(ImageConversionError, match="5x4"):
        image_to_rgb(msg, max_pixels=19)
    assert image_to_rgb(msg, max_pixels=20).shape == (4, 5, 3)


def test_depth_round_trip_keeps_values_and_nan():
    depth = RNG.uniform(0.1, 20.0, (HEIGHT, WIDTH)).astype(np.float32)
    depth[1, 2] = np.nan
    msg = depth_to_msg(depth, _header())
    assert (msg.encoding, msg.step, msg.height, msg.width) == ("32FC1", 4 * WIDTH, HEIGHT, WIDTH)
    assert msg.is_bigendian == (sys.byteorder == "big")
    assert msg.header.frame_id == "camera_optical" and msg.header.stamp.nanosec == 345
    assert len(msg.data) == 4 * WIDTH * HEIGHT
    back = msg_to_depth(msg)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, depth)


def test_msg_to_depth_handles_padding_and_foreign_byte_order():
    depth = RNG.uniform(0.1, 20.0, (HEIGHT, WIDTH)).astype(np.float32)
    depth[0, 0] = np.nan
    for big in (False, True):
        stored = depth.astype(">f4" if big else "<f4")
        msg = _padded_image(stored.view(np.uint8).reshape(HEIGHT, WIDTH * 4), "32FC1", padding=8)
        msg.width, msg.is_bigendian = WIDTH, big
        np.testing.assert_array_equal(msg_to_depth(msg), depth)


def test_msg_to_depth_rejects_other_encodings():
    with pytest.raises(ImageConversionError, match="'16UC1'"):
        msg_to_depth(Image(encoding="16UC1", height=1, width=1, step=2, data=b"\0\0"))


@pytest.mark.parametrize(
    ("encoding", "height", "width", "step", "data_size", "message"),
    [
        ("16UC1", 2**31, 2, 0, 24, r"step 0 is smaller than width 2 \* 2 bytes"),
        ("mono16", 2**31, 2, 4, 24, r"expected step 4 \* height 2147483648 = \d+ bytes, got 24"),
        ("32FC1", 2, 2**31, 2**33, 24, r"expected step 8589934592 \* height 2 = \d+ bytes, got 24"),
        ("32FC1", 2, 3, 11, 24, r"step 11 is smaller than width 3 \* 4 bytes"),
        ("16UC1", 0, 2**31, 2**32, 0, r"zero size"),
        ("8UC1", 1, 1, 1, 1, r"got encoding '8UC1'"),
    ],
)
def test_malformed_depth_image_is_refused_before_anything_of_its_claimed_size_is_allocated(
    encoding, height, width, step, data_size, message
):
    msg = Image(encoding=encoding, height=height, width=width, step=step, data=bytes(data_size))
    tracemalloc.start()
    try:
        with pytest.raises(ImageConversionError, match=message):
            msg_to_metres(msg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_bgr_and_rgb_to_msg_round_trip():
    bgr_msg = bgr_to_msg(np.ascontiguousarray(RGB[..., ::-1]), _header())
    assert (bgr_msg.encoding, bgr_msg.step) == ("bgr8", 3 * WIDTH)
    np.testing.assert_array_equal(image_to_rgb(bgr_msg), RGB)
    for encoding in ("rgb8", "bgr8"):
        msg = rgb_to_msg(RGB, _header(), encoding)
        assert msg.encoding == encoding
        np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    np.testing.assert_array_equal(np.frombuffer(rgb_to_msg(RGB, _header(), "bgr8").data, np.uint8)[:3], RGB[0, 0, ::-1])
    with pytest.raises(ValueError, match="mono8"):
        rgb_to_msg(RGB, _header(), "mono8")
    with pytest.raises(ValueError):
        bgr_to_msg(RGB[..., 0], _header())


def _camera_info() -> CameraInfo:
    return CameraInfo(
        header=_header(),
        width=640,
        height=480,
        distortion_model="plumb_bob",
        d=[0.1, -0.2, 0.001, 0.002, 0.0],
        k=[500.0, 0.0, 320.0, 0.0, 400.0, 240.0, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[500.0, 0.0, 320.0, -25.0, 0.0, 400.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        binning_x=2,
        binning_y=2,
        roi=RegionOfInterest(x_offset=64, y_offset=48, width=320, height=240, do_rectify=True),
    )


def test_camera_info_calibration_and_intrinsics():
    info = _camera_info()
    assert camera_model(info).calibrated
    assert intrinsics(info) == (500.0, 400.0, 320.0, 240.0)
    assert not camera_model(CameraInfo()).calibrated
    info.k[4] = -1.0
    assert not camera_model(info).calibrated


@pytest.mark.parametrize("fx", [1e-30, 0.0, float("inf"), float("nan"), 5e-4])
def test_focal_lengths_that_are_not_finite_and_above_a_tiny_floor_are_not_a_calibration(fx):
    info = _camera_info()
    info.k[0] = fx
    assert not camera_model(info).calibrated
    with pytest.raises(ValueError, match="focal lengths must be finite"):
        backproject(np.ones((2, 2), np.float32), fx, 400.0, 1.0, 1.0)


def test_a_small_but_real_focal_length_gives_a_finite_cloud():
    info = _camera_info()
    info.k[0] = 1e-3
    assert camera_model(info).calibrated
    xyz = backproject(np.full((4, 2000), 50.0, np.float32), *intrinsics(info))
    assert np.isfinite(xyz).all()


def test_scale_camera_info_scales_k_p_roi_and_resets_binning():
    info = _camera_info()
    scaled = scale_camera_info(info, 320, 120)
    assert (scaled.width, scaled.height, scaled.binning_x, scaled.binning_y) == (320, 120, 0, 0)
    np.testing.assert_array_equal(scaled.k, [250.0, 0.0, 160.0, 0.0, 100.0, 60.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(scaled.p, [250.0, 0.0, 160.0, -12.5, 0.0, 100.0, 60.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    roi = scaled.roi
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height, roi.do_rectify) == (32, 12, 160, 60, True)
    assert scaled.distortion_model == "plumb_bob" and list(scaled.d) == list(info.d)
    np.testing.assert_array_equal(scaled.r, info.r)
    assert scaled.header == info.header and scaled.header is not info.header
    np.testing.assert_array_equal(info.k[:3], [500.0, 0.0, 320.0])  # input untouched


def test_scale_camera_info_same_size_is_an_equal_copy():
    info = _camera_info()
    same = scale_camera_info(info, 640, 480)
    assert same == info and same is not info
    same.k[0] = 1.0
    assert info.k[0] == 500.0


def test_depth_camera_info_is_scaled_and_takes_the_depth_header():
    info = _camera_info()
    header = Header(frame_id="depth_frame")
    header.stamp.sec = 99
    described = depth_camera_info(info, header, 320, 240)
    assert described.header == header and (described.width, described.height) == (320, 240)
    np.testing.assert_array_equal(described.k, [250.0, 0.0, 160.0, 0.0, 200.0, 120.0, 0.0, 0.0, 1.0])
    unsized = CameraInfo(k=info.k)
    kept = depth_camera_info(unsized, header, 320, 240)
    assert kept.header == header and (kept.width, kept.height) == (0, 0)
    np.testing.assert_array_equal(kept.k, info.k)


def _unpack_rgb_field(msg) -> np.ndarray:
    """Read the 'rgb' float32 field's bit pattern back as (N, 3) uint8 via an independent path."""
    words = np.frombuffer(msg.data, np.uint32).reshape(-1, msg.point_step // 4)[:, 3]
    return np.stack([(words >> 16) & 0xFF, (words >> 8) & 0xFF, words & 0xFF], axis=1).astype(np.uint8)


def test_organised_cloud_from_backproject_has_expected_fields_and_values():
    depth = RNG.uniform(0.5, 4.0, (HEIGHT, WIDTH)).astype(np.float32)
    depth[2, 3] = np.nan
    xyz = backproject(depth, 5.0, 6.0, 2.5, 2.0)
    cloud = points_to_cloud(xyz, _header(), RGB)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (HEIGHT, WIDTH, 16, 16 * WIDTH)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, PointField.FLOAT32, 1),
        ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1),
    ]
    assert cloud.is_dense is False
    assert cloud.is_bigendian == (sys.byteorder == "big")
    assert len(cloud.data) == 16 * HEIGHT * WIDTH
    np.testing.assert_array_equal(cloud_to_xyz(cloud), xyz)
    np.testing.assert_array_equal(_unpack_rgb_field(cloud), RGB.reshape(-1, 3))


def test_rgb_field_is_0x00rrggbb_float_bit_pattern():
    cloud = points_to_cloud(np.zeros((1, 3), np.float32), _header(), np.array([[0x12, 0x34, 0x56]], np.uint8))
    word = np.frombuffer(cloud.data, np.uint32)[3]
    assert word == 0x00123456
    assert np.frombuffer(cloud.data, np.float32)[3] == np.array([0x00123456], np.uint32).view(np.float32)[0]


def test_unorganised_cloud_without_color():
    points = RNG.uniform(-1, 1, (7, 3)).astype(np.float32)
    cloud = points_to_cloud(points, _header())
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 7, 12, 84)
    assert [f.name for f in cloud.fields] == ["x", "y", "z"]
    assert cloud.is_dense is True
    np.testing.assert_array_equal(cloud_to_xyz(cloud), points[np.newaxis])


def test_points_to_cloud_rejects_mismatched_color_and_bad_shapes():
    with pytest.raises(ValueError):
        points_to_cloud(np.zeros((4, 3), np.float32), _header(), np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError):
        points_to_cloud(np.zeros((4, 2), np.float32), _header())


def _xyz_fields(**changes: tuple[int, int, int]) -> list[PointField]:
    """FLOAT32 x, y, z at offsets 0, 4, 8; changes give a field's (offset, datatype, count) instead."""
    fields = {name: (4 * i, PointField.FLOAT32, 1) for i, name in enumerate("xyz")}
    fields.update(changes)
    return [PointField(name=name, offset=o, datatype=t, count=c) for name, (o, t, c) in fields.items()]


def _cloud(height: int, width: int, point_step: int, row_step: int, data_size: int, fields=None) -> PointCloud2:
    return PointCloud2(
        height=height,
        width=width,
        fields=_xyz_fields() if fields is None else fields,
        point_step=point_step,
        row_step=row_step,
        data=bytes(data_size),
    )


@pytest.mark.parametrize(
    ("cloud", "message"),
    [
        # the cloud: ~100 bytes serialised, 2^32 points claimed through a row_step of 0
        (_cloud(2**31, 2, 12, 0, 24), r"row_step 0 is smaller than width 2 \* point_step 12 = 24"),
        (_cloud(2**31, 2, 12, 24, 24), r"data too short: expected row_step 24 \* height 2147483648"),
        (_cloud(1, 2**31, 0, 0, 24), r"point_step is 0"),
        (_cloud(2, 4, 12, 36, 96), r"row_step 36 is smaller than width 4 \* point_step 12 = 48"),
        (_cloud(2, 2, 12, 24, 47), r"expected row_step 24 \* height 2 = 48 bytes, got 47"),
        (_cloud(1, 2, 12, 24, 24, _xyz_fields(z=(9, PointField.FLOAT32, 1))), r"field z at offset 9 .* point_step 12"),
        (_cloud(1, 2, 12, 24, 24, _xyz_fields()[:2]), r"no field z"),
        (_cloud(1, 2, 12, 24, 24, _xyz_fields(z=(8, PointField.FLOAT64, 1))), r"field z has datatype 8 \(FLOAT64\)"),
        (_cloud(1, 2, 12, 24, 24, _xyz_fields(y=(4, 42, 1))), r"field y has datatype 42 \(unknown\)"),
        (_cloud(1, 2, 12, 24, 24, _xyz_fields(x=(0, PointField.FLOAT32, 3))), r"field x has count 3"),
    ],
    ids=[
        "issue-row-step-0",
        "huge-height",
        "point-step-0",
        "row-step-short",
        "truncated",
        "offset-outside",
        "missing-z",
        "float64",
        "unknown-datatype",
        "count-3",
    ],
)
def test_malformed_cloud_is_refused_before_anything_of_its_claimed_size_is_allocated(cloud, message):
    tracemalloc.start()
    try:
        with pytest.raises(CloudConversionError, match=message):
            cloud_to_xyz(cloud)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_cloud_with_padded_points_and_rows_in_either_byte_order_is_read():
    points = RNG.uniform(-5, 5, (3, 4, 3)).astype(np.float32)
    for big in (False, True):
        # point: 4 bytes of another field, then z, x, y; rows padded by 5 bytes
        block = np.zeros((3, 4 * 20 + 5), np.uint8)
        stored = points.astype(">f4" if big else "<f4").view(np.uint8).reshape(3, 4, 3, 4)
        layout = block[:, :80].reshape(3, 4, 20)
        for axis, offset in zip(range(3), (8, 12, 4), strict=True):
            layout[..., offset : offset + 4] = stored[:, :, axis]
        fields = _xyz_fields(x=(8, PointField.FLOAT32, 1), y=(12, PointField.FLOAT32, 1), z=(4, PointField.FLOAT32, 1))
        cloud = PointCloud2(
            height=3, width=4, fields=fields, is_bigendian=big, point_step=20, row_step=85, data=block.tobytes()
        )
        np.testing.assert_array_equal(cloud_to_xyz(cloud), points)


def test_empty_cloud_gives_no_points():
    assert cloud_to_xyz(_cloud(1, 0, 12, 0, 0)).shape == (1, 0, 3)
