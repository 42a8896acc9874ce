"""The network's structure: official key names and shapes for all six checkpoints, strict loading, errors."""

import json
import struct
from pathlib import Path

import pytest
import torch

from vda_ros.model import ENCODERS, CheckpointError, VideoDepthAnything, load_model, random_model
from vda_ros.model.checkpoint import checkpoint_filename, read_state_dict

PARAMETER_COUNTS = {"vits": 29_035_137, "vitb": 114_441_409, "vitl": 384_390_337}


def official_keys(reference_dir: Path, encoder: str) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in (reference_dir / f"checkpoint_keys_{encoder}.txt").read_text().splitlines():
        name, rest = line.split(" ", 1)
        shape = rest.rsplit(" ", 1)[0]
        rows.append((name, tuple(int(v) for v in shape.strip("()").split(",") if v.strip())))
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ENCODERS)
def test_state_dict_matches_official_key_list(reference_dir: Path, encoder: str) -> None:
    model = VideoDepthAnything(encoder)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == official_keys(reference_dir, encoder)
    parameters = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith(".pe"))
    assert parameters == PARAMETER_COUNTS[encoder]


@pytest.mark.slow
@pytest.mark.parametrize("metric", [False, True], ids=["relative", "metric"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_all_six_configurations_load_strictly(tmp_path: Path, encoder: str, metric: bool) -> None:
    expected = random_model(encoder, seed=3, metric=metric).state_dict()
    path = tmp_path / checkpoint_filename(encoder, metric)
    torch.save(expected, path)
    loaded = load_model(path, encoder=encoder, metric=metric)
    assert loaded.encoder == encoder and loaded.metric is metric
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key


@pytest.mark.slow
def test_random_weights_follow_the_reference_rule() -> None:
    state = random_model("vits", seed=0).state_dict()
    assert torch.allclose(state["head.scratch.output_conv2.2.bias"], torch.tensor([1.0]), atol=0.1)
    assert float(state["pretrained.blocks.0.ls1.gamma"].mean()) == pytest.approx(0.1, abs=0.01)
    pe = state["head.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"]
    assert float(pe[0, 0, 1]) == 1.0 and float(pe[0, 1, 0]) == pytest.approx(float(torch.sin(torch.tensor(1.0))))
    assert not torch.equal(
        state["pretrained.cls_token"], random_model("vits", seed=1).state_dict()["pretrained.cls_token"]
    )


@pytest.fixture(scope="module")
def vits_state() -> dict[str, torch.Tensor]:
    return random_model("vits", seed=0).state_dict()


def test_missing_file_names_the_file_and_the_download(tmp_path: Path) -> None:
    path = tmp_path / "metric_video_depth_anything_vitb.pth"
    with pytest.raises(
        CheckpointError, match=r"checkpoint not found: .*metric_video_depth_anything_vitb\.pth.*--encoder vitb --metric"
    ):
        load_model(path)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(b"this is not a torch file")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(path)


def test_safetensors_file_is_refused_as_an_unsupported_format(tmp_path: Path) -> None:
    """The layout safetensors writes: header length (u64 little-endian), JSON header, raw tensor bytes."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<2f", 1.0, 2.0))
    with pytest.raises(CheckpointError) as error:
        read_state_dict(path)
    assert "safetensors file, a format vda_ros does not load" in str(error.value)
    assert "PyTorch checkpoints (.pth" in str(error.value) and "install" not in str(error.value)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    """weights_only loading: a checkpoint holding arbitrary objects is rejected, not executed."""
    path = tmp_path / "evil.pth"
    torch.save({"model": Path("/tmp")}, path)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_state_dict(path)


@pytest.mark.slow
def test_encoder_mismatch_is_named(tmp_path: Path, vits_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "video_depth_anything_vits.pth"
    torch.save(vits_state, path)
    with pytest.raises(CheckpointError, match=r"holds a vits model .* but encoder vitl was requested"):
        load_model(path, encoder="vitl")


def test_missing_and_unexpected_keys_are_listed(tmp_path: Path, vits_state: dict[str, torch.Tensor]) -> None:
    state = dict(vits_state)
    del state["head.scratch.output_conv1.bias"]
    state["head.extra.weight"] = torch.zeros(3)
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert "missing keys: head.scratch.output_conv1.bias" in str(error.value)
    assert "unexpected keys: head.extra.weight" in str(error.value)


def test_wrong_shape_is_listed(tmp_path: Path, vits_state: dict[str, torch.Tensor]) -> None:
    state = dict(vits_state)
    state["head.scratch.output_conv1.bias"] = torch.zeros(5)
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    with pytest.raises(
        CheckpointError, match=r"wrong shapes: head\.scratch\.output_conv1\.bias \(5,\) \(expected \(32,\)\)"
    ):
        load_model(path)


def test_not_a_vda_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError, match="not a Video Depth Anything checkpoint"):
        load_model(path)


def test_wrapped_state_dict_is_accepted(tmp_path: Path, vits_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save({"model": vits_state}, path)
    assert load_model(path).encoder == "vits"
