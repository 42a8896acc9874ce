"""The executables setup.py declares lead to functions.

Kept out of test_packaging.py, which the Humble leg of scripts/test_distros.sh runs without PyTorch or
rclpy: these tests import the whole package (PyTorch, rclpy, Gradio).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _console_scripts() -> list[str]:
    """The console_scripts setup.py declares, from its own console_scripts() (without running setup())."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    definitions = [
        node
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.FunctionDef)) and getattr(node, "name", None) in (None, "console_scripts")
    ]
    namespace: dict[str, object] = {}
    exec(compile(ast.Module(body=definitions, type_ignores=[]), "setup.py", "exec"), namespace)
    return namespace["console_scripts"]()  # type: ignore[operator]


def test_every_entry_point_names_a_main_function() -> None:
    scripts = dict(script.split(" = ") for script in _console_scripts())
    assert {"process_bag", "vda-process-bag", "vda-demo", "vda-video"} <= set(scripts)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function, None)), f"{name} = {target}"
