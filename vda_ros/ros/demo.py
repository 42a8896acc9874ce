"""The live pipeline end to end without `ros2 launch`: video_source -> depth_node -> an mp4 on disk (vda-demo).

Starts the two nodes as child processes (what demo.launch.py starts), records the colourised
depth they publish on depth/colored to an mp4, then stops both. It needs only the Python
packages (rclpy from the PyPI wheels is enough), so it also runs where no ROS distribution is
installed, and it leaves a file to look at on a machine without a display.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from vda_ros.core.options import OptionError, Settings, group, option
from vda_ros.core.settings import ModelSettings
from vda_ros.errors import VdaError
from vda_ros.io.files import atomic_output
from vda_ros.ros.child_nodes import node_command, stop_all

PROG = "vda-demo"
PROFILE_NAME = "fastdds_large_messages.xml"
PATH_OPTIONS = ("checkpoint", "backend_cache")
"""Model options naming files: given to the nodes as absolute paths."""


class DemoError(VdaError, RuntimeError):
    """The pipeline did not deliver: a node exited early, or the frames did not arrive in time."""


@dataclass(frozen=True)
class DemoSettings(Settings):
    """The clip played as the camera, the model depth_node runs, and what is recorded."""

    video: str = option("", "Video file played as the camera (looped).", positional=True)
    frames: int = option(32, "Colourised depth frames to record.")
    output: str = option("", "mp4 to write; empty: outputs/NAME_live_depth.mp4.")
    model: ModelSettings = group(ModelSettings)
    fps: float = option(0.0, "Rate the video is played at; 0: its own.")
    namespace: str = option("/vda_demo", "Namespace of the demo's topics.")
    timeout: float = option(900.0, "Give up after this many seconds.")

    def check(self) -> None:
        super().check()
        if self.frames < 1:
            raise OptionError(f"frames must be at least 1; got {self.frames}")

    @property
    def output_path(self) -> Path:
        return Path(self.output) if self.output else Path("outputs") / f"{Path(self.video).stem}_live_depth.mp4"


def fastdds_profile() -> Path | None:
    """The shipped Fast DDS profile: in the source tree (pip, editable installs), else the package share."""
    source_tree = Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME
    if source_tree.is_file():
        return source_tree
    try:
        return Path(get_package_share_directory("vda_ros")) / "config" / PROFILE_NAME
    except (LookupError, OSError):  # not installed by colcon, or no AMENT_PREFIX_PATH
        return None


def ros_environment(base: Mapping[str, str]) -> dict[str, str]:
    """base plus what a local pipeline needs, keeping whatever the user already chose.

    Discovery stays on this machine, and the large-message profile lets images, depth and
    clouds pass between the processes (see config/fastdds_large_messages.xml).
    """
    env = dict(base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = fastdds_profile()
    if profile is not None:
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    return env


def depth_parameters(model: ModelSettings) -> dict[str, object]:
    """depth_node's parameters: the model options not at their defaults (files as absolute paths), reliable input."""
    params: dict[str, object] = {
        name: Path(str(value)).resolve() if name in PATH_OPTIONS else value
        for name, value in model.values().items()
        if value != ModelSettings.option(name).default
    }
    # video_source publishes reliably; a best-effort reader loses most large frames on Jazzy's Fast DDS.
    params["input_reliability"] = "reliable"
    return params


def node_commands(settings: DemoSettings) -> dict[str, list[str]]:
    """The two nodes of the pipeline as command lines, by name."""
    depth_params = depth_parameters(settings.model)
    # The clip starts once depth_node listens, so the recording begins with its first frame.
    source_params = {
        "source": Path(settings.video).resolve(),
        "loop": True,
        "fps": settings.fps,
        "wait_for_subscribers": 1,
    }
    namespace = {"__ns": settings.namespace}
    return {
        "video_source": node_command("vda_ros.nodes.video_source", source_params, namespace),
        "depth_node": node_command("vda_ros.nodes.depth_node", depth_params, namespace),
    }


def record(
    topic: str, count: int, timeout: float, children: Mapping[str, subprocess.Popen]
) -> tuple[list[np.ndarray], float]:
    """Collect count bgr8 images from topic; return them and the rate they came at (frames/s).

    Raises DemoError when a child exits early or nothing arrives in time, naming which.
    """
    frames: list[np.ndarray] = []
    times: list[float] = []

    def keep(msg: Image) -> None:
        if len(frames) < count:
            rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
            frames.append(rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3).copy())
            times.append(time.monotonic())
            print(f"vda-demo: recorded frame {len(frames)}/{count}", file=sys.stderr, flush=True)

    rclpy.init()
    node = Node("vda_demo_recorder")
    try:
        node.create_subscription(Image, topic, keep, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        deadline = time.monotonic() + timeout
        while len(frames) < count:
            for name, process in children.items():
                if process.poll() is not None:
                    raise DemoError(f"{name} exited with code {process.returncode} (see its log above)")
            if time.monotonic() > deadline:
                raise DemoError(f"only {len(frames)} of {count} frames arrived on {topic} in {timeout:.0f} s")
            executor.spin_once(timeout_sec=0.2)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 1.0
    return frames, rate


def write_video(frames: Sequence[np.ndarray], path: Path, fps: float) -> None:
    """Write BGR frames as an mp4 (mp4v), appearing under its name only when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with atomic_output(path) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise DemoError(f"cannot write video: {path}")
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()


def run_demo(settings: DemoSettings) -> str:
    """Run the pipeline, record and write the video; the report to print. DemoError for a video not found,
    a node that failed or frames that did not come; KeyboardInterrupt (or rclpy's shutdown) when stopped.
    Both nodes are stopped in every case."""
    video = Path(settings.video)
    if not video.is_file():
        raise DemoError(f"video not found: {video}")
    output = settings.output_path
    os.environ.update(ros_environment(os.environ))  # before rclpy starts, for this process and the children
    children = {name: subprocess.Popen(command) for name, command in node_commands(settings).items()}
    try:
        frames, rate = record(f"{settings.namespace}/depth/colored", settings.frames, settings.timeout, children)
        write_video(frames, output, fps=min(max(rate, 1.0), 30.0))
    finally:
        stop_all(children.values())
    lines = [f"{PROG}: wrote {output} ({len(frames)} frames of colourised depth at {rate:.2f} frames/s)"]
    if settings.model.random_weights:
        lines.append(f"{PROG}: RANDOM WEIGHTS were used: the video is a smoke test, not depth.")
    return "\n".join(lines)
