"""What `refined` depth costs a live depth_node, and how far behind it runs (a benchmark, not a test).

    python bench/bench_refined.py [--devices cpu cuda] [--input-sizes 252 518] [--rate 10] [--duration 60]
    python bench/bench_refined.py --devices cuda --rate 30          # the GPU rows (on a machine with CUDA)
    python bench/bench_refined.py --soak [--soak-frames 1000] [--soak-input 252] [--soak-threshold 5]

For each device and input size, depth_node (vits, metric, random weights unless --checkpoint: the timing is
the same) runs in its own process twice, `refined` off and on, while this process publishes 640x480 rgb8
frames with CameraInfo at --rate. After --warmup seconds (refined on: and once the first refined depth has
come back, the first window taking minutes at 518 on a CPU), --duration seconds are measured:

- the live path: output rate, latency (arrival of depth/image here - image stamp) median and p90, and the
  frames it dropped (the camera is faster than the model: the newest frame wins);
- with refined on, refined/depth/image: its rate, its delay in frames (frame i's refined depth arriving when
  frame j was the newest sent: j - i camera frames; and in processed frames, the frames whose live depth had
  arrived since i: the stream's own count, about one window, 31) and in seconds (arrival - stamp), median and
  p90, and the processed frames that never got refined depth (dropped because the worker fell a queue behind);
- the node process's peak resident memory (VmHWM).

The default camera rate, 10 Hz, is a typical robot camera: a 2-core CPU processes a few frames a second at
input 252 and well under one at 518, so the live path drops most frames there (as it would on such a robot),
and the refined worker, which sees only processed frames, competes with it for the same cores: the CPU rows
show whether refined slows the live path and whether refined keeps up. On a GPU use --rate 30. Devices that
are not available print a row of "–" cells, ready for the figures of a run on a machine that has them.

Nothing subscribes to the clouds: only depth is measured. --flush-timeout (default 10 s) is depth_node's
refined_flush_timeout: it must stay above the time between two processed frames, which at input 518 on a
CPU with refined on exceeds the node's 2 s default.

--soak streams at --rate with refined on at --soak-input (default 252) until the node has processed
--soak-frames frames, and samples the node's resident memory (VmRSS) and its refined frames pending every
--soak-every processed frames. Frames are counted as processed (live depth back here), not sent: only those
reach the refined worker (a 2-core CPU processes about 2 a second at 252 with refined on, so the default soak
takes about 10 minutes there). After --soak-warmup processed frames (the first windows have run, the refined
queue has filled and been cut) memory must stay flat: the floor (lowest sample) of the last third of the
samples may exceed the floor of the first third by at most --soak-threshold percent. Floors, not single
samples: a window's forward pass and a queue filling and draining swing the RSS above what the node holds, a
leak raises the floor. Exit status 1 when it grows more (or refined pending ever exceeds its bound).

The soak's node runs glibc's allocator with fixed thresholds (ALLOCATOR; values already in the environment
win). With its default, adaptive ones, freed tensor buffers stay in the heap and the RSS climbs for a few
hundred frames before it levels off (measured at input 112 on 2 cores: +135 MiB from processed frame 70 to
200, then no higher up to 300), which a short soak would take for a leak; with fixed ones the floor stays
within 1 MiB (test/nodes/test_refined_soak.py, the short version, does the same). --soak-default-allocator
measures the allocator as users run it.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import torch

# bench_ros_latency sets the ROS environment up when imported: before anything imports rclpy.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ros_latency import (
    HEIGHT,
    NAMESPACE,
    WIDTH,
    Arrivals,
    publish_frame,
    spinning_node,
    start_node,
    stop_node,
    wait_for_node,
)
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

STATUS = f"{NAMESPACE}/depth_node: depth"
"""The diagnostics status of the bench's camera."""
PENDING_BOUND = 32 + 32
"""Refined frames pending never exceed the worker's queue (32, then the segment is cut) plus the frames its engine
has taken and not yet finished (at most 32: a first window)."""
DASH = "–"
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
"""glibc settings for the soak's node: large buffers go back to the system as soon as they are freed."""


@dataclass
class Diagnostics:
    """The newest values of the camera's diagnostics status, and the largest refined pending seen (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    values: dict[str, str] = field(default_factory=dict)
    arrived: float = 0.0
    max_pending: int = 0

    def __call__(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == STATUS:
                values = {kv.key: kv.value for kv in status.values}
                with self.lock:
                    self.values, self.arrived = values, time.time()
                    if values.get("refined frames pending", "-").isdigit():
                        self.max_pending = max(self.max_pending, int(values["refined frames pending"]))

    def newest(self) -> tuple[dict[str, str], float]:
        with self.lock:
            return dict(self.values), self.arrived


@dataclass
class Case:
    """What one run of the node gave (None: not measured; the row shows a dash)."""

    device: str
    input_size: int
    refined: bool
    in_hz: float | None = None
    out_hz: float | None = None
    live_ms: tuple[float, float] | None = None
    dropped: str | None = None
    refined_hz: float | None = None
    delay_sent: tuple[float, float] | None = None
    delay_processed: tuple[float, float] | None = None
    delay_s: tuple[float, float] | None = None
    refined_dropped: str | None = None
    cuts: str | None = None
    peak_mib: float | None = None


@dataclass
class Sent:
    """Every frame this process sent: stamps (ns) and send times (time.time()) in order, and where the
    measured part starts and ends."""

    stamps: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    measured_from: float = 0.0
    ended: float = 0.0

    def index(self) -> dict[int, int]:
        return {stamp: i for i, stamp in enumerate(self.stamps)}


def proc_mib(pid: int, key: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS now, VmHWM the peak) in MiB; nan once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pair(values: list[float], scale: float = 1.0) -> tuple[float, float] | None:
    """Median and p90 (times scale), or None without values."""
    if not values:
        return None
    median, p90 = np.percentile(values, [50, 90])
    return float(median) * scale, float(p90) * scale


@contextmanager
def running_node(
    node: Node, device: str, input_size: int, refined: bool, args: argparse.Namespace
) -> Iterator[tuple[subprocess.Popen, Publisher, Publisher, Arrivals, Arrivals, Diagnostics]]:
    """depth_node with refined on or off, up and listening: its process, the camera's publishers and what comes
    back (live depth, refined depth, diagnostics). Stops the node and removes the topics afterwards."""
    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, f"{NAMESPACE}/image", qos)
    info_pub = node.create_publisher(CameraInfo, f"{NAMESPACE}/camera_info", qos)
    live, refined_depth, diagnostics = Arrivals(), Arrivals(), Diagnostics()
    # Deep reliable queues: a refined window delivers up to 24 maps at once, all of which count.
    deep = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    subscriptions = [
        node.create_subscription(Image, f"{NAMESPACE}/depth/image", live, qos),
        node.create_subscription(Image, f"{NAMESPACE}/refined/depth/image", refined_depth, deep),
        node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics, deep),
    ]
    params: dict[str, object] = {
        "diagnostics_period": 1.0,
        "refined": refined,
        "refined_flush_timeout": args.flush_timeout,
    }
    log_file: IO[str]
    with tempfile.TemporaryFile(mode="w+") as log_file:
        process = start_node(device, input_size, args.checkpoint, log_file, params)
        try:
            wait_for_node(process, [image_pub, info_pub], log_file)
            yield process, image_pub, info_pub, live, refined_depth, diagnostics
        finally:
            log = stop_node(process, log_file)
            if process.returncode not in (0, None):
                print(f"warning: depth_node exited with {process.returncode}; log:\n{log}", file=sys.stderr)
            for subscription in subscriptions:
                node.destroy_subscription(subscription)
            node.destroy_publisher(image_pub)
            node.destroy_publisher(info_pub)


def send_frames(
    image_pub: Publisher,
    info_pub: Publisher,
    rate: float,
    more: Callable[[int, float], bool],
    on_frame: Callable[[int], None] | None = None,
) -> Sent:
    """Publish frames at `rate` while more(frames sent, seconds elapsed); on_frame(count) after each."""
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    sent = Sent()
    start = time.monotonic()
    while more(len(sent.stamps), time.monotonic() - start):
        stamp, now = publish_frame(image_pub, info_pub, rgb)
        sent.stamps.append(stamp)
        sent.times.append(now)
        if on_frame is not None:
            on_frame(len(sent.stamps))
        time.sleep(max(start + len(sent.stamps) / rate - time.monotonic(), 0.0))
    sent.ended = time.time()
    return sent


def wait_until_idle(diagnostics: Diagnostics, sent: Sent, refined: bool, timeout: float) -> bool:
    """Wait for a diagnostics report, made after the stream ended, with every received frame processed (or
    dropped) and, with refined on, nothing pending: the last refined segment was flushed and published."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values, arrived = diagnostics.newest()
        if arrived > sent.ended + 1.5 and values:  # frames in flight at the end have reached the node by then
            done = int(values["frames processed"]) + int(values["frames dropped"]) + int(values["frames failed"])
            if done >= int(values["frames received"]) and (not refined or values["refined frames pending"] == "0"):
                return True
        time.sleep(0.2)
    return False


def run_case(node: Node, device: str, input_size: int, refined: bool, args: argparse.Namespace) -> Case:
    """One run of depth_node: stream for warm-up plus duration, wait for the last outputs, measure.

    With refined on, the warm-up lasts until the first refined depth has come back too (at most --warmup-limit
    seconds): on a slow machine the first window takes minutes, and only what follows is the steady state.
    """
    with running_node(node, device, input_size, refined, args) as (process, image_pub, info_pub, live, ref, diag):
        measured_from: list[float] = []

        def more(_count: int, elapsed: float) -> bool:
            if not measured_from:
                with ref.lock:
                    first_refined = bool(ref.times)
                if elapsed >= args.warmup and (not refined or first_refined or elapsed >= args.warmup_limit):
                    measured_from.append(time.time())
                return True
            return time.time() < measured_from[0] + args.duration

        sent = send_frames(image_pub, info_pub, args.rate, more)
        sent.measured_from = measured_from[0]
        if not wait_until_idle(diag, sent, refined, args.flush_wait):
            print(f"warning: {device}/{input_size} not idle {args.flush_wait:g} s after the stream", file=sys.stderr)
        peak = proc_mib(process.pid, "VmHWM")
        values, _ = diag.newest()
    return summarise(Case(device, input_size, refined, peak_mib=peak), sent, live, ref, values, args)


def summarise(
    case: Case, sent: Sent, live: Arrivals, ref: Arrivals, values: dict[str, str], args: argparse.Namespace
) -> Case:
    """The case's figures from what was sent and what came back."""
    index = sent.index()
    measured = {stamp for stamp, t in zip(sent.stamps, sent.times, strict=True) if t >= sent.measured_from}
    with live.lock:
        live_times = dict(live.times)
    with ref.lock:
        ref_times = dict(ref.times)
    send_time = dict(zip(sent.stamps, sent.times, strict=True))
    latencies = [t - send_time[stamp] for stamp, t in live_times.items() if stamp in measured]
    case.in_hz = len(measured) / args.duration
    case.out_hz = len(latencies) / args.duration
    case.live_ms = pair(latencies, 1e3)
    case.dropped = f"{len(measured) - len(latencies)}/{len(measured)}"
    if not case.refined:
        return case
    # Delays of the refined outputs that arrived while the measured stream ran (after it, the last segment
    # is flushed: no newer frame exists to count against).
    live_arrivals = sorted(live_times.values())
    live_indexes = sorted(index[stamp] for stamp in live_times if stamp in index)
    delay_sent, delay_processed, delay_s = [], [], []
    for stamp, arrived in ref_times.items():
        if stamp not in index or not sent.measured_from <= arrived <= sent.ended:
            continue
        i = index[stamp]
        delay_sent.append(bisect.bisect_right(sent.times, arrived) - 1 - i)
        # Processed frames after i whose live depth had arrived: live outputs arrived by then, less those of
        # frames up to i.
        delay_processed.append(bisect.bisect_right(live_arrivals, arrived) - bisect.bisect_right(live_indexes, i))
        delay_s.append(arrived - send_time[stamp])
    case.refined_hz = len(delay_s) / args.duration
    case.delay_sent = pair(delay_sent)
    case.delay_processed = pair(delay_processed)
    case.delay_s = pair(delay_s)
    processed = [stamp for stamp in live_times if stamp in measured]
    missing = sum(stamp not in ref_times for stamp in processed)
    case.refined_dropped = f"{missing}/{len(processed)}"
    case.cuts = values.get("refined segments cut (behind)", "?")
    return case


HEADER = (
    "device",
    "input",
    "refined",
    "in Hz",
    "out Hz",
    "live med ms",
    "live p90 ms",
    "dropped",
    "refined Hz",
    "delay med/p90 (sent frames)",
    "delay med/p90 (processed frames)",
    "delay med/p90 (s)",
    "refined dropped",
    "cuts",
    "peak RSS MiB",
)


def cells(case: Case) -> list[str]:
    """One markdown row's cells: a dash for what was not measured."""

    def number(value: float | None, digits: int) -> str:
        return DASH if value is None or math.isnan(value) else f"{value:.{digits}f}"

    def both(values: tuple[float, float] | None, digits: int) -> str:
        return DASH if values is None else f"{values[0]:.{digits}f} / {values[1]:.{digits}f}"

    return [
        case.device,
        str(case.input_size),
        "on" if case.refined else "off",
        number(case.in_hz, 1),
        number(case.out_hz, 2),
        number(None if case.live_ms is None else case.live_ms[0], 0),
        number(None if case.live_ms is None else case.live_ms[1], 0),
        case.dropped or DASH,
        number(case.refined_hz, 2),
        both(case.delay_sent, 0),
        both(case.delay_processed, 0),
        both(case.delay_s, 2),
        case.refined_dropped or DASH,
        case.cuts or DASH,
        number(case.peak_mib, 0),
    ]


def device_available(device: str) -> bool:
    """Whether this machine can run the device (cuda needs a GPU; anything else is tried)."""
    return torch.cuda.is_available() if device.startswith("cuda") else True


def print_table(node: Node, args: argparse.Namespace) -> None:
    weights = args.checkpoint or "random weights"
    print(
        f"depth_node vits metric ({weights}), {WIDTH}x{HEIGHT} rgb8 at {args.rate:g} Hz, {args.duration:g} s "
        f"measured after {args.warmup:g} s warm-up (refined on: and its first output), refined_flush_timeout "
        f"{args.flush_timeout:g} s; torch threads {torch.get_num_threads()}; latency and delay (s) = arrival here "
        "- image stamp\n"
    )
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---" for _ in HEADER) + "|", flush=True)
    for device in args.devices:
        for input_size in args.input_sizes:
            for refined in (mode == "on" for mode in args.refined):
                available = device_available(device)
                case = run_case(node, device, input_size, refined, args) if available else None
                row = cells(case or Case(device, input_size, refined))
                print("| " + " | ".join(row) + " |", flush=True)


@dataclass
class Sample:
    processed: int
    """Frames the node had processed (live depth back here) when sampled."""
    rss_mib: float
    pending: int | None


def soak(node: Node, args: argparse.Namespace) -> bool:
    """Stream until --soak-frames frames are processed, refined on; check the node's memory stays flat (True)."""
    samples: list[Sample] = []
    frames = args.soak_frames
    if not args.soak_default_allocator:
        for name, value in ALLOCATOR.items():  # the node inherits this process's environment
            os.environ.setdefault(name, value)
    allocator = " ".join(f"{name}={os.environ.get(name, '(default)')}" for name in ALLOCATOR)
    with running_node(node, args.devices[0], args.soak_input, True, args) as node_and_topics:
        process, image_pub, info_pub, live, _refined, diagnostics = node_and_topics

        def processed() -> int:
            with live.lock:
                return len(live.times)

        def sample(_sent: int) -> None:
            """After each frame sent: a sample once another --soak-every frames were processed."""
            count = processed()
            if count >= (len(samples) + 1) * args.soak_every:
                values, _ = diagnostics.newest()
                pending = values.get("refined frames pending", "-")
                rss = proc_mib(process.pid, "VmRSS")
                samples.append(Sample(count, rss, int(pending) if pending.isdigit() else None))
                print(f"processed {count:>6}: RSS {rss:8.1f} MiB, refined pending {pending}", flush=True)

        sent = send_frames(image_pub, info_pub, args.rate, lambda _count, _elapsed: processed() < frames, sample)
        wait_until_idle(diagnostics, sent, True, args.flush_wait)
        values, _ = diagnostics.newest()
        peak = proc_mib(process.pid, "VmHWM")
    after = [s for s in samples if s.processed > args.soak_warmup]
    if len(after) < 3:
        print(f"soak: too few samples after the warm-up ({len(after)}): raise --soak-frames", file=sys.stderr)
        return False
    third = max(len(after) // 3, 1)
    first_floor = min(s.rss_mib for s in after[:third])
    last_floor = min(s.rss_mib for s in after[-third:])
    growth = 100 * (last_floor - first_floor) / first_floor
    print(
        f"\nsoak: {len(sent.stamps)} frames sent at {args.rate:g} Hz, {frames} processed, input "
        f"{args.soak_input}, refined on; after warm-up ({args.soak_warmup} processed): RSS start "
        f"{after[0].rss_mib:.1f} MiB, end {after[-1].rss_mib:.1f} MiB, max {max(s.rss_mib for s in after):.1f} MiB, "
        f"peak RSS of the process {peak:.1f} MiB; node's allocator: {allocator}"
    )
    print(
        f"soak: floor of the first third {first_floor:.1f} MiB, of the last third {last_floor:.1f} MiB: "
        f"{growth:+.2f} % (limit {args.soak_threshold:g} %); refined pending max {diagnostics.max_pending} "
        f"(bound {PENDING_BOUND}); node: {values.get('frames processed')} processed, "
        f"{values.get('refined frames published')} refined, {values.get('refined frames dropped (behind)')} "
        f"refined dropped, {values.get('refined segments cut (behind)')} segments cut"
    )
    flat = growth <= args.soak_threshold and diagnostics.max_pending <= PENDING_BOUND
    print("soak: " + ("memory flat" if flat else "FAILED: memory grew (or refined pending exceeded its bound)"))
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", nargs="+", default=["cpu"], help="default cpu; cuda rows need a GPU")
    parser.add_argument("--input-sizes", nargs="+", type=int, default=[252, 518])
    parser.add_argument("--refined", nargs="+", choices=["off", "on"], default=["off", "on"], help="cases to run")
    parser.add_argument("--rate", type=float, default=10.0, help="camera rate in Hz (default 10)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds per case (default 60)")
    parser.add_argument("--warmup", type=float, default=15.0, help="unmeasured seconds first (default 15)")
    parser.add_argument(
        "--warmup-limit", type=float, default=600.0, help="longest warm-up waiting for refined depth (600 s)"
    )
    parser.add_argument("--flush-timeout", type=float, default=10.0, help="refined_flush_timeout (default 10 s)")
    parser.add_argument(
        "--flush-wait", type=float, default=300.0, help="most seconds to wait for the last outputs (default 300)"
    )
    parser.add_argument("--checkpoint", default=None, help="real metric checkpoint (default: random weights)")
    parser.add_argument("--soak", action="store_true", help="the memory soak instead of the table")
    parser.add_argument("--soak-frames", type=int, default=1000, help="frames processed in the soak (1000)")
    parser.add_argument("--soak-input", type=int, default=252, help="input size of the soak (default 252)")
    parser.add_argument("--soak-every", type=int, default=10, help="processed frames between samples (10)")
    parser.add_argument("--soak-warmup", type=int, default=200, help="processed frames of warm-up (200)")
    parser.add_argument(
        "--soak-default-allocator", action="store_true", help="leave glibc's thresholds adaptive in the soak"
    )
    parser.add_argument("--soak-threshold", type=float, default=5.0, help="allowed RSS growth in %% (default 5)")
    args = parser.parse_args()

    with spinning_node("bench_refined") as node:
        if args.soak:
            sys.exit(0 if soak(node, args) else 1)
        print_table(node, args)


if __name__ == "__main__":
    main()
