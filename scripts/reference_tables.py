#!/usr/bin/env python3
"""The parameter tables of the nodes and the flag tables of the tools in docs/, made from the code.

Every option is declared once, in a settings class (vda_ros.core.options); each node declares its parameters
from its class and each tool its flags. This script writes the tables of docs/ from those same declarations,
so the reference cannot drift from what `ros2 param describe` and `--help` say:

    scripts/reference_tables.py            print every table
    scripts/reference_tables.py --write    rewrite the tables in docs/ in place
    scripts/reference_tables.py --check    exit 1 naming the tables in docs/ that differ (what the test runs)

A table sits in its page between `<!-- table: NAME -->` and `<!-- end table -->`; the text around it is
written by hand. Run it with the checkout's code first on the path (PYTHONPATH=$PWD).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
MARKER = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.DOTALL)

ROS_TYPES = {bool: "bool", int: "int", float: "double", str: "string"}


@dataclass(frozen=True)
class NodeTable:
    """How a node offers the options of its settings class (the arguments it gives ParameterTable).

    The names are looked up in the node's module, so the table follows the node's own declaration.
    """

    page: str
    settings: str
    """module:Class of the settings."""
    exclude: str | None = None
    """module:NAME of the options the node does not offer."""
    start_up_only: str | None = None
    """module:NAME of the runtime options the node reads once."""
    help_overrides: str | Mapping[str, str] | None = None
    """module:NAME of a mapping option -> the description the node gives it, or that mapping with module:NAME
    references as its values."""
    only_own: str | None = None
    """module:Class whose options are left out (the managed node: only what it adds to depth_node's)."""
    runtime_column: bool = True
    """False for a process that reads its parameters once and exits (process_bag)."""


@dataclass(frozen=True)
class ToolTable:
    """A console script's flags: its parser, and the settings class that gives their ranges."""

    page: str
    parser: str
    """module:function returning the argparse parser."""
    settings: str
    """module:Class of the settings whose options the flags set."""


NODES = {
    "depth_node": NodeTable("nodes/depth_node.md", "vda_ros.nodes.depth_settings:DepthSettings"),
    "managed_depth_node": NodeTable(
        "nodes/depth_node.md",
        "vda_ros.nodes.depth_settings:ManagedDepthSettings",
        only_own="vda_ros.nodes.depth_settings:DepthSettings",
    ),
    "depth_align": NodeTable(
        "nodes/depth_align.md",
        "vda_ros.nodes.depth_align:AlignSettings",
        exclude="vda_ros.nodes.depth_align:UNUSED_OUTPUTS",
        start_up_only="vda_ros.nodes.depth_align:OFFERED_OUTPUTS",
        help_overrides="vda_ros.nodes.depth_align:OUTPUT_HELP",
    ),
    "video_source": NodeTable(
        "nodes/video_source.md",
        "vda_ros.nodes.video_source:VideoSourceSettings",
        exclude="vda_ros.nodes.video_source:UNUSED_FRAME_OPTIONS",
        help_overrides={"max_res": "vda_ros.nodes.video_source:MAX_RES_HELP"},
    ),
    "process_bag": NodeTable(
        "nodes/process_bag.md",
        "vda_ros.batch.settings:BagSettings",
        exclude="vda_ros.batch.settings:NOT_OFFERED",
        runtime_column=False,
    ),
}

TOOLS = {
    "vda-video": ToolTable("tools.md", "vda_ros.cli.video:build_parser", "vda_ros.batch.video:VideoSettings"),
    "vda-app": ToolTable("tools.md", "vda_ros.cli.app:build_app_parser", "vda_ros.cli.app:AppSettings"),
    "vda-demo": ToolTable("tools.md", "vda_ros.cli.demo:build_parser", "vda_ros.ros.demo:DemoSettings"),
    "vda-process-bag": ToolTable(
        "tools.md", "vda_ros.cli.process_bag:build_parser", "vda_ros.batch.settings:BagSettings"
    ),
    "vda-process-bags": ToolTable(
        "tools.md", "vda_ros.cli.process_bags:build_parser", "vda_ros.batch.settings:BagSettings"
    ),
    "vda-eval": ToolTable("tools.md", "vda_ros.cli.eval:build_parser", "vda_ros.core.metrics:EvalSettings"),
    "vda-finetune": ToolTable(
        "tools.md", "vda_ros.cli.finetune:build_parser", "vda_ros.training.settings:FinetuneSettings"
    ),
    "vda-export-onnx": ToolTable(
        "tools.md", "vda_ros.cli.export_onnx:build_parser", "vda_ros.model.export:ExportSettings"
    ),
    "vda-download-weights": ToolTable(
        "tools.md", "vda_ros.cli.weights:build_parser", "vda_ros.model.weights:WeightsSettings"
    ),
}


def resolve(reference: str) -> Any:
    """The object `module:NAME` names."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def help_overrides(spec: NodeTable) -> Mapping[str, str]:
    """Option -> the description the node gives it instead of the shared one."""
    if spec.help_overrides is None:
        return {}
    if isinstance(spec.help_overrides, str):
        return dict(resolve(spec.help_overrides))
    return {name: str(resolve(reference)) for name, reference in spec.help_overrides.items()}


def cell(text: object) -> str:
    """Text that stays inside one markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def code(value: object) -> str:
    """A value as a parameters file writes it, in backticks."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(repr(item) if isinstance(item, str) else str(item) for item in value) + "]`"
    return f"`{value}`"


def limits(item: Any) -> str:
    """The choices or range of an Option, as a cell."""
    if item.choices:
        return ", ".join(code(choice) for choice in item.choices)
    if item.int_range is not None:
        start, stop, step = item.int_range
        return f"{start} to {stop}" + (f", step {step}" if step else "")
    if item.float_range is not None:
        low, high = item.float_range
        return f"{low!r} to {high!r}"
    return ""


def ros_type(default: object) -> str:
    """The ROS parameter type of an option's default."""
    if isinstance(default, tuple):
        holds_floats = bool(default) and isinstance(default[0], float)
        return "double[]" if holds_floats else "string[]"
    return ROS_TYPES[type(default)]


def node_table(spec: NodeTable) -> str:
    """The parameters of a node, then the older spellings it still takes."""
    settings = resolve(spec.settings)
    excluded: Collection[str] = resolve(spec.exclude) if spec.exclude else ()
    read_once: Collection[str] = resolve(spec.start_up_only) if spec.start_up_only else ()
    inherited = {item.name for item in resolve(spec.only_own).options()} if spec.only_own else set()
    offered = [item for item in settings.options() if item.name not in excluded and item.name not in inherited]
    overrides = help_overrides(spec)
    header = ["parameter", "type", "default", "range or choices"]
    if spec.runtime_column:
        header.append("changed at runtime")
    header.append("description")
    rows = [header, ["---"] * len(header)]
    for item in offered:
        help_text = overrides.get(item.name, item.help)
        row = [f"`{item.name}`", ros_type(item.default), code(item.default), limits(item)]
        if spec.runtime_column:
            row.append("yes" if item.runtime and item.name not in read_once else "no")
        rows.append([*row, cell(help_text)])
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    aliases = [(item, alias) for item in offered for alias in item.aliases]
    if aliases:
        lines += ["", "Older spellings, still accepted (read-only parameters: give them at start-up):", ""]
        lines += ["| parameter | means | |", "| --- | --- | --- |"]
        for _, alias in aliases:
            said = "deprecated: a warning says what replaces it" if alias.deprecated else "a shorthand, no warning"
            lines.append(f"| `{alias.name}` | {cell(alias.replacement)} | {said} |")
    return "\n".join(lines) + "\n"


def flag_name(action: argparse.Action) -> str:
    """A flag as a user types it: its spellings and the metavars of a fixed number of values."""
    if not action.option_strings:
        name = action.metavar or action.dest
        return f"`{name} ...`" if action.nargs == "+" else f"`{name}`"
    spelled = ", ".join(f"`{flag}`" for flag in action.option_strings)
    if isinstance(action.metavar, tuple):
        spelled = spelled[:-1] + " " + " ".join(action.metavar) + "`"
    return spelled


STATES_DEFAULT = re.compile(r"\(default\b|default:")
"""A help text that says the default in its own words (the flag's raw default is a stand-in for "decided later")."""


def flag_default(action: argparse.Action, older_spelling: bool) -> str:
    """The default as a cell: off/on for switches, the help's own words where it states the default."""
    if action.required or (not action.option_strings and action.nargs not in ("?", "*")):
        return "required"
    if action.nargs == 0:
        return "off"
    if isinstance(action, argparse.BooleanOptionalAction):
        return "on" if action.default else "off"
    if older_spelling or action.default in (None, "", [], ()):
        return "\N{EN DASH}"
    if STATES_DEFAULT.search(action.help or ""):
        return "see description"
    return code(action.default)


def tool_table(spec: ToolTable) -> str:
    """Every flag of a console script, as its --help lists them, with the ranges of their options."""
    parser = resolve(spec.parser)()
    settings = resolve(spec.settings)
    options = {item.name: item for item in settings.options()}
    older = {alias.name for _, alias in settings.aliases()}
    lines = ["| flag | default | range or choices | description |", "| --- | --- | --- | --- |"]
    for action in parser._actions:  # argparse keeps them in --help's order
        if isinstance(action, argparse._HelpAction):
            continue
        if action.dest in older:
            values = ""
        elif action.dest in options:
            values = limits(options[action.dest])
        else:
            values = ", ".join(code(choice) for choice in action.choices or ())
        default = flag_default(action, action.dest in older)
        lines.append(f"| {flag_name(action)} | {default} | {values} | {cell(action.help or '')} |")
    return "\n".join(lines) + "\n"


TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    **{f"{name}-parameters": (spec.page, functools.partial(node_table, spec)) for name, spec in NODES.items()},
    **{f"{name}-flags": (spec.page, functools.partial(tool_table, spec)) for name, spec in TOOLS.items()},
}
"""Table name -> (its page under docs/, what makes it)."""


def table_text(name: str) -> str:
    """What stands between a table's markers: the table, with a blank line before and after it."""
    return "\n" + TABLES[name][1]() + "\n"


def committed(page: str) -> dict[str, str]:
    """The tables a page holds now, by name."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return {match["name"]: match["body"] for match in MARKER.finditer(text)}


def differing(names: Iterable[str]) -> list[str]:
    """The tables among `names` whose page holds another text than the code gives (or none)."""
    return [name for name in names if committed(TABLES[name][0]).get(name) != table_text(name)]


def replaced(text: str, name: str, body: str) -> str:
    """`text` with the table `name` (between its markers) replaced by `body`."""

    def replace(match: re.Match[str]) -> str:
        return match[1] + body + match[4] if match["name"] == name else match[0]

    return MARKER.sub(replace, text)


def write(names: Iterable[str]) -> None:
    """Replace each table's text in its page."""
    for name in names:
        page = TABLES[name][0]
        if name not in committed(page):
            raise SystemExit(f"error: docs/{page} has no <!-- table: {name} --> marker")
        path = DOCS / page
        path.write_text(replaced(path.read_text(encoding="utf-8"), name, table_text(name)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the tables in docs/")
    action.add_argument("--check", action="store_true", help="exit 1 if a table in docs/ differs")
    parser.add_argument(
        "tables", nargs="*", metavar="TABLE", help=f"only these tables (default: all): {', '.join(TABLES)}"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tables) - set(TABLES))
    if unknown:
        parser.error(f"no table {', '.join(unknown)}")
    names = args.tables or list(TABLES)
    if args.write:
        write(names)
    elif args.check:
        stale = differing(names)
        if stale:
            print(f"tables out of date: {', '.join(stale)} (run scripts/reference_tables.py --write)", file=sys.stderr)
            return 1
    else:
        for name in names:
            print(f"<!-- table: {name} -->\n{table_text(name)}<!-- end table -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
