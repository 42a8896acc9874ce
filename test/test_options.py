"""One name for one setting: the shared options appear under the same name in every tool."""

from vda_ros.batch.settings import BagSettings
from vda_ros.cli import video as cli
from vda_ros.core.options import OPTIONS, resolve_precision
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import FrameSettings, ModelSettings
from vda_ros.nodes.depth_node import PARAMETERS

BAG_OPTIONS = {"precision", "backend", "backend_cache", "publish_points", "points_stride", "color_min", "color_max"}
"""The shared options that make sense for a recording (input_size is also shared; max_res is live/video only)."""


def test_shared_options_have_one_name_and_default_everywhere() -> None:
    node = {spec.name: spec for spec in PARAMETERS}
    for name, option in OPTIONS.items():
        assert node[name].default == option.default and node[name].description == option.help, name
    video = {action.dest: action for action in cli.build_parser()._actions}
    for name in ("precision", "backend", "backend_cache", "input_size", "max_res"):
        assert OPTIONS[name].flag in video[name].option_strings and video[name].default == OPTIONS[name].default


def test_the_bag_tool_takes_its_shared_options_from_the_groups() -> None:
    """Declared once: the bag tool's shared options are the groups' own, name, default, help, limits and aliases."""
    groups = (ModelSettings, FrameSettings, OutputSettings)
    shared = {item.name: item for settings in groups for item in settings.options()}
    for name in BAG_OPTIONS | {"input_size", "max_image_pixels"}:
        assert BagSettings.option(name) == shared[name], name


def test_precision_and_the_official_fp32_flag() -> None:
    parser = cli.build_parser()
    assert resolve_precision(parser.parse_args(["in", "--fp32"]).precision, True) == "fp32"
    assert resolve_precision(parser.parse_args(["in", "--precision", "bf16"]).precision) == "bf16"
    assert resolve_precision(parser.parse_args(["in"]).precision) is None, "auto: the engine's default"


def test_the_three_camera_example_sets_only_declared_parameters() -> None:
    import yaml
    from ros_helpers import REPO_ROOT

    with open(REPO_ROOT / "config" / "cameras_example.yaml") as stream:
        values = yaml.safe_load(stream)["/**"]["ros__parameters"]
    declared = {spec.name: spec.default for spec in PARAMETERS}
    assert set(values) <= set(declared) and values["cameras"] == ["/front", "/left", "/right"]
    assert all(isinstance(v, type(declared[k])) or isinstance(declared[k], tuple) for k, v in values.items())
