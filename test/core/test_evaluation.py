"""vda-eval and vda_ros.core.metrics: equal to the official benchmark code on its fixture; clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_helpers import FRAME_ID, PERIOD_NS, START_NS, T, camera_info, message_writer

from vda_ros.cli.eval import main as eval_main
from vda_ros.core.metrics import Crop, EvalSettings, EvaluationError, evaluate
from vda_ros.core.options import OptionError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "official_metrics.npz"


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def settings(fixture) -> dict:
    return dict(max_depth=float(fixture["max_depth"]), crop=Crop(*map(int, fixture["crop"])))


def test_relative_mode_and_tae_equal_the_official_code(fixture):
    metrics = evaluate(
        fixture["relative"],
        fixture["gt"],
        "affine-disparity",
        poses=fixture["poses"],
        intrinsics=fixture["intrinsics"],
        **settings(fixture),
    )
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
    code = eval_main(
        [
            str(pred),
            str(gt),
            "--max-depth",
            "8",
            "--crop",
            *crop,
            "--poses",
            str(tmp_path / "poses.npy"),
            "--intrinsics",
            str(tmp_path / "k.npy"),
            "--json",
            str(tmp_path / "out.json"),
        ]
    )
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


def _bad_poses_or_k(case: str, fixture) -> tuple[np.ndarray, np.ndarray]:
    poses, k = fixture["poses"].copy(), fixture["intrinsics"].copy()
    if case == "nan_pose":
        poses[3, 0, 3] = np.nan
    elif case == "all_nan_poses":
        poses[:] = np.nan
    elif case == "scaled_pose":
        poses[2, :3, :3] *= 2.0
    elif case == "zero_k":
        k[:] = 0.0
    elif case == "nan_k":
        k[:] = np.nan
    elif case == "negative_focal":
        k[0, 0] = -k[0, 0]
    elif case == "transposed_k":
        k = k.T.copy()
    elif case == "one_frame_k_zero":
        k = np.repeat(k[np.newaxis], len(poses), axis=0)
        k[4] = 0.0
    return poses, k


@pytest.mark.parametrize(
    ("case", "named", "message"),
    [
        ("nan_pose", "poses", "the pose of frame 3 has NaN or infinite values (1 of 6 poses)"),
        ("all_nan_poses", "poses", "the pose of frame 0 has NaN or infinite values (6 of 6 poses)"),
        ("scaled_pose", "poses", "the pose of frame 2 is not a rigid transform"),
        ("zero_k", "intrinsics", "K is not a calibration: focal lengths must be at least 0.001 px, got fx=0.0 fy=0.0"),
        ("nan_k", "intrinsics", "K has NaN or infinite values"),
        (
            "negative_focal",
            "intrinsics",
            "K is not a calibration: focal lengths must be at least 0.001 px, got fx=-25.0",
        ),
        ("transposed_k", "intrinsics", "K must have the last row 0 0 1 (is it transposed?)"),
        ("one_frame_k_zero", "intrinsics", "K of frame 4 is not a calibration"),
    ],
)
def test_poses_or_intrinsics_that_describe_no_camera_are_refused_not_scored(
    tmp_path, fixture, capsys, case, named, message
):
    """A NaN pose or a zero K sent every warped point off the image: TAE read 0.0, the best possible score."""
    pred, gt = write_inputs(tmp_path, fixture)
    poses, k = _bad_poses_or_k(case, fixture)
    files = {"poses": tmp_path / "poses.npy", "intrinsics": tmp_path / "k.npy"}
    np.save(files["poses"], poses)
    np.save(files["intrinsics"], k)
    assert (
        eval_main([str(pred), str(gt), "--poses", str(files["poses"]), "--intrinsics", str(files["intrinsics"])]) == 2
    )
    captured = capsys.readouterr()
    assert captured.err.startswith(f"vda-eval: error: {named} {files[named]}: {message}"), captured.err
    assert "Traceback" not in captured.err and "tae" not in captured.out
    with pytest.raises(EvaluationError, match=re.escape(message)):
        evaluate(fixture["relative"], fixture["gt"], poses=poses, intrinsics=k, **settings(fixture))


def _write_unreadable(case: str, tmp_path: Path, fixture) -> tuple[list[str], Path, str]:
    """Arguments of vda-eval with one unusable input file, that file, and what the error must say about it."""
    pred, gt = write_inputs(tmp_path, fixture)
    poses, k = tmp_path / "poses.npy", tmp_path / "k.npy"
    np.save(poses, fixture["poses"])
    np.save(k, fixture["intrinsics"])
    bad = tmp_path / "bad.npz"
    args = {
        "pred": [str(bad), str(gt)],
        "gt": [str(pred), str(bad)],
        "poses": [str(pred), str(gt), "--poses", str(bad), "--intrinsics", str(k)],
        "intrinsics": [str(pred), str(gt), "--poses", str(poses), "--intrinsics", str(bad)],
    }
    role, _, damage = case.partition(":")
    message = {
        "empty": "is empty",
        "text": "is not a numpy .npy or .npz file",
        "truncated": "cannot read",
        "npy": "is a single .npy array, not an .npz archive with key 'depths'",
        "npz": "is an .npz archive; give a .npy file (numpy.save) holding one array",
        "objects": "Object arrays cannot be loaded when allow_pickle=False",
        "strings": "does not hold numbers (dtype <U3)",
        "flat": "depth frames must be frames x height x width, none of them 0; got shape (24, 32)",
        "no_pixels": "depth frames must be frames x height x width, none of them 0; got shape (6, 0, 32)",
        "folder": "is a folder, not a file",
        "missing": "file not found",
    }[damage]
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "text":
        bad.write_text("frame,depth\n0,1.5\n")
    elif damage == "truncated":
        bad.write_bytes(pred.read_bytes()[:300])
    elif damage == "npy":
        with open(bad, "wb") as stream:
            np.save(stream, fixture["gt"])
    elif damage == "npz":
        np.savez(bad, poses=fixture["poses"])
    elif damage == "objects":
        np.savez(bad, depths=np.array([None, 1.0], dtype=object))
    elif damage == "strings":
        with open(bad, "wb") as stream:
            np.save(stream, np.array(["one", "two"]))
    elif damage == "flat":
        np.savez(bad, depths=fixture["gt"][0])
    elif damage == "no_pixels":
        np.savez(bad, depths=fixture["gt"][:, :0])
    elif damage == "folder":
        bad.mkdir()
    return args[role], bad, message


@pytest.mark.parametrize(
    "case",
    [
        "pred:empty",
        "gt:empty",
        "pred:text",
        "pred:truncated",
        "gt:npy",
        "poses:npz",
        "intrinsics:npz",
        "poses:empty",
        "pred:objects",
        "intrinsics:strings",
        "gt:flat",
        "pred:no_pixels",
        "pred:folder",
        "poses:folder",
        "poses:missing",
    ],
)
def test_unreadable_input_files_are_errors_naming_the_file(tmp_path, fixture, capsys, case):
    """An empty .npz was an EOFError traceback, an .npz given to --poses an AttributeError."""
    args, bad, message = _write_unreadable(case, tmp_path, fixture)
    assert eval_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("vda-eval: error: ") and str(bad) in err and message in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "frame", "message"),
    [
        ("00002.npy", None, "ground-truth frame {path} is empty"),
        ("00002.npy", np.zeros((2, 24, 32)), "{path} is not a single-channel depth image"),
        ("00002.npy", np.full((24, 32), "far"), "ground-truth frame {path} does not hold numbers"),
        ("00002.png", None, "{path} is not a single-channel depth image"),
    ],
)
def test_unreadable_ground_truth_frames_are_errors_naming_the_frame(tmp_path, fixture, capsys, name, frame, message):
    folder = tmp_path / "gt"
    folder.mkdir()
    for index, depth in enumerate(fixture["gt"][:2]):
        np.save(folder / f"{index:05d}.npy", depth)
    path = folder / name
    if frame is None:
        path.write_bytes(b"")
    else:
        np.save(path, frame)
    pred = tmp_path / "pred.npz"
    np.savez(pred, depths=fixture["relative"][:3])
    assert eval_main([str(pred), str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vda-eval: error: ") and message.format(path=path) in err and "Traceback" not in err, err


def _header(stamp: int):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=FRAME_ID
    )


def _depth_image(stamp: int, frame: np.ndarray):
    height, width = frame.shape
    return T["sensor_msgs/msg/Image"](
        header=_header(stamp),
        height=height,
        width=width,
        encoding="32FC1",
        is_bigendian=0,
        step=4 * width,
        data=np.ascontiguousarray(frame, "<f4").view(np.uint8).ravel(),
    )


def _write_pose_bag(path: Path, fixture, case: str, gt_delay_ns: int = 0) -> None:
    """The fixture's ground truth as both depth topics, its poses as PoseStamped, K as CameraInfo, with one fault.

    gt_delay_ns: the reference depth is stamped this much later than the prediction.
    """
    depth, poses = fixture["gt"], fixture["poses"]
    height, width = depth.shape[1:]
    with message_writer(path) as put:
        for index, frame in enumerate(depth):
            stamp = START_NS + index * PERIOD_NS
            header = _header(stamp)
            put("/cam/pred", stamp, _depth_image(stamp, frame))
            put("/cam/gt", stamp + gt_delay_ns, _depth_image(stamp + gt_delay_ns, frame))
            # The fixture's rotations are about y: q = (0, sin(a/2), 0, cos(a/2)).
            angle = np.arctan2(poses[index, 0, 2], poses[index, 0, 0])
            quaternion = (
                (0.0, 0.0, 0.0, 0.0) if case == "zero_quaternion" else (0.0, np.sin(angle / 2), 0.0, np.cos(angle / 2))
            )
            position = poses[index, :3, 3] * (np.nan if case == "nan_position" and index == 1 else 1.0)
            put(
                "/cam/pose",
                stamp,
                T["geometry_msgs/msg/PoseStamped"](
                    header=header,
                    pose=T["geometry_msgs/msg/Pose"](
                        position=T["geometry_msgs/msg/Point"](*position),
                        orientation=T["geometry_msgs/msg/Quaternion"](*quaternion),
                    ),
                ),
            )
            info = camera_info(stamp, width, height, calibrated=case != "uncalibrated")
            info.k[:] = fixture["intrinsics"].ravel() * (case != "uncalibrated")
            put("/cam/camera_info", stamp, info)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("uncalibrated", "CameraInfo topic /cam/camera_info: K is not a calibration: focal lengths must be at least"),
        ("zero_quaternion", f"/cam/pose message at {START_NS} ns: the rotation quaternion is zero"),
        ("nan_position", "pose topic /cam/pose: the pose of frame 1 has NaN or infinite values"),
    ],
)
def test_bag_poses_or_camera_info_that_describe_no_camera_are_refused(tmp_path, fixture, capsys, case, message):
    """An uncalibrated driver's zero K gave a TAE of 0.0; a zero quaternion ended in a traceback."""
    bag = tmp_path / "bag"
    _write_pose_bag(bag, fixture, case)
    args = [
        "--bag",
        str(bag),
        "--pred-topic",
        "/cam/pred",
        "--gt-topic",
        "/cam/gt",
        "--align",
        "none",
        "--max-depth",
        "8",
        "--odom-topic",
        "/cam/pose",
        "--camera-info-topic",
        "/cam/camera_info",
    ]
    assert eval_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vda-eval: error: {message}") and "Traceback" not in err, err


def test_bag_with_sound_poses_scores_the_arrays_tae(tmp_path, fixture, capsys):
    bag = tmp_path / "bag"
    _write_pose_bag(bag, fixture, "sound")
    report = tmp_path / "scores.json"
    assert (
        eval_main(
            [
                "--bag",
                str(bag),
                "--pred-topic",
                "/cam/pred",
                "--gt-topic",
                "/cam/gt",
                "--align",
                "none",
                "--max-depth",
                "8",
                "--odom-topic",
                "/cam/pose",
                "--camera-info-topic",
                "/cam/camera_info",
                "--json",
                str(report),
            ]
        )
        == 0
    )
    expected = evaluate(
        fixture["gt"], fixture["gt"], "none", max_depth=8.0, poses=fixture["poses"], intrinsics=fixture["intrinsics"]
    )
    assert json.loads(report.read_text())["tae"] == pytest.approx(expected.tae, rel=1e-6) and expected.tae > 0


def test_depth_scale_scales_frame_folders_and_gt_scale_is_its_deprecated_inverse(tmp_path, fixture, capsys):
    """vda-eval's --gt-scale (stored units per metre) and vda-finetune's --depth-scale (metres per unit) were one
    setting under two names; --depth-scale is the name now, --gt-scale N still works as --depth-scale 1/N."""
    folder = tmp_path / "gt"
    folder.mkdir()
    for index, frame in enumerate(fixture["gt"]):
        cv2.imwrite(str(folder / f"{index:05d}.png"), np.round(frame * 2000).astype(np.uint16))  # half millimetres
    pred, truth = write_inputs(tmp_path, fixture)
    np.savez(pred, depths=fixture["metric"])
    common = ["--align", "none", "--max-depth", "8"]

    def abs_rel(gt: Path, *extra: str) -> float:
        report = tmp_path / "scores.json"
        assert eval_main([str(pred), str(gt), *common, *extra, "--json", str(report)]) == 0
        return json.loads(report.read_text())["abs_rel"]

    expected = abs_rel(truth)
    assert abs_rel(folder) != pytest.approx(expected, rel=1e-3), "PNG frames are millimetres by default"
    assert abs_rel(folder, "--depth-scale", "0.0005") == pytest.approx(expected, rel=1e-3)
    assert "deprecated" not in capsys.readouterr().err
    assert abs_rel(folder, "--gt-scale", "2000") == pytest.approx(expected, rel=1e-3)
    assert "warning: 'gt_scale' is deprecated; use depth_scale (metres per unit, 1 / gt_scale)" in (
        capsys.readouterr().err
    )


def test_max_stamp_diff_is_a_deprecated_spelling_of_max_time_offset(tmp_path, fixture, capsys):
    bag = tmp_path / "bag"
    _write_pose_bag(bag, fixture, "sound", gt_delay_ns=10_000_000)
    args = ["--bag", str(bag), "--pred-topic", "/cam/pred", "--gt-topic", "/cam/gt", "--align", "none"]
    for spelling in ("--max-time-offset", "--max-stamp-diff"):
        assert eval_main([*args, spelling, "0.005"]) == 2
        err = capsys.readouterr().err
        assert "no /cam/pred message has a /cam/gt message within 0.005 s" in err
        assert ("warning: 'max_stamp_diff' is deprecated; use max_time_offset" in err) == (
            spelling != "--max-time-offset"
        )
    assert eval_main([*args, "--max-stamp-diff", "0.015"]) == 0
    captured = capsys.readouterr()
    assert "warning: 'max_stamp_diff' is deprecated; use max_time_offset" in captured.err
    assert captured.out.splitlines()[1].startswith(f"{len(fixture['gt'])} "), "every frame paired"


def test_crop_takes_four_numbers_before_or_after_the_inputs(tmp_path, fixture, capsys):
    pred, gt = write_inputs(tmp_path, fixture)
    crop = [str(v) for v in fixture["crop"]]
    assert eval_main(["--crop", *crop, str(pred), str(gt), "--max-depth", "8"]) == 0
    before = capsys.readouterr().out
    assert eval_main([str(pred), str(gt), "--max-depth", "8", "--crop", *crop]) == 0
    assert capsys.readouterr().out == before
    assert eval_main([str(pred), str(gt), "--max-depth", "8"]) == 0
    assert capsys.readouterr().out != before
    with pytest.raises(OptionError, match=r"^crop must be four integers TOP BOTTOM LEFT RIGHT, got \[8.5, -8.0\]$"):
        EvalSettings.from_values({"pred": str(pred), "gt": str(gt), "crop": (8.5, -8.0)})
