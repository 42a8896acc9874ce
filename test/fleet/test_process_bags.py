"""vda-process-bags on Ray: many bags, two workers, a worker killed mid-bag, Ctrl-C, and a resumed rerun.

One Ray cluster (two CPUs) is started in this process for the module and the tool connects to it with
--address, because starting Ray costs seconds on two cores; the interrupted run starts its own embedded
Ray, the default. Every good output is compared with vda-process-bag on the same bag, run in this process
with the same number of PyTorch threads as a worker (a CPU's floating-point reductions depend on it):
depth must be bit-identical.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from bag_helpers import read_bag, synthetic_frames, write_multi_camera_bag, write_test_bag
from ros_helpers import node_env, wait_until
from socket_helpers import Listener, listeners

from vda_ros.batch import run as bag_run
from vda_ros.batch.settings import NOT_OFFERED, BagSettings
from vda_ros.cli import process_bags as cli
from vda_ros.cli.process_bag import parse_settings
from vda_ros.fleet.bag_job import PER_BAG, shared_settings
from vda_ros.fleet.manifest import MANIFEST_SUFFIX, OutputState, output_state, write_manifest
from vda_ros.fleet.summary import SUMMARY_FILE
from vda_ros.fleet.units import find_bags, plan_units

SMALL = ["--random-weights", "--encoder", "vits", "--device", "cpu", "--input-size", "56"]
WORKER = ["--cpus-per-worker", "1"]
"""One CPU, so one PyTorch thread, per worker: the references below run with one thread too."""
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-CPU Ray for the module's runs, on loopback only like the tool's own; its address for --address.

    Ray reads its single-machine mode when it is imported, so it is imported here, once that is set. The
    tool's runs, children of this process, inherit the setting and dial 127.0.0.1 as given.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name, value in cli.LOCAL_RAY_ENVIRONMENT.items():
            patch.setenv(name, value)
        import ray

        context = ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        yield context.address_info["gcs_address"]
        ray.shutdown()


def references(runs: list[tuple[Path, Path, str]]) -> None:
    """vda-process-bag on each (bag, output, image topic), as a worker runs it: one PyTorch thread, engine kept.

    Its own process function with an engine made by its own build_engine, two bags at a time (each
    operation runs in its caller's thread when PyTorch has one thread, so both CPUs are used).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        shared = parse_settings(["in", "out", *SMALL])
        engine = bag_run.build_engine(shared)
        with ThreadPoolExecutor(2) as pool:
            list(
                pool.map(
                    lambda run: bag_run.process(
                        shared.replace(input=str(run[0]), output=str(run[1]), image_topic=run[2]), engine
                    ),
                    runs,
                )
            )
    finally:
        torch.set_num_threads(threads)


def assert_same_outputs(actual: Path, expected: Path) -> None:
    """Same topics, record times and stamps; depth and colour images bit for bit."""
    got, want = read_bag(actual), read_bag(expected)
    assert set(got) == set(want)
    for topic, messages in want.items():
        assert [t for t, _ in got[topic]] == [t for t, _ in messages], topic
        for (_, a), (_, b) in zip(got[topic], messages, strict=True):
            assert (a.header.stamp.sec, a.header.stamp.nanosec) == (b.header.stamp.sec, b.header.stamp.nanosec)
            if hasattr(b, "encoding"):
                assert (a.encoding, a.height, a.width) == (b.encoding, b.height, b.width)
                np.testing.assert_array_equal(a.data, b.data, err_msg=topic)


def visible_entries(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """(directory, its visible files) for every directory below root that is not hidden."""
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        yield Path(directory), [f for f in files if not f.startswith(".")]


def hidden_leftovers(root: Path) -> list[Path]:
    return [
        Path(d, name)
        for d, subdirectories, files in os.walk(root)
        for name in subdirectories + files
        if name.startswith(".")
    ]


class Watcher:
    """Checks, as often as it can while a run goes on, that every visible output bag is complete."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.violations: list[str] = []
        self.checks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.check()

    def check(self) -> None:
        self.checks += 1
        for directory, files in visible_entries(self.root):
            bag_files = [f for f in files if f.endswith((".mcap", ".db3"))]
            if bag_files and "metadata.yaml" not in files:
                self.violations.append(f"{directory} visible without metadata.yaml: {files}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.check()


class ToolRun:
    """vda-process-bags in a child process, its stderr read line by line as it comes."""

    def __init__(self, *args: str | Path, new_session: bool = False, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vda_ros.cli.process_bags", *map(str, args), *SMALL, *WORKER],
            env=node_env(**(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,
        )
        self._stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stdout, self._stdout), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def find(self, pattern: str) -> re.Match[str] | None:
        return next((m for line in list(self.lines) if (m := re.search(pattern, line))), None)

    def finish(self) -> tuple[int, str, str]:
        """Exit status, stdout and stderr, once the tool has exited."""
        self.process.wait(timeout=TIMEOUT_S)
        for reader in self._readers:
            reader.join()
        return self.process.returncode, "".join(self._stdout), "".join(self.lines)


def summary(out: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((out / SUMMARY_FILE).read_text())
    return {bag["name"]: bag for bag in document["bags"]}


@pytest.mark.slow
def test_five_bags_on_two_workers_with_a_worker_killed_mid_bag(tmp_path: Path, cluster: str) -> None:
    """Good bags equal vda-process-bag; the bag of a SIGKILLed worker is retried and complete; bad ones fail."""
    inputs = tmp_path / "recordings"
    long = write_test_bag(inputs / "long", synthetic_frames(60)).path
    cams = write_multi_camera_bag(inputs / "site" / "two_cams", 8)
    short = write_test_bag(inputs / "short", synthetic_frames(5), storage="sqlite3", image_format="jpeg", info=None)
    short = short.path
    write_test_bag(inputs / "bad_frame", synthetic_frames(6), bad_frame=3)
    corrupt = write_test_bag(inputs / "corrupt", synthetic_frames(4)).path
    storage = next(corrupt.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    out = tmp_path / "out"

    watcher = Watcher(out)
    run = ToolRun(
        inputs, "--output-dir", out, "--each-image-topic", "--address", cluster, "--workers", "2", "--max-retries", "1"
    )
    target = out / "long" / "cam.image_raw"
    # The longest bag goes first; kill its worker once it is writing that bag.
    assert wait_until(
        lambda: (
            run.find(r"long/cam\.image_raw: started on worker \d+ \(pid (\d+)") is not None
            or run.process.poll() is not None
        ),
        TIMEOUT_S,
    )
    started = run.find(r"long/cam\.image_raw: started on worker \d+ \(pid (\d+)")
    assert started is not None, "".join(run.lines)
    assert wait_until(lambda: any(target.parent.glob(".cam.image_raw.partial-*")) or target.exists(), TIMEOUT_S)
    assert not target.exists(), "the bag finished before its worker could be killed"
    os.kill(int(started.group(1)), signal.SIGKILL)
    code, stdout, stderr = run.finish()
    watcher.stop()

    assert code == cli.EXIT_FAILED, stderr
    assert "died while processing long/cam.image_raw" in stderr, stderr.replace("\r", "\n")
    assert watcher.checks > 10 and watcher.violations == []
    assert hidden_leftovers(out) == []
    bags = summary(out)
    assert {name: (bag["status"], bag["attempts"]) for name, bag in bags.items()} == {
        "bad_frame/cam.image_raw": ("failed", 1),
        "corrupt": ("failed", 0),
        "long/cam.image_raw": ("done", 2),
        "short/cam.image_raw.compressed": ("done", 1),
        "site/two_cams/left.image_raw": ("done", 1),
        "site/two_cams/right.image_raw": ("done", 1),
    }
    assert "'16UC1'" in bags["bad_frame/cam.image_raw"]["error"]
    assert "cannot read bag" in bags["corrupt"]["error"]
    assert bags["long/cam.image_raw"]["frames"] == 60
    assert "bad_frame/cam.image_raw failed" in stderr and "corrupt failed" in stderr
    assert re.search(r"long/cam\.image_raw\s+60\s+[\d.]+\s+[\d.]+\s+done\s+2", stdout)

    expected = tmp_path / "references"
    units = [
        (long, "/cam/image_raw", "long/cam.image_raw"),
        (cams, "/left/image_raw", "site/two_cams/left.image_raw"),
        (cams, "/right/image_raw", "site/two_cams/right.image_raw"),
        (short, "/cam/image_raw/compressed", "short/cam.image_raw.compressed"),
    ]
    references([(bag, expected / name, topic) for bag, topic, name in units])
    for bag, topic, name in units:
        assert_same_outputs(out / name, expected / name)
        assert output_state(_unit_options(bag, out / name, topic)) is OutputState.COMPLETE


def _unit_options(bag: Path, output: Path, topic: str = "") -> BagSettings:
    args = cli.build_parser().parse_args([str(bag), "--output-dir", "unused", *SMALL])
    return shared_settings(args).replace(input=str(bag), output=str(output), image_topic=topic)


@pytest.mark.slow
def test_ctrl_c_keeps_only_complete_outputs_and_a_rerun_resumes(tmp_path: Path, cluster: str) -> None:
    """Ctrl-C (SIGINT to the process group) after the first bag: 130, only complete outputs; the rerun skips it."""
    inputs = tmp_path / "in"
    bags = {
        name: write_test_bag(inputs / name, synthetic_frames(frames)).path
        for name, frames in (("first", 20), ("second", 12), ("third", 8))
    }
    out = tmp_path / "out"
    watcher = Watcher(out)
    run = ToolRun(inputs, "--output-dir", out, "--workers", "1", new_session=True)  # embedded Ray
    assert wait_until(lambda: (out / f"first{MANIFEST_SUFFIX}").exists() or run.process.poll() is not None, TIMEOUT_S)
    assert run.process.poll() is None, "".join(run.lines)
    os.killpg(run.process.pid, signal.SIGINT)
    code, _, stderr = run.finish()
    watcher.stop()
    assert code == cli.EXIT_INTERRUPTED, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert watcher.violations == [] and hidden_leftovers(out) == []
    statuses = {name: bag["status"] for name, bag in summary(out).items()}
    assert statuses["first"] == "done"
    assert set(statuses.values()) - {"done"} <= {"interrupted", "not run"} and set(statuses.values()) != {"done"}
    finished = {name for name, status in statuses.items() if status == "done"}
    assert {path.name for path in out.iterdir() if path.is_dir()} == finished

    kept = {
        path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in out.rglob("*") if path.name.startswith("first")
    }
    rerun = ToolRun(inputs, "--output-dir", out, "--address", cluster, "--workers", "2")
    code, _, stderr = rerun.finish()
    assert code == 0, stderr
    statuses = {name: bag["status"] for name, bag in summary(out).items()}
    assert statuses == {name: "complete" if name in finished else "done" for name in bags}
    recorded = json.loads((out / SUMMARY_FILE).read_text())["options"]
    offered = parse_settings(["in", "out", *SMALL]).offered()
    assert recorded == {name: value for name, value in offered.items() if name not in PER_BAG}
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in kept} == kept
    references([(bag, tmp_path / "references" / name, "") for name, bag in bags.items()])
    for name in bags:
        assert_same_outputs(out / name, tmp_path / "references" / name)


@pytest.mark.slow
def test_a_local_ray_listens_on_loopback_only(tmp_path: Path) -> None:
    """Every socket of an embedded-Ray run (driver, GCS, raylet, agents, workers) accepts this machine only.

    Sampled from /proc as often as possible for the whole run. RAY_ADDRESS names a cluster that
    does not exist: without --address the tool starts its own Ray all the same.
    """
    bag = write_test_bag(tmp_path / "in" / "bag", synthetic_frames(20)).path
    run = ToolRun(bag, "--output-dir", tmp_path / "out", "--workers", "1", env={"RAY_ADDRESS": "ray://127.0.0.1:1"})
    seen: set[Listener] = set()

    def finished() -> bool:
        seen.update(listeners(run.process.pid))
        return run.process.poll() is not None

    wait_until(finished, TIMEOUT_S, interval=0.05)
    code, _, stderr = run.finish()
    assert code == 0, stderr
    worker = run.find(r"started on worker \d+ \(pid (\d+)")
    assert worker is not None, stderr
    listening = {listener.pid for listener in seen}
    assert {run.process.pid, int(worker.group(1))} <= listening, seen
    assert len(listening) >= 4, seen  # the driver, the GCS, the raylet and the worker at least
    assert [listener for listener in seen if not listener.loopback] == []


TIMED_MAIN = (
    "import sys, time\n"
    "from vda_ros.cli.process_bags import main\n"
    "start = time.monotonic()\n"
    "code = main(sys.argv[1:])\n"
    "print(f'main took {time.monotonic() - start:.1f} s', file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""The tool in a child process, saying how long its main() took (imports, which a loaded machine slows, apart)."""


def timed_run(tmp_path: Path, address: str, **env: str) -> tuple[int, str, float]:
    """vda-process-bags --address ADDRESS on one small bag: exit status, stderr and main()'s seconds."""
    bag = write_test_bag(tmp_path / "in", synthetic_frames(1)).path
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            TIMED_MAIN,
            str(bag),
            "--output-dir",
            str(tmp_path / "out"),
            "--address",
            address,
            *SMALL,
        ],
        env=node_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    took = re.search(r"main took ([\d.]+) s", result.stderr)
    assert took is not None, result.stderr
    return result.returncode, result.stderr, float(took.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_no_cluster_at_the_address_exits_2_at_once(tmp_path: Path, address: str) -> None:
    """Nothing listens there: refused before Ray is even imported, instead of Ray's minutes of retries."""
    code, stderr, seconds = timed_run(tmp_path, address)
    assert code == 2, stderr
    assert f"vda-process-bags: error: cannot connect to the Ray cluster at {address}: Connection refused" in stderr
    assert seconds < cli.CONNECT_TIMEOUT_S, stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_port_that_is_not_a_ray_cluster_exits_2_after_one_handshake(tmp_path: Path) -> None:
    """A port that accepts connections but never answers as Ray's GCS would (a wrong port): one bounded try."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        # Single-machine mode, so that Ray dials 127.0.0.1 as given rather than this machine's network address.
        code, stderr, seconds = timed_run(tmp_path, address, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    assert code == 2, stderr
    assert f"vda-process-bags: error: cannot connect to the Ray cluster at {address}" in stderr
    assert seconds < 60, stderr  # Ray's own default is twenty tries of 40 s
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("output", "problem"),
    [("a_file", "it is a file, not a folder"), ("a_file/below", "a part of its path is a file, not a folder")],
)
def test_an_unwritable_output_folder_exits_2_before_ray_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, output: str, problem: str
) -> None:
    bag = write_test_bag(tmp_path / "in", synthetic_frames(1)).path
    (tmp_path / "a_file").write_text("not a folder\n")
    monkeypatch.setattr(cli, "import_ray", lambda *args: pytest.fail("Ray was imported"))
    before = sorted(tmp_path.rglob("*"))
    assert cli.main([str(bag), "--output-dir", str(tmp_path / output), *SMALL]) == 2
    message = f"cannot write to the output folder {tmp_path / output}: {problem}"
    assert f"vda-process-bags: error: {message}" in capsys.readouterr().err
    assert sorted(tmp_path.rglob("*")) == before


def test_manifest_tells_complete_from_stale_and_foreign(tmp_path: Path) -> None:
    """A finished output is complete only while its input, options and files are as recorded."""
    bag = write_test_bag(tmp_path / "in", synthetic_frames(3)).path
    output = tmp_path / "out"
    options = _unit_options(bag, output)
    assert output_state(options) is OutputState.ABSENT
    output.mkdir()
    (output / "out.mcap").write_bytes(b"depth")
    assert output_state(options) is OutputState.FOREIGN
    write_manifest(options, 3)
    assert output_state(options) is OutputState.COMPLETE
    other = options.replace(input_size=70)
    assert output_state(other) is OutputState.STALE
    (bag / "metadata.yaml").touch()
    assert output_state(options) is OutputState.STALE
    write_manifest(options, 3)
    next(output.glob("*.mcap")).write_bytes(b"trimmed")
    assert output_state(options) is OutputState.STALE


def test_bags_are_found_and_named_without_collisions(tmp_path: Path) -> None:
    root = tmp_path / "fleet"
    write_test_bag(root / "robot1" / "run", synthetic_frames(1))
    write_test_bag(root / "robot2" / "run", synthetic_frames(1), storage="sqlite3")
    single = write_test_bag(tmp_path / "loose", synthetic_frames(1)).path
    loose_file = next(single.glob("*.mcap"))
    out = root / "depth"  # inside the searched folder: never searched itself
    write_test_bag(out / "robot1" / "run", synthetic_frames(1))
    found = find_bags([root, loose_file], exclude=out)
    assert [(bag, str(name)) for bag, name in found] == [
        (loose_file.resolve(), "loose"),
        ((root / "robot1" / "run").resolve(), "robot1/run"),
        ((root / "robot2" / "run").resolve(), "robot2/run"),
    ]
    units = plan_units(found, out, "", each_image_topic=False)
    assert [(u.name, u.output, u.frames, u.error) for u in units] == [
        ("loose", out / "loose", 1, ""),
        ("robot1/run", out / "robot1" / "run", 1, ""),
        ("robot2/run", out / "robot2" / "run", 1, ""),
    ]
    with pytest.raises(cli.UsageError, match="would both be written to"):
        plan_units(find_bags([root / "robot1" / "run", root / "robot2" / "run"], exclude=out), out, "", False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{tmp}/nowhere", "--output-dir", "{tmp}/o"], "input not found"),
        (["{tmp}/empty", "--output-dir", "{tmp}/o"], "no rosbag2 bag found under"),
        (["{tmp}/empty", "--output-dir", "{tmp}/o", "--each-image-topic", "--image-topic", "/a"], "exclude each other"),
        (["{tmp}/empty", "--output-dir", "{tmp}/o", "--input-size", "7"], "input_size"),
        (["{tmp}/empty", "--output-dir", "{tmp}/o", "--workers", "-1"], "--workers must not be negative"),
    ],
)
def test_usage_errors_exit_2_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_every_single_bag_option_is_shared() -> None:
    """vda-process-bag's options (but its two paths) are vda-process-bags' options, parsed to the same values."""
    flags = [
        "--metric",
        "--color-min",
        "1",
        "--color-max",
        "2",
        "--bag-version",
        "9",
        "--points-stride",
        "3",
        "--copy-input",
        "--input-size",
        "70",
        "--storage",
        "sqlite3",
        "--camera-info-topic",
        "/c/info",
        "--overwrite",
    ]
    single = parse_settings(["in", "out", *flags])
    fleet = shared_settings(cli.build_parser().parse_args(["in", "--output-dir", "o", *flags]))
    assert fleet == single.replace(input="", output="")
    help_text = cli.build_parser().format_help()
    for option in BagSettings.options():
        if option.name not in PER_BAG + NOT_OFFERED:
            assert option.flag in help_text
            assert all(alias.flag in help_text for alias in option.aliases)


def test_older_spellings_of_the_single_bag_tool_work_here_too(capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--point-stride", "3", "--no-points", "--color-range", "1", "2", "--fp32"]
    args = cli.build_parser().parse_args(["in", "--output-dir", "o", *flags])
    fleet = shared_settings(args, cli.warn)
    assert fleet == BagSettings.from_values(
        {"points_stride": 3, "publish_points": False, "color_min": 1.0, "color_max": 2.0, "precision": "fp32"}
    )
    err = capsys.readouterr().err
    assert "vda-process-bags: warning: 'point_stride' is deprecated; use points_stride" in err, err
    assert "'no_points' is deprecated" in err and "'color_range' is deprecated" in err and "fp32" not in err


@pytest.mark.slow
def test_import_vda_ros_does_not_import_ray() -> None:
    code = "import sys, vda_ros, vda_ros.cli.process_bags; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env=node_env(), timeout=TIMEOUT_S).returncode == 0
