"""End-to-end latency of depth_node over DDS for a 640x480 camera stream (a benchmark, not a test).

    python bench/bench_ros_latency.py [--devices cpu cuda] [--input-sizes 518 252] [--duration 30]

For each device and input size, starts depth_node in its own process (metric model; random
weights unless --checkpoint is given: the timing is the same), publishes 640x480 rgb8 images
with CameraInfo at --rate from this process, and measures for every depth image and point cloud
that comes back the time from the image's stamp to its arrival here. Prints one table row per
case: input and output rate, latency median and p90 for depth and cloud, frames dropped by the
node (the camera is faster than the model, so the newest frame wins).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from vda_ros.ros.child_nodes import node_command, stop_all  # noqa: E402
from vda_ros.ros.demo import ros_environment  # noqa: E402

# The middleware reads these once at start-up: set them before rclpy creates anything.
os.environ.update(ros_environment(os.environ))
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 101 + 1))

import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.publisher import Publisher  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from vda_ros.ros.conversions import rgb_to_msg  # noqa: E402

WIDTH, HEIGHT = 640, 480
NAMESPACE = "/bench"


@dataclass
class Result:
    device: str
    input_size: int
    sent: int
    input_rate: float
    output_rate: float
    depth_ms: tuple[float, float]
    cloud_ms: tuple[float, float]
    dropped: int


class Arrivals:
    """Stamp -> arrival time of each message on one topic (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[int, float] = {}

    def __call__(self, msg: Image | PointCloud2) -> None:
        arrived = time.time()
        with self.lock:
            self.times[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = arrived


def camera_info(header: Header) -> CameraInfo:
    f = 525.0
    cx, cy = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    return CameraInfo(
        header=header,
        width=WIDTH,
        height=HEIGHT,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[f, 0, cx, 0, f, cy, 0, 0, 1],
        r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
        p=[f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1, 0],
    )


def start_node(
    device: str, input_size: int, checkpoint: str | None, log: IO[str], extra: Mapping[str, object] | None = None
) -> subprocess.Popen:
    """depth_node (metric) in its own process; `extra` parameters are added (bench_refined: refined depth)."""
    params: dict[str, object] = {"metric": True, "device": device, "input_size": input_size, "points_rgb": True}
    params.update({"checkpoint": checkpoint} if checkpoint else {"random_weights": True})
    params.update(extra or {})
    command = node_command("vda_ros.nodes.depth_node", params, {"__ns": NAMESPACE})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    # A file, not a pipe: nobody reads a pipe while the node runs, and a full one would block it.
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)


def stop_node(process: subprocess.Popen, log: IO[str]) -> str:
    """Stop the node and return its log."""
    stop_all([process])
    log.seek(0)
    return log.read()


def wait_for_node(process: subprocess.Popen, publishers: list[Publisher], log: IO[str]) -> None:
    """Wait until the node subscribes to every publisher (it has loaded its model); RuntimeError if it does not."""
    deadline = time.monotonic() + 180.0
    while any(publisher.get_subscription_count() < 1 for publisher in publishers):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"depth_node did not come up:\n{stop_node(process, log)}")
        time.sleep(0.1)


def percentiles_ms(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return (float("nan"), float("nan"))
    median, p90 = np.percentile(latencies, [50, 90])
    return float(median) * 1e3, float(p90) * 1e3


def run_case(node: Node, device: str, input_size: int, args: argparse.Namespace) -> Result:
    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, f"{NAMESPACE}/image", qos)
    info_pub = node.create_publisher(CameraInfo, f"{NAMESPACE}/camera_info", qos)
    depth, cloud = Arrivals(), Arrivals()
    subscriptions = [
        node.create_subscription(Image, f"{NAMESPACE}/depth/image", depth, qos),
        node.create_subscription(PointCloud2, f"{NAMESPACE}/points", cloud, qos),
    ]
    with tempfile.TemporaryFile(mode="w+") as log_file:
        process = start_node(device, input_size, args.checkpoint, log_file)
        try:
            wait_for_node(process, [image_pub, info_pub], log_file)
            sent = stream(image_pub, info_pub, args)
            time.sleep(2.0)  # let the last inference arrive
        finally:
            log = stop_node(process, log_file)
            for subscription in subscriptions:
                node.destroy_subscription(subscription)
            node.destroy_publisher(image_pub)
            node.destroy_publisher(info_pub)
    return summarise(device, input_size, sent, depth, cloud, args, log)


def stream(image_pub: Publisher, info_pub: Publisher, args: argparse.Namespace) -> dict[int, float]:
    """Publish at args.rate for warm-up plus duration; return stamp -> send time of the measured part."""
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sent: dict[int, float] = {}
    start = time.monotonic()
    period = 1.0 / args.rate
    count = 0
    while (elapsed := time.monotonic() - start) < args.warmup + args.duration:
        stamp, now = publish_frame(image_pub, info_pub, rgb)
        if elapsed >= args.warmup:
            sent[stamp] = now
        count += 1
        time.sleep(max(start + count * period - time.monotonic(), 0.0))
    return sent


def publish_frame(image_pub: Publisher, info_pub: Publisher, rgb: np.ndarray) -> tuple[int, float]:
    """Publish one frame and its CameraInfo stamped now; return (stamp in ns, time.time() it was stamped)."""
    now = time.time()
    header = Header(frame_id="bench_optical")
    header.stamp.sec, header.stamp.nanosec = int(now), int((now % 1) * 1e9)
    info_pub.publish(camera_info(header))
    image_pub.publish(rgb_to_msg(rgb, header))
    return header.stamp.sec * 10**9 + header.stamp.nanosec, now


def summarise(
    device: str,
    input_size: int,
    sent: dict[int, float],
    depth: Arrivals,
    cloud: Arrivals,
    args: argparse.Namespace,
    log: str,
) -> Result:
    def latencies(arrivals: Arrivals) -> list[float]:
        with arrivals.lock:
            return [t - sent[stamp] for stamp, t in arrivals.times.items() if stamp in sent]

    depth_latencies = latencies(depth)
    dropped = len(sent) - len(depth_latencies)
    if not depth_latencies:
        print(f"warning: no depth came back for {device}/{input_size}; node log:\n{log}", file=sys.stderr)
    return Result(
        device,
        input_size,
        len(sent),
        len(sent) / args.duration,
        len(depth_latencies) / args.duration,
        percentiles_ms(depth_latencies),
        percentiles_ms(latencies(cloud)),
        dropped,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    parser.add_argument("--devices", nargs="+", default=default_devices)
    parser.add_argument("--input-sizes", nargs="+", type=int, default=[518, 252])
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate in Hz (default 30)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per case (default 30)")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first (default 10)")
    parser.add_argument("--checkpoint", default=None, help="real metric checkpoint (default: random weights)")
    args = parser.parse_args()

    with spinning_node("bench_ros_latency") as node:
        print_cases(node, args)


@contextmanager
def spinning_node(name: str) -> Iterator[Node]:
    """An rclpy node of this benchmark process, spun in a background thread, shut down at the end."""
    rclpy.init()
    node = Node(name)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        yield node
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


def print_cases(node: Node, args: argparse.Namespace) -> None:
    print(
        f"depth_node, {WIDTH}x{HEIGHT} rgb8 at {args.rate:g} Hz, {args.duration:g} s measured after "
        f"{args.warmup:g} s warm-up, latency = arrival here - image stamp; torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'device':>6} {'input':>5} {'in Hz':>6} {'out Hz':>6} {'depth med':>9} {'depth p90':>9} "
        f"{'cloud med':>9} {'cloud p90':>9} {'dropped':>8}"
    )
    for device in args.devices:
        for input_size in args.input_sizes:
            r = run_case(node, device, input_size, args)
            print(
                f"{r.device:>6} {r.input_size:>5} {r.input_rate:>6.1f} {r.output_rate:>6.2f} "
                f"{r.depth_ms[0]:>7.0f}ms {r.depth_ms[1]:>7.0f}ms "
                f"{r.cloud_ms[0]:>7.0f}ms {r.cloud_ms[1]:>7.0f}ms {r.dropped:>4}/{r.sent}",
                flush=True,
            )


if __name__ == "__main__":
    main()
