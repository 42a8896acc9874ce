"""The option system: one declaration gives the flags, the ROS parameters and the typed settings object."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest
import rclpy
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from vda_ros.core.options import Alias, OptionError, Settings, add_flags, from_args, group, option
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import ModelSettings
from vda_ros.ros.parameters import ParameterTable
from vda_ros.ros.qos import QosSettings


@dataclass(frozen=True)
class ToolSettings(Settings):
    """A tool of its own: two shared groups (one with another default here) and one option of its own."""

    model: ModelSettings = group(ModelSettings)
    qos: QosSettings = group(QosSettings, input_queue_depth=5)
    outputs: OutputSettings = group(OutputSettings)
    label: str = option("x", "A label.", aliases=(Alias("old_label", "label", ""),))


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tool")
    add_flags(parser, ToolSettings)
    return parser.parse_args(argv)


def test_flags_give_the_typed_settings_and_their_defaults() -> None:
    settings = from_args(ToolSettings, _parse("--input-size", "280", "--no-publish-points", "--label", "y"))
    assert settings.model.input_size == 280 and settings.outputs.publish_points is False and settings.label == "y"
    assert settings.qos.input_queue_depth == 5, "the group's default as this tool overrides it"
    assert ToolSettings.option("input_queue_depth").default == 5 and QosSettings().input_queue_depth == 1
    assert from_args(ToolSettings, _parse()) == ToolSettings()


def test_older_spellings_map_onto_the_current_options_and_say_what_replaces_them() -> None:
    warnings: list[str] = []
    argv = (
        "--point-stride",
        "3",
        "--color-range",
        "1",
        "2",
        "--fp32",
        "--old-label",
        "z",
        "--reliability",
        "best_effort",
    )
    settings = from_args(ToolSettings, _parse(*argv), warn=warnings.append)
    assert settings.outputs.points_stride == 3 and settings.outputs.color_range == (1.0, 2.0, 0.05)
    assert settings.model.precision == "fp32" and settings.label == "z"
    assert settings.qos.output_reliability == "best_effort"
    assert warnings == [
        "'reliability' is deprecated; use output_reliability",
        "'point_stride' is deprecated; use points_stride",
        "'color_range' is deprecated; use color_min and color_max",
        "'old_label' is deprecated; use label",
    ], "--fp32 is a shorthand kept on purpose: no warning"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"input_size": 43}, "input_size must be from 56 to 2044 in steps of 14; got 43"),
        ({"input_size": 2058}, "input_size must be from 56 to 2044 in steps of 14; got 2058"),
        ({"encoder": "vitg"}, "encoder must be one of auto, vits, vitb, vitl; got 'vitg'"),
        ({"metric": "yes"}, "metric must be true or false, got 'yes'"),
        ({"points_stride": 1.5}, "points_stride must be an integer, got 1.5"),
        ({"min_depth": float("nan")}, "min_depth must be from 0 to 10000; got nan"),
        ({"min_depth": 5, "max_depth": 2}, "min_depth 5.0 is greater than max_depth 2.0"),
        ({"color_range": (2.0, 1.0)}, r"color_range must be two numbers MIN < MAX, got \[2.0, 1.0\]"),
        ({"no_such_option": 1}, "unknown option no_such_option"),
    ],
)
def test_values_an_option_does_not_take_are_refused_naming_it(values: dict[str, object], message: str) -> None:
    with pytest.raises(OptionError, match=f"^{message}$"):
        ToolSettings.from_values(values, warn=lambda _note: None)


def test_replace_and_values_round_trip() -> None:
    settings = ToolSettings().replace(points_stride=4, backend="onnxruntime")
    assert settings.outputs.points_stride == 4 and settings.model.backend == "onnxruntime"
    assert ToolSettings.from_values(settings.values()) == settings
    with pytest.raises(OptionError):
        settings.replace(backend="tensorflow")


@pytest.fixture()
def node():
    rclpy.init()
    made: list[Node] = []

    def make(overrides: list[Parameter] | None = None) -> Node:
        made.append(Node("option_system_test", parameter_overrides=overrides or []))
        return made[-1]

    yield make
    for each in made:
        each.destroy_node()
    rclpy.shutdown()


@pytest.mark.ros
def test_parameters_are_declared_with_descriptors_and_give_the_settings(node) -> None:
    ros = node([Parameter("input_size", value=280), Parameter("point_stride", value=2)])
    table = ParameterTable(ros, ToolSettings)
    assert table.settings.model.input_size == 280 and table.settings.outputs.points_stride == 2
    described = ros.describe_parameter("input_size")
    assert described.read_only and described.integer_range[0].step == 14
    assert not ros.describe_parameter("points_stride").read_only, "a runtime option"
    assert ros.describe_parameter("encoder").additional_constraints == "one of: auto, vits, vitb, vitl"
    assert "deprecated; use points_stride" in ros.describe_parameter("point_stride").description


@pytest.mark.ros
def test_a_runtime_change_is_checked_with_the_other_values_and_refused_with_the_reason(node) -> None:
    ros = node([Parameter("max_depth", value=10.0)])
    table = ParameterTable(ros, ToolSettings)
    refused = ros.set_parameters([Parameter("min_depth", value=20.0)])[0]
    assert not refused.successful and refused.reason == "min_depth 20.0 is greater than max_depth 10.0"
    assert table.settings.outputs.min_depth == 0.0
    assert ros.set_parameters([Parameter("min_depth", value=2.0)])[0].successful
    assert table.settings.outputs.min_depth == 2.0
    refused = ros.set_parameters([Parameter("color_smoothing", value=5.0)])[0]
    assert not refused.successful


@pytest.mark.ros
def test_a_start_up_value_out_of_its_choices_stops_the_node(node) -> None:
    with pytest.raises(InvalidParameterValueException, match="backend must be one of"):
        ParameterTable(node([Parameter("backend", value="tensorflow")]), ToolSettings)
