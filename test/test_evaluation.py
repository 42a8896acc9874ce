"""vda-eval and vda_ros.evaluation: equal to the official benchmark code on its fixture; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vda_ros.eval_cli import main as eval_main
from vda_ros.evaluation import Crop, evaluate

FIXTURE = Path(__file__).parent / "fixtures" / "official_metrics.npz"


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def settings(fixture) -> dict:
    return dict(max_depth=float(fixture["max_depth"]), crop=Crop(*map(int, fixture["crop"])))


def test_relative_mode_and_tae_equal_the_official_code(fixture):
    metrics = evaluate(fixture["relative"], fixture["gt"], "affine-disparity", poses=fixture["poses"],
                       intrinsics=fixture["intrinsics"], **settings(fixture))
    got = [metrics.abs_rel, metrics.rmse, metrics.delta1, metrics.tae]
    np.testing.assert_allclose(got, fixture["expected_relative"], rtol=1e-6)
    assert metrics.frames == 6


def test_metric_mode_equals_the_official_metric_functions(fixture):
    metrics = evaluate(fixture["metric"], fixture["gt"], "none", **settings(fixture))
    np.testing.assert_allclose([metrics.abs_rel, metrics.rmse, metrics.delta1], fixture["expected_metric"], rtol=1e-6)


def test_scale_mode_recovers_a_wrong_scale_exactly(fixture):
    truth = np.where(fixture["gt"] > 0, fixture["gt"], 1.0).astype(np.float32)
    metrics = evaluate(2.0 * truth, truth, "scale", max_depth=100.0)
    assert metrics.abs_rel == pytest.approx(0.0, abs=1e-6) and metrics.delta1 == 1.0
    assert metrics.scale == pytest.approx(2.0, rel=1e-6)


def write_inputs(tmp_path: Path, fixture) -> tuple[Path, Path]:
    pred, gt = tmp_path / "pred.npz", tmp_path / "gt.npz"
    np.savez(pred, depths=fixture["relative"])
    np.savez(gt, depths=fixture["gt"])
    return pred, gt


def test_cli_prints_and_writes_the_official_numbers(tmp_path, fixture, capsys):
    pred, gt = write_inputs(tmp_path, fixture)
    np.save(tmp_path / "poses.npy", fixture["poses"])
    np.save(tmp_path / "k.npy", fixture["intrinsics"])
    crop = [str(v) for v in fixture["crop"]]
    code = eval_main([str(pred), str(gt), "--max-depth", "8", "--crop", *crop, "--poses", str(tmp_path / "poses.npy"),
                      "--intrinsics", str(tmp_path / "k.npy"), "--json", str(tmp_path / "out.json")])
    assert code == 0
    result = json.loads((tmp_path / "out.json").read_text())
    got = [result[key] for key in ("abs_rel", "rmse", "delta1", "tae")]
    np.testing.assert_allclose(got, fixture["expected_relative"], rtol=1e-6)
    printed = capsys.readouterr().out
    assert "abs_rel" in printed and f"{result['abs_rel']:.4f}" in printed


def test_cli_reads_a_folder_of_16_bit_png_millimetres(tmp_path, fixture):
    folder = tmp_path / "gt"
    folder.mkdir()
    for index, frame in enumerate(fixture["gt"]):
        cv2.imwrite(str(folder / f"{index:05d}.png"), np.round(frame * 1000).astype(np.uint16))
    pred, _ = write_inputs(tmp_path, fixture)
    assert eval_main([str(pred), str(folder), "--json", str(tmp_path / "png.json")]) == 0
    assert eval_main([str(pred), str(tmp_path / "gt.npz"), "--json", str(tmp_path / "npz.json")]) == 0
    png, npz = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("png", "npz"))
    assert png["abs_rel"] == pytest.approx(npz["abs_rel"], rel=1e-3)  # millimetre rounding only


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("frames", "the prediction has 5 frames, the ground truth 6"),
        ("aspect", "different aspect ratios"),
        ("invalid", "no valid ground truth"),
        ("poses", "TAE needs both --poses and --intrinsics"),
        ("pose_shape", "poses must be 6x4x4"),
        ("key", "has no key 'depths'"),
        ("missing", "prediction file not found"),
    ],
)
def test_bad_input_is_a_clear_error_with_status_2(tmp_path, fixture, capsys, case, message):
    pred, gt = write_inputs(tmp_path, fixture)
    extra: list[str] = []
    if case == "frames":
        np.savez(pred, depths=fixture["relative"][:5])
    elif case == "aspect":
        np.savez(pred, depths=fixture["relative"][:, :, :40])
    elif case == "invalid":
        np.savez(gt, depths=np.zeros_like(fixture["gt"]))
    elif case == "poses":
        np.save(tmp_path / "poses.npy", fixture["poses"])
        extra = ["--poses", str(tmp_path / "poses.npy")]
    elif case == "pose_shape":
        np.save(tmp_path / "poses.npy", fixture["poses"][:3])
        np.save(tmp_path / "k.npy", fixture["intrinsics"])
        extra = ["--poses", str(tmp_path / "poses.npy"), "--intrinsics", str(tmp_path / "k.npy")]
    elif case == "key":
        np.savez(pred, other=fixture["relative"])
    elif case == "missing":
        pred = tmp_path / "nothing.npz"
    assert eval_main([str(pred), str(gt), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vda-eval: error: ") and message in err and "Traceback" not in err
