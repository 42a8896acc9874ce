"""vda-process-bag end to end on bags generated with rosbags: real engine on random weights, tiny frames, CPU.

Runs of the model are the expensive part (a 32-frame window each, even for 3 frames), so each
end-to-end test checks several properties of one run.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from bag_helpers import (
    CHATTER_TOPIC,
    FOCAL,
    FRAME_ID,
    IMAGE_TOPIC,
    TYPESTORE,
    bag_metadata,
    read_bag,
    read_raw,
    stamp_ns,
    synthetic_frames,
    topic_types,
    write_test_bag,
)
from rclpy.node import Node
from ros_helpers import wait_until
from rosbags.rosbag2 import StoragePlugin, Writer

from vda_ros.batch.pipeline import CameraInfoHistory
from vda_ros.batch.plan import OutputTopics, topic_namespace
from vda_ros.batch.settings import NOT_OFFERED, BagSettings
from vda_ros.cli import process_bag
from vda_ros.cli.process_bag import parse_settings
from vda_ros.interruption import EXIT_INTERRUPTED
from vda_ros.io.files import host_tag
from vda_ros.model.backends import onnx_backend
from vda_ros.ros.parameters import ParameterTable

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--random-weights", "--encoder", "vits", "--device", "cpu", "--input-size", "112"]
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"


def run(*args: object) -> int:
    """The tool in this process, on small settings."""
    return process_bag.main([str(a) for a in args] + SMALL)


def tool_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vda_ros.cli.process_bag", *args]


def child_env() -> dict[str, str]:
    """This environment (ROS settings from conftest) with the repository importable."""
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def depth_maps(messages: list[tuple[int, object]]) -> np.ndarray:
    """32FC1 Images (rosbags messages) as a (T, H, W) float32 array."""
    maps = []
    for _, image in messages:
        assert (image.encoding, image.is_bigendian) == ("32FC1", 0)
        maps.append(np.frombuffer(image.data, dtype="<f4").reshape(image.height, image.width))
    return np.stack(maps)


def assert_stamped_like(messages: list[tuple[int, object]], record_times: list[int], stamps: list[int]) -> None:
    """Every output message carries its source image's record time and header."""
    assert [timestamp for timestamp, _ in messages] == record_times
    assert [stamp_ns(message.header) for _, message in messages] == stamps
    assert {message.header.frame_id for _, message in messages} == {FRAME_ID}


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.slow
def test_raw_mcap_bag_equals_vda_video_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """34 frames (two engine windows) of rgb8 with CameraInfo: topics, stamps, infos, and depth equal to vda-video's."""
    from vda_ros.cli import video as cli

    frames = list(synthetic_frames(34))
    bag = write_test_bag(tmp_path / "in", frames, storage="mcap", image_format="rgb8", info="calibrated")
    out = tmp_path / "out"
    assert run(bag.path, out) == 0
    assert "34 frames" in capsys.readouterr().out

    outputs = OutputTopics.under("/cam", metric=False)
    assert topic_types(out) == {outputs.depth: IMAGE, outputs.colored: IMAGE, outputs.camera_info: CAMERA_INFO}
    metadata = bag_metadata(out)
    assert (metadata["version"], metadata["storage_identifier"]) == (8, "mcap")
    messages = read_bag(out)
    for topic in (outputs.depth, outputs.colored, outputs.camera_info):
        assert_stamped_like(messages[topic], bag.record_times, bag.stamps)
    assert {(m.encoding, m.width, m.height) for _, m in messages[outputs.colored]} == {("bgr8", 64, 48)}
    info = messages[outputs.camera_info][0][1]
    assert (info.width, info.height, info.k[0], info.k[2]) == (64, 48, FOCAL, 32.0)

    clip = tmp_path / "clip"
    clip.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(clip / f"{index:05d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    video_args = [str(clip), "--output-dir", str(tmp_path / "video"), "--mode", "offline", "--save-npz", *SMALL]
    assert cli.main(video_args) == 0
    with np.load(tmp_path / "video" / "clip_depths.npz") as archive:
        expected = archive["depths"]
    np.testing.assert_array_equal(depth_maps(messages[outputs.depth]), expected)


def test_compressed_sqlite3_bag_without_camera_info_replaces_output(tmp_path: Path) -> None:
    """JPEG on /cam/image_raw/compressed in sqlite3, no CameraInfo; --overwrite replaces an existing output."""
    bag = write_test_bag(tmp_path / "in", synthetic_frames(5), storage="sqlite3", image_format="jpeg", info=None)
    out = tmp_path / "out"
    write_test_bag(out, synthetic_frames(1), storage="mcap")  # an earlier run's bag
    assert run(bag.path, out, "--overwrite") == 0

    outputs = OutputTopics.under("/cam", metric=False)
    assert topic_types(out) == {outputs.depth: IMAGE, outputs.colored: IMAGE}
    assert bag_metadata(out)["storage_identifier"] == "sqlite3"
    assert leftovers(out) == ["metadata.yaml", "out.db3"]
    assert leftovers(tmp_path) == ["in", "out"]
    messages = read_bag(out)
    for topic in (outputs.depth, outputs.colored):
        assert_stamped_like(messages[topic], bag.record_times, bag.stamps)


@pytest.mark.slow
def test_metric_bag_with_points_and_copied_input(tmp_path: Path) -> None:
    """Metric model, PNG images, calibrated CameraInfo, --copy-input into sqlite3 format 9, clouds at stride 2."""
    bag = write_test_bag(tmp_path / "in", synthetic_frames(5), image_format="png", info="calibrated", chatter=True)
    out = tmp_path / "out"
    args = ["--metric", "--copy-input", "--storage", "sqlite3", "--bag-version", "9", "--point-stride", "2"]
    assert run(bag.path, out, *args) == 0

    outputs = OutputTopics.under("/cam", metric=True)
    inputs = topic_types(bag.path)
    assert topic_types(out) == {
        outputs.depth: IMAGE,
        outputs.colored: IMAGE,
        outputs.camera_info: CAMERA_INFO,
        outputs.points: "sensor_msgs/msg/PointCloud2",
        **inputs,
    }
    metadata = bag_metadata(out)
    assert (metadata["version"], metadata["storage_identifier"]) == (9, "sqlite3")
    copied, original = read_raw(out), read_raw(bag.path)
    for topic in inputs:
        assert copied[topic] == original[topic]

    messages = read_bag(out)
    for topic in (outputs.depth, outputs.colored, outputs.camera_info, outputs.points):
        assert_stamped_like(messages[topic], bag.record_times, bag.stamps)
    depths = depth_maps(messages[outputs.depth])
    for depth, (_, cloud) in zip(depths, messages[outputs.points], strict=True):
        assert (cloud.height, cloud.width) == (24, 32)
        assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
        z = np.frombuffer(cloud.data, dtype="<f4").reshape(24, 32, 4)[..., 2]
        valid = np.isfinite(z)
        assert valid.any()
        np.testing.assert_array_equal(z[valid], depth[::2, ::2][valid])


@pytest.mark.ros
def test_runs_as_ros_node_with_parameters(tmp_path: Path) -> None:
    """`--ros-args -p name:=value` reads the same options; an uncalibrated CameraInfo is paired but gives no points."""
    bag = write_test_bag(
        tmp_path / "in", synthetic_frames(3), storage="sqlite3", image_format="bgr8", info="uncalibrated"
    )
    out = tmp_path / "out"
    parameters = {
        "input": bag.path,
        "output": out,
        "random_weights": "true",
        "encoder": "vits",
        "device": "cpu",
        "input_size": "112",
        "metric": "true",
        "color_range": "[0.5, 4.0]",
    }
    ros_args = [arg for name, value in parameters.items() for arg in ("-p", f"{name}:={value}")]
    result = subprocess.run(
        tool_command("--ros-args", *ros_args), env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    outputs = OutputTopics.under("/cam", metric=True)
    assert set(topic_types(out)) == {outputs.depth, outputs.colored, outputs.camera_info, outputs.points}
    assert "not calibrated" in result.stdout
    messages = read_bag(out)
    assert messages[outputs.points] == []
    assert_stamped_like(messages[outputs.camera_info], bag.record_times, bag.stamps)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_output(tmp_path: Path, signum: signal.Signals) -> None:
    """Ctrl-C (or a stop) mid-run: exit 130 with the reason; neither the output nor its temporary directory remains."""
    bag = write_test_bag(tmp_path / "in", synthetic_frames(60), storage="mcap")
    out = tmp_path / "out"
    child = subprocess.Popen(
        tool_command(str(bag.path), str(out), *SMALL),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The staging folder appears once the model is loaded, with 60 frames (two windows) still to go.
    assert wait_until(lambda: list(tmp_path.glob(".out.partial-*")) or child.poll() is not None, 120.0)
    # Frozen, the run cannot finish between this check and the signal, however fast the machine.
    child.send_signal(signal.SIGSTOP)
    try:
        assert child.poll() is None and list(tmp_path.glob(".out.partial-*")) and not out.exists(), (
            "the run ended before it could be interrupted"
        )
        child.send_signal(signum)
    except BaseException:
        child.kill()
        raise
    finally:
        child.send_signal(signal.SIGCONT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == EXIT_INTERRUPTED, stderr
    assert f"interrupted ({signum.name})" in stderr and "Traceback" not in stderr
    assert leftovers(tmp_path) == ["in"]


def test_failure_mid_run_leaves_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unsupported encoding in the third image stops the run with a message naming it, and nothing is left."""
    bag = write_test_bag(tmp_path / "in", synthetic_frames(4), bad_frame=2)
    assert run(bag.path, tmp_path / "out", "--copy-input") == 2
    stderr = capsys.readouterr().err
    assert f"{IMAGE_TOPIC} message at {bag.record_times[2]} ns" in stderr and "'16UC1'" in stderr
    assert leftovers(tmp_path) == ["in"]


def test_existing_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_test_bag(tmp_path / "in", synthetic_frames(2))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("precious")
    assert run(bag.path, out) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "keep").read_text() == "precious"


def test_overwrite_refuses_an_output_that_holds_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reported data loss: OUTPUT a folder holding the input bag and other files, with --overwrite."""
    project = tmp_path / "p"
    bag = write_test_bag(project / "in", synthetic_frames(2))
    (project / "notes.txt").write_text("keep")
    assert run(bag.path, project, "--overwrite") == 2
    assert f"the output {project} contains the input {bag.path}" in capsys.readouterr().err
    assert leftovers(project) == ["in", "notes.txt"] and (project / "notes.txt").read_text() == "keep"
    assert run(bag.path, bag.path / "depth", "--overwrite") == 2
    assert "is inside the input bag" in capsys.readouterr().err
    assert leftovers(bag.path) == ["in.mcap", "metadata.yaml"]


def test_overwrite_replaces_only_a_rosbag2_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = write_test_bag(tmp_path / "in", synthetic_frames(2))
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep")
    assert run(bag.path, folder, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "is a folder that is not a rosbag2 bag (no metadata.yaml; it holds: notes.txt)" in err, err
    assert "--overwrite only replaces a rosbag2 bag" in err
    assert (folder / "notes.txt").read_text() == "keep"
    plain_file = tmp_path / "out.txt"
    plain_file.write_text("keep")
    assert run(bag.path, plain_file, "--overwrite") == 2
    assert "is a file, not a rosbag2 bag folder" in capsys.readouterr().err
    assert plain_file.read_text() == "keep"


def test_disk_full_while_finishing_the_bag_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last chunk, the index and metadata.yaml are written by Writer.close(): a full disk may show only there."""

    def full_disk(self: Writer) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    bag = write_test_bag(tmp_path / "in", synthetic_frames(2))
    monkeypatch.setattr(Writer, "close", full_disk)
    assert run(bag.path, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "cannot finish output bag" in err and "No space left on device" in err and "Traceback" not in err, err
    assert leftovers(tmp_path) == ["in"]


@pytest.mark.slow
def test_temporaries_of_a_killed_run_are_removed_by_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = write_test_bag(tmp_path / "in", synthetic_frames(2))
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # a pid whose process is gone, as a killed run's
    host = host_tag()
    stale = tmp_path / f".out.partial-{finished.pid}-0123abcd@{host}"
    (stale / "out").mkdir(parents=True)
    (stale / "out" / "out_0.mcap").write_bytes(b"half a bag")
    live = tmp_path / f".other.partial-{os.getpid()}-0123abcd@{host}"  # a run still going on: not touched
    live.mkdir()
    elsewhere = tmp_path / f".more.partial-{finished.pid}-0123abcd@another_machine"  # a pid there means nothing here
    elsewhere.mkdir()
    assert run(bag.path, tmp_path / "out") == 0
    assert (
        f"removed 1 temporary file(s) left in {tmp_path} by an interrupted earlier run: {stale.name}"
        in capsys.readouterr().err
    )
    assert leftovers(tmp_path) == [elsewhere.name, live.name, "in", "out"]


@pytest.mark.parametrize("image_format", ["rgb8", "png"])
def test_images_above_the_pixel_limit_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], image_format: str | None
) -> None:
    bag = write_test_bag(tmp_path / "in", synthetic_frames(2), image_format=image_format)
    assert run(bag.path, tmp_path / "out", "--max-image-pixels", "3000") == 2
    err = capsys.readouterr().err
    assert "is 64x48 = 0.00307 MP, above the limit of 0.003 MP (max_image_pixels)" in err and "Traceback" not in err, (
        err
    )
    assert leftovers(tmp_path) == ["in"]


def _truncate_storage(bag: Path) -> None:
    storage = next(bag.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])


def _garble_metadata(bag: Path) -> None:
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [\n")


@pytest.mark.parametrize(
    ("damage", "message"),
    [(_truncate_storage, "cannot read bag"), (_garble_metadata, "cannot read bag"), (None, "input bag not found")],
)
def test_unreadable_input_is_reported_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Callable[[Path], None] | None, message: str
) -> None:
    bag = tmp_path / "in"
    if damage is not None:
        write_test_bag(bag, synthetic_frames(3))
        damage(bag)
    assert run(bag, tmp_path / "out") == 2
    stderr = capsys.readouterr().err
    assert message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists()


def _bag_with_topics(path: Path, topics: dict[str, str]) -> Path:
    """A bag declaring these topics (name → type) without messages: enough for topic choice."""
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic, msgtype in topics.items():
            writer.add_connection(topic, msgtype, typestore=TYPESTORE)
    return path


@pytest.mark.parametrize(
    ("topics", "extra", "message"),
    [
        (
            {"/left/image_raw": IMAGE, "/right/image_raw": IMAGE},
            [],
            "several image topics, choose one with --image-topic: /left/image_raw, /right/image_raw",
        ),
        ({"/left/image_raw": IMAGE}, ["--image-topic", "/nope"], "topic /nope is not in the bag"),
        (
            {"/left/image_raw": IMAGE, CHATTER_TOPIC: "std_msgs/msg/String"},
            ["--image-topic", CHATTER_TOPIC],
            "has type std_msgs/msg/String",
        ),
        (
            {CHATTER_TOPIC: "std_msgs/msg/String"},
            [],
            "no sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage topic",
        ),
        (
            {"/left/image_raw": IMAGE, "/a/info": CAMERA_INFO, "/b/info": CAMERA_INFO},
            [],
            "several CameraInfo topics, choose one with --camera-info-topic: /a/info, /b/info",
        ),
    ],
)
def test_topic_choice_errors_list_candidates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], topics: dict[str, str], extra: list[str], message: str
) -> None:
    bag = _bag_with_topics(tmp_path / "in", topics)
    assert run(bag, tmp_path / "out", *extra) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--backend", "compile"],
            "vda-process-bag: error: the compile backend runs the streaming step only; run offline windows with "
            "the torch, onnxruntime, openvino backend",
        ),
        (
            ["--backend", "onnxruntime", "--precision", "bf16"],
            "the onnxruntime backend offers precision fp32, int8, not bf16",
        ),
    ],
)
def test_a_backend_that_cannot_run_the_bag_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    bag = _bag_with_topics(tmp_path / "in", {IMAGE_TOPIC: IMAGE})
    assert run(bag, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert leftovers(tmp_path) == ["in"]


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ("file", "it is a file, not a folder"),
        ("under-a-file", "a part of its path is a file, not a folder"),
    ],
)
def test_a_backend_cache_that_cannot_be_used_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str, reason: str
) -> None:
    bag = write_test_bag(tmp_path / "in", synthetic_frames(2))
    blocker = tmp_path / "blocker"
    blocker.write_text("in the way")
    cache = blocker if layout == "file" else blocker / "graphs"
    assert run(bag.path, tmp_path / "out", "--backend", "onnxruntime", "--backend-cache", cache) == 2
    err = capsys.readouterr().err
    assert (
        f"vda-process-bag: error: the graph cache folder {cache} cannot be used: {reason}; choose another "
        "folder with backend_cache (--backend-cache)"
    ) in err, err
    assert "Traceback" not in err and "RANDOM WEIGHTS" not in err, "refused before the model is built"
    assert leftovers(tmp_path) == ["blocker", "in"] and blocker.read_text() == "in the way"


def test_a_full_disk_while_building_a_graph_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def export_on_a_full_disk(model: object, graph: str, net_size: tuple[int, int], path: Path) -> None:
        path.write_bytes(b"half a graph")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(onnx_backend, "export_onnx", export_on_a_full_disk)
    bag = write_test_bag(tmp_path / "in", synthetic_frames(2))
    cache = tmp_path / "graphs"
    assert run(bag.path, tmp_path / "out", "--backend", "onnxruntime", "--backend-cache", cache) == 2
    err = capsys.readouterr().err
    assert f"vda-process-bag: error: the graph cache folder {cache} cannot be used: writing onnx-window-" in err, err
    assert "failed (No space left on device: " in err and "Traceback" not in err
    assert leftovers(tmp_path) == ["graphs", "in"] and leftovers(cache) == []


def test_empty_image_topic_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = _bag_with_topics(tmp_path / "in", {IMAGE_TOPIC: IMAGE})
    assert run(bag, tmp_path / "out") == 2
    assert f"no message on {IMAGE_TOPIC}" in capsys.readouterr().err
    assert leftovers(tmp_path) == ["in"]


@pytest.mark.ros
def test_command_line_and_ros_parameters_give_the_same_options(capsys: pytest.CaptureFixture[str]) -> None:
    expected = BagSettings.from_values(
        {
            "input": "in",
            "output": "out",
            "metric": True,
            "color_min": 1.0,
            "color_max": 2.0,
            "bag_version": 9,
            "points_stride": 3,
            "publish_points": False,
            "precision": "bf16",
            "backend": "openvino",
            "backend_cache": "/tmp/graphs",
            "flying_pixel_filter": False,
            "min_confidence": 0.25,
            "write_confidence": True,
        }
    )
    from_cli = parse_settings(
        [
            "in",
            "out",
            "--metric",
            "--color-min",
            "1",
            "--color-max",
            "2",
            "--bag-version",
            "9",
            "--points-stride",
            "3",
            "--no-publish-points",
            "--precision",
            "bf16",
            "--backend",
            "openvino",
            "--backend-cache",
            "/tmp/graphs",
            "--no-flying-pixel-filter",
            "--min-confidence",
            "0.25",
            "--write-confidence",
        ]
    )
    parameters = [
        "input:=in",
        "output:=out",
        "metric:=true",
        "color_min:=1.0",
        "color_max:=2.0",
        "bag_version:=9",
        "points_stride:=3",
        "publish_points:=false",
        "precision:=bf16",
        "backend:=openvino",
        "backend_cache:=/tmp/graphs",
        "flying_pixel_filter:=false",
        "min_confidence:=0.25",
        "write_confidence:=true",
    ]
    from_ros = parse_settings(["--ros-args", *(arg for p in parameters for arg in ("-p", p))])
    assert from_cli == from_ros == expected
    assert "deprecated" not in capsys.readouterr().err


@pytest.mark.ros
def test_old_spellings_still_work_and_are_reported_deprecated(capsys: pytest.CaptureFixture[str]) -> None:
    expected = BagSettings.from_values(
        {
            "input": "in",
            "output": "out",
            "metric": True,
            "color_min": 1.0,
            "color_max": 2.0,
            "bag_version": 9,
            "points_stride": 3,
            "publish_points": False,
        }
    )
    from_cli = parse_settings(
        ["in", "out", "--metric", "--color-range", "1", "2", "--bag-version", "9", "--point-stride", "3", "--no-points"]
    )
    parameters = [
        "input:=in",
        "output:=out",
        "metric:=true",
        "color_range:=[1.0, 2.0]",
        "bag_version:=9",
        "point_stride:=3",
        "no_points:=true",
    ]
    from_ros = parse_settings(["--ros-args", *(arg for p in parameters for arg in ("-p", p))])
    assert from_cli == from_ros == expected
    err = capsys.readouterr().err
    assert err.count("'point_stride' is deprecated; use points_stride") == 2, err
    assert err.count("'color_range' is deprecated") == 2 and err.count("'no_points' is deprecated") == 2, err


@pytest.mark.ros
def test_fp32_is_a_quiet_shorthand_on_both_surfaces(capsys: pytest.CaptureFixture[str]) -> None:
    """The official run.py's --fp32 stays (flag and parameter), as precision fp32, and is not reported deprecated."""
    from_cli = parse_settings(["in", "out", "--fp32"])
    from_ros = parse_settings(["--ros-args", "-p", "input:=in", "-p", "output:=out", "-p", "fp32:=true"])
    assert from_cli == from_ros == BagSettings.from_values({"input": "in", "output": "out", "precision": "fp32"})
    assert capsys.readouterr().err == ""


@pytest.mark.ros
def test_the_flags_and_the_ros_parameters_are_the_same_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every flag is a parameter and the reverse; the shared options a recording has no use for are on neither."""
    declared: list[str] = []

    class RecordingTable(ParameterTable):
        def __init__(self, node: Node, *args: Any, **kwargs: Any) -> None:
            own = set(node.get_parameters_by_prefix(""))  # rclpy's (use_sim_time, ...)
            super().__init__(node, *args, **kwargs)
            declared.extend(set(node.get_parameters_by_prefix("")) - own)

    monkeypatch.setattr(process_bag, "ParameterTable", RecordingTable)
    parse_settings(["--ros-args", "-p", "input:=in", "-p", "output:=out"])
    flags = {action.dest for action in process_bag.build_parser()._actions} - {"help"}
    assert set(declared) == flags
    assert {"point_stride", "no_points", "color_range", "fp32", "max_image_pixels"} <= flags
    assert not flags & set(NOT_OFFERED)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--color-min", "2", "--color-max", "1"], "color_max must be greater than color_min, got 2.0 and 1.0"),
        (["--input-size", "43"], "input_size must be from 56 to 2044 in steps of 14; got 43"),
        (["--points-stride", "0"], "points_stride must be from 1 to 64; got 0"),
        (["--max-image-pixels", "-1"], "max_image_pixels must be from 0 to 2147483647; got -1"),
        (["--color-range", "2", "1"], "color_range must be two numbers MIN < MAX, got [2.0, 1.0]"),
    ],
)
def test_options_that_do_not_fit_are_refused_before_anything_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert process_bag.main([str(tmp_path / "missing"), str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert f"vda-process-bag: error: {message}" in err and "Traceback" not in err, err
    assert leftovers(tmp_path) == []


@pytest.mark.ros
@pytest.mark.parametrize(
    "argv",
    [
        ["--ros-args", "-p", "input:=in"],
        ["--ros-args", "-p", "input:=in", "-p", "output:=out", "-p", "storage:=zip"],
        ["--ros-args", "-p", "input:=in", "-p", "output:=out", "-p", "color_range:=[2.0, 1.0]"],
        ["--ros-args", "-p", "input:=in", "-p", "output:=out", "-p", "input_size:=big"],
        ["in", "--ros-args", "-p", "output:=out"],
    ],
)
def test_bad_ros_parameters_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert process_bag.main(argv) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("topic", "msgtype", "namespace"),
    [
        ("/cam/image_raw", IMAGE, "/cam"),
        ("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage", "/cam"),
        ("/robot/front/image", IMAGE, "/robot/front"),
        ("/image", IMAGE, ""),
    ],
)
def test_outputs_go_under_the_camera_namespace(topic: str, msgtype: str, namespace: str) -> None:
    assert topic_namespace(topic, msgtype) == namespace
    assert OutputTopics.under(namespace, metric=True).depth == f"{namespace}/depth/image"


def _info(stamp: int) -> object:
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo()
    info.header.stamp.sec, info.header.stamp.nanosec = divmod(stamp, 10**9)
    return info


def test_camera_info_pairs_by_stamp_else_the_latest_earlier() -> None:
    history = CameraInfoHistory()
    for stamp in (10, 20, 30):
        history.add(_info(stamp))
    assert history.lookup(5) is None
    assert stamp_ns(history.lookup(20).header) == 20
    assert stamp_ns(history.lookup(25).header) == 20
    assert stamp_ns(history.lookup(40).header) == 30
    assert history.lookup(15) is None  # infos before the last pairing are forgotten: memory stays flat
