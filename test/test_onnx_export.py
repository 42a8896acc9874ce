"""vda-export-onnx writes the backends' graphs; run by hand with onnxruntime they give the PyTorch depth."""

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from test_model_reference import TOLERANCE, load_frames
from vda_ros.model import StreamingDepth, random_model
from vda_ros.model.backends.graphs import cache_names
from vda_ros.model.export import main
from vda_ros.model.preprocess import network_size, preprocess, to_frame_size
from vda_ros.model.streaming import stream_window

FRAMES = 4
INPUT_SIZE = 70
"""Small graphs export and run fast; parity with the official outputs at 280 is test_backends' (same export)."""


def test_exported_files_run_as_a_stream_by_hand(tmp_path: Path, reference_dir: Path) -> None:
    """A runtime outside vda_ros (as a TensorRT user's) owns the slots: export.json says all it needs."""
    assert main(["--random-weights", "--size", "128x96", "--input-size", str(INPUT_SIZE), "--output-dir", str(tmp_path)]) == 0
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
        for name, entry in zip(cache_names(), outputs[1:]):
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


def test_export_command_refuses_a_bad_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--random-weights", "--size", "640", "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--size must be WxH" in capsys.readouterr().err
