"""vda-download-weights against a local HTTP server that plays the Hugging Face hub."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ros_helpers import wait_until

from vda_ros.cli.weights import main
from vda_ros.io.files import host_tag
from vda_ros.model.weights import HUB_URL, OfficialCheckpoint, selected_checkpoints

FAKE = b"not really a checkpoint, but bytes to hash\n" * 1000
METRIC_VITS = "/depth-anything/Metric-Video-Depth-Anything-Small/resolve/main/metric_video_depth_anything_vits.pth"
RELATIVE_VITS = "/depth-anything/Video-Depth-Anything-Small/resolve/main/video_depth_anything_vits.pth"


@dataclass
class Route:
    """One response. length overrides the declared Content-Length (a connection closing early);
    with hold set, the first half of the body is sent and the rest only once hold is set."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    length: int | None = None
    hold: threading.Event | None = None


@dataclass
class FakeHub:
    url: str
    routes: dict[str, Route]
    requests: list[str]

    def serve_lfs_file(self, path: str, body: bytes, declared_sha256: str | None) -> None:
        """Like the hub: the resolve URL redirects to storage and declares the sha256 in X-Linked-ETag."""
        headers = {"Location": f"/storage{path}"}
        if declared_sha256:
            headers["X-Linked-ETag"] = f'"{declared_sha256}"'
        self.routes[path] = Route(302, headers)
        self.routes[f"/storage{path}"] = Route(200, {}, body)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    routes: dict[str, Route] = {}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            route = routes.get(self.path, Route(404))
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(route.body) if route.length is None else route.length))
            self.end_headers()
            half = len(route.body) // 2 if route.hold else len(route.body)
            self.wfile.write(route.body[:half])
            if route.hold:
                self.wfile.flush()
                route.hold.wait(120.0)
                try:
                    self.wfile.write(route.body[half:])
                except OSError:  # the client is gone: that is what the test wanted
                    pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FakeHub(f"http://127.0.0.1:{server.server_address[1]}", routes, requests)
    server.shutdown()
    server.server_close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_urls_of_the_six_official_files() -> None:
    checkpoints = selected_checkpoints("all", metric=False, both=True)
    assert len(checkpoints) == 6
    assert OfficialCheckpoint("vitb", True).url(HUB_URL) == (
        "https://huggingface.co/depth-anything/Metric-Video-Depth-Anything-Base/resolve/main/"
        "metric_video_depth_anything_vitb.pth"
    )
    assert OfficialCheckpoint("vitl", False).url(HUB_URL) == (
        "https://huggingface.co/depth-anything/Video-Depth-Anything-Large/resolve/main/video_depth_anything_vitl.pth"
    )


def test_download_verified_by_the_declared_sha256(hub: FakeHub, tmp_path: Path) -> None:
    hub.serve_lfs_file(METRIC_VITS, FAKE, sha256(FAKE))
    argv = ["--encoder", "vits", "--metric", "--dir", str(tmp_path), "--base-url", hub.url]
    assert main(argv) == 0
    assert (tmp_path / "metric_video_depth_anything_vits.pth").read_bytes() == FAKE
    assert (tmp_path / "SHA256SUMS").read_text() == f"{sha256(FAKE)}  metric_video_depth_anything_vits.pth\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SHA256SUMS", "metric_video_depth_anything_vits.pth"]

    # A second run checks the present file against SHA256SUMS instead of downloading again.
    hub.requests.clear()
    assert main(argv) == 0
    assert hub.requests == []


def test_base_url_from_the_environment(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.serve_lfs_file(METRIC_VITS, FAKE, sha256(FAKE))
    monkeypatch.setenv("VDA_WEIGHTS_BASE_URL", hub.url)
    monkeypatch.setenv("VDA_CHECKPOINT_DIR", str(tmp_path))
    assert main(["--metric"]) == 0
    assert (tmp_path / "metric_video_depth_anything_vits.pth").exists()


def test_metric_and_all_together_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--metric", "--all", "--dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "vda-download-weights: error: give metric or all, not both" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_file_differing_from_the_published_sha256_is_discarded(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server declares nothing; the published hash of the real vits file applies.
    hub.serve_lfs_file(RELATIVE_VITS, FAKE, None)
    assert main(["--encoder", "vits", "--dir", str(tmp_path), "--base-url", hub.url]) == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch for video_depth_anything_vits.pth" in err
    assert list(tmp_path.iterdir()) == []


def test_file_differing_from_the_declared_sha256_is_discarded(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.serve_lfs_file(METRIC_VITS, FAKE, sha256(b"other bytes"))
    assert main(["--metric", "--dir", str(tmp_path), "--base-url", hub.url]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_conflicting_sources_are_refused(hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.serve_lfs_file(RELATIVE_VITS, FAKE, sha256(FAKE))
    assert main(["--dir", str(tmp_path), "--base-url", hub.url]) == 1
    assert "conflicting sha256" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_no_known_sha256_is_refused(hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.serve_lfs_file(METRIC_VITS, FAKE, None)
    assert main(["--metric", "--dir", str(tmp_path), "--base-url", hub.url]) == 1
    assert "no sha256 is known for metric_video_depth_anything_vits.pth" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_reported(hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--encoder", "vitl", "--dir", str(tmp_path), "--base-url", hub.url]) == 1
    err = capsys.readouterr().err
    assert f"could not download {hub.url}/depth-anything/Video-Depth-Anything-Large/resolve/main/" in err
    assert "HTTP 404" in err
    assert list(tmp_path.iterdir()) == []


def test_unreachable_host_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert main(["--encoder", "all", "--dir", str(tmp_path), "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert f"could not download {url}/depth-anything/Video-Depth-Anything-Small/" in err
    assert "Connection refused" in err
    assert "3 of 3 files failed" in err
    assert list(tmp_path.iterdir()) == []


def test_present_file_with_a_wrong_sha256_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "video_depth_anything_vits.pth").write_bytes(FAKE)
    assert main(["--dir", str(tmp_path), "--base-url", "http://127.0.0.1:9"]) == 1
    assert "is present but its sha256" in capsys.readouterr().err


def test_cut_short_download_is_reported_as_incomplete(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.serve_lfs_file(RELATIVE_VITS, FAKE, None)
    hub.routes[f"/storage{RELATIVE_VITS}"].body = FAKE[:1000]
    hub.routes[f"/storage{RELATIVE_VITS}"].length = len(FAKE)
    assert main(["--dir", str(tmp_path), "--base-url", hub.url]) == 1
    err = capsys.readouterr().err
    assert f"incomplete: expected {len(FAKE)} bytes, got 1000" in err and "sha256 mismatch" not in err, err
    assert list(tmp_path.iterdir()) == []


def _download_in_background(hub: FakeHub, directory: Path) -> tuple[subprocess.Popen[str], Path]:
    """vda-download-weights in a child that ignores SIGINT, as a background job of a non-interactive shell
    does, stalled by the server half-way through the file; returns it and its partial file once that holds half."""
    hold = threading.Event()
    hub.serve_lfs_file(METRIC_VITS, FAKE, sha256(FAKE))
    hub.routes[f"/storage{METRIC_VITS}"].hold = hold
    child = subprocess.Popen(
        [sys.executable, "-m", "vda_ros.cli.weights", "--metric", "--dir", str(directory), "--base-url", hub.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    partial = directory / f".metric_video_depth_anything_vits.partial-{child.pid}@{host_tag()}.pth"
    try:  # the server holds back the second half, so the child is mid-download while its partial file exists
        assert wait_until(lambda: child.poll() is not None or partial.exists(), 60.0) and partial.exists(), (
            child.stderr.read() if child.poll() is not None else "no partial file appeared"
        )
    except BaseException:
        child.kill()
        hold.set()
        raise
    return child, partial


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_download_removes_the_partial_file_without_traceback(
    hub: FakeHub, tmp_path: Path, signum: signal.Signals
) -> None:
    child, _ = _download_in_background(hub, tmp_path)
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    hub.routes[f"/storage{METRIC_VITS}"].hold.set()
    assert child.returncode == 130, err
    assert f"interrupted ({signum.name}); no partial file was left" in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_partial_file_of_a_killed_run_is_removed_by_the_next_run(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child, partial = _download_in_background(hub, tmp_path)
    child.kill()
    child.communicate(timeout=60)
    hub.routes[f"/storage{METRIC_VITS}"].hold.set()
    assert partial.exists(), "SIGKILL leaves no chance to clean up"
    hub.serve_lfs_file(METRIC_VITS, FAKE, sha256(FAKE))
    assert main(["--metric", "--dir", str(tmp_path), "--base-url", hub.url]) == 0
    err = capsys.readouterr().err
    assert f"removed 1 temporary file(s) left in {tmp_path} by an interrupted earlier run: {partial.name}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SHA256SUMS", "metric_video_depth_anything_vits.pth"]
