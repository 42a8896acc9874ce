"""vda-process-bags: depth for many rosbag2 bags on the workers of a Ray cluster (embedded by default).

Usage errors (no bags, bad options, an output folder that cannot be written, no cluster at --address, a
model that cannot load) exit with 2 before any bag is touched; otherwise every unit runs and the exit
status is 0 only if all succeeded (done now or already complete), 1 if any failed, 130 if the run was
interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import sys
import time
from pathlib import Path
from types import ModuleType

from vda_ros.errors import UsageError, VdaError
from vda_ros.fleet.bag_job import BagSettings, add_shared_flags, settings_for, shared_settings
from vda_ros.fleet.manifest import OutputState, output_state
from vda_ros.fleet.scheduler import Job, Resources, Scheduler
from vda_ros.fleet.summary import COMPLETE, FAILED, SUCCEEDED, SUMMARY_FILE, Outcome, RunTotals, table, write_json
from vda_ros.fleet.units import Unit, find_bags, plan_units
from vda_ros.interruption import EXIT_INTERRUPTED, EXIT_USAGE
from vda_ros.io.files import writable_folder_problem

PROG = "vda-process-bags"
EXIT_FAILED = 1
LOCAL_RAY_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray's single-machine mode, for the local Ray of a run without --address (read when Ray is imported).

It gives the node the address 127.0.0.1, and for that address alone every Ray process (GCS, raylet,
workers, driver, runtime-env and dashboard agents, metrics endpoint) listens on loopback only. For any
other node address they listen on every interface, and `ray.init(_node_ip_address="127.0.0.1")` does
not help: Ray replaces a loopback node address by the machine's own. Ray runs code for whoever reaches it.
"""
CONNECT_TIMEOUT_S = 10.0
"""How long --address may take to accept a connection before the run is refused."""
CLUSTER_RAY_ENVIRONMENT = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "10"}
"""Defaults for reaching an existing cluster: one handshake of at most about 20 s with its GCS, instead of
Ray's twenty of 40 s each, when the port answers but is not a Ray GCS (a dashboard port, say)."""
RAY_CLIENT_PORT = 10001
"""Ray's default port for ray://host addresses without one."""
ENDPOINT = re.compile(r"(?P<client>ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+)(?::(?P<port>\d+))?")
"""--address as host:port or ray://host[:port], the host a name, an IPv4 address or a bracketed IPv6 one."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Depth for many rosbag2 bags with vda-process-bag's offline engine, on the workers of a Ray "
        "cluster: a local one started for the run, or an existing one (--address). Outputs are written "
        "atomically; a rerun skips the outputs that are complete and redoes the rest.",
        epilog="The remaining options are vda-process-bag's and mean the same for every bag. --overwrite "
        "recomputes even complete outputs. Without it, outputs a run of this tool has verified are skipped, "
        "its outputs from other inputs or options are redone, and anything else in the way is reported as failed.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="a bag (directory, or .mcap or .db3 file), or a folder searched for bags",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        required=True,
        help="where the output bags go: DIR/<bag name>, or DIR/<path below a searched folder>",
    )
    parser.add_argument(
        "--each-image-topic",
        action="store_true",
        help="one unit of work per image topic, written to DIR/<bag name>/<topic, dots for slashes>",
    )
    parser.add_argument(
        "--address",
        default="",
        help="Ray cluster: 'auto', host:port or ray://host:10001 (default: a local Ray for this run, "
        f"on 127.0.0.1 only); refused if nothing answers there within {CONNECT_TIMEOUT_S:g} s",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker actors, each with its own copy of the model (default: one per GPU, else 1)",
    )
    parser.add_argument(
        "--cpus-per-worker",
        type=float,
        default=0.0,
        help="CPUs reserved by each worker; also its PyTorch threads (default: 1 with GPUs, else the "
        "cluster's CPUs divided among the workers)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=float,
        default=None,
        help="GPUs per worker, fractions allowed (default: 1 if the cluster has GPUs and --device is not cpu, else 0)",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=2,
        help="times a bag is retried after its worker died or failed unexpectedly (default 2)",
    )
    add_shared_flags(parser)
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    if args.each_image_topic and args.image_topic:
        raise UsageError("--each-image-topic and --image-topic exclude each other")
    for name in ("workers", "cpus_per_worker", "gpus_per_worker", "max_retries"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative, got {value}")


def triage(units: list[Unit], shared: BagSettings) -> tuple[list[Job], dict[str, Outcome]]:
    """Jobs to run, and the outcomes settled without running (already complete, unreadable, in the way)."""
    jobs, settled = [], {}
    for unit in units:
        if unit.error:
            settled[unit.name] = Outcome.of(unit, FAILED, error=unit.error)
            continue
        state = output_state(settings_for(shared, unit.bag, unit.output, unit.image_topic))
        if state is OutputState.COMPLETE and not shared.overwrite:
            settled[unit.name] = Outcome.of(unit, COMPLETE, frames=unit.frames)
        elif state is OutputState.FOREIGN and not shared.overwrite:
            settled[unit.name] = Outcome.of(
                unit, FAILED, error=f"{unit.output} exists and no run of {PROG} vouches for it; --overwrite replaces it"
            )
        else:
            jobs.append(Job(unit, overwrite=state is OutputState.STALE))
    return jobs, settled


def check_output_dir(output_dir: Path) -> None:
    """Refuse an output folder that cannot be written before Ray starts: every bag would fail in it.

    The check leaves nothing behind, not even the folder when it had to be made for it.
    """
    problem = writable_folder_problem(output_dir, keep_created=False)
    if problem is not None:
        raise UsageError(f"cannot write to the output folder {output_dir}: {problem}")


def cluster_endpoint(address: str) -> tuple[str, int] | None:
    """The host and port of --address (host:port or ray://host[:port]); None for 'auto', which Ray looks up."""
    if address == "auto":
        return None
    match = ENDPOINT.fullmatch(address)
    if match is None or not (match["port"] or match["client"]):
        raise UsageError(f"--address {address}: expected auto, host:port or ray://host:port")
    return match["host"].strip("[]"), int(match["port"] or RAY_CLIENT_PORT)


def check_reachable(address: str) -> None:
    """Refuse an --address where nothing accepts a connection, within CONNECT_TIMEOUT_S.

    Ray itself keeps retrying such an address for many minutes.
    """
    endpoint = cluster_endpoint(address)
    if endpoint is None:
        return
    try:
        socket.create_connection(endpoint, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        reason = error.strerror or f"no answer within {CONNECT_TIMEOUT_S:g} s"
        raise UsageError(f"cannot connect to the Ray cluster at {address}: {reason}") from error


def import_ray(address: str) -> ModuleType:
    """Ray, imported only for a run that needs it (an optional extra: vda_ros[fleet]), set up for the run's cluster.

    The settings are environment variables that Ray reads when it is imported (and its processes inherit).
    """
    if address:
        for name, value in CLUSTER_RAY_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
    else:
        os.environ.update(LOCAL_RAY_ENVIRONMENT)
    try:
        import ray
    except ImportError as error:
        raise UsageError(f"Ray is not installed ({error}); install it with: pip install 'vda_ros[fleet]'") from error
    return ray


def connect(ray: ModuleType, address: str) -> None:
    """A local Ray for this run (loopback only; "local" ignores RAY_ADDRESS), or the cluster at `address`."""
    try:
        ray.init(address=address or "local", include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UsageError(f"cannot connect to the Ray cluster at {address}: {error}") from error


def resources(ray: ModuleType, args: argparse.Namespace, shared: BagSettings) -> Resources:
    """Per-worker CPUs and GPUs, and the worker count, from the options and what the cluster has."""
    cluster = ray.cluster_resources()
    cluster_gpus, cluster_cpus = cluster.get("GPU", 0.0), cluster.get("CPU", 1.0)
    gpus = args.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if cluster_gpus and shared.model.device != "cpu" else 0.0
    if gpus > cluster_gpus:
        raise UsageError(f"--gpus-per-worker {gpus:g}: the cluster has {cluster_gpus:g} GPUs")
    if shared.model.device == "cuda" and not gpus:
        raise UsageError("--device cuda needs --gpus-per-worker above 0")
    workers = args.workers or (max(1, int(cluster_gpus // gpus)) if gpus else 1)
    cpus = args.cpus_per_worker or (1.0 if gpus else max(1.0, float(cluster_cpus // workers)))
    return Resources(workers=workers, cpus=cpus, gpus=gpus)


def warn(note: str) -> None:
    """An older spelling was used: one warning line on standard error."""
    print(f"{PROG}: warning: {note}", file=sys.stderr)


def run(args: argparse.Namespace) -> tuple[list[Outcome], RunTotals, BagSettings]:
    shared = shared_settings(args, warn)
    check_output_dir(args.output_dir)
    units = plan_units(
        find_bags(args.inputs, exclude=args.output_dir), args.output_dir, shared.image_topic, args.each_image_topic
    )
    jobs, outcomes = triage(units, shared)
    start = time.perf_counter()
    ray_start, workers, interrupted = 0.0, 0, False
    if jobs:
        if args.address:
            check_reachable(args.address)
        ray = import_ray(args.address)
        connect(ray, args.address)
        ray_start = time.perf_counter() - start
        try:
            plan = resources(ray, args, shared)
            scheduler = Scheduler(ray, shared, plan, args.max_retries)
            outcomes.update((o.name, o) for o in scheduler.run(jobs))
            workers, interrupted = plan.workers, scheduler.interrupted
        finally:
            ray.shutdown()
    totals = RunTotals(time.perf_counter() - start, ray_start, workers, interrupted)
    return [outcomes[unit.name] for unit in units], totals, shared


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-process-bags (exit status: see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        check_arguments(args)
        outcomes, totals, shared = run(args)
    except VdaError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before the workers started: nothing was written
        print(f"{PROG}: interrupted; no output was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    summary_path = args.output_dir / SUMMARY_FILE
    options = {name: value for name, value in shared.offered().items() if name not in ("input", "output")}
    write_json(summary_path, outcomes, totals, options)
    print(table(outcomes, totals))
    print(f"summary: {summary_path}")
    failed = [o for o in outcomes if o.status not in SUCCEEDED]
    if totals.interrupted:
        print(f"{PROG}: interrupted; {len(failed)} bags unfinished, only complete outputs were kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    for outcome in failed:
        print(f"{PROG}: {outcome.name} failed: {outcome.error}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
