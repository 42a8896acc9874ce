"""vda-video --save-exr and --save-ply: files read back with the same libraries, exact numbers."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from plyfile import PlyData

from vda_ros.cli.video import main
from vda_ros.core.depth_quality import flying_pixels
from vda_ros.core.geometry import backproject, inverse_depth_to_metric, scale_intrinsics
from vda_ros.io import frame_files
from vda_ros.io.files import atomic_directory
from vda_ros.io.media import read_frames

SMALL = ["--random-weights", "--device", "cpu", "--input-size", "70"]
FRAMES = 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first reference frames (128x96) in a folder named 'clip'."""
    folder = tmp_path_factory.mktemp("frames") / "clip"
    folder.mkdir()
    reference = Path(__file__).parents[1] / "fixtures" / "reference" / "frames_a"
    for source in sorted(reference.glob("*.png"))[:FRAMES]:
        shutil.copy(source, folder / source.name)
    return folder


@pytest.fixture(scope="module")
def metric_run(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("metric")
    argv = [str(clip), "--output-dir", str(out), "--metric", "--save-npz", "--save-exr", "--save-ply", *SMALL]
    assert main(argv) == 0
    return out


def npz_depths(path: Path) -> np.ndarray:
    with np.load(path) as archive:
        return archive["depths"]


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    vertex = PlyData.read(str(path))["vertex"].data
    xyz = np.stack([vertex[name] for name in "xyz"], axis=-1)
    rgb = np.stack([vertex[name] for name in ("red", "green", "blue")], axis=-1)
    return xyz, rgb


def frames_as_read(clip: Path, max_res: int = 1280) -> list[np.ndarray]:
    return list(read_frames(clip, max_res=max_res)[0])


@pytest.mark.slow
def test_exr_frames_equal_the_npz_depths(metric_run: Path) -> None:
    depths = npz_depths(metric_run / "clip_depths.npz")
    exr_dir = metric_run / "clip_depths_exr"
    assert sorted(p.name for p in exr_dir.iterdir()) == [f"frame_{i:05d}.exr" for i in range(FRAMES)]
    for index, depth in enumerate(depths):
        with OpenEXR.File(str(exr_dir / f"frame_{index:05d}.exr")) as exr:
            channels = exr.channels()
            assert list(channels) == ["Z"]
            pixels = channels["Z"].pixels
        assert pixels.dtype == np.float32 and pixels.shape == depth.shape == (96, 128)
        assert np.array_equal(pixels, depth)


@pytest.mark.slow
def test_ply_frames_equal_the_backprojection_with_the_official_camera(metric_run: Path, clip: Path) -> None:
    """Every valid pixel but the flying ones (the filter is on by default; the npz keeps every pixel)."""
    depths = npz_depths(metric_run / "clip_depths.npz")
    ply_dir = metric_run / "clip_points_ply"
    assert sorted(p.name for p in ply_dir.iterdir()) == [f"frame_{i:05d}.ply" for i in range(FRAMES)]
    for index, (depth, frame) in enumerate(zip(depths, frames_as_read(clip), strict=True)):
        xyz, rgb = read_ply(ply_dir / f"frame_{index:05d}.ply")
        grid = backproject(depth, 470.4, 470.4, 64.0, 48.0)
        flying = flying_pixels(depth, 470.4, 470.4, 64.0, 48.0)
        assert np.isfinite(depth).all() and flying.any()
        valid = ~np.isnan(grid[..., 2]) & ~flying
        assert valid.any()  # random weights' depth is all ramps: many of its pixels fly
        assert xyz.dtype == np.float32 and np.array_equal(xyz, grid[valid])
        assert rgb.dtype == np.uint8 and np.array_equal(rgb, frame[valid])
    assert PlyData.read(str(ply_dir / "frame_00000.ply")).text is False  # binary


@pytest.mark.slow
def test_relative_cloud_with_scale_and_intrinsics_of_the_unshrunk_input(clip: Path, tmp_path: Path) -> None:
    """--no-flying-pixel-filter: every pixel with a metric depth is a point."""
    k = np.array([[200.0, 0.0, 60.0], [0.0, 190.0, 50.0], [0.0, 0.0, 1.0]])
    np.save(tmp_path / "K.npy", k)
    out = tmp_path / "out"
    argv = [
        str(clip),
        "--output-dir",
        str(out),
        "--mode",
        "stream",
        "--max-res",
        "64",
        "--save-npz",
        "--save-ply",
        "--intrinsics",
        str(tmp_path / "K.npy"),
        "--relative-scale",
        "2.5",
        "--relative-shift",
        "0.1",
        "--no-flying-pixel-filter",
        *SMALL,
    ]
    assert main(argv) == 0
    depths = npz_depths(out / "clip_depths.npz")
    assert depths.shape == (FRAMES, 48, 64)
    scaled = scale_intrinsics(k, (128, 96), (64, 48))
    for index, (depth, frame) in enumerate(zip(depths, frames_as_read(clip, max_res=64), strict=True)):
        xyz, rgb = read_ply(out / "clip_points_ply" / f"frame_{index:05d}.ply")
        grid = backproject(
            inverse_depth_to_metric(depth, 2.5, 0.1), scaled[0, 0], scaled[1, 1], scaled[0, 2], scaled[1, 2]
        )
        valid = ~np.isnan(grid[..., 2])
        assert valid.any() and np.array_equal(xyz, grid[valid]) and np.array_equal(rgb, frame[valid])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "need depth in metres"),
        (["--metric", "--focal-length-x", "-1"], "focal lengths must be positive"),
        (
            ["--metric", "--intrinsics", "K.npy", "--focal-length-x", "300"],
            "either intrinsics or focal_length_x/focal_length_y, not both",
        ),
        (["--metric", "--intrinsics", "missing.npy"], "cannot read intrinsics"),
    ],
)
def test_bad_point_cloud_options_are_refused_with_the_reason(
    extra: list[str],
    message: str,
    clip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "K.npy", np.eye(3))
    out = tmp_path / "out"
    assert main([str(clip), "--output-dir", str(out), "--save-ply", *extra, *SMALL]) == 2
    err = capsys.readouterr().err
    assert "vda-video: error: point clouds" in err and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.slow
def test_interrupted_run_leaves_no_frame_folder(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Path] = []
    real_write_ply = frame_files.write_ply

    def interrupt_on_second_frame(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
        if written:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while the second frame is written
        real_write_ply(path, xyz, rgb)
        written.append(path)

    monkeypatch.setattr(frame_files, "write_ply", interrupt_on_second_frame)
    out = tmp_path / "out"
    argv = [str(clip), "--output-dir", str(out), "--mode", "stream", "--metric", "--save-exr", "--save-ply", *SMALL]
    assert main(argv) == 130
    assert written and not written[0].exists()  # the first frame's file was written, then removed
    assert list(out.iterdir()) == []


def test_atomic_directory_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "frames"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as partial:
        (partial / "new.txt").write_text("new")
        raise RuntimeError("failed half-way")
    assert [p.name for p in tmp_path.iterdir()] == ["frames"] and (target / "old.txt").exists()
    with atomic_directory(target) as partial:
        (partial / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]


def test_a_missing_writer_library_is_named_before_anything_runs(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """vda-video imports OpenEXR only for --save-exr: without it that option is refused with what to install."""
    real_import = frame_files.importlib.import_module

    def without_openexr(name: str) -> object:
        if name == "OpenEXR":
            raise ModuleNotFoundError("No module named 'OpenEXR'")
        return real_import(name)

    monkeypatch.setattr(frame_files.importlib, "import_module", without_openexr)
    out = tmp_path / "out"
    assert main([str(clip), "--output-dir", str(out), "--save-exr", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "vda-video: error: --save-exr needs the Python package OpenEXR: pip install OpenEXR" in err, err
    assert not out.exists()
