"""Several cameras: one batching depth_node versus one depth_node process per camera (a benchmark, not a test).

    python bench/bench_multi_camera.py [--cameras 1 2 4] [--input-size 252] [--duration 20] [--device cpu]

For each camera count N, N fake 640x480 rgb8 cameras publish image + CameraInfo at --rate each from this
process. Case "batched": one depth_node with cameras:=[/cam0, ...] (one model, up to N cameras per forward
pass). Case "per process": N depth_node processes, one per camera namespace (N models). Prints aggregate
depth frames/s, latency (arrival here - image stamp) median and p95 over all cameras with the worst
camera's median, and the peak resident memory of the node processes together (VmHWM summed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ros_latency import REPO_ROOT, Arrivals, camera_info, spinning_node
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from vda_ros.ros.child_nodes import node_command, stop_all
from vda_ros.ros.conversions import rgb_to_msg

WIDTH, HEIGHT = 640, 480


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_nodes(cameras: list[str], batched: bool, args: argparse.Namespace, log) -> list[subprocess.Popen]:
    params: dict[str, object] = {
        "random_weights": True,
        "metric": True,
        "device": args.device,
        "input_size": args.input_size,
        "publish_points": False,
    }
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    if batched:
        commands = [
            node_command(
                "vda_ros.nodes.depth_node",
                {**params, "cameras": "[" + ", ".join(cameras) + "]", "max_batch": len(cameras)},
            )
        ]
    else:
        commands = [node_command("vda_ros.nodes.depth_node", params, {"__ns": camera}) for camera in cameras]
    return [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log) for command in commands]


def run_case(node: Node, count: int, batched: bool, args: argparse.Namespace) -> dict[str, object]:
    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    cameras = [f"/cam{i}" for i in range(count)]
    images = {c: node.create_publisher(Image, f"{c}/image", qos) for c in cameras}
    infos = {c: node.create_publisher(CameraInfo, f"{c}/camera_info", qos) for c in cameras}
    arrivals = {c: Arrivals() for c in cameras}
    subscriptions = [node.create_subscription(Image, f"{c}/depth/image", arrivals[c], qos) for c in cameras]
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    with tempfile.TemporaryFile(mode="w+") as log:
        processes = start_nodes(cameras, batched, args, log)
        try:
            deadline = time.monotonic() + 300.0
            while any(p.get_subscription_count() < 1 for p in images.values()):
                if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                    log.seek(0)
                    raise RuntimeError(f"depth_node did not come up:\n{log.read()}")
                time.sleep(0.1)
            sent: dict[str, dict[int, float]] = {c: {} for c in cameras}
            start, period, ticks = time.monotonic(), 1.0 / args.rate, 0
            while (elapsed := time.monotonic() - start) < args.warmup + args.duration:
                for camera in cameras:
                    now = time.time()
                    header = Header(frame_id=camera.strip("/"))
                    header.stamp.sec, header.stamp.nanosec = int(now), int((now % 1) * 1e9)
                    infos[camera].publish(camera_info(header))
                    images[camera].publish(rgb_to_msg(rgb, header))
                    if elapsed >= args.warmup:
                        sent[camera][header.stamp.sec * 10**9 + header.stamp.nanosec] = now
                ticks += 1
                time.sleep(max(start + ticks * period - time.monotonic(), 0.0))
            time.sleep(3.0)  # the last inferences arrive
            memory = sum(peak_rss_mib(p.pid) for p in processes)
        finally:
            stop_all(processes)
            for subscription in subscriptions:
                node.destroy_subscription(subscription)
            for publisher in [*images.values(), *infos.values()]:
                node.destroy_publisher(publisher)
    latencies = {}
    for camera in cameras:
        with arrivals[camera].lock:
            latencies[camera] = [t - sent[camera][s] for s, t in arrivals[camera].times.items() if s in sent[camera]]
    pooled = [v for values in latencies.values() for v in values]
    medians = [float(np.median(v)) * 1e3 if v else float("nan") for v in latencies.values()]
    median, p95 = (np.percentile(pooled, [50, 95]) * 1e3) if pooled else (float("nan"), float("nan"))
    return {
        "fps": len(pooled) / args.duration,
        "median": median,
        "p95": p95,
        "worst_median": max(medians),
        "memory": memory,
        "outputs": {c: len(v) for c, v in latencies.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--input-size", type=int, default=252)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rate", type=float, default=10.0, help="rate of each camera in Hz (default 10)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per case (default 20)")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first (default 10)")
    args = parser.parse_args()

    with spinning_node("bench_multi_camera") as node:
        print_cases(node, args)


def print_cases(node: Node, args: argparse.Namespace) -> None:
    print(
        f"{WIDTH}x{HEIGHT} rgb8 cameras at {args.rate:g} Hz each, vits metric, input {args.input_size}, "
        f"{args.device}, {args.duration:g} s measured after {args.warmup:g} s"
    )
    print(
        "| cameras | mode | depth frames/s (all cameras) | latency median | p95 | worst camera median "
        "| peak memory (all nodes) | outputs per camera |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for count in args.cameras:
        for batched in (True, False):
            r = run_case(node, count, batched, args)
            mode = "one node, batched" if batched else f"{count} process{'es' if count > 1 else ''}"
            print(
                f"| {count} | {mode} | {r['fps']:.2f} | {r['median']:.0f} ms | {r['p95']:.0f} ms "
                f"| {r['worst_median']:.0f} ms | {r['memory']:.0f} MiB | "
                f"{' '.join(str(v) for v in r['outputs'].values())} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
