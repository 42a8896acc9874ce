"""vda-demo's options: declared once (DemoSettings, the model's from ModelSettings) and handed to depth_node.

The pipeline end to end is test_video_source.test_demo_records_live_depth_to_an_mp4.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vda_ros.cli.demo import build_parser, main
from vda_ros.core.options import from_args
from vda_ros.ros.demo import DemoSettings, node_commands


def settings(*argv: str) -> DemoSettings:
    return from_args(DemoSettings, build_parser().parse_args(argv))


def test_depth_node_gets_the_model_options_given_and_reliable_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    given = settings("clip.mp4", "--random-weights", "--input-size", "112", "--fp32", "--checkpoint", "w.pth")
    command = node_commands(given)["depth_node"]
    params = [command[i + 1] for i, word in enumerate(command) if word == "-p"]
    assert params == [
        f"checkpoint:={tmp_path / 'w.pth'}",
        "random_weights:=true",
        "precision:=fp32",
        "input_size:=112",
        "input_reliability:=reliable",
    ], "options left at their defaults are depth_node's defaults too: not passed"
    source = node_commands(given)["video_source"]
    assert f"source:={tmp_path / 'clip.mp4'}" in source and "__ns:=/vda_demo" in source


def test_the_default_output_is_named_after_the_clip() -> None:
    assert settings("videos/clip.mp4").output_path == Path("outputs/clip_live_depth.mp4")
    assert settings("clip.mp4", "--output", "x.mp4").output_path == Path("x.mp4")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--frames", "0"], "frames must be at least 1; got 0"),
        (["--input-size", "100"], "input_size must be from 56 to 2044 in steps of 14; got 100"),
    ],
)
def test_bad_options_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["clip.mp4", *argv])
    assert exit_info.value.code == 2
    assert f"vda-demo: error: {message}" in capsys.readouterr().err


def test_a_missing_video_is_named_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "absent.mp4")]) == 1
    assert f"vda-demo: error: video not found: {tmp_path / 'absent.mp4'}" in capsys.readouterr().err
