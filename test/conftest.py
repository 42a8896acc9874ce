"""Shared test setup: a private, loopback-only ROS 2 environment and the reference fixtures.

The environment is set at import time, before any test module imports rclpy, because the ROS
middleware reads these variables once when it starts; child processes inherit them.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The test files live in folders that mirror the packages; the helpers they share (ros_helpers, bag_helpers,
# synthetic_scene, ...) stay here, importable from every folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))
_LOG_DIR = tempfile.mkdtemp(prefix="vda_ros_test_ros_logs_")
_GRAPH_CACHE = tempfile.mkdtemp(prefix="vda_ros_test_graphs_")


def _configure_test_environment() -> None:
    """Keep DDS traffic on loopback, away from other test runs, able to carry big messages; graphs in a temp folder."""
    # The older localhost-only switch is ignored by the Kilted wheels; the discovery range is what works.
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    # Runs in parallel (other checkouts, CI) must not discover each other's nodes.
    os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 101 + 1))
    # Without bigger shared-memory segments, best-effort depth images and clouds get dropped.
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO_ROOT / "config" / "fastdds_large_messages.xml")
    os.environ["ROS_LOG_DIR"] = _LOG_DIR
    # Graphs that backends build go to this run's own folder, never to the user's ~/.cache.
    os.environ["VDA_ROS_CACHE_DIR"] = _GRAPH_CACHE


_configure_test_environment()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove this run's ROS log directory and graph cache."""
    shutil.rmtree(_LOG_DIR, ignore_errors=True)
    shutil.rmtree(_GRAPH_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Reference frames and outputs recorded with the official implementation."""
    return REPO_ROOT / "test" / "fixtures" / "reference"
