"""The launch files, read as source and run against stand-ins: `launch` and `launch_ros` are not on PyPI,
so CI cannot run them.

What is checked is what went wrong before and what launch would only show at run time: the
order of actions (the Fast DDS profile must be in the environment before the first node starts,
because a process reads it once, at start-up), the declared arguments (`--show-args` lists only
those), that every forwarded argument exists in the included file, and that an argument the user
did not give never overrides the parameters file. For the last, generate_launch_description runs
with stand-in launch modules whose classes only record their arguments: the description it returns
is read as data, and its deferred parts (OpaqueFunction) are called with the launch configurations
launch would hold. (The real launch stack was run on these files when they were written; see
README "Checking the launch files".)
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vda_ros.core.options import Settings

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"


def _tree(name: str) -> ast.Module:
    return ast.parse((LAUNCH_DIR / name).read_text(), filename=name)


def _called_name(node: ast.AST) -> str | None:
    """The name a call expression calls (Node(...) -> 'Node'), else None."""
    if isinstance(node, ast.Call):
        func = node.func
        return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return None


def _launch_actions(name: str) -> list[str]:
    """Names of the calls listed in generate_launch_description's LaunchDescription([...]), in order."""
    for node in ast.walk(_tree(name)):
        if _called_name(node) == "LaunchDescription":
            (actions,) = node.args
            return [_called_name(item.value if isinstance(item, ast.Starred) else item) or "?" for item in actions.elts]
    raise AssertionError(f"{name} builds no LaunchDescription")


class Recorded:
    """A stand-in for any launch class: it keeps the arguments it was made with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


LAUNCH_MODULES = (
    "launch",
    "launch.actions",
    "launch.conditions",
    "launch.launch_description_sources",
    "launch.substitutions",
    "launch_ros",
    "launch_ros.actions",
    "launch_ros.parameter_descriptions",
    "launch_ros.substitutions",
)


@functools.cache
def _stand_in(module: str, name: str) -> type:
    """One class per name, so that the launch files' and this test's references are the same class."""
    return type(name, (Recorded,), {"__module__": module})


@pytest.fixture
def stand_in_launch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stand-in launch modules for the duration of a test (vda_ros.ros.launch_actions imported against them)."""
    for name in LAUNCH_MODULES:
        module = types.ModuleType(name)
        module.__getattr__ = functools.partial(_stand_in, name)  # type: ignore[method-assign]
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "vda_ros.ros.launch_actions", raising=False)
    yield
    sys.modules.pop("vda_ros.ros.launch_actions", None)


def _module(name: str) -> types.ModuleType:
    """launch/<name> imported (stand-ins must be in place)."""
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH_DIR / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _description(name: str) -> list[Recorded]:
    """The actions generate_launch_description of launch/<name> returns (stand-ins must be in place)."""
    (actions,) = _module(name).generate_launch_description().args
    return list(actions)


def _of(actions: list[Recorded], kind: str) -> list[Recorded]:
    return [action for action in actions if type(action).__name__ == kind]


def _configurations(actions: list[Recorded], given: dict[str, Any]) -> dict[str, Any]:
    """The launch configurations launch holds: what was given, else each declared argument's default."""
    declared = {a.args[0]: a.kwargs.get("default_value") for a in _of(actions, "DeclareLaunchArgument")}
    return {**declared, **given}


def _node_parameters(name: str, given: dict[str, Any]) -> list[Any]:
    """The `parameters` of the vda_ros node that launch/<name> starts when launched with `given` arguments."""
    actions = _description(name)
    context = types.SimpleNamespace(launch_configurations=_configurations(actions, given))
    nodes = [node for opaque in _of(actions, "OpaqueFunction") for node in opaque.kwargs["function"](context)]
    (node,) = [n for n in nodes + _of(actions, "Node") if n.kwargs["package"] == "vda_ros"]
    return node.kwargs["parameters"]


def _declared_arguments(name: str) -> dict[str, Any]:
    """The arguments launch/<name> declares (`--show-args` lists these), as name -> default."""
    return {a.args[0]: a.kwargs.get("default_value") for a in _of(_description(name), "DeclareLaunchArgument")}


def _forwarded(name: str) -> set[str]:
    """Argument names launch/<name> passes to the launch file it includes."""
    (include,) = _of(_description(name), "IncludeLaunchDescription")
    return {argument for argument, _ in include.kwargs["launch_arguments"]}


def _configuration_name(value: Recorded) -> str:
    """name, of LaunchConfiguration(name)."""
    assert type(value).__name__ == "LaunchConfiguration", value
    return value.args[0]


@pytest.mark.parametrize("name", ["demo.launch.py", "depth.launch.py"])
def test_fastdds_profile_is_set_before_any_node_starts(name: str) -> None:
    actions = _launch_actions(name)
    assert "large_message_profile" in actions, actions
    first_process = min(actions.index(a) for a in ("Node", "IncludeLaunchDescription") if a in actions)
    assert actions.index("large_message_profile") < first_process, actions


@pytest.mark.usefixtures("stand_in_launch")
def test_demo_declares_every_argument_it_accepts() -> None:
    declared = _declared_arguments("demo.launch.py")
    for name in ("params_file", "use_sim_time", "input_size", "precision", "max_res", "reliability"):
        assert name in declared, f"demo.launch.py does not declare {name}"


@pytest.mark.usefixtures("stand_in_launch")
def test_demo_forwards_only_arguments_the_depth_launch_declares() -> None:
    depth_arguments = _declared_arguments("depth.launch.py")
    forwarded = _forwarded("demo.launch.py")
    assert {"params_file", "input_size", "precision", "max_res", "use_sim_time", "input_reliability"} <= forwarded
    assert forwarded <= set(depth_arguments), forwarded - set(depth_arguments)


@pytest.mark.usefixtures("stand_in_launch")
def test_depth_launch_gives_the_node_only_the_arguments_the_user_gave() -> None:
    """A file's `encoder: vitl`, `input_size: 364` or `metric: true` stays unless the user gave another value."""
    parameters = _node_parameters("depth.launch.py", {"params_file": "robot.yaml"})
    assert len(parameters) == 1 and type(parameters[0]).__name__ == "LaunchConfiguration", parameters
    assert parameters[0].args == ("params_file",), "the file alone decides"

    file, given = _node_parameters(
        "depth.launch.py", {"params_file": "robot.yaml", "metric": "true", "input_size": "252", "checkpoint": "1.5"}
    )
    assert file.args == ("params_file",)
    typed = {name: (_configuration_name(value.args[0]), value.kwargs["value_type"]) for name, value in given.items()}
    assert typed == {"metric": ("metric", bool), "input_size": ("input_size", int), "checkpoint": ("checkpoint", str)}


DEPTH_NODE_PARAMETERS = {
    "checkpoint",
    "encoder",
    "metric",
    "device",
    "precision",
    "backend",
    "input_size",
    "max_res",
    "random_weights",
    "refined",
    "refined_flush_timeout",
    "use_sim_time",
    "autostart",
}
"""The node parameters both depth.launch.py and demo.launch.py take as arguments (written out here, not read from
launch_actions: the test states what the launch files must offer)."""


@pytest.mark.usefixtures("stand_in_launch")
def test_every_parameter_argument_of_the_depth_launch_can_be_given() -> None:
    parameter_arguments = {*DEPTH_NODE_PARAMETERS, "input_reliability"}
    _, given = _node_parameters("depth.launch.py", {name: "x" for name in parameter_arguments})
    assert set(given) == set(parameter_arguments)
    defaults = _configurations(_description("depth.launch.py"), {})
    assert {name: defaults[name] for name in parameter_arguments} == {name: "" for name in parameter_arguments}


@pytest.mark.usefixtures("stand_in_launch")
def test_depth_align_launch_gives_the_node_only_the_arguments_the_user_gave() -> None:
    (file,) = _node_parameters("depth_align.launch.py", {})
    assert file.args == ("params_file",), "the file alone decides"
    _, given = _node_parameters("depth_align.launch.py", {"input": "metric", "sparse_translation": "[0.0, 0.1, 0.0]"})
    assert {name: _configuration_name(value.args[0]) for name, value in given.items()} == {
        "input": "input",
        "sparse_translation": "sparse_translation",
    }


@pytest.mark.usefixtures("stand_in_launch")
def test_demo_forwards_no_parameter_the_user_did_not_give() -> None:
    """demo.launch.py's own defaults reach depth.launch.py as given arguments: they must be "not given"."""
    actions = _description("demo.launch.py")
    configurations = _configurations(actions, {"video": "clip.mp4"})
    (include,) = _of(actions, "IncludeLaunchDescription")
    forwarded = {
        name: configurations[_configuration_name(value)] if isinstance(value, Recorded) else value
        for name, value in include.kwargs["launch_arguments"]
    }
    assert {name: forwarded[name] for name in DEPTH_NODE_PARAMETERS} == {name: "" for name in DEPTH_NODE_PARAMETERS}
    assert forwarded["input_reliability"] == "reliable", "the demo's images travel reliably, both ends"


@pytest.mark.usefixtures("stand_in_launch")
def test_demo_declares_what_depth_launch_declares() -> None:
    """The README says demo.launch.py takes depth.launch.py's arguments (less the camera's topics and frame)."""
    missing = set(_declared_arguments("depth.launch.py")) - set(_declared_arguments("demo.launch.py"))
    assert missing == {"image", "camera_info", "camera_frame", "input_reliability"}, missing
    assert set(_forwarded("demo.launch.py")) >= {"backend", "managed", "autostart"}


def _parameter_types(name: str) -> dict[str, type | None]:
    """NODE_PARAMETERS of a launch file: parameter name -> the type its argument is read as (None: YAML)."""
    return _module(name).NODE_PARAMETERS


def _node_settings(node: str) -> type[Settings]:
    """The settings of a node, imported here: the nodes import rclpy, which the Humble leg's venv lacks (it runs
    only the tests that need neither)."""
    if node == "depth_node":
        from vda_ros.nodes.depth_settings import ManagedDepthSettings

        return ManagedDepthSettings
    if node == "depth_align":
        from vda_ros.nodes.depth_align import AlignSettings

        return AlignSettings
    from vda_ros.nodes.video_source import VideoSourceSettings

    return VideoSourceSettings


def _options(settings: type[Settings]) -> dict[str, type]:
    """Option name -> the type of its values, plus the parameter every node has."""
    return {**{item.name: item.kind for item in settings.options()}, "use_sim_time": bool}


@pytest.mark.usefixtures("stand_in_launch")
@pytest.mark.parametrize(
    ("name", "node"), [("depth.launch.py", "depth_node"), ("depth_align.launch.py", "depth_align")]
)
def test_parameter_arguments_set_parameters_of_the_node_with_their_type(name: str, node: str) -> None:
    settings = _node_settings(node)
    options = _options(settings)
    for parameter, kind in _parameter_types(name).items():
        assert parameter in options, f"{name}: {parameter} is no parameter of the node"
        assert kind is options[parameter] or (kind is None and options[parameter] is tuple), parameter


@pytest.mark.usefixtures("stand_in_launch")
def test_the_demo_gives_video_source_its_parameters_by_their_current_names() -> None:
    (source,) = [
        node for node in _of(_description("demo.launch.py"), "Node") if node.kwargs["executable"] == "video_source"
    ]
    (parameters,) = source.kwargs["parameters"]
    options = _options(_node_settings("video_source"))
    assert set(parameters) <= set(options), set(parameters) - set(options)
    assert _configuration_name(parameters["output_reliability"]) == "reliability", "the demo's argument, both ends"


@pytest.mark.usefixtures("stand_in_launch")
@pytest.mark.parametrize(
    ("name", "node"),
    [
        ("depth.launch.py", "depth_node"),
        ("demo.launch.py", "depth_node"),
        ("depth_align.launch.py", "depth_align"),
    ],
)
def test_a_parameter_argument_is_described_by_its_option_help(name: str, node: str) -> None:
    settings = _node_settings(node)
    """One text per setting: the launch argument says what `ros2 param describe` and the docs' tables say."""
    described = {a.args[0]: a.kwargs["description"] for a in _of(_description(name), "DeclareLaunchArgument")}
    parameters = set(described) & {item.name for item in settings.options()}
    assert {"input_size", "refined"} <= parameters or {"input", "sparse_history"} <= parameters, parameters
    for parameter in parameters:
        assert described[parameter] == settings.option(parameter).help + " (Default: params_file's.)", parameter
