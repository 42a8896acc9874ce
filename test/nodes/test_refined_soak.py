"""Soak: depth_node's memory stays flat over a long stream with `refined` on (bench/bench_refined.py --soak is the
full-size version).

The refined worker holds at most its queue (32 frames) and one window of its engine; everything else a frame
brings (its image, header, intrinsics, preprocessed input, depth maps, messages) must be freed once its refined
depth is published or the frame is dropped. A stream of 500 frames at a tiny input runs through the node, as one
segment, while the test samples the node process's resident memory (VmRSS from /proc) and every diagnostics
report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from ros_helpers import NodeProcess, TestNode, node_env, wait_until
from std_srvs.srv import Trigger
from test_depth_node import random_rgb, stamp_at
from test_refined_depth import PARAMS, STATUS, WAIT, Camera, open_robot, wait_for_diag

from vda_ros.ros.child_nodes import node_command

pytestmark = [pytest.mark.ros, pytest.mark.slow]

FRAMES = 500
WARMUP = 100
"""Frames before memory must be flat: the first windows have run (a window starts every 22 frames), the engine
holds its steady state (one window of inputs, the keyframes, eight maps) and every code path has allocated."""
SAMPLE_EVERY = 5
FIRST, LAST = range(WARMUP, 200), range(FRAMES - 100, FRAMES + 2)
"""The frames whose RSS samples give the floor at the start (after the warm-up) and at the end (the sample after
the final flush is FRAMES + 1)."""
PENDING_BOUND = 32 + 32
"""Refined frames pending (accepted, depth not yet published): the worker's queue (32 frames, then the segment is
cut) plus the frames its engine has taken and not yet finished (at most 32: a first window)."""
GROWTH_BOUND_MIB = 2.0
"""Allowed rise of the RSS floor from FIRST to LAST: about 300 frames apart (with a leak, each range's lowest
sample is near its start). A leak of one frame's RGB image alone (64x48x3 bytes, 9 KiB) raises it by 2.6 MiB, with
the depth map published for it (64x48 float32, 12 KiB) by over 6 MiB, of its preprocessed input (3x56x70 float32,
46 KiB) by over 13 MiB. Runs on a 2-core machine saw the floor move by under 0.7 MiB."""
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
"""glibc's allocator with fixed thresholds for the node. By default its mmap threshold adapts: the buffers of a
window's forward pass, once freed, raise it, later ones come from the heap and stay there, and the RSS jumps up
and down by ±10 MiB with no trend. Fixed thresholds give large buffers back at once: between two windows the RSS
falls to what the node holds (its floor, stable to under 1 MiB), transients of up to 25 MiB above it. Memory that
something holds on to stays resident either way: a leak shows the same."""


def rss_mib(pid: int) -> float:
    """Resident memory of a process now (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def pending_counts(diagnostics: list[DiagnosticArray]) -> list[int]:
    """'refined frames pending' of every report of the camera's status."""
    return [
        int(kv.value)
        for array in diagnostics
        for status in array.status
        if status.name == STATUS
        for kv in status.values
        if kv.key == "refined frames pending"
    ]


def start_node(tmp_path: Path) -> NodeProcess:
    """depth_node with refined on at input 56 (test_refined_depth's parameters), on one thread like there."""
    # Only a reset ends the stream: one segment as long as the soak (a machine stalled for a moment must not split
    # it), where a leak in the engine's window bookkeeping would build up.
    params = {**PARAMS, "refined_flush_timeout": 0.0}
    env = node_env(OMP_NUM_THREADS="1", **ALLOCATOR)
    return NodeProcess(node_command("vda_ros.nodes.depth_node", params, {"__ns": "/robot"}), tmp_path / "node.log", env)


def trim(camera: Camera) -> None:
    """Forget the collected outputs (the soak only counts them), so that the test's own memory stays small."""
    for collector in (camera.live, camera.refined, camera.refined_info, camera.refined_points):
        collector.clear()


def test_memory_stays_flat_over_a_long_stream_with_refined_on(tmp_path: Path) -> None:
    ros = TestNode("refined_soak_test")
    process = start_node(tmp_path)
    try:
        camera, diagnostics, reset = open_robot(ros, process)
        pool = [random_rgb() for _ in range(16)]
        start_time, started = time.time(), time.monotonic()
        samples: dict[int, float] = {}
        for index in range(FRAMES):
            # Paced by the live path (each frame once the previous one's live depth is back), not by the refined
            # worker: when it falls behind, the node cuts and drops, as on a real robot.
            stamp: Time = stamp_at(start_time + index / 30)
            camera.send(pool[index % len(pool)], stamp)
            assert wait_until(lambda s=stamp: camera.live.with_stamp(s) is not None, WAIT), (index, process.log())
            if (index + 1) % SAMPLE_EVERY == 0:
                samples[index + 1] = rss_mib(process.process.pid)
            if index % 50 == 0:  # frame `index` is back: only the node's counts matter from here on
                trim(camera)
        streamed = time.monotonic() - started

        assert ros.call(reset, Trigger.Request()).success  # ends the stream: its last frames are finished now
        values = wait_for_diag(diagnostics, STATUS, {"frames processed": str(FRAMES), "refined frames pending": "0"})
        samples[FRAMES + 1] = rss_mib(process.process.pid)  # every refined frame published or dropped, all idle
        published, dropped = int(values["refined frames published"]), int(values["refined frames dropped (behind)"])
        assert int(values["refined frames failed"]) == 0, values
        assert published + dropped == FRAMES, values  # every frame came back refined or was dropped: none is held

        pending = pending_counts(diagnostics.messages())
        first = min(rss for frame, rss in samples.items() if frame in FIRST)
        last = min(rss for frame, rss in samples.items() if frame in LAST)
        report = (
            f"{FRAMES} frames in {streamed:.1f} s; refined: {published} published, {dropped} dropped, "
            f"{values['refined segments cut (behind)']} segments cut, pending max {max(pending)} over "
            f"{len(pending)} reports; RSS floor {first:.1f} MiB after frames {WARMUP}-{FIRST[-1]}, {last:.1f} MiB "
            f"after {LAST[0]}-{FRAMES} ({last - first:+.2f} MiB); highest sample {max(samples.values()):.1f} MiB, "
            f"after the last flush {samples[FRAMES + 1]:.1f} MiB"
        )
        print(report)
        assert max(pending) <= PENDING_BOUND, report
        assert last - first < GROWTH_BOUND_MIB, report
    finally:
        assert process.stop() == 0, process.log()
        ros.close()
