"""vda-app in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

The app runs in this process on a free loopback port with random weights; the browser uploads
files, presses Run and downloads the .npz, which must equal vda-video's on the same clip and
options. Every wait is for an event in the page (an element or a file appearing), with a
generous upper bound for a loaded machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from plyfile import PlyData
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from socket_helpers import listeners

from vda_ros.batch.video import VideoSettings
from vda_ros.cli.app import SAMPLE_CLIP, AppSettings, DepthApp, Server, build_app_parser, main, serve, video_command
from vda_ros.cli.video import build_parser as video_parser
from vda_ros.cli.video import main as vda_video
from vda_ros.core.options import from_args
from vda_ros.core.settings import ModelSettings
from vda_ros.io.frame_files import CloudSettings, point_cloud
from vda_ros.io.media import read_frames

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VDA_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 240  # upper bound for a run on a loaded 2-core machine; waits end as soon as the page is ready
# Small enough for a CPU: 4 frames of the sample shrunk to 320x180, network input 70.
PAGE_FIELDS = {"input-size": 70, "max-res": 320, "max-len": 4}
MIB = 1024 * 1024
UPLOAD_LIMIT_MB = 2  # above the sample clip (1.8 MB)
SAME_OPTIONS = [
    "--metric",
    "--input-size",
    "70",
    "--max-res",
    "320",
    "--max-len",
    "4",
    "--random-weights",
    "--device",
    "cpu",
]


def loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


@pytest.fixture(scope="module")
def outbound() -> Iterator[list[object]]:
    """Every non-loopback address this process connects to while the app runs (must stay empty)."""
    seen: list[object] = []
    original = socket.socket.connect

    def watched(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(str(address[0])):  # type: ignore[index]
            seen.append(address)
        return original(self, address)

    socket.socket.connect = watched  # type: ignore[method-assign]
    yield seen
    socket.socket.connect = original  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(outbound: list[object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("app_work")
    args = build_app_parser().parse_args(
        [
            "--random-weights",
            "--device",
            "cpu",
            "--port",
            str(free_port()),
            "--work-dir",
            str(work),
            "--max-upload-mb",
            str(UPLOAD_LIMIT_MB),
        ]
    )
    running = serve(from_args(AppSettings, args))
    yield running
    running.close()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; "
        "scripts/install.sh does it as root)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1700"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def wait(driver: WebDriver, condition: object, message: str) -> object:
    return WebDriverWait(driver, WAIT_S).until(condition, message)  # type: ignore[arg-type]


def status(driver: WebDriver) -> str:
    """The status line's own text (without Gradio's progress overlay)."""
    return driver.find_element(By.CSS_SELECTOR, "#status .prose").text


def upload(driver: WebDriver, path: Path) -> None:
    """Put a file into the input box (clearing the previous one) and wait until it is uploaded."""
    for clear in driver.find_elements(By.CSS_SELECTOR, "#input-video button[aria-label='Clear']"):
        clear.click()
    chooser = wait(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, "#input-video input[type=file]"),
        "the upload box did not come back",
    )
    chooser[0].send_keys(str(path))  # type: ignore[index]
    wait(
        driver,
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#input-video a[download]")
            and path.name in d.find_element(By.ID, "input-video").text.replace("\n", "")
        ),
        f"{path.name} not uploaded",
    )


def run_and_wait(driver: WebDriver, before: str) -> str:
    driver.find_element(By.ID, "run").click()
    wait(driver, lambda d: status(d) != before and status(d).startswith(("Done", "Error")), "the run did not finish")
    return status(driver)


def requested_hosts(driver: WebDriver) -> set[str]:
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlsplit(message["params"]["request"]["url"])
            if url.scheme in ("http", "https", "ws", "wss"):
                hosts.add(url.hostname or "")
    return hosts


@pytest.mark.slow
def test_page_reports_a_bad_upload_then_runs_the_sample_like_vda_video(
    server: Server, browser: WebDriver, downloads: Path, outbound: list[object], tmp_path: Path
) -> None:
    browser.get(server.url)
    wait(browser, lambda d: d.find_elements(By.ID, "run"), "the page did not load")
    assert "RANDOM WEIGHTS" in browser.find_element(By.ID, "random-weights").text

    too_big = tmp_path / "too_big.mp4"
    too_big.write_bytes(b"\0" * (UPLOAD_LIMIT_MB * MIB + 1))
    browser.find_element(By.CSS_SELECTOR, "#input-video input[type=file]").send_keys(str(too_big))
    refused = 'File(s) exceed the maximum allowed size of 2.0 Mb: "too_big.mp4"'  # Gradio's words and units
    toasts = lambda d: [toast.text for toast in d.find_elements(By.CSS_SELECTOR, "[data-testid=toast-text]")]  # noqa: E731
    wait(browser, lambda d: refused in toasts(d), "no message for a too large upload")

    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("this is text, not a video\n")
    upload(browser, bad)
    message = run_and_wait(browser, status(browser))
    assert message.startswith("Error") and "cannot open video" in message and "not_a_video.mp4" in message

    for element_id, value in PAGE_FIELDS.items():
        field = browser.find_element(By.CSS_SELECTOR, f"#{element_id} input")
        field.clear()
        field.send_keys(str(value), Keys.TAB)
    browser.find_element(By.XPATH, "//*[@id='depth-kind']//label[contains(., 'metric')]").click()
    upload(browser, SAMPLE_CLIP)
    message = run_and_wait(browser, message)
    assert message.startswith("Done: 4 frames"), message

    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#depth-video video[src]"), "no depth video")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#source-video video[src]"), "no source video")
    link = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#npz-file a[download]"), "no npz download")
    assert browser.find_elements(By.CSS_SELECTOR, "#vis-file a[download]")
    link[0].click()  # type: ignore[index]
    downloaded = downloads / "davis_rollercoaster_depths.npz"
    wait(browser, lambda d: downloaded.exists(), "the npz was not downloaded")  # Chrome renames it when complete
    assert "Frame 0:" in browser.find_element(By.ID, "cloud-status").text
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#cloud canvas"), "no 3D view")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "vda_app_finished.png"))

    reference = tmp_path / "reference"
    assert vda_video([str(SAMPLE_CLIP), "--output-dir", str(reference), "--save-npz", *SAME_OPTIONS]) == 0
    with np.load(downloaded) as page, np.load(reference / "davis_rollercoaster_depths.npz") as cli:
        assert page["depths"].shape == (4, 180, 320)
        assert np.array_equal(page["depths"], cli["depths"])

    assert requested_hosts(browser) <= {"127.0.0.1"}, "the page loaded something from off this machine"
    assert outbound == [], "the app connected to an address off this machine"


def test_other_frame_cloud_and_missing_checkpoint_in_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a browser: the handlers behind 'Show this frame in 3D' and a run without weights."""
    app = DepthApp(ModelSettings(random_weights=True, device="cpu"), work_dir=tmp_path / "work")
    settings = {"metric": True, "input_size": 70, "max_res": 64, "max_len": 2, "mode": "stream"}
    *_, finished = app.run(str(SAMPLE_CLIP), settings, 0, progress=lambda *a, **k: None)  # type: ignore[arg-type]
    assert finished["status"].startswith("Done: 2 frames")
    cloud, text = app.show_cloud(finished["job"], 5)  # clamped to the last frame
    assert cloud is not None and cloud.endswith("_frame_00001_opengl.ply") and text.startswith("Frame 1:")
    with np.load(finished["npz_file"]) as archive:
        depth = archive["depths"][1]
    frame = list(read_frames(SAMPLE_CLIP, max_res=64, max_len=2)[0])[1]
    xyz, rgb = point_cloud(depth, frame, CloudSettings(metric=True), (960, 540))
    vertex = PlyData.read(cloud)["vertex"].data
    assert np.array_equal(np.stack([vertex["x"], -vertex["y"], -vertex["z"]], axis=-1), xyz)
    assert np.array_equal(np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=-1), rgb)

    relative = app.run(str(SAMPLE_CLIP), {"input_size": 70, "max_res": 64, "max_len": 1}, 0, lambda *a, **k: None)
    *_, done = relative  # type: ignore[arg-type]
    assert done["cloud"] is None and "need depth in metres" in done["cloud_status"]

    monkeypatch.setenv("VDA_CHECKPOINT_DIR", str(tmp_path / "no_weights"))
    no_weights = DepthApp(ModelSettings(device="cpu"), work_dir=tmp_path / "work2")
    *_, update = no_weights.run(str(SAMPLE_CLIP), settings, 0, lambda *a, **k: None)  # type: ignore[arg-type]
    assert update["status"].startswith("**Error:**")
    assert "metric_video_depth_anything_vits.pth" in update["status"]
    assert "vda-download-weights --encoder vits --metric" in update["status"]


def test_the_page_builds_vda_video_settings_and_shows_the_command_that_gives_them(tmp_path: Path) -> None:
    """No argv goes from the page to the run; the command shown is the run's settings, written as vda-video flags."""
    app = DepthApp(ModelSettings(random_weights=True, device="cpu"), work_dir=tmp_path / "work")
    page = {"metric": True, "input_size": 70, "mode": "stream", "focal_length_x": 470.4}
    settings = app.video_settings("clip.mp4", tmp_path / "out", page)
    assert settings == VideoSettings.from_values(
        {**page, "input": "clip.mp4", "output_dir": str(tmp_path / "out"), "save_npz": True}
    ).replace(random_weights=True, device="cpu")
    command = video_command(settings)
    assert command == [
        "vda-video",
        "clip.mp4",
        "--output-dir",
        str(tmp_path / "out"),
        "--metric",
        "--random-weights",
        "--device",
        "cpu",
        "--input-size",
        "70",
        "--mode",
        "stream",
        "--save-npz",
    ]
    assert from_args(VideoSettings, video_parser().parse_args(command[1:])) == settings


def test_a_page_value_an_option_refuses_is_shown_in_the_status_line(tmp_path: Path) -> None:
    app = DepthApp(ModelSettings(random_weights=True, device="cpu"), work_dir=tmp_path / "work")
    *_, update = app.run(str(SAMPLE_CLIP), {"input_size": 43}, 0, lambda *a, **k: None)  # type: ignore[arg-type]
    assert update == {"status": "**Error:** input_size must be from 56 to 2044 in steps of 14; got 43"}


def test_bad_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--random-weights", "--port", "70000"]) == 2
    assert "vda-app: error: port must be from 1 to 65535; got 70000" in capsys.readouterr().err


def test_bad_upload_limit_and_work_folder_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--random-weights", "--max-upload-mb", "0"]) == 2
    assert "vda-app: error: max_upload_mb must be at least 1; got 0" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("not a folder\n")
    assert main(["--random-weights", "--port", str(free_port()), "--work-dir", str(tmp_path / "a_file")]) == 2
    assert f"vda-app: error: cannot use the work folder {tmp_path / 'a_file'}: File exists" in capsys.readouterr().err
    assert left_in(tmp_path) == ["a_file"]


class AppProcess:
    """vda-app started as a script's background job starts it (SIGINT ignored), with its own temporary folder.

    TMPDIR points the child's temporary files (its work folder, and Gradio's) into `tmp`, so that what
    it leaves behind can be listed.
    """

    def __init__(self, tmp: Path, *args: str) -> None:
        tmp.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {
            **os.environ,
            "TMPDIR": str(tmp),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vda_ros.cli.app",
                "--random-weights",
                "--device",
                "cpu",
                "--port",
                str(self.port),
                *args,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        self.stdout: list[str] = []
        self.serving = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.stdout.append(line)
            if line.startswith("vda-app: serving on"):
                self.serving.set()
        self.serving.set()  # it exited: stop waiting

    def stop(self, signum: signal.Signals) -> tuple[int, str]:
        """Send the signal; the exit status and stderr once the app has exited."""
        self.process.send_signal(signum)
        try:
            _, stderr = self.process.communicate(timeout=WAIT_S)
        finally:
            self.process.kill()
        self._reader.join()
        return self.process.returncode, stderr


def post_upload(url: str, name: str, data: bytes) -> tuple[int, str]:
    """Upload a file as the page's upload box does (Gradio's upload route); the HTTP status and body."""
    boundary = "vda-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + "gradio_api/upload", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=WAIT_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def left_in(tmp: Path) -> list[str]:
    return sorted(str(path.relative_to(tmp)) for path in tmp.rglob("*"))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_app_and_removes_uploads_and_outputs(tmp_path: Path, signum: signal.Signals) -> None:
    """SIGTERM (systemd, docker, timeout) or SIGINT, though the app started with SIGINT ignored: exit 130, nothing left.

    Before that: it listens on loopback only, keeps uploads in its own work folder, and refuses one
    above --max-upload-mb.
    """
    tmp = tmp_path / "tmp"
    app = AppProcess(tmp, "--max-upload-mb", "1")
    assert app.serving.wait(WAIT_S) and app.process.poll() is None, app.process.communicate()
    sockets = listeners(app.process.pid)
    assert app.port in {listener.port for listener in sockets}, sockets
    assert [listener for listener in sockets if not listener.loopback] == []

    status, body = post_upload(app.url, "clip.mp4", b"\0" * 1000)
    assert status == 200, body
    [uploaded] = json.loads(body)
    work_dirs = list(tmp.glob("vda_app_*"))
    assert len(work_dirs) == 1 and Path(uploaded).is_relative_to(work_dirs[0]), (uploaded, left_in(tmp))
    status, body = post_upload(app.url, "huge.mp4", b"\0" * (MIB + 1))
    assert (status, body) == (413, f"File size exceeded maximum allowed size of {MIB} bytes.")

    code, stderr = app.stop(signum)
    assert code == 130, stderr
    assert f"vda-app: interrupted ({signum.name}); stopped; uploads and temporary files removed" in stderr
    assert "Traceback" not in stderr, stderr
    # Gradio creates an empty folder of its own in $TMPDIR/gradio when it starts a server; nothing else may stay.
    assert left_in(tmp) in ([], ["gradio", "gradio/vibe_edit_history"]), left_in(tmp)
