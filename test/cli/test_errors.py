"""One error hierarchy: every error a user can fix is a VdaError, and the tools report any of them the same way."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from vda_ros.errors import UsageError, VdaError
from vda_ros.interruption import EXIT_USAGE, run_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERNAL = {
    "vda_ros.cli.app._Cancelled": "the page went away: the run's own stop signal, never shown as an error",
    "vda_ros.io.files.PathTaken": "another process published a folder first: its caller (the graph cache) uses it",
    "vda_ros.interruption.Interrupted": "SIGINT/SIGTERM, a BaseException reported as exit 130",
    "vda_ros.training.losses.LossInputError": "a programming error of the caller of the loss functions",
}
"""Exception classes that are not the user's to fix, with the reason."""


def _base_name(base: ast.expr) -> str:
    return base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")


def _exception_classes() -> list[str]:
    """module.Class of every class in vda_ros with a base named …Error or …Exception (found without importing)."""
    names = []
    for path in sorted(REPO_ROOT.glob("vda_ros/**/*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef) and any(
                _base_name(b).endswith(("Error", "Exception")) for b in node.bases
            ):
                names.append(f"{module}.{node.name}")
    return names


def _load(qualified: str) -> type:
    module, name = qualified.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def test_every_user_facing_error_is_a_vda_error() -> None:
    errors = _exception_classes()
    assert "vda_ros.io.media.MediaError" in errors and "vda_ros.model.checkpoint.CheckpointError" in errors
    outside = [name for name in errors if not issubclass(_load(name), VdaError) and name not in INTERNAL]
    assert not outside, f"derive these from vda_ros.errors.VdaError, or list them in INTERNAL with why: {outside}"
    assert set(INTERNAL) <= set(errors), "INTERNAL names a class that no longer exists"


def test_errors_keep_the_builtin_base_they_had() -> None:
    """Code that caught them as ValueError or RuntimeError still does."""
    from vda_ros.io.media import MediaError
    from vda_ros.model import CheckpointError, FrameSizeError
    from vda_ros.ros.conversions import ImageConversionError

    assert issubclass(FrameSizeError, ValueError) and issubclass(ImageConversionError, ValueError)
    assert issubclass(CheckpointError, RuntimeError) and issubclass(MediaError, RuntimeError)


@pytest.mark.parametrize(
    "error", ["vda_ros.io.bags.BagError", "vda_ros.model.preprocess.FrameSizeError", "vda_ros.errors.UsageError"]
)
def test_a_tool_reports_any_vda_error_in_one_line_with_status_2(error: str, capsys: pytest.CaptureFixture[str]) -> None:
    def work() -> str:
        raise _load(error)("the bag /data/run1 is truncated")

    assert run_tool("vda-x", work, "no output was written") == EXIT_USAGE
    assert capsys.readouterr().err == "vda-x: error: the bag /data/run1 is truncated\n"


def test_other_errors_are_bugs_and_keep_their_traceback() -> None:
    def work() -> str:
        raise KeyError("slot")

    with pytest.raises(KeyError):
        run_tool("vda-x", work, "no output was written")


def test_usage_error_is_the_one_usage_error() -> None:
    """No module declares a UsageError of its own; the option system's refusals are usage errors too."""
    from vda_ros.core.options import OptionError

    assert [name for name in _exception_classes() if name.endswith(".UsageError")] == ["vda_ros.errors.UsageError"]
    assert issubclass(OptionError, UsageError)


def test_the_model_and_the_pipeline_import_nothing_from_ros() -> None:
    code = (
        "import sys, vda_ros.model, vda_ros.core.outputs, vda_ros.errors; "
        "ros = sorted(m for m in sys.modules if m.split('.')[0] in {'rclpy', 'sensor_msgs', 'std_msgs', "
        "'builtin_interfaces', 'rcl_interfaces', 'rosbags'}); print(ros); sys.exit(bool(ros))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
