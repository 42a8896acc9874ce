"""One name for one setting: the shared options appear under the same name in every tool."""

import dataclasses
import inspect

from vda_ros.core.options import Settings
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import FrameSettings, ModelSettings
from vda_ros.nodes.depth_align import AlignSettings
from vda_ros.nodes.depth_settings import DepthSettings, ManagedDepthSettings
from vda_ros.nodes.video_source import VideoSourceSettings
from vda_ros.ros.diagnostics import DiagnosticsSettings
from vda_ros.ros.qos import InputQosSettings, OutputQosSettings, QosSettings

BAG_OPTIONS = {"precision", "backend", "backend_cache", "publish_points", "points_stride", "color_min", "color_max"}
"""The shared options that make sense for a recording (input_size is also shared; max_res is live/video only)."""
GROUPS = (
    ModelSettings,
    FrameSettings,
    OutputSettings,
    InputQosSettings,
    OutputQosSettings,
    QosSettings,
    DiagnosticsSettings,
)
"""The option groups several nodes and tools nest."""
NODES = (DepthSettings, ManagedDepthSettings, AlignSettings, VideoSourceSettings)


def test_shared_options_have_one_name_and_default_everywhere() -> None:
    from vda_ros.batch.settings import Options
    from vda_ros.cli import video as cli
    from vda_ros.core.options import OPTIONS

    bag = {f.name: f for f in dataclasses.fields(Options)}
    for name in BAG_OPTIONS | {"input_size"}:
        assert bag[name].default == OPTIONS[name].default, name
    video = {action.dest: action for action in cli.build_parser()._actions}
    for name in ("precision", "backend", "backend_cache", "input_size", "max_res"):
        assert OPTIONS[name].flag in video[name].option_strings and video[name].default == OPTIONS[name].default


def test_precision_and_the_official_fp32_flag() -> None:
    from vda_ros.cli import video as cli
    from vda_ros.core.options import resolve_precision

    parser = cli.build_parser()
    assert resolve_precision(parser.parse_args(["in", "--fp32"]).precision, True) == "fp32"
    assert resolve_precision(parser.parse_args(["in", "--precision", "bf16"]).precision) == "bf16"
    assert resolve_precision(parser.parse_args(["in"]).precision) is None, "auto: the engine's default"


def _declared_here(settings: type[Settings]) -> set[str]:
    """The options a settings class declares itself (not those of its groups or base classes)."""
    defaults = settings()
    return {name for name in inspect.get_annotations(settings) if not isinstance(getattr(defaults, name), Settings)}


def test_every_setting_of_the_nodes_is_declared_once() -> None:
    """A name two classes declare would be two settings under one name (or one setting declared twice)."""
    declared: dict[str, list[str]] = {}
    for settings in (*GROUPS, *NODES):
        for name in _declared_here(settings):
            declared.setdefault(name, []).append(settings.__name__)
    twice = {name: where for name, where in declared.items() if len(where) > 1}
    assert not twice, twice
    aliases = {alias.name for settings in (*GROUPS, *NODES) for _, alias in settings.aliases()}
    assert not aliases & set(declared), "an older spelling must not be the name of another setting"


def test_the_nodes_take_their_shared_options_from_the_groups() -> None:
    """Name, help, limits, runtime and aliases are the group's; only a default may be the node's own."""
    shared = {item.name: item for settings in GROUPS for item in settings.options()}
    for settings in NODES:
        for item in settings.options():
            if item.name in shared:
                assert dataclasses.replace(item, default=shared[item.name].default) == shared[item.name], item.name
    assert AlignSettings.option("input_queue_depth").default == 5, "depth_align queues more depth frames"


def test_the_three_camera_example_sets_only_declared_parameters() -> None:
    import yaml
    from ros_helpers import REPO_ROOT

    with open(REPO_ROOT / "config" / "cameras_example.yaml") as stream:
        values = yaml.safe_load(stream)["/**"]["ros__parameters"]
    declared = {item.name: item for item in DepthSettings.options()}
    assert set(values) <= set(declared) and values["cameras"] == ["/front", "/left", "/right"]
    settings = DepthSettings.from_values(values)
    assert settings.cameras == ("/front", "/left", "/right") and settings.outputs.points_stride == 2
