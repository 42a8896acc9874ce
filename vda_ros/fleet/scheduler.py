"""Dispatching units to a pool of Ray actors, retrying the bags of workers that die, and stopping cleanly.

Each worker holds one unit at a time; the largest bags go first, so a long bag does not start last and
keep the run waiting. A worker that dies (its process killed, its node lost) fails the Ray call that it
was serving: its unit's staging directory is removed, the unit goes back to the front of the queue, up
to --max-retries times, and a new worker is started in its place (Ray puts it wherever the resources
are). A bad bag is not retried: the same input fails the same way on every worker.

Ctrl-C (or SIGTERM) kills the workers, waits until Ray has seen them die, removes whatever they had
half-written, and reports the unfinished units as interrupted: only complete outputs remain.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from tqdm import tqdm

from vda_ros.errors import UsageError
from vda_ros.fleet.bag_job import BagSettings, settings_for
from vda_ros.fleet.manifest import OutputState, output_state
from vda_ros.fleet.summary import DONE, FAILED, INTERRUPTED, NOT_RUN, Outcome
from vda_ros.fleet.units import Unit
from vda_ros.fleet.worker import BagResult, BagWorker, WorkerInfo
from vda_ros.io.bags import staging_directories

KILL_WAIT_S = 60.0
"""How long an interrupted run waits for Ray to confirm that its killed workers are gone."""
POLL_S = 0.5
"""Longest wait for Ray before a stop request is looked at."""


class StopRequest:
    """SIGINT or SIGTERM, recorded rather than raised while the scheduler waits on Ray.

    An exception raised by a signal handler inside ray.wait leaves Ray's C++ core in an error state
    (a SystemError), so the handlers only note the signal and the scheduler, which waits at most
    POLL_S at a time, stops at its next look.
    """

    def __init__(self) -> None:
        self.signal = ""

    def _record(self, signum: int, frame: object) -> None:
        self.signal = signal.Signals(signum).name

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {signum: signal.signal(signum, self._record) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@dataclass(frozen=True)
class Resources:
    """What each worker asks Ray for, and how many workers to run."""

    workers: int
    cpus: float
    gpus: float

    @property
    def threads(self) -> int:
        return max(1, int(self.cpus))


@dataclass(frozen=True)
class Job:
    unit: Unit
    overwrite: bool
    """Replace the output that is there (one an earlier run left stale, or --overwrite)."""


@dataclass
class _Worker:
    number: int
    actor: Any
    info: WorkerInfo | None = None

    def describe(self) -> str:
        return f"worker {self.number} ({self.info.describe()})" if self.info else f"worker {self.number}"


class Scheduler:
    """One run of jobs on Ray actors (ray: the imported module, so this file does not import Ray itself)."""

    def __init__(self, ray: ModuleType, shared: BagSettings, resources: Resources, max_retries: int) -> None:
        self._ray = ray
        self._shared = shared
        self._resources = resources
        self._max_retries = max_retries
        self._actor_class = ray.remote(BagWorker).options(
            num_cpus=resources.cpus,
            num_gpus=resources.gpus,
            max_restarts=0,  # a dead worker is replaced by the scheduler, which knows which bag it held
            max_task_retries=0,
            # No per-bag progress bars from the workers: the run's own bar covers them all.
            runtime_env={"env_vars": {"TQDM_DISABLE": "1"}},
        )
        self._started = 0
        self._start_failures = 0
        self._starting: dict[Any, _Worker] = {}
        self._idle: list[_Worker] = []
        self._busy: dict[Any, tuple[_Worker, Job]] = {}
        self._pending: deque[Job] = deque()
        self._attempts: dict[str, int] = {}
        self._progress = tqdm(disable=True)
        self.outcomes: dict[str, Outcome] = {}
        self.interrupted = False

    def run(self, jobs: list[Job]) -> list[Outcome]:
        """Process every job; returns their outcomes in the order given. self.interrupted tells a stopped run."""
        self._pending = deque(sorted(jobs, key=lambda job: -job.unit.frames))
        # Unsmoothed: frames arrive a bag at a time, so only the average since the start gives an honest rate.
        self._progress = tqdm(
            total=sum(job.unit.frames for job in jobs), unit="frame", desc="bags", smoothing=0, file=sys.stderr
        )
        self._show()
        stop = StopRequest()
        try:
            with stop.installed():
                for _ in range(min(self._resources.workers, len(jobs))):
                    self._start_worker()
                self._loop(stop)
                if stop.signal:
                    self._log(f"interrupted ({stop.signal}): stopping the workers")
                    self._stop()
        finally:
            self._kill_all()
            self._progress.close()
        return [self.outcomes[job.unit.name] for job in jobs]

    def _loop(self, stop: StopRequest) -> None:
        while (self._pending or self._busy) and not stop.signal:
            while self._idle and self._pending:
                self._dispatch(self._idle.pop(0), self._pending.popleft())
            if not self._busy and not self._starting:
                self._fail_pending("no worker could be started")
                return
            ready, _ = self._ray.wait([*self._starting, *self._busy], num_returns=1, timeout=POLL_S)
            if not ready:
                continue
            if ready[0] in self._starting:
                self._worker_started(ready[0])
            else:
                self._job_returned(ready[0])

    def _start_worker(self) -> None:
        self._started += 1
        worker = _Worker(self._started, self._actor_class.remote(self._shared, self._resources.threads))
        self._starting[worker.actor.info.remote()] = worker

    def _worker_started(self, ref: Any) -> None:
        worker = self._starting.pop(ref)
        try:
            worker.info = self._ray.get(ref)
        except self._ray.exceptions.RayError as error:
            self._start_failures += 1
            self._log(f"{worker.describe()} failed to start: {_reason(error)}")
            if self._start_failures <= self._resources.workers + self._max_retries:
                self._start_worker()
            return
        assert worker.info is not None
        if worker.info.error:  # the model cannot be loaded: no worker will do better
            raise UsageError(worker.info.error)
        self._log(f"{worker.describe()} ready, {worker.info.threads} threads")
        self._idle.append(worker)

    def _dispatch(self, worker: _Worker, job: Job) -> None:
        unit = job.unit
        attempt = self._attempts[unit.name] = self._attempts.get(unit.name, 0) + 1
        _remove_staging(unit)  # left by a worker killed in an earlier run or attempt
        settings = settings_for(self._shared, unit.bag, unit.output, unit.image_topic, job.overwrite or attempt > 1)
        self._busy[worker.actor.process.remote(settings)] = (worker, job)
        self._log(f"{unit.name}: started on {worker.describe()}" + (f", attempt {attempt}" if attempt > 1 else ""))

    def _job_returned(self, ref: Any) -> None:
        worker, job = self._busy.pop(ref)
        unit = job.unit
        try:
            result: BagResult = self._ray.get(ref)
        except self._ray.exceptions.RayError as error:  # the worker died (killed, out of memory, node lost)
            self._worker_lost(worker, job, _reason(error))
            return
        self._idle.append(worker)
        if result.ok:
            self._finish_done(unit, worker, result)
            self._log(f"{unit.name}: {result.frames} frames in {result.seconds:.1f} s")
        elif result.retry and self._attempts[unit.name] <= self._max_retries:
            self._log(f"{unit.name}: {result.error}; retrying")
            self._pending.appendleft(job)
        else:
            self._finish(unit, FAILED, error=result.error, worker=worker.describe())
            self._log(f"{unit.name}: failed: {result.error}")

    def _worker_lost(self, worker: _Worker, job: Job, reason: str) -> None:
        unit = job.unit
        self._kill(worker)
        _remove_staging(unit)
        attempts = self._attempts[unit.name]
        self._log(f"{worker.describe()} died while processing {unit.name} (attempt {attempts}): {reason}")
        if attempts <= self._max_retries:
            self._pending.appendleft(job)
        else:
            self._finish(
                unit, FAILED, error=f"its worker died {attempts} times; last: {reason}", worker=worker.describe()
            )
        if self._pending:
            self._start_worker()

    def _finish(self, unit: Unit, status: str, **details: Any) -> None:
        self.outcomes[unit.name] = Outcome.of(unit, status, attempts=self._attempts.get(unit.name, 0), **details)
        if status == DONE:
            self._progress.update(details["frames"])
        else:
            assert self._progress.total is not None  # run() made the bar with the jobs' total
            self._progress.total -= unit.frames
        self._show()

    def _finish_done(self, unit: Unit, worker: _Worker, result: BagResult) -> None:
        """Record a bag a worker processed: its frames, time, worker and warnings."""
        self._finish(
            unit,
            DONE,
            frames=result.frames,
            seconds=result.seconds,
            worker=worker.describe(),
            warnings=result.warnings,
        )

    def _fail_pending(self, reason: str) -> None:
        while self._pending:
            self._finish(self._pending.popleft().unit, FAILED, error=reason)

    def _stop(self) -> None:
        """Kill every worker, wait for Ray to see them gone, remove their half-written outputs.

        A unit whose worker finished it just before the kill keeps its (complete) output and is reported done.
        """
        self.interrupted = True
        self._kill_all()
        if self._busy:
            try:
                self._ray.wait(list(self._busy), num_returns=len(self._busy), timeout=KILL_WAIT_S)
            except Exception:  # noqa: BLE001 - Ray itself may be going down with the same Ctrl-C
                pass
        for ref, (worker, job) in self._busy.items():
            result = self._finished_result(ref)
            unit = job.unit
            if result is not None and result.ok:
                self._finish_done(unit, worker, result)
            elif (
                output_state(settings_for(self._shared, unit.bag, unit.output, unit.image_topic))
                is OutputState.COMPLETE
            ):
                # Killed after its output and manifest were in place, before its result came back: done all the same.
                self._finish(unit, DONE, frames=unit.frames, worker=worker.describe())
            else:
                _remove_staging(job.unit)
                self._finish(job.unit, INTERRUPTED, worker=worker.describe())
        self._busy.clear()
        while self._pending:
            self._finish(self._pending.popleft().unit, NOT_RUN)

    def _finished_result(self, ref: Any) -> BagResult | None:
        try:
            return self._ray.get(ref, timeout=0)
        except Exception:  # noqa: BLE001 - killed before it finished, or Ray is gone
            return None

    def _kill_all(self) -> None:
        for worker in [*self._starting.values(), *self._idle, *(worker for worker, _ in self._busy.values())]:
            self._kill(worker)

    def _kill(self, worker: _Worker) -> None:
        try:
            self._ray.kill(worker.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def _show(self) -> None:
        statuses = [o.status for o in self.outcomes.values()]
        self._progress.set_postfix_str(f"{statuses.count(DONE)} done, {statuses.count(FAILED)} failed")

    def _log(self, text: str) -> None:
        tqdm.write(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr)


def _reason(error: Exception) -> str:
    """The first line of a Ray error: its kind and cause, without Ray's long explanation."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _remove_staging(unit: Unit) -> None:
    for directory in staging_directories(unit.output):
        shutil.rmtree(directory, ignore_errors=True)
