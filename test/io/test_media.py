"""Frame reading (video files, image folders) and depth file writing, without a model."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from vda_ros.io.media import (
    DepthVideoOutputs,
    MediaError,
    frame_stride,
    read_frames,
    scaled_size,
)

# A BGR colour whose channels differ, so a missing BGR->RGB conversion shows.
BGR = (10, 100, 200)


def write_video(path: Path, count: int, fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> None:
    """Frames of one flat colour each, brightness 20 * index in the green channel (identifiable after lossy coding)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for index in range(count):
        frame = np.empty((size[1], size[0], 3), np.uint8)
        frame[:] = (BGR[0], 20 * index, BGR[2])
        writer.write(frame)
    writer.release()


def frame_indices(frames: Iterator[np.ndarray]) -> list[int]:
    return [round(float(frame[..., 1].mean()) / 20) for frame in frames]


def read_video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_scaled_size_follows_the_official_max_res_rule() -> None:
    assert scaled_size(1920, 1080, 1280) == (1280, 720)
    assert scaled_size(960, 540, 1280) == (960, 540)
    assert scaled_size(1280, 720, 1280) == (1280, 720)
    assert scaled_size(1000, 333, 500) == (500, 166)  # 166.5 rounds half to even, as Python's round
    assert scaled_size(1920, 1080, 0) == (1920, 1080)


def test_frame_stride() -> None:
    assert frame_stride(30.0, 15.0) == 2
    assert frame_stride(29.97, 10.0) == 3
    assert frame_stride(24.0, -1) == 1
    assert frame_stride(10.0, 60.0) == 1
    assert frame_stride(0.0, 10.0) == 1


def test_folder_frames_are_rgb_in_name_order(reference_dir: Path) -> None:
    folder = reference_dir / "frames_a"
    frames, info = read_frames(folder, max_len=3)
    assert isinstance(frames, Iterator)
    assert (info.name, info.width, info.height, info.frame_count, info.fps) == ("frames_a", 128, 96, 3, 30.0)
    frames = list(frames)
    assert len(frames) == 3
    for frame, name in zip(frames, ["00000.png", "00001.png", "00002.png"], strict=True):
        assert frame.dtype == np.uint8 and frame.shape == (96, 128, 3)
        np.testing.assert_array_equal(frame, cv2.imread(str(folder / name))[..., ::-1])


def test_folder_frames_are_shrunk_bilinear(reference_dir: Path) -> None:
    frames, info = read_frames(reference_dir / "frames_a", max_res=64, max_len=1)
    assert (info.width, info.height) == (64, 48)
    rgb = cv2.imread(str(reference_dir / "frames_a" / "00000.png"))[..., ::-1]
    np.testing.assert_array_equal(next(frames), cv2.resize(np.ascontiguousarray(rgb), (64, 48)))


def test_video_frames_with_target_fps_and_max_len(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    write_video(video, count=10, fps=10.0)
    frames, info = read_frames(video, target_fps=5)
    assert (info.name, info.fps, info.width, info.height, info.frame_count) == ("clip", 5.0, 64, 48, 5)
    frames = list(frames)
    assert frame_indices(iter(frames)) == [0, 2, 4, 6, 8]
    red, _, blue = frames[0][0, 0].astype(int)
    assert abs(red - BGR[2]) < 8 and abs(blue - BGR[0]) < 8

    frames, info = read_frames(video, max_len=3)
    assert info.fps == 10.0 and info.frame_count == 3
    assert frame_indices(frames) == [0, 1, 2]


def test_video_downscale(tmp_path: Path) -> None:
    video = tmp_path / "wide.avi"
    write_video(video, count=2, size=(96, 32))
    frames, info = read_frames(video, max_res=48)
    assert (info.width, info.height) == (48, 16)
    assert all(frame.shape == (16, 48, 3) for frame in frames)


def test_missing_input(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="input not found"):
        read_frames(tmp_path / "nothing.mp4")


def test_file_that_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(MediaError, match="cannot open video"):
        read_frames(path)


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(MediaError, match="no images"):
        read_frames(tmp_path)


def test_unreadable_image_is_named(tmp_path: Path, reference_dir: Path) -> None:
    (tmp_path / "00000.png").write_bytes((reference_dir / "frames_a" / "00000.png").read_bytes())
    (tmp_path / "00001.png").write_bytes(b"not a png")
    frames, _ = read_frames(tmp_path)
    next(frames)
    with pytest.raises(MediaError, match=r"00001\.png"):
        next(frames)


def test_images_of_different_sizes_are_rejected(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((8, 10, 3), np.uint8))
    frames, _ = read_frames(tmp_path)
    with pytest.raises(MediaError, match=r"b\.png"):
        list(frames)


def test_outputs_normalise_by_the_global_range_and_write_npz(tmp_path: Path) -> None:
    depths = [np.full((16, 32), value, np.float32) for value in (2.0, 3.0, 4.0)]
    with DepthVideoOutputs(tmp_path, "clip", fps=10.0, save_npz=True, grayscale=True) as outputs:
        for depth in depths:
            outputs.add(depth)
        written = outputs.finish()
    assert written == [tmp_path / "clip_vis.mp4", tmp_path / "clip_depths.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_depths.npz", "clip_vis.mp4"]

    with np.load(tmp_path / "clip_depths.npz") as archive:
        assert list(archive.keys()) == ["depths"]
        assert archive["depths"].dtype == np.float32
        np.testing.assert_array_equal(archive["depths"], np.stack(depths))

    frames = read_video_frames(tmp_path / "clip_vis.mp4")
    assert len(frames) == 3 and frames[0].shape == (16, 32, 3)
    # Constant frames can only differ in grey level if the range spans the whole video.
    levels = [float(frame.mean()) for frame in frames]
    assert levels == pytest.approx([0.0, 127.0, 255.0], abs=6)


def test_non_finite_depths_are_stored_unchanged(tmp_path: Path) -> None:
    depth = np.array([[np.nan, 1.0], [2.0, np.inf]], np.float32)
    with DepthVideoOutputs(tmp_path, "nan", fps=5.0, save_npz=True) as outputs:
        outputs.add(depth)
        outputs.finish()
    with np.load(tmp_path / "nan_depths.npz") as archive:
        np.testing.assert_array_equal(archive["depths"][0], depth)


def test_failed_run_leaves_no_files(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="engine failed"):
        with DepthVideoOutputs(tmp_path, "clip", fps=10.0, save_npz=True) as outputs:
            outputs.add(np.ones((4, 4), np.float32))
            raise RuntimeError("engine failed")
    assert list(tmp_path.iterdir()) == []


def test_no_frames_is_an_error(tmp_path: Path) -> None:
    with DepthVideoOutputs(tmp_path, "empty", fps=10.0) as outputs:
        with pytest.raises(MediaError, match="no depth maps"):
            outputs.finish()
    assert list(tmp_path.iterdir()) == []


def test_depth_maps_of_another_shape_are_rejected(tmp_path: Path) -> None:
    with DepthVideoOutputs(tmp_path, "clip", fps=10.0) as outputs:
        outputs.add(np.zeros((4, 4), np.float32))
        with pytest.raises(ValueError, match="differs"):
            outputs.add(np.zeros((4, 5), np.float32))


def test_a_signal_between_creating_the_spool_and_the_with_block_leaves_no_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing as the spool is made (a loaded machine's race) is cleaned up like one inside the block."""
    made = contextlib.contextmanager(lambda self: (yield))

    @contextlib.contextmanager
    def interrupted_after(self: DepthVideoOutputs):  # the signal arrives as the spool's creation ends
        with made(self):
            yield
        raise KeyboardInterrupt

    monkeypatch.setattr(DepthVideoOutputs, "_writing", interrupted_after)
    with pytest.raises(KeyboardInterrupt), DepthVideoOutputs(tmp_path, "clip", fps=10.0):
        pytest.fail("the with block was entered")
    assert list(tmp_path.iterdir()) == []
