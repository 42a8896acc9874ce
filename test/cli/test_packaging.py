"""package.xml and setup.py declare what the package really uses, for rosdep and colcon, and one version."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import vda_ros

REPO_ROOT = Path(__file__).resolve().parents[2]


def _depends(kind: str) -> list[str]:
    return [element.text for element in ElementTree.parse(REPO_ROOT / "package.xml").getroot().iter(kind)]


def _imported_top_level_modules() -> set[str]:
    """Top-level modules imported anywhere in the package or its launch files."""
    modules: set[str] = set()
    for path in [*REPO_ROOT.glob("vda_ros/**/*.py"), *REPO_ROOT.glob("launch/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    return modules


def _setup_keyword(name: str) -> object:
    for node in ast.walk(ast.parse((REPO_ROOT / "setup.py").read_text())):
        if isinstance(node, ast.keyword) and node.arg == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"setup.py passes no {name}")


def test_every_ros_exec_depend_is_imported() -> None:
    """A ROS package declared but never imported (geometry_msgs, rviz2) is installed on robots for nothing."""
    ros_packages = [name for name in _depends("exec_depend") if not name.startswith("python3-")]
    unused = set(ros_packages) - _imported_top_level_modules()
    assert not unused, f"package.xml exec_depends on packages nothing imports: {sorted(unused)}"


def test_test_dependencies_are_declared_for_rosdep_and_colcon() -> None:
    assert {"python3-pytest", "python3-pytest-timeout"} <= set(_depends("test_depend"))
    # colcon test runs pytest (instead of unittest, which finds nothing here) only when setup.py names it.
    test_extra = _setup_keyword("extras_require")["test"]
    assert {"pytest", "pytest-timeout", "onnx", "onnxruntime"} <= set(test_extra)


def test_install_requires_states_minimum_versions() -> None:
    required = {re.split(r"[<>=!~]", spec)[0]: spec for spec in _setup_keyword("install_requires")}
    assert required["torch"] == "torch>=2.0"
    assert required["numpy"] == "numpy>=1.21"


def _package_xml_version() -> str:
    return ElementTree.parse(REPO_ROOT / "package.xml").getroot().findtext("version", "").strip()


def test_version_is_package_xml_s_everywhere() -> None:
    """package.xml holds the version (ROS tooling bumps it there); setup.py and the package must say the same."""
    version = _package_xml_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"package.xml's version {version!r} is not MAJOR.MINOR.PATCH"
    built = subprocess.run(
        [sys.executable, "setup.py", "--version"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert built.stdout.split()[-1] == version
    assert vda_ros.__version__ == version


def test_changelog_describes_the_version() -> None:
    """CHANGELOG.rst (the ROS format bloom reads) has a section for package.xml's version, newest first."""
    changelog = (REPO_ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")
    headings = re.findall(r"^(\d+\.\d+\.\d+) \(\d{4}-\d{2}-\d{2}\)\n-+$", changelog, flags=re.MULTILINE)
    assert headings, "CHANGELOG.rst has no 'X.Y.Z (YYYY-MM-DD)' section"
    assert headings[0] == _package_xml_version()


def test_the_built_package_carries_its_type_marker(tmp_path: Path) -> None:
    """PEP 561: without py.typed in the installed package, its users' type checkers ignore its annotations.

    setuptools before 69 (the Humble and Jazzy legs' venvs, colcon on those distributions) copies it only
    when package_data names it.
    """
    command = [sys.executable, "setup.py", "-q", "build_py", "-d", str(tmp_path)]
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
    assert (tmp_path / "vda_ros" / "py.typed").is_file()
