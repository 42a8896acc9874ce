"""vda-export-onnx writes the backends' graphs; run by hand with onnxruntime they give the PyTorch depth."""

import errno
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from test_model_reference import TOLERANCE, load_frames

from vda_ros.cli.export_onnx import build_parser, main
from vda_ros.core.options import from_args
from vda_ros.model import StreamingDepth, export, random_model
from vda_ros.model.backends.graphs import cache_names
from vda_ros.model.export import ExportSettings
from vda_ros.model.preprocess import network_size, preprocess, to_frame_size
from vda_ros.model.streaming import stream_window

FRAMES = 4
INPUT_SIZE = 70
"""Small graphs export and run fast; parity with the official outputs at 280 is test_backends' (same export)."""


@pytest.mark.slow
def test_exported_files_run_as_a_stream_by_hand(tmp_path: Path, reference_dir: Path) -> None:
    """A runtime outside vda_ros (as a TensorRT user's) owns the slots: export.json says all it needs."""
    assert (
        main(
            [
                "--random-weights",
                "--frame-size",
                "128x96",
                "--input-size",
                str(INPUT_SIZE),
                "--output-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    info = json.loads((tmp_path / "export.json").read_text())
    first = onnxruntime.InferenceSession(str(tmp_path / "first.onnx"), providers=["CPUExecutionProvider"])
    step = onnxruntime.InferenceSession(str(tmp_path / "step.onnx"), providers=["CPUExecutionProvider"])
    buffers = {name: np.zeros(shape, np.float32) for name, shape in info["cache_shapes"].items()}
    frames = load_frames(reference_dir)[:FRAMES]
    engine = StreamingDepth(random_model("vits", seed=0), input_size=INPUT_SIZE)
    size = network_size(96, 128, INPUT_SIZE)
    assert info["network_size"] == list(size)
    for t, frame in enumerate(frames):
        feeds = {"image": preprocess(frame, size)[None].numpy()}
        if t == 0:
            outputs, slot = first.run(None, feeds), 0
        else:
            window = stream_window(t)
            outputs = step.run(None, {**feeds, "onehot": window.onehot.numpy(), **buffers})
            slot = window.write_slot
        for name, entry in zip(cache_names(), outputs[1:], strict=True):
            buffers[name][:, :, slot] = entry[:, :, 0]
        assert outputs[0].shape[1:] == size
        # The engine resizes its network-size output to the frame; the hand-run output goes the same way.
        got = to_frame_size(torch.from_numpy(outputs[0]), 96, 128)[0].numpy()
        want = engine.step(frame)
        assert np.abs(got - want).max() <= TOLERANCE * float(np.abs(want).max()), f"frame {t}"


def test_export_command_names_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--checkpoint", str(tmp_path / "none.pth"), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "checkpoint not found" in capsys.readouterr().err


@pytest.mark.slow
def test_the_old_size_flag_still_sets_the_frame_size_and_says_what_replaces_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--random-weights", "--size", "128x96", "--input-size", str(INPUT_SIZE), "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    assert json.loads((tmp_path / "export.json").read_text())["frame_size"] == [96, 128]
    err = capsys.readouterr().err
    assert err.count("warning: 'size' is deprecated; use frame_size\n") == 1, err


def test_old_and_new_size_spellings_give_the_same_settings() -> None:
    warnings: list[str] = []
    old = from_args(
        ExportSettings, build_parser().parse_args(["--size", "320x240", "--output-dir", "x"]), warnings.append
    )
    new = from_args(ExportSettings, build_parser().parse_args(["--frame-size", "320x240", "--output-dir", "x"]))
    assert old == new and old.frame_shape == (240, 320)
    assert warnings == ["'size' is deprecated; use frame_size"]


def exit_status(argv: list[str]) -> int:
    """The tool's exit status, whether argparse exits or main returns it."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return int(exit_info.code)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--frame-size", "640"], "frame_size must be WxH, e.g. 640x480; got '640'"),
        (["--size", "640"], "frame_size must be WxH, e.g. 640x480; got '640'"),
        (["--frame-size", "0x0"], "frame_size must be WxH with both sides at least 1 pixel; got '0x0'"),
        (["--frame-size", "640x-480"], "frame_size must be WxH with both sides at least 1 pixel; got '640x-480'"),
        (["--input-size", "0"], "input_size must be from 56 to 2044 in steps of 14; got 0"),
        (["--input-size", "43"], "input_size must be from 56 to 2044 in steps of 14; got 43"),
        (["--input-size", "2058"], "input_size must be from 56 to 2044 in steps of 14; got 2058"),
        (
            ["--frame-size", "100000x1"],
            "a 100000x1 frame is too elongated for input size 518: at an aspect ratio of 100000:1",
        ),
    ],
)
def test_export_command_refuses_sizes_the_network_cannot_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    out = tmp_path / "out"
    assert exit_status(["--random-weights", *options, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"vda-export-onnx: error: {message}" in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ("file", "it is a file, not a folder"),
        ("under-a-file", "a part of its path is a file, not a folder"),
    ],
)
def test_export_command_refuses_an_output_folder_it_cannot_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, reason: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("in the way")
    out = blocker if layout == "file" else blocker / "out"
    assert (
        main(["--random-weights", "--frame-size", "128x96", "--input-size", str(INPUT_SIZE), "--output-dir", str(out)])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        f"vda-export-onnx: error: cannot write to the output folder {out}: {reason}" in err and "Traceback" not in err
    )
    assert os.listdir(tmp_path) == ["blocker"] and blocker.read_text() == "in the way"


def test_a_full_disk_during_the_export_leaves_the_folder_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """first.onnx is written, step.onnx fills the disk: no new file, no temporary, the older export untouched."""

    def export_until_the_disk_is_full(model: object, graph: str, net_size: tuple[int, int], path: Path) -> None:
        path.write_bytes(b"half a graph")
        if graph == "next":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(export, "export_onnx", export_until_the_disk_is_full)
    older = {"first.onnx": b"older first", "step.onnx": b"older step", "export.json": b"{}"}
    for name, data in older.items():
        (tmp_path / name).write_bytes(data)
    assert (
        main(
            [
                "--random-weights",
                "--frame-size",
                "128x96",
                "--input-size",
                str(INPUT_SIZE),
                "--output-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"vda-export-onnx: error: cannot write to the output folder {tmp_path}: No space left on device" in err, err
    assert "Traceback" not in err
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == older
