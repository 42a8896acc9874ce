"""vda-finetune on a synthetic RGB-D recording: it learns, its checkpoint is official and loads, resuming is exact."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rgbd_helpers import render, write_folders, write_rgbd_bag

from vda_ros.cli.finetune import main, parse_settings
from vda_ros.interruption import Interrupted
from vda_ros.model import StreamingDepth, load_model
from vda_ros.model.network import VideoDepthAnything
from vda_ros.training import MetricVideoDepthLoss
from vda_ros.training.bag_data import BagSource, bag_sequence
from vda_ros.training.data import ClipSpec, DataError, Sequence, random_clip, validation_clips
from vda_ros.training.run import build_trainer, load_sequences
from vda_ros.training.settings import FinetuneSettings
from vda_ros.training.trainer import (
    HISTORY_FILE,
    STATE_FILE,
    OutputFolderError,
    Trainer,
    checkpoint_path,
    official_state_dict,
)

WIDTH, HEIGHT = 70, 56
STEPS = 16


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_folders(tmp_path_factory.mktemp("rgbd"), 32, WIDTH, HEIGHT)


def _fit_args(folders: tuple[Path, Path], output: Path) -> list[str]:
    """A streaming-mode fine-tune of the head and temporal modules, from random weights, STEPS steps."""
    rgb_dir, depth_dir = folders
    return [
        "--rgb-dir",
        str(rgb_dir),
        "--depth-dir",
        str(depth_dir),
        "--random-weights",
        "--mode",
        "streaming",
        "--clip-length",
        "3",
        "--crop-size",
        "56",
        "--val-fraction",
        "0.2",
        "--steps-per-epoch",
        str(STEPS),
        "--lr",
        "1e-3",
        "--schedule",
        "constant",
        "--freeze-backbone",
        "--no-progress",
        "--output-dir",
        str(output),
    ]


@pytest.fixture(scope="module")
def trained(folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    trainer = build_trainer(parse_settings(_fit_args(folders, tmp_path_factory.mktemp("run"))))
    trainer.run(save_every=STEPS)
    return trainer


@pytest.mark.slow
def test_loss_decreases_and_validation_improves(trained: Trainer) -> None:
    losses = [entry["loss"] for entry in trained.history["train"]]
    assert len(losses) == STEPS
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4]), losses
    start, end = trained.history["validation"][0], trained.history["validation"][-1]
    assert (start["step"], end["step"]) == (0, STEPS)
    assert end["abs_rel"] < start["abs_rel"] and end["loss"] < start["loss"], trained.history["validation"]
    assert (trained.output_dir / HISTORY_FILE).is_file() and (trained.output_dir / STATE_FILE).is_file()


@pytest.mark.slow
def test_checkpoint_is_official_and_vda_video_gives_the_in_memory_depth(
    trained: Trainer, folders: tuple[Path, Path], reference_dir: Path, tmp_path: Path
) -> None:
    path = checkpoint_path(trained.output_dir, "vits", metric=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    expected_keys = [line.split()[0] for line in (reference_dir / "checkpoint_keys_vits.txt").read_text().splitlines()]
    assert list(state) == expected_keys
    assert all(v.dtype == torch.float32 and v.device.type == "cpu" for v in state.values())
    load_model(path, encoder="vits")  # strict keys and shapes
    from vda_ros.cli import video

    assert (
        video.main(
            [
                str(folders[0]),
                "--checkpoint",
                str(path),
                "--mode",
                "stream",
                "--input-size",
                "56",
                "--max-len",
                "3",
                "--save-npz",
                "--output-dir",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    written = np.load(tmp_path / "rgb_depths.npz")["depths"]
    engine = StreamingDepth(trained.model, input_size=56, precision="fp32")
    expected = np.stack([engine.step(render(i, WIDTH, HEIGHT)[0]) for i in range(3)])
    assert np.abs(written - expected).max() <= 1e-5 * (expected.max() - expected.min())


def _resume_args(bag: Path, output: Path) -> list[str]:
    return [
        "--bag",
        str(bag),
        "--image-topic",
        "/cam/image_raw",
        "--depth-topic",
        "/cam/depth",
        "--random-weights",
        "--mode",
        "offline",
        "--clip-length",
        "3",
        "--crop-size",
        "56",
        "--val-fraction",
        "0",
        "--steps-per-epoch",
        "2",
        "--save-every",
        "1",
        "--lr",
        "1e-3",
        "--freeze-backbone",
        "--no-progress",
        "--output-dir",
        str(output),
    ]


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    bag = tmp_path / "rgbd_bag"
    write_rgbd_bag(bag, 6, WIDTH, HEIGHT)
    assert main(_resume_args(bag, tmp_path / "whole")) == 0

    interrupted = build_trainer(parse_settings(_resume_args(bag, tmp_path / "parts")))

    def stop_at_two(_: float) -> None:
        if interrupted.step == 2:
            raise KeyboardInterrupt  # after step 2's update, before its save: the saved state is step 1's

    with pytest.raises(KeyboardInterrupt):
        interrupted.run(save_every=1, on_step=stop_at_two)
    assert torch.load(tmp_path / "parts" / STATE_FILE, weights_only=True)["step"] == 1
    assert main([*_resume_args(bag, tmp_path / "parts"), "--resume"]) == 0

    whole = torch.load(checkpoint_path(tmp_path / "whole", "vits", False), weights_only=True)
    parts = torch.load(checkpoint_path(tmp_path / "parts", "vits", False), weights_only=True)
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    states = [torch.load(tmp_path / d / STATE_FILE, weights_only=True) for d in ("whole", "parts")]
    assert states[0]["step"] == states[1]["step"] == 2
    assert [e["loss"] for e in states[0]["history"]["train"]] == [e["loss"] for e in states[1]["history"]["train"]]


def test_bag_pairs_depth_camera_and_lidar_ground_truth(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_rgbd_bag(bag, 4, 40, 30)
    truth = [render(i, 40, 30) for i in range(4)]
    camera = bag_sequence(BagSource(bag, "/cam/image_raw", "/cam/depth"), shorter_side=30)
    assert len(camera) == 4
    for (rgb, depth), got_rgb, got_depth in zip(truth, camera.rgb, camera.depth, strict=True):
        assert np.array_equal(got_rgb, rgb)
        assert np.abs(got_depth - depth).max() <= 0.0005 + 1e-6
    lidar = bag_sequence(BagSource(bag, "/cam/image_raw", "/lidar/points"), shorter_side=30)
    for (_, depth), got in zip(truth, lidar.depth, strict=True):
        hit = np.isfinite(got)
        assert 0.08 < hit.mean() < 0.15  # every 3rd row and column
        assert np.abs(got[hit] - depth[hit]).max() <= 1e-4
    with pytest.raises(DataError, match="within 1 ms"):
        bag_sequence(BagSource(bag, "/cam/image_raw", "/cam/depth", max_time_offset_ns=1_000_000), shorter_side=30)
    with pytest.raises(DataError, match="no topic /nope"):
        bag_sequence(BagSource(bag, "/cam/image_raw", "/nope"), shorter_side=30)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--crop-size", "50"], "crop_size must be from 14 to 2044 in steps of 14; got 50"),
        (["--crop-width", "20"], "crop_width must be from 0 to 2044 in steps of 14; got 20"),
        (["--clip-length", "40"], "clip_length above 32 needs mode streaming (offline windows have 32 frames)"),
        (["--clip-length", "1"], "clip_length must be from 2 to 2147483647; got 1"),
        (["--precision", "fp16", "--device", "cpu"], "precision fp16 trains on CUDA only"),
        (["--precision", "int8"], "precision int8 is for inference; training takes auto, fp32, fp16, bf16"),
        (["--val-fraction", "1"], "val_fraction must be below 1"),
        (["--min-depth", "5", "--max-depth", "2"], "min_depth 5.0 is greater than max_depth 2.0"),
        (["--lr", "-0.5"], "lr must be from 0 to 1; got -0.5"),
        (["--seed", "-1"], "seed must be from 0 to 4294967295; got -1"),
        (["--depth-dir", "other"], "give one depth_dir for each rgb_dir"),
    ],
)
def test_bad_options_are_usage_errors(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = [
        "--rgb-dir",
        str(folders[0]),
        "--depth-dir",
        str(folders[1]),
        "--random-weights",
        "--output-dir",
        str(tmp_path),
    ]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert "vda-finetune: error:" in err and message in err and "Traceback" not in err


def test_data_errors_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bag", str(tmp_path / "missing"), "--random-weights", "--output-dir", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["--random-weights", "--output-dir", str(tmp_path)]) == 2
    assert "no training data" in capsys.readouterr().err


def test_clips_without_ground_truth_are_redrawn_then_refused() -> None:
    rgb = [np.zeros((14, 14, 3), np.uint8)] * 3
    blind = Sequence("blind", rgb, [np.full((14, 14), np.nan, np.float32)] * 3)
    seeing = Sequence("seeing", rgb, [np.ones((14, 14), np.float32)] * 3)
    spec = ClipSpec(2, 14, 14)
    rng = np.random.default_rng(0)
    assert all(np.isfinite(random_clip([blind, seeing], spec, rng).depth).all() for _ in range(5))
    assert len(validation_clips([blind, seeing], spec)) == 1
    with pytest.raises(DataError, match="no valid ground-truth"):
        random_clip([blind], spec, rng)


def test_metric_loss_is_scale_sensitive() -> None:
    target = torch.rand(1, 3, 8, 8) + 1
    mask = torch.ones(1, 3, 8, 8, dtype=torch.bool)
    loss = MetricVideoDepthLoss()
    exact, doubled = loss(target, target, mask), loss(2 * target, target, mask)
    assert exact["spatial_loss"] < 1e-2
    assert abs(doubled["spatial_loss"].item() - np.log(2) * np.sqrt(0.5)) < 1e-3


def _unusable_state(case: str, trained: Trainer, path: Path) -> tuple[str, list[str]]:
    """Write a training state that --resume cannot use at path; what the error must say, and extra options."""
    saved = trained.output_dir / STATE_FILE
    if case == "empty":
        path.write_bytes(b"")
        return "is empty", []
    if case in ("truncated", "text"):
        data = saved.read_bytes()
        path.write_bytes(data[: len(data) // 2] if case == "truncated" else b"step: 16\n")
        return "is damaged or not a vda-finetune training state (torch.load failed with", []
    if case == "checkpoint":
        shutil.copy(checkpoint_path(trained.output_dir, "vits", metric=False), path)
        return "only weights (a checkpoint; start from it with --checkpoint)", []
    if case == "list":
        torch.save([1, 2, 3], path)
        return "is not a vda-finetune training state (it holds a list)", []
    state = torch.load(saved, map_location="cpu", weights_only=True)
    if case == "no_optimizer":
        del state["optimizer"]
        torch.save(state, path)
        return "is not a vda-finetune training state (no usable optimizer)", []
    if case == "vitb":
        state["model"] = official_state_dict(VideoDepthAnything("vitb"))
        torch.save(state, path)
        return "was saved by a vitb model; this run trains a vits model", []
    shutil.copy(saved, path)  # "metric": the right file, but this run trains a metric model
    return "was saved by a vits model; this run trains a metric vits model", ["--metric"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["empty", "truncated", "text", "checkpoint", "list", "no_optimizer", "vitb", "metric"])
def test_resume_from_an_unusable_training_state_is_an_error_naming_it(
    trained: Trainer, folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """An empty state was an EOFError traceback, a truncated one a RuntimeError, a checkpoint a KeyError."""
    output = tmp_path / "run"
    output.mkdir()
    state = output / STATE_FILE
    message, extra = _unusable_state(case, trained, state)
    before = state.stat()
    assert main([*_fit_args(folders, output), "--resume", *extra]) == 2
    err = capsys.readouterr().err
    assert f"vda-finetune: error: cannot resume: {state}" in err and message in err and "Traceback" not in err, err
    after = state.stat()
    assert list(output.iterdir()) == [state]  # nothing written, the state untouched
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """mount(options): a fresh tmpfs at tmp_path/mnt (a real full or read-only file system; needs root)."""
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()

    def mount(options: str) -> Path:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {result.stderr.strip()}")
        return mount_point

    yield mount
    if os.path.ismount(mount_point):
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize(
    ("place", "message"),
    [
        ("a file", "cannot write to the output folder {output}: it is a file, not a folder"),
        ("under a file", "cannot write to the output folder {output}: a part of its path is a file, not a folder"),
        (
            "full disk",
            "cannot write to the output folder {output}: there is no room for 288 MB in it (No space left on device)",
        ),
        ("read-only disk", "cannot write to the output folder {output}: it cannot be created (Read-only file system)"),
    ],
)
def test_an_output_folder_that_cannot_take_the_saves_is_refused_before_training(
    folders: tuple[Path, Path],
    tmp_path: Path,
    tmpfs: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    place: str,
    message: str,
) -> None:
    """It was found only at the first save, after the training time was spent (FileExistsError, OSError)."""
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    if place in ("a file", "under a file"):
        parent, output = tmp_path, blocker if place == "a file" else blocker / "run"
    else:
        parent = tmpfs("size=1m" if place == "full disk" else "ro,size=1m")
        output = parent / "run"
    contents = sorted(parent.iterdir())
    monkeypatch.setattr(Trainer, "run", lambda *_: pytest.fail("trained before finding the output folder unusable"))
    assert main(_fit_args(folders, output)) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"vda-finetune: error: {message.format(output=output)}\n") and "Traceback" not in err, err
    assert sorted(parent.iterdir()) == contents and blocker.read_text() == "not a folder"


def test_the_output_check_leaves_nothing_and_a_later_failed_save_names_the_folder(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    output = tmp_path / "new" / "run"
    trainer = build_trainer(parse_settings(_fit_args(folders, output)))
    assert list(tmp_path.iterdir()) == []  # checked by writing, then removed with the folders made for it
    output.parent.mkdir()
    output.write_text("a file where the folder was")
    with pytest.raises(OutputFolderError, match=f"^cannot save step 0 in {output}: File exists$"):
        trainer.save()


def test_input_size_is_the_deprecated_spelling_of_crop_size_here(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """vda-finetune's --input-size was its crop height; everywhere else input_size is the network input size."""
    args = [arg if arg != "--crop-size" else "--input-size" for arg in _fit_args(folders, tmp_path)]
    settings = parse_settings(args)
    assert "warning: 'input_size' is deprecated; use crop_size" in capsys.readouterr().err
    assert settings == parse_settings(_fit_args(folders, tmp_path)) and settings.crop == (56, 56)
    assert FinetuneSettings.from_values(settings.values()) == settings, "the model's input_size is not read back"
    assert capsys.readouterr().err == ""
    assert parse_settings([*args, "--crop-width", "70"]).crop == (56, 70)


def test_max_stamp_diff_is_the_deprecated_spelling_of_max_time_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "bag"
    write_rgbd_bag(bag, 4, 40, 30)
    args = ["--bag", str(bag), "--image-topic", "/cam/image_raw", "--depth-topic", "/cam/depth", "--random-weights"]
    args += ["--output-dir", str(tmp_path / "run")]
    assert len(load_sequences(parse_settings(args), 30)[0]) == 4
    for spelling in ("--max-time-offset", "--max-stamp-diff"):
        settings = parse_settings([*args, spelling, "0.000001"])
        assert settings.pairing.max_time_offset == 1e-6
        assert ("'max_stamp_diff' is deprecated; use max_time_offset" in capsys.readouterr().err) == (
            spelling == "--max-stamp-diff"
        )
        with pytest.raises(DataError, match=r"within 0\.001 ms of its stamp"):
            load_sequences(settings, 30)


def test_lists_are_given_one_item_per_flag(tmp_path: Path) -> None:
    settings = parse_settings(
        ["--bag", "a", "--bag", "b", "--rgb-dir", "r", "--depth-dir", "d", "--output-dir", str(tmp_path)]
    )
    assert (settings.bag, settings.rgb_dir, settings.depth_dir) == (("a", "b"), ("r",), ("d",))
    lidar = parse_settings(["--bag", "a", "--lidar-to-camera", "1", "2", "3", "0", "0", "0", "1", "--output-dir", "o"])
    assert lidar.lidar_to_camera == (1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0)


def test_a_missing_device_is_the_model_factorys_error(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*_fit_args(folders, tmp_path / "run"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vda-finetune: error: device 'cuda' requested but CUDA is not available"), err
    assert not (tmp_path / "run").exists()


def test_an_interrupted_run_says_at_which_step_and_exits_130(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT and SIGTERM reach the run as Interrupted (run_tool): status 130, the step, what --resume does."""
    train_step = Trainer.train_step

    def interrupted_after_two(trainer: Trainer) -> float:
        if trainer.step == 2:
            raise Interrupted("SIGTERM")
        return train_step(trainer)

    monkeypatch.setattr(Trainer, "train_step", interrupted_after_two)
    assert main([*_fit_args(folders, tmp_path / "run"), "--save-every", "1"]) == 130
    err = capsys.readouterr().err
    assert err.endswith(
        "vda-finetune: interrupted (SIGTERM at step 2); --resume continues from the last saved step\n"
    ), err
    assert torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)["step"] == 2
