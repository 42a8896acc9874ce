"""The exported streaming step (ONNX, cache as explicit inputs/outputs) gives the PyTorch and official depth."""

from pathlib import Path

import numpy as np
import pytest

from vda_ros.model import StreamingDepth, random_model
from vda_ros.model.export import OnnxStreamingDepth, export_streaming_onnx, main
from test_model_reference import INPUT_SIZE, TOLERANCE, load_frames

FRAMES = 6


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("onnx")
    export_streaming_onnx(random_model("vits", seed=0), (96, 128), INPUT_SIZE, directory)
    return directory


def test_onnxruntime_matches_pytorch_and_official(export_dir: Path, reference_dir: Path) -> None:
    frames = load_frames(reference_dir)[:FRAMES]
    reference = np.load(reference_dir / "vits_seed0_a_stream_280.npz")["depths"][:FRAMES]
    torch_engine = StreamingDepth(random_model("vits", seed=0), input_size=INPUT_SIZE, precision="fp32")
    onnx_engine = OnnxStreamingDepth(export_dir)
    for index, frame in enumerate(frames):
        exported = onnx_engine.step(frame)
        limit = TOLERANCE * float(np.abs(reference[index]).max())
        assert np.abs(exported - torch_engine.step(frame)).max() <= limit, f"frame {index} vs PyTorch"
        assert np.abs(exported - reference[index]).max() <= limit, f"frame {index} vs official"


def test_onnx_engine_refuses_another_frame_size(export_dir: Path) -> None:
    with pytest.raises(ValueError, match="this export is for"):
        OnnxStreamingDepth(export_dir).step(np.zeros((50, 60, 3), np.uint8))


def test_export_command_names_a_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--checkpoint", str(tmp_path / "none.pth"), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "checkpoint not found" in capsys.readouterr().err
