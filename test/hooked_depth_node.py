"""depth_node or managed_depth_node with a fault put into its inference step, for tests (run with `python -m`).

The node is the real one, talking over DDS; only BatchedStreamingDepth.step_batch is wrapped, as the
environment says:
- VDA_TEST_STEP_GATE=<path>: each step prints "test hook: step started", waits until <path> exists, runs, then
  prints "test hook: step ended" (a step that outlasts a lifecycle transition, like a first-frame graph build).
- VDA_TEST_STEP_FAULT=<path>: each step raises a RuntimeError while <path> exists (a CUDA out-of-memory or a
  bug in the step), and runs normally once it is gone.
- VDA_TEST_MANAGED=1: run managed_depth_node instead of depth_node.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vda_ros.model import BatchedStreamingDepth
from vda_ros.nodes import depth_node, managed_depth_node

FAULT_MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB (test hook)"


def _gated(step: Callable[..., Any], gate: Path) -> Callable[..., Any]:
    def step_batch(engine: BatchedStreamingDepth, frames: Any) -> Any:
        print("test hook: step started", flush=True)
        while not gate.exists():
            time.sleep(0.05)
        result = step(engine, frames)
        print("test hook: step ended", flush=True)
        return result

    return step_batch


def _faulty(step: Callable[..., Any], fault: Path) -> Callable[..., Any]:
    def step_batch(engine: BatchedStreamingDepth, frames: Any) -> Any:
        if fault.exists():
            raise RuntimeError(FAULT_MESSAGE)
        return step(engine, frames)

    return step_batch


def main() -> int:
    step = BatchedStreamingDepth.step_batch
    if os.environ.get("VDA_TEST_STEP_GATE"):
        step = _gated(step, Path(os.environ["VDA_TEST_STEP_GATE"]))
    if os.environ.get("VDA_TEST_STEP_FAULT"):
        step = _faulty(step, Path(os.environ["VDA_TEST_STEP_FAULT"]))
    BatchedStreamingDepth.step_batch = step  # type: ignore[method-assign]
    node = managed_depth_node if os.environ.get("VDA_TEST_MANAGED") else depth_node
    return node.main(sys.argv)


if __name__ == "__main__":
    raise SystemExit(main())
