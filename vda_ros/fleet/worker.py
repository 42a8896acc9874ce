"""The fleet's worker: a Ray actor that loads the network once and processes one bag after another.

The class is plain Python; the scheduler turns it into an actor with ray.remote and the resources of
the run (CPUs, a GPU or a fraction of one), so this module does not import Ray. Whatever can go wrong
with a bag comes back as a result, never as an exception, so that the scheduler can tell a bad bag
(reported, not retried) from a lost worker (its bag is retried elsewhere).
"""

from __future__ import annotations

import os
import socket
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vda_ros.errors import VdaError
from vda_ros.fleet.bag_job import BagSettings, build_engine, process
from vda_ros.fleet.manifest import write_manifest


@dataclass(frozen=True)
class WorkerInfo:
    """Where a worker runs and what it runs on, or why it could not load the model."""

    pid: int
    host: str
    device: str
    threads: int
    error: str = ""

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, {self.device}"


@dataclass(frozen=True)
class BagResult:
    """How one unit went on a worker."""

    ok: bool
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    retry: bool = False
    """True when the failure may not recur elsewhere (an unexpected error, not a bad input)."""
    warnings: list[str] = field(default_factory=list)


class BagWorker:
    """One loaded engine, reused for every bag the scheduler sends; one bag at a time."""

    def __init__(self, settings: BagSettings, threads: int) -> None:
        # Ray already limits OpenMP to the actor's CPUs; PyTorch is told too, so the thread count (on
        # which a CPU's floating-point reductions depend) is the same on every node.
        torch.set_num_threads(threads)
        self._error = ""
        try:
            self._engine = build_engine(settings)
        except VdaError as error:
            self._error = str(error)

    def info(self) -> WorkerInfo:
        """Called once the actor exists: says where it runs, and reports a model that did not load."""
        device = "no model" if self._error else str(self._engine.device)
        return WorkerInfo(os.getpid(), socket.gethostname(), device, torch.get_num_threads(), self._error)

    def process(self, settings: BagSettings) -> BagResult:
        """Process one unit exactly as vda-process-bag does, then vouch for its output with a manifest."""
        try:
            summary = process(settings, self._engine)
            write_manifest(settings, summary.frames)
        except VdaError as error:
            return BagResult(ok=False, error=str(error))
        except Exception as error:  # noqa: BLE001 - anything else may be this machine's fault: retried
            where = traceback.extract_tb(error.__traceback__)[-1]
            return BagResult(
                ok=False,
                retry=True,
                error=f"{type(error).__name__}: {error} ({Path(where.filename).name}:{where.lineno})",
            )
        return BagResult(ok=True, frames=summary.frames, seconds=summary.seconds, warnings=summary.warnings)
