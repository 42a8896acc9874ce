"""The launch files, read as source: `launch` and `launch_ros` are not on PyPI, so CI cannot run them.

What is checked is what went wrong before and what launch would only show at run time: the
order of actions (the Fast DDS profile must be in the environment before the first node starts,
because a process reads it once, at start-up), the declared arguments (`--show-args` lists only
those), that every forwarded argument exists in the included file, and that argument defaults
do not silently override config/depth.yaml. (The real launch stack was run on these files when
they were written; see README "Checking the launch files".)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAUNCH_DIR = Path(__file__).resolve().parent.parent / "launch"
DEPTH_YAML = LAUNCH_DIR.parent / "config" / "depth.yaml"


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


def _declared_arguments(name: str) -> dict[str, ast.expr]:
    """ARGUMENTS = ((name, default, description), ...) of a launch file, as name -> default expression."""
    for node in _tree(name).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ARGUMENTS" for t in node.targets):
            return {ast.literal_eval(row.elts[0]): row.elts[1] for row in node.value.elts}
    raise AssertionError(f"{name} has no ARGUMENTS table")


def _forwarded(name: str) -> set[str]:
    """Argument names demo.launch.py passes to the included launch file."""
    names: set[str] = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "forwarded" for t in node.targets):
            names |= set(ast.literal_eval(node.value))
        if isinstance(node, ast.keyword) and node.arg == "launch_arguments":
            names |= {item.elts[0].value for item in node.value.elts
                      if isinstance(item, ast.Tuple) and isinstance(item.elts[0], ast.Constant)}
    return names


def _yaml_defaults() -> dict[str, str]:
    """depth_node's defaults in config/depth.yaml as written (`key: value  # comment` lines)."""
    defaults = {}
    for line in DEPTH_YAML.read_text().splitlines():
        key, sep, rest = line.split("#", 1)[0].strip().partition(":")
        if sep and rest.strip():
            defaults[key] = rest.strip().strip('"')
    return defaults


@pytest.mark.parametrize("name", ["demo.launch.py", "depth.launch.py"])
def test_fastdds_profile_is_set_before_any_node_starts(name: str) -> None:
    actions = _launch_actions(name)
    assert "large_message_profile" in actions, actions
    first_process = min(actions.index(a) for a in ("Node", "IncludeLaunchDescription") if a in actions)
    assert actions.index("large_message_profile") < first_process, actions


def test_demo_declares_every_argument_it_accepts() -> None:
    declared = _declared_arguments("demo.launch.py")
    for name in ("params_file", "use_sim_time", "input_size", "precision", "max_res", "reliability"):
        assert name in declared, f"demo.launch.py does not declare {name}"


def test_demo_forwards_only_arguments_the_depth_launch_declares() -> None:
    depth_arguments = _declared_arguments("depth.launch.py")
    forwarded = _forwarded("demo.launch.py")
    assert {"params_file", "input_size", "precision", "max_res", "use_sim_time", "input_reliability"} <= forwarded
    assert forwarded <= set(depth_arguments), forwarded - set(depth_arguments)


def test_depth_launch_model_arguments_default_to_the_parameter_file() -> None:
    """Arguments are applied on top of params_file: their defaults must be the file's, or they would override it."""
    declared = _declared_arguments("depth.launch.py")
    defaults = _yaml_defaults()
    for name in ("checkpoint", "encoder", "metric", "device", "precision", "input_size", "max_res", "random_weights",
                 "input_reliability"):
        assert name in declared, f"depth.launch.py does not declare {name}"
        assert ast.literal_eval(declared[name]) == defaults[name], name
