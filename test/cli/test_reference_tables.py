"""The parameter and flag tables of docs/ are what the code declares (scripts/reference_tables.py makes them)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    """scripts/reference_tables.py as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("reference_tables", REPO_ROOT / "scripts" / "reference_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


tables = _load_script()


@pytest.mark.parametrize("name", list(tables.TABLES))
def test_the_committed_table_is_the_code_s(name: str) -> None:
    page = tables.TABLES[name][0]
    committed = tables.committed(page).get(name)
    assert committed is not None, f"docs/{page} has no <!-- table: {name} --> marker"
    assert committed == tables.table_text(name), (
        f"docs/{page}: table {name} is out of date; run scripts/reference_tables.py --write"
    )


def _executables() -> tuple[set[str], set[str]]:
    """(node executables, vda- tools) that setup.py installs, read from its source."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    nodes: set[str] = set()
    tools: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "NODE_ENTRY_POINTS":
            nodes = set(ast.literal_eval(node.value))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("vda-")
            and "=" in node.value
        ):
            tools.add(node.value.split("=")[0].strip())
    return nodes, tools


def test_every_node_and_tool_has_its_table() -> None:
    """A new executable in setup.py needs its page: a node its parameters, a tool its flags."""
    nodes, tools = _executables()
    assert nodes and tools
    assert {f"{node}-parameters" for node in nodes} <= set(tables.TABLES)
    assert {f"{tool}-flags" for tool in tools} | {"vda-process-bag-flags"} <= set(tables.TABLES)


def test_a_changed_table_is_found_and_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check names a table whose text differs from the code, and --write puts the code's text back."""
    page = tmp_path / "nodes" / "video_source.md"
    page.parent.mkdir()
    page.write_text("intro\n<!-- table: video_source-parameters -->\n| stale |\n<!-- end table -->\noutro\n")
    monkeypatch.setattr(tables, "DOCS", tmp_path)
    assert tables.main(["--check", "video_source-parameters"]) == 1
    assert tables.main(["--write", "video_source-parameters"]) == 0
    text = page.read_text()
    assert text.startswith("intro\n<!-- table: video_source-parameters -->\n\n| parameter |")
    assert text.endswith("<!-- end table -->\noutro\n") and "| stale |" not in text
    assert tables.main(["--check", "video_source-parameters"]) == 0
