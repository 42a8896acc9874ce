"""ParameterTable as a node offers it: what it leaves out, what it reads once, and older spellings made visible."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter

from vda_ros.core.options import Settings, group, option
from vda_ros.core.outputs import OutputSettings
from vda_ros.ros.parameters import ParameterTable
from vda_ros.ros.qos import OutputQosSettings

# Every test here starts rclpy or ROS nodes.
pytestmark = pytest.mark.ros


@dataclass(frozen=True)
class PublisherSettings(Settings):
    """A node that publishes clouds: the shared output and output QoS groups, and one option of its own."""

    rate: float = option(10.0, "Publishing rate.", float_range=(0.1, 100.0))
    outputs: OutputSettings = group(OutputSettings)
    qos: OutputQosSettings = group(OutputQosSettings)


@pytest.fixture()
def node() -> Iterator:
    rclpy.init()
    made: list[Node] = []

    def make(*overrides: Parameter) -> Node:
        made.append(Node("parameters_test", parameter_overrides=list(overrides)))
        return made[-1]

    yield make
    for each in made:
        each.destroy_node()
    rclpy.shutdown()


def test_an_older_spelling_sets_the_parameter_of_the_option_it_names(node) -> None:
    """`ros2 param get` on the current name shows what the node uses, also when the old name was given."""
    warnings: list[str] = []
    ros = node(Parameter("point_stride", value=3), Parameter("reliability", value="best_effort"))
    table = ParameterTable(ros, PublisherSettings, warn=warnings.append)
    assert table.settings.outputs.points_stride == 3 and table.settings.qos.output_reliability == "best_effort"
    assert ros.get_parameter("points_stride").value == 3
    assert ros.get_parameter("output_reliability").value == "best_effort"
    assert sorted(warnings) == [
        "'point_stride' is deprecated; use points_stride",
        "'reliability' is deprecated; use output_reliability",
    ]
    assert ros.set_parameters([Parameter("points_stride", value=4)])[0].successful
    assert table.settings.outputs.points_stride == 4, "a later change of the current name applies"


def test_the_current_name_wins_over_an_older_spelling_given_beside_it(node) -> None:
    ros = node(Parameter("point_stride", value=3), Parameter("points_stride", value=5))
    table = ParameterTable(ros, PublisherSettings, warn=lambda _note: None)
    assert table.settings.outputs.points_stride == 5 and ros.get_parameter("points_stride").value == 5


def test_a_node_leaves_out_options_it_has_no_use_for_and_reads_some_once(node) -> None:
    unused = ("points_rgb", "relative_scale", "relative_shift", "color_min", "color_max", "color_smoothing")
    ros = node(Parameter("min_depth", value=0.5))
    table = ParameterTable(
        ros,
        PublisherSettings,
        exclude=unused,
        start_up_only=("min_depth",),
        help_overrides={"min_depth": "Nearer points are dropped."},
    )
    declared = set(ros._parameters) - {"use_sim_time", "start_type_description_service"}
    offered = {"rate", "publish_points", "points_stride", "min_depth", "max_depth"}
    offered |= {"output_reliability", "output_queue_depth", "no_points", "point_stride", "reliability", "queue_depth"}
    assert declared == offered, "the colour options and their older spelling color_range are not parameters"
    assert table.settings.outputs.color_smoothing == 0.05 and table.settings.outputs.min_depth == 0.5
    described = ros.describe_parameter("min_depth")
    assert described.read_only and described.description == "Nearer points are dropped."
    assert not ros.describe_parameter("points_stride").read_only, "still changed at runtime"
    assert not ros.set_parameters([Parameter("min_depth", value=1.0)])[0].successful
    assert table.settings.outputs.min_depth == 0.5


def test_leaving_out_an_option_the_settings_lack_is_a_programming_error(node) -> None:
    with pytest.raises(ValueError, match="PublisherSettings has no option colour_min"):
        ParameterTable(node(), PublisherSettings, exclude=("colour_min",))
