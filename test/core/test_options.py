"""One name for one setting, one declaration for one setting: every node and tool takes its options from one table."""

import dataclasses
import importlib
import inspect
import pkgutil

import pytest

import vda_ros
from vda_ros.batch.settings import BagSettings
from vda_ros.batch.video import VideoSettings
from vda_ros.core.depth_quality import DepthQualitySettings
from vda_ros.core.options import Settings, from_args
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import FrameSettings, ModelSettings
from vda_ros.core.sparse import PairingSettings
from vda_ros.nodes.depth_align import AlignSettings
from vda_ros.nodes.depth_settings import DepthSettings
from vda_ros.ros.diagnostics import DiagnosticsSettings
from vda_ros.ros.qos import InputQosSettings, OutputQosSettings, QosSettings

GROUPS = (
    ModelSettings,
    FrameSettings,
    OutputSettings,
    InputQosSettings,
    OutputQosSettings,
    QosSettings,
    DiagnosticsSettings,
    PairingSettings,
    DepthQualitySettings,
)
"""The option groups several nodes and tools nest."""

LOOK_ALIKES = {
    "input": "each tool's own input: a bag (vda-process-bag), a video (vda-video), a depth topic (depth_align)",
    "output": "each tool's own output: a bag (vda-process-bag), an mp4 (vda-demo)",
    "output_dir": "the folder each tool writes its own files to (vda-video, vda-export-onnx, vda-finetune)",
    "mode": "vda-video's engine (offline, stream) and vda-finetune's training forward: different choices",
    "image_topic": "the image topic of the recording each tool reads; the bag tool finds it, vda-finetune names "
    "the RealSense default",
    "camera_info_topic": "the CameraInfo topic each recording tool reads (of the image, or of the depth for TAE)",
    "bag": "vda-eval scores one bag, vda-finetune trains on several (repeatable)",
    "min_depth": "OutputSettings limits clouds; vda-eval and vda-finetune limit the ground truth they score or "
    "train on, as the official benchmark's settings do",
    "max_depth": "see min_depth",
    "depth_scale": "metres per stored unit of ground truth: vda-eval picks it per file type when 0, vda-finetune "
    "scales integer images only",
    "intrinsics": "a 3x3 K file: of the ground-truth grid (vda-eval TAE), of the input (vda-video clouds)",
    "encoder": "vda-download-weights picks files to fetch (all is a choice there), not the network to run",
    "metric": "see encoder",
    "fps": "vda-demo forwards its fps to video_source's, which it cannot import (ros is below nodes)",
}
"""Names that two settings classes declare, each for its own tool, and why they are not one setting."""


def _all_settings() -> list[type[Settings]]:
    """Every settings class of the package (every module imported; launch_actions needs the launch stack)."""
    for module in pkgutil.walk_packages(vda_ros.__path__, "vda_ros."):
        if not module.name.endswith("launch_actions"):
            importlib.import_module(module.name)

    def subclasses(cls: type[Settings]) -> list[type[Settings]]:
        return [each for child in cls.__subclasses__() for each in (child, *subclasses(child))]

    return sorted(set(subclasses(Settings)), key=lambda cls: (cls.__module__, cls.__name__))


def _declared_here(settings: type[Settings]) -> set[str]:
    """The options a settings class declares itself (not those of its groups or base classes)."""
    defaults = settings()
    return {name for name in inspect.get_annotations(settings) if not isinstance(getattr(defaults, name), Settings)}


@pytest.mark.slow
def test_every_setting_is_declared_once() -> None:
    """A name two classes declare is two settings under one name (or one declared twice), unless listed why."""
    declared: dict[str, list[str]] = {}
    classes = _all_settings()
    assert len(classes) >= 20, [cls.__name__ for cls in classes]
    for settings in classes:
        for name in _declared_here(settings):
            declared.setdefault(name, []).append(settings.__name__)
    twice = {name: where for name, where in declared.items() if len(where) > 1 and name not in LOOK_ALIKES}
    assert not twice, twice
    stale = set(LOOK_ALIKES) - {name for name, where in declared.items() if len(where) > 1}
    assert not stale, f"listed as look-alikes but declared once: {stale}"


def test_an_older_spelling_is_never_the_name_of_another_setting_of_the_same_tool() -> None:
    for settings in _all_settings():
        names = [item.name for item in settings.options()]
        aliases = [alias.name for _, alias in settings.aliases()]
        assert len(set(names)) == len(names), settings.__name__
        clash = set(aliases) & set(names)
        # vda-finetune's crop_size was spelt input_size there; it leaves ModelSettings' input_size off its surface.
        assert not clash or (settings.__name__, clash) == ("FinetuneSettings", {"input_size"}), (settings, clash)


def test_the_tools_and_nodes_take_their_shared_options_from_the_groups() -> None:
    """Name, help, limits, runtime and aliases are the group's; only a default may be the tool's own."""
    shared = {item.name: item for settings in GROUPS for item in settings.options()}
    users = [settings for settings in _all_settings() if settings not in GROUPS]
    seen = set()
    for settings in users:
        for item in settings.options():
            if item.name in shared and item.name in {o.name for o in _group_options(settings)}:
                seen.add(item.name)
                assert dataclasses.replace(item, default=shared[item.name].default) == shared[item.name], item.name
    assert {"input_size", "backend", "points_stride", "max_res", "output_reliability", "max_time_offset"} <= seen
    assert {"flying_pixel_filter", "flying_pixel_angle", "min_confidence"} <= seen
    assert AlignSettings.option("input_queue_depth").default == 5, "depth_align queues more depth frames"
    assert AlignSettings.option("max_time_offset").default == 0.05 and PairingSettings().max_time_offset == 0.02


def _group_options(settings: type[Settings]) -> list:
    """The options `settings` takes from its nested groups."""
    defaults = settings()
    return [
        item
        for name in inspect.get_annotations(settings)
        if isinstance(getattr(defaults, name), Settings)
        for item in type(getattr(defaults, name)).options()
    ]


def test_the_same_setting_has_the_same_default_in_every_tool_unless_one_says_otherwise() -> None:
    model_options = {item.name for item in ModelSettings.options()}
    for name in ("input_size", "backend", "precision", "backend_cache", "points_stride", "color_min"):
        group = ModelSettings if name in model_options else OutputSettings
        tools = (BagSettings, VideoSettings, DepthSettings)
        assert {settings.option(name).default for settings in tools} == {group.option(name).default}, name


def test_precision_and_the_official_fp32_flag() -> None:
    from vda_ros.cli import video

    parser = video.build_parser()
    assert from_args(VideoSettings, parser.parse_args(["in", "--fp32"])).model.engine_precision == "fp32"
    assert from_args(VideoSettings, parser.parse_args(["in", "--precision", "bf16"])).model.engine_precision == "bf16"
    assert from_args(VideoSettings, parser.parse_args(["in"])).model.engine_precision is None, "auto"


def test_the_three_camera_example_sets_only_declared_parameters() -> None:
    import yaml
    from ros_helpers import REPO_ROOT

    with open(REPO_ROOT / "config" / "cameras_example.yaml") as stream:
        values = yaml.safe_load(stream)["/**"]["ros__parameters"]
    declared = {item.name for item in DepthSettings.options()}
    assert set(values) <= declared and values["cameras"] == ["/front", "/left", "/right"]
