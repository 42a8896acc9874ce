"""vda-video end to end with the real engines on random weights and tiny inputs (CPU)."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from installed import installed_executable
from ros_helpers import wait_until

from vda_ros.batch.video import VideoSettings
from vda_ros.cli.video import build_parser, main
from vda_ros.core.options import from_args
from vda_ros.model.backends import onnx_backend

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


@pytest.mark.slow
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
    argv = [
        str(reference_dir / "frames_a"),
        "--output-dir",
        str(tmp_path),
        "--save-npz",
        "--mode",
        "stream",
        "--random-weights",
        "--device",
        "cpu",
        "--input-size",
        "280",
        "--max-len",
        str(frames),
    ]
    assert main(argv) == 0
    with np.load(tmp_path / "frames_a_depths.npz") as archive:
        depths = archive["depths"]
    with np.load(reference_dir / "vits_seed0_a_stream_280.npz") as archive:
        reference = archive["depths"][:frames]
    assert depths.shape == reference.shape
    assert np.abs(depths - reference).max() <= 1e-4 * np.abs(reference).max()


@pytest.mark.slow
def test_backend_option_runs_the_stream_on_onnxruntime_and_reuses_the_graphs(
    reference_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        str(reference_dir / "frames_a"),
        "--save-npz",
        "--mode",
        "stream",
        "--random-weights",
        "--device",
        "cpu",
        "--input-size",
        "280",
        "--max-len",
        "2",
        "--backend",
        "onnxruntime",
        "--backend-cache",
        str(tmp_path / "graphs"),
    ]
    assert main([*argv, "--output-dir", str(tmp_path / "first")]) == 0
    assert capsys.readouterr().err.count("built onnx graph") == 2
    assert main([*argv, "--output-dir", str(tmp_path / "second")]) == 0
    err = capsys.readouterr().err
    assert "built" not in err and err.count("loaded onnx graph") == 2, err
    with np.load(tmp_path / "second" / "frames_a_depths.npz") as archive:
        depths = archive["depths"]
    with np.load(reference_dir / "vits_seed0_a_stream_280.npz") as archive:
        reference = archive["depths"][:2]
    assert np.abs(depths - reference).max() <= 1e-4 * np.abs(reference).max()


@pytest.mark.slow
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
        [
            str(script),
            str(frames_dir),
            "--output-dir",
            str(tmp_path / "out"),
            "--encoder",
            "vitb",
            "--checkpoint",
            str(checkpoint),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert str(checkpoint) in result.stderr
    assert "vda-download-weights --encoder vitb" in result.stderr
    assert "Traceback" not in result.stderr


def write_video(path: Path, frames: int, fps: float, size: tuple[int, int] = (64, 48)) -> Path:
    """An MJPG clip of moving bars, frames distinct."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), 40, np.uint8)
        frame[:, (3 * i) % size[0] :] = 200
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.slow
def test_target_fps_above_the_source_rate_writes_at_the_source_rate(tmp_path: Path) -> None:
    video = write_video(tmp_path / "slow.avi", 4, 12.0)
    out = tmp_path / "out"
    assert main([str(video), "--output-dir", str(out), "--target-fps", "30", *SMALL]) == 0
    written = cv2.VideoCapture(str(out / "slow_vis.mp4"))
    assert written.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0), "every frame kept, so they play at 12 fps"
    assert video_frame_count(out / "slow_vis.mp4") == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--input-size", "0"], "input_size must be from 56 to 2044 in steps of 14; got 0"),
        (["--input-size", "-28"], "input_size must be from 56 to 2044 in steps of 14; got -28"),
        (["--input-size", "100"], "input_size must be from 56 to 2044 in steps of 14; got 100"),
        (["--max-len", "0"], "max_len must be a positive number of frames, or -1 for all; got 0"),
        (["--target-fps", "0"], "target_fps must be a positive rate, or -1 for the source rate; got 0.0"),
        (["--max-res", "-1"], "max_res must be from 0 to 16384; got -1"),
        (
            ["--mode", "offline", "--backend", "compile"],
            "the compile backend runs the streaming step only",
        ),
        (
            ["--backend", "openvino", "--precision", "int8"],
            "the openvino backend offers precision fp32, bf16, not int8",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    frames_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    argv = [str(frames_dir), "--output-dir", str(tmp_path / "out"), "--random-weights", "--device", "cpu", *options]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "vda-video: error:" in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_output_folder_that_cannot_be_created_is_a_usage_error(
    frames_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    assert main([str(frames_dir), "--output-dir", str(blocker / "out"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to the output folder {blocker / 'out'}" in err, err


def test_frames_too_elongated_for_the_network_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sliver"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), np.full((8, 1000, 3), 90, np.uint8))
    out = tmp_path / "out"
    assert main([str(folder), "--output-dir", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "a 1000x8 frame is too elongated for input size 70" in err and "larger input size" in err, err
    assert leftovers(out) == []


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


CHOOSE_ANOTHER_CACHE = "; choose another folder with backend_cache (--backend-cache)"


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ("file", "it is a file, not a folder"),
        ("under-a-file", "a part of its path is a file, not a folder"),
    ],
)
def test_a_backend_cache_that_cannot_be_used_is_refused_before_any_work(
    frames_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, reason: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("in the way")
    cache = blocker if layout == "file" else blocker / "graphs"
    out = tmp_path / "out"
    argv = [str(frames_dir), "--output-dir", str(out), "--backend", "onnxruntime", "--backend-cache", str(cache)]
    assert main([*argv, *SMALL]) == 2
    err = capsys.readouterr().err
    assert f"vda-video: error: the graph cache folder {cache} cannot be used: {reason}{CHOOSE_ANOTHER_CACHE}" in err, (
        err
    )
    assert "Traceback" not in err and "RANDOM WEIGHTS" not in err, "refused before the model is built"
    assert not out.exists() and blocker.read_text() == "in the way"


def test_a_full_disk_while_building_a_graph_is_a_clear_error_and_leaves_nothing(
    frames_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def export_on_a_full_disk(model: object, graph: str, net_size: tuple[int, int], path: Path) -> None:
        path.write_bytes(b"half a graph")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(onnx_backend, "export_onnx", export_on_a_full_disk)
    cache, out = tmp_path / "graphs", tmp_path / "out"
    argv = [
        str(frames_dir),
        "--output-dir",
        str(out),
        "--mode",
        "stream",
        "--backend",
        "onnxruntime",
        "--backend-cache",
        str(cache),
    ]
    assert main([*argv, *SMALL]) == 2
    err = capsys.readouterr().err
    assert f"vda-video: error: the graph cache folder {cache} cannot be used: writing onnx-first-" in err, err
    assert "failed (No space left on device: " in err and err.rstrip().endswith(CHOOSE_ANOTHER_CACHE)
    assert "Traceback" not in err
    assert leftovers(out) == [] and leftovers(cache) == []


def stopped_mid_run(video: Path, out: Path) -> subprocess.Popen[str]:
    """vda-video on video, started as a non-interactive shell's background job starts it (SIGINT ignored),
    returned frozen (SIGSTOP) while its depth spool exists: provably in the middle of its run."""
    child = subprocess.Popen(
        [sys.executable, "-m", "vda_ros.cli.video", str(video), "--output-dir", str(out), "--mode", "stream", *SMALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    spools = lambda: list(out.glob(".depth_spool.partial-*"))  # noqa: E731
    assert wait_until(lambda: child.poll() is not None or spools(), 120.0), "no depth spool appeared"
    os.kill(child.pid, signal.SIGSTOP)
    if child.poll() is not None or not spools():
        child.kill()
        raise AssertionError(f"the run ended before it could be stopped: {child.communicate()}")
    return child


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_run_and_leaves_nothing(tmp_path: Path, signum: signal.Signals) -> None:
    video = write_video(tmp_path / "long.avi", 120, 30.0)
    out = tmp_path / "out"
    child = stopped_mid_run(video, out)
    child.send_signal(signum)  # delivered once the child continues
    os.kill(child.pid, signal.SIGCONT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130, err
    assert f"vda-video: interrupted ({signum.name}); no incomplete file was left" in err and "Traceback" not in err
    assert leftovers(out) == []


@pytest.mark.slow
def test_spool_of_a_killed_run_is_removed_by_the_next_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = write_video(tmp_path / "long.avi", 120, 30.0)
    out = tmp_path / "out"
    child = stopped_mid_run(video, out)
    child.kill()
    child.communicate(timeout=60)
    [spool] = leftovers(out)
    assert main([str(video), "--output-dir", str(out), "--max-len", "2", *SMALL]) == 0
    assert (
        f"removed 1 temporary file(s) left in {out} by an interrupted earlier run: {spool}" in capsys.readouterr().err
    )
    assert leftovers(out) == ["long_vis.mp4"]


def test_the_official_fp32_shorthand_still_sets_the_precision_without_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = from_args(VideoSettings, build_parser().parse_args(["clip", "--fp32"]))
    assert settings.model.precision == "fp32" and settings.input == "clip"
    assert capsys.readouterr().err == ""
