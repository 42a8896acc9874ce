"""Nodes run as child processes (the demo, benchmarks, tests): how to start one and how to stop it.

Started with `python -m`, not `ros2 run`: `ros2 run` is not there without a ROS installation,
and it leaves its node orphaned when it is stopped with SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path


def node_command(
    module: str,
    params: Mapping[str, object] | None = None,
    remaps: Mapping[str, str] | None = None,
    params_file: Path | None = None,
) -> list[str]:
    """The command line running `module` with a parameters file, -p overrides (they win) and remappings.

    Remap `__ns` to put the node in a namespace.
    """
    args = [sys.executable, "-m", module, "--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in (params or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)  # ROS reads true/false
        args += ["-p", f"{name}:={text}"]
    for source, target in (remaps or {}).items():
        args += ["-r", f"{source}:={target}"]
    return args


def stop_all(processes: Iterable[subprocess.Popen], timeout: float = 10.0) -> None:
    """Stop every process still running: SIGINT (a clean node shutdown), then SIGTERM, then SIGKILL.

    Each signal goes to all of them at once, and each round waits up to timeout in all, so a
    pipeline of several nodes stops in about the time of the slowest one.
    """
    processes = list(processes)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        running = [p for p in processes if p.poll() is None]
        if not running:
            return
        for process in running:
            process.send_signal(sig)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                pass
