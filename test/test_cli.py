"""vda-video end to end with the real engines on random weights and tiny inputs (CPU)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from installed import installed_executable
from vda_ros.cli import main

SMALL = ["--random-weights", "--device", "cpu", "--input-size", "70"]


def video_frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


@pytest.fixture
def frames_dir(tmp_path: Path, reference_dir: Path) -> Path:
    """The first five reference frames, in a folder named 'clip'."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for source in sorted((reference_dir / "frames_a").glob("*.png"))[:5]:
        shutil.copy(source, folder / source.name)
    return folder


def test_offline_writes_video_and_npz(frames_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([str(frames_dir), "--output-dir", str(out), "--save-npz", *SMALL]) == 0

    assert sorted(p.name for p in out.iterdir()) == ["clip_depths.npz", "clip_vis.mp4"]
    with np.load(out / "clip_depths.npz") as archive:
        assert list(archive.keys()) == ["depths"]
        depths = archive["depths"]
    assert depths.dtype == np.float32 and depths.shape == (5, 96, 128)
    assert np.isfinite(depths).all()
    assert video_frame_count(out / "clip_vis.mp4") == 5

    captured = capsys.readouterr()
    assert "RANDOM WEIGHTS" in captured.err and "RANDOM WEIGHTS" in captured.out
    assert "5 frames in" in captured.out and "clip_vis.mp4" in captured.out


def test_stream_mode_matches_the_official_streaming_output(reference_dir: Path, tmp_path: Path) -> None:
    """Folder reading, the streaming engine and the npz writer together reproduce the reference run."""
    frames = 2  # frame 0 runs without the temporal cache, frame 1 with it
    argv = [str(reference_dir / "frames_a"), "--output-dir", str(tmp_path), "--save-npz", "--mode", "stream",
            "--random-weights", "--device", "cpu", "--input-size", "280", "--max-len", str(frames)]
    assert main(argv) == 0
    with np.load(tmp_path / "frames_a_depths.npz") as archive:
        depths = archive["depths"]
    with np.load(reference_dir / "vits_seed0_a_stream_280.npz") as archive:
        reference = archive["depths"][:frames]
    assert depths.shape == reference.shape
    assert np.abs(depths - reference).max() <= 1e-4 * np.abs(reference).max()


def test_video_input_in_grayscale(tmp_path: Path, reference_dir: Path) -> None:
    video = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (128, 96))
    for source in sorted((reference_dir / "frames_a").glob("*.png"))[:6]:
        writer.write(cv2.imread(str(source)))
    writer.release()
    out = tmp_path / "out"
    assert main([str(video), "--output-dir", str(out), "--grayscale", "--target-fps", "6", *SMALL]) == 0
    assert [p.name for p in out.iterdir()] == ["tiny_vis.mp4"]
    assert video_frame_count(out / "tiny_vis.mp4") == 3
    frame = cv2.VideoCapture(str(out / "tiny_vis.mp4")).read()[1]
    assert np.abs(frame[..., 0].astype(int) - frame[..., 2]).max() <= 8  # grey: channels (nearly) equal


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "absent.mp4"), "--output-dir", str(tmp_path / "out"), *SMALL]) == 2
    assert "input not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_default_checkpoint_names_file_and_download(
    frames_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VDA_CHECKPOINT_DIR", str(tmp_path / "weights"))
    assert main([str(frames_dir), "--output-dir", str(tmp_path / "out"), "--metric"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "weights" / "metric_video_depth_anything_vits.pth") in err
    assert "vda-download-weights --encoder vits --metric" in err
    assert not (tmp_path / "out").exists()


def test_console_script_reports_missing_checkpoint_without_traceback(frames_dir: Path, tmp_path: Path) -> None:
    script = installed_executable("vda-video")
    checkpoint = tmp_path / "nowhere" / "video_depth_anything_vitb.pth"
    result = subprocess.run(
        [str(script), str(frames_dir), "--output-dir", str(tmp_path / "out"), "--encoder", "vitb",
         "--checkpoint", str(checkpoint)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert str(checkpoint) in result.stderr
    assert "vda-download-weights --encoder vitb" in result.stderr
    assert "Traceback" not in result.stderr
