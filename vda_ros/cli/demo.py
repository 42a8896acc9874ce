"""The live pipeline end to end without `ros2 launch`: video_source -> depth_node -> an mp4 on disk.

    python -m vda_ros.cli.demo VIDEO [--frames N] [--output FILE] [--random-weights] ...

Starts the two nodes as child processes (what demo.launch.py starts), records the colourised
depth they publish on depth/colored to an mp4, then stops both. It needs only the Python
packages (rclpy from the PyPI wheels is enough), so it also runs where no ROS distribution is
installed, and it leaves a file to look at on a machine without a display.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from vda_ros.io.files import atomic_output
from vda_ros.model import ENCODERS
from vda_ros.ros.child_nodes import node_command, stop_all

PROFILE_NAME = "fastdds_large_messages.xml"
EXIT_FAILED = 1


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-demo",
        description="Run video_source and depth_node on a video file and record depth/colored to an mp4.",
    )
    parser.add_argument("video", type=Path, help="video file played as the camera (looped)")
    parser.add_argument("--frames", type=int, default=32, help="colourised depth frames to record (default 32)")
    parser.add_argument("--output", type=Path, default=None, help="mp4 to write (default outputs/NAME_live_depth.mp4)")
    parser.add_argument("--encoder", choices=ENCODERS, default="vits", help="model size (default vits)")
    parser.add_argument("--metric", action="store_true", help="metric-depth model")
    parser.add_argument("--checkpoint", type=Path, default=None, help="checkpoint file (default: official name)")
    parser.add_argument("--random-weights", action="store_true", help="smoke test: random weights, meaningless depth")
    parser.add_argument("--input-size", type=int, default=518, help="network input size (default 518; lower is faster)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--fps", type=float, default=0.0, help="rate the video is played at (default: its own)")
    parser.add_argument("--namespace", default="/vda_demo", help="namespace of the demo's topics (default /vda_demo)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds (default 900)")
    return parser


def node_commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """The two nodes of the pipeline as command lines, by name."""
    depth_params: dict[str, object] = {
        "encoder": args.encoder,
        "metric": args.metric,
        "random_weights": args.random_weights,
        "input_size": args.input_size,
        "device": args.device,
        # video_source publishes reliably; a best-effort reader loses most large frames on Jazzy's Fast DDS.
        "input_reliability": "reliable",
    }
    if args.checkpoint is not None:
        depth_params["checkpoint"] = args.checkpoint.resolve()
    # The clip starts once depth_node listens, so the recording begins with its first frame.
    source_params = {"source": args.video.resolve(), "loop": True, "fps": float(args.fps), "wait_for_subscribers": 1}
    namespace = {"__ns": args.namespace}
    return {
        "video_source": node_command("vda_ros.nodes.video_source", source_params, namespace),
        "depth_node": node_command("vda_ros.nodes.depth_node", depth_params, namespace),
    }


def record(
    topic: str, count: int, timeout: float, children: Mapping[str, subprocess.Popen]
) -> tuple[list[np.ndarray], float]:
    """Collect count bgr8 images from topic; return them and the rate they came at (frames/s).

    Raises RuntimeError when a child exits early or nothing arrives in time, naming which.
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
                    raise RuntimeError(f"{name} exited with code {process.returncode} (see its log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(frames)} of {count} frames arrived on {topic} in {timeout:.0f} s")
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
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise RuntimeError(f"cannot write video: {path}")
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if not args.video.is_file():
        print(f"vda-demo: error: video not found: {args.video}", file=sys.stderr)
        return EXIT_FAILED
    output = args.output or Path("outputs") / f"{args.video.stem}_live_depth.mp4"
    os.environ.update(ros_environment(os.environ))  # before rclpy starts, for this process and the children
    children = {name: subprocess.Popen(command) for name, command in node_commands(args).items()}
    try:
        frames, rate = record(f"{args.namespace}/depth/colored", args.frames, args.timeout, children)
        write_video(frames, output, fps=min(max(rate, 1.0), 30.0))
    except RuntimeError as error:
        print(f"vda-demo: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (KeyboardInterrupt, ExternalShutdownException):
        print("vda-demo: interrupted; nothing written", file=sys.stderr)
        return EXIT_FAILED
    finally:
        stop_all(children.values())
    print(f"vda-demo: wrote {output} ({len(frames)} frames of colourised depth at {rate:.2f} frames/s)")
    if args.random_weights:
        print("vda-demo: RANDOM WEIGHTS were used: the video is a smoke test, not depth.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
