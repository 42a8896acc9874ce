"""vda-app: Video Depth Anything in a web page (Gradio), to try depth on a video without ROS.

The page is a front end to vda-video, not a second implementation: its controls become the
VideoSettings of vda_ros.batch.video and the run is that module's `process`, so the .npz offered
for download is exactly what `vda-video --save-npz` writes for the same clip and options (the page
shows that command). Point clouds use the same frame_files.point_cloud as `vda-video --save-ply`,
hence vda_ros.core.outputs as the ROS cloud.

One model per (checkpoint, device) is loaded on first use and kept; requests are served one
after another (a queue of one), since one model run already uses every core or the GPU.
Nothing leaves the machine unless --share is given: Gradio's analytics are off, the page's fonts
and scripts come from this server, and it listens on 127.0.0.1 by default.
"""

from __future__ import annotations

import argparse
import itertools
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# Read by Gradio when it is imported and when it launches: no telemetry, no version check.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr

from vda_ros.batch.video import PROG as VIDEO_PROG
from vda_ros.batch.video import RunSummary, VideoSettings, check_run, load_network, process, read_input
from vda_ros.cli.help_format import DefaultsHelpFormatter
from vda_ros.core.colormap import ColorScale, colorize
from vda_ros.core.geometry import optical_to_opengl
from vda_ros.core.options import OptionError, Settings, Value, add_flags, from_args, group, option
from vda_ros.core.settings import ModelSettings
from vda_ros.errors import UsageError, VdaError
from vda_ros.interruption import run_tool
from vda_ros.io.files import atomic_output
from vda_ros.io.frame_files import DEFAULT_FOCAL_LENGTH, point_cloud, write_ply
from vda_ros.model import DEFAULT_ENCODER, ENCODERS, VideoDepthAnything

SAMPLE_CLIP = Path(__file__).resolve().parents[2] / "assets" / "davis_rollercoaster.mp4"
KEPT_JOBS = 8
"""Finished runs whose files stay on disk (the page links to them); older ones are deleted."""
PREVIEW_PERIOD_S = 0.25
"""At most this often the live source/depth images are sent to the page."""
BROWSER_VIDEO_FOURCC = "VP80"
"""Browsers play VP8 WebM, which OpenCV writes; they do not play vda-video's mp4v."""
DEFAULT_MAX_UPLOAD_MB = 500
"""Largest upload accepted by default, in MiB: a few minutes of phone video."""
MIB = 1024 * 1024
GRADIO_DIR_VARIABLE = "GRADIO_TEMP_DIR"
SIGNAL_CHECK_S = 1.0
"""Longest time between a stop signal and the app's reaction to it (see serve_until_stopped)."""


def video_command(settings: VideoSettings) -> list[str]:
    """The vda-video command line (program name first) that runs with these settings: the options not at
    their defaults, for the page to show. Nothing parses it: the run takes the settings themselves."""
    words = [VIDEO_PROG, settings.input]
    for name, value in settings.values().items():
        item = VideoSettings.option(name)
        if item.positional or value == item.default:
            continue
        if isinstance(value, bool):
            words.append(item.flag if value else "--no-" + item.flag[2:])
        else:
            words += [item.flag, str(value)]
    return words


class ModelCache:
    """Networks loaded once per model (weights, size, kind, device) and kept for later requests."""

    def __init__(self) -> None:
        self._models: dict[tuple[Value, ...], VideoDepthAnything] = {}
        self._lock = threading.Lock()

    def get(self, settings: ModelSettings) -> VideoDepthAnything:
        """The network vda-video would build for these settings; CheckpointError for a missing checkpoint."""
        key = (settings.random_weights, settings.checkpoint, settings.encoder, settings.metric, settings.device)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_network(settings)
            return self._models[key]


@dataclass(frozen=True)
class Job:
    """What the page keeps of a finished run, to draw any of its frames as a point cloud later."""

    settings: VideoSettings
    npz: str
    frames: int


class _Cancelled(Exception):
    """The page went away during a run; raised in the run's thread to stop it."""


class _Run:
    """model.video.process on a worker thread, reporting each (frame, depth) through a queue.

    The page's handler is a generator that must yield to update the page, while process() calls
    back from inside its loop; the thread and queue connect the two. The processed source frames
    are also written as a browser-playable video, to show beside the depth video.
    """

    def __init__(self, settings: VideoSettings, model: VideoDepthAnything, source_video: Path) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._settings = settings
        self._model = model
        self._source_video = source_video
        self._thread = threading.Thread(target=self._work, name="vda-app-run", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to stop at its next frame (if it is still going) and wait for it."""
        self._stop.set()
        self._thread.join()

    def _work(self) -> None:
        writer: cv2.VideoWriter | None = None
        try:
            frames, info = read_input(self._settings)
            self.events.put(("started", info.frame_count))

            def on_frame(frame: np.ndarray, depth: np.ndarray) -> None:
                nonlocal writer
                if self._stop.is_set():
                    raise _Cancelled
                if writer is None:
                    writer = cv2.VideoWriter(
                        str(self._source_video),
                        cv2.VideoWriter.fourcc(*BROWSER_VIDEO_FOURCC),
                        info.fps,
                        (frame.shape[1], frame.shape[0]),
                    )
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                self.events.put(("frame", (frame, depth)))

            summary = process(self._settings, frames, info, self._model, on_frame=on_frame)
            self.events.put(("done", summary))
        except VdaError as error:
            self.events.put(("error", str(error)))
        except _Cancelled:
            self.events.put(("error", "cancelled"))
        except Exception as error:  # noqa: BLE001 - the page must survive any failure; the console gets the traceback
            self.events.put(("error", _internal(error)))
        finally:
            if writer is not None:
                writer.release()


def browser_video(mp4: Path, webm: Path) -> Path:
    """A VP8 WebM copy of a video, for the page's player."""
    capture = cv2.VideoCapture(str(mp4))
    fps = capture.get(cv2.CAP_PROP_FPS) or 24.0
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    with atomic_output(webm) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter.fourcc(*BROWSER_VIDEO_FOURCC), fps, size)
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                writer.write(bgr)
        finally:
            writer.release()
            capture.release()
    return webm


def frame_cloud(job: Job, index: int) -> tuple[str | None, str]:
    """One frame of a finished run as a PLY file for the 3D view, or None and the reason there is none.

    The points are vda-video --save-ply's, turned to the viewer's axes (y up) so the scene
    shows upright; the file name says so.
    """
    settings = job.settings
    try:
        cloud = settings.frame_files.cloud(settings.model.metric, settings.outputs, settings.quality)
    except UsageError as error:
        return None, f"No point cloud: {error}"
    index = min(max(int(index), 0), job.frames - 1)
    with np.load(job.npz) as archive:
        depth = archive["depths"][index]
    frames, info = read_input(settings)
    frame = next(itertools.islice(frames, index, None))
    xyz, rgb = point_cloud(depth, frame, cloud, info.source_size or (info.width, info.height))
    path = Path(job.npz).with_name(f"{info.name}_frame_{index:05d}_opengl.ply")
    with atomic_output(path) as temporary:
        write_ply(temporary, optical_to_opengl(xyz), rgb)
    return str(path), f"Frame {index}: {len(xyz)} points, metres, shown in OpenGL camera axes (x right, y up, z back)."


def _error(message: str) -> str:
    return f"**Error:** {message}"


def _internal(error: Exception) -> str:
    """The page's message for a bug rather than a user's mistake; the traceback goes to the console."""
    traceback.print_exception(error)
    return f"internal error ({type(error).__name__}: {error}); see the vda-app console"


CLEARED: dict[str, Any] = {
    name: None for name in ("live_source", "live_depth", "source_video", "depth_video", "npz_file", "vis_file", "cloud")
}
CLEARED.update(command="", cloud_status="")
"""The outputs of a previous run, emptied when a new one starts."""


class DepthApp:
    """The page's request handlers, with the model cache and the folder of finished runs.

    `model` holds the app's own model options (random weights, device); the page chooses the rest.
    """

    def __init__(self, model: ModelSettings, work_dir: Path) -> None:
        self.model = model
        self.work_dir = work_dir
        self.models = ModelCache()
        self._jobs = itertools.count()

    def _job_dir(self) -> Path:
        """A new folder for one run; the oldest beyond KEPT_JOBS are removed."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        earlier = sorted(self.work_dir.glob("run*"), key=lambda path: path.stat().st_mtime)
        for old in earlier[: max(len(earlier) - (KEPT_JOBS - 1), 0)]:
            shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"run{next(self._jobs):05d}_", dir=self.work_dir))

    def video_settings(self, video: str, output_dir: Path, page: Mapping[str, Value]) -> VideoSettings:
        """The settings of one run: the page's values on the app's model options, the npz always written."""
        values = {**self.model.values(), **page, "input": video, "output_dir": str(output_dir), "save_npz": True}
        return VideoSettings.from_values(values)

    def run(
        self, video: str | None, page: Mapping[str, Value], cloud_index: int, progress: gr.Progress
    ) -> Iterator[dict[str, Any]]:
        """Depth for one uploaded video: live previews, then the videos, downloads and a cloud.

        `page` holds the page's controls as option values (see page_values). Yields partial page updates
        keyed by output name (see build_page); user errors become a message in the status line, never an
        exception.
        """
        if not video:
            yield {"status": _error("upload a video or pick the sample first.")}
            return
        name = Path(video).name
        job_dir = self._job_dir()
        yield {**CLEARED, "status": f"Loading the model for `{name}`…"}
        try:
            settings = self.video_settings(video, job_dir, page)
            check_run(settings)
            model = self.models.get(settings.model)
        except VdaError as error:
            yield {"status": _error(str(error))}
            return
        except Exception as error:  # noqa: BLE001 - the page must survive any failure; the console gets the traceback
            yield {"status": _error(_internal(error))}
            return
        command = " ".join(video_command(settings)).replace(str(video), name).replace(str(job_dir), "OUT")
        stem = Path(video).stem
        run = _Run(settings, model, job_dir / f"{stem}_src.webm")
        run.start()
        colours = ColorScale(smoothing=0.2)
        total, count, last_preview = 0, 0, 0.0
        try:
            while True:
                kind, payload = run.events.get()
                if kind == "started":
                    total = payload
                    yield {"status": f"Running on `{name}` ({total} frames)…", "command": f"`{command}`"}
                elif kind == "frame":
                    count += 1
                    frame, depth = payload
                    progress((count, max(total, count)), desc="depth", unit="frames")
                    if time.monotonic() - last_preview >= PREVIEW_PERIOD_S or count == total:
                        last_preview = time.monotonic()
                        shown = cv2.cvtColor(colorize(depth, *colours.update(depth)), cv2.COLOR_BGR2RGB)
                        yield {
                            "live_source": frame,
                            "live_depth": shown,
                            "status": f"Running on `{name}`: frame {count} of {total}…",
                        }
                elif kind == "error":
                    yield {"status": _error(payload.replace(str(video), name))}
                    return
                else:
                    try:
                        yield self._finished(payload, settings, job_dir, stem, cloud_index)
                    except Exception as error:  # noqa: BLE001 - as above: report, keep the page alive
                        yield {"status": _error(_internal(error))}
                    return
        finally:
            run.stop()

    def _finished(
        self, summary: RunSummary, settings: VideoSettings, job_dir: Path, stem: str, cloud_index: int
    ) -> dict[str, Any]:
        """The page once a run is complete: both videos, the downloads and one frame's cloud."""
        vis, npz = summary.files[0], summary.files[1]
        job = Job(settings=settings, npz=str(npz), frames=summary.frames)
        cloud, cloud_status = frame_cloud(job, cloud_index)
        rate = summary.frames / summary.seconds if summary.seconds > 0 else float("inf")
        status = f"Done: {summary.frames} frames in {summary.seconds:.1f} s ({rate:.2f} frames/s)."
        if self.model.random_weights:
            status += " RANDOM WEIGHTS: the depth is meaningless (smoke test)."
        return {
            "status": status,
            "source_video": str(job_dir / f"{stem}_src.webm"),
            "depth_video": str(browser_video(vis, job_dir / f"{stem}_vis.webm")),
            "npz_file": str(npz),
            "vis_file": str(vis),
            "cloud": cloud,
            "cloud_status": cloud_status,
            "job": job,
        }

    def show_cloud(self, job: Job | None, index: int) -> tuple[str | None, str]:
        """The point cloud of another frame of the last run."""
        if job is None:
            return None, "Run a video first."
        try:
            return frame_cloud(job, index)
        except (VdaError, StopIteration) as error:
            return None, _error(f"cannot make the cloud of frame {index}: {error}")


INTRO = """# Video Depth Anything: depth for a video

Upload a video (or pick the sample below), choose the model and press **Run**. The source and its
colourised depth appear side by side while it runs; then download the raw depths (`.npz`, float32
frames × height × width, as `vda-video --save-npz`) and the depth video, and look at one frame in 3D
(metric models, or relative ones with a relative scale; camera from the focal lengths)."""

RANDOM_BANNER = """**RANDOM WEIGHTS** (smoke-test mode, `--random-weights`): the network is untrained,
so every depth shown here is meaningless."""


def integer_control(name: str, label: str, elem_id: str) -> gr.Number:
    """A number box for an integer video option with its default and range: the option's own (VideoSettings)."""
    item = VideoSettings.option(name)
    assert isinstance(item.default, int), f"{name} is not an integer option"
    low, high, step = item.int_range or (None, None, 0)
    return gr.Number(item.default, label=label, precision=0, minimum=low, maximum=high, step=step or 1, elem_id=elem_id)


def build_page(app: DepthApp) -> gr.Blocks:
    """The Gradio page; every output component is updated by name from DepthApp.run's dicts."""
    with gr.Blocks(title="Video Depth Anything", analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as page:
        gr.Markdown(INTRO)
        if app.model.random_weights:
            gr.Markdown(RANDOM_BANNER, elem_id="random-weights")
        job = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                # A file box, not a player: OpenCV decodes many videos a browser cannot play (mp4v, the sample's).
                video = gr.File(label="Input video", file_types=["video"], elem_id="input-video")
                if SAMPLE_CLIP.is_file():
                    gr.Examples(examples=[[str(SAMPLE_CLIP)]], inputs=[video], label="Sample clip")
                encoder = gr.Dropdown(list(ENCODERS), value=DEFAULT_ENCODER, label="Encoder", elem_id="encoder")
                depth_kind = gr.Radio(["relative", "metric"], value="relative", label="Depth", elem_id="depth-kind")
                mode = gr.Radio(
                    ["offline", "stream"],
                    value="offline",
                    label="Mode",
                    info="offline: 32-frame windows, most consistent; stream: frame by frame, as the ROS node",
                )
                input_size = integer_control("input_size", "Input size (multiple of 14)", "input-size")
                max_res = integer_control("max_res", "Max resolution (longer side, 0: never shrink)", "max-res")
                max_len = gr.Number(-1, label="Max frames (-1: all)", precision=0, minimum=-1, elem_id="max-len")
                target_fps = gr.Number(-1, label="Target fps (-1: source rate)", minimum=-1, elem_id="target-fps")
                with gr.Accordion("Point cloud", open=False):
                    focal_x = gr.Number(DEFAULT_FOCAL_LENGTH, label="Focal length x (pixels)", minimum=0.001)
                    focal_y = gr.Number(DEFAULT_FOCAL_LENGTH, label="Focal length y (pixels)", minimum=0.001)
                    relative_scale = gr.Number(0.0, label="Relative scale (relative models: m = 1/(scale·d + shift))")
                    relative_shift = gr.Number(0.0, label="Relative shift")
                    cloud_index = gr.Number(0, label="Frame shown in 3D", precision=0, minimum=0, elem_id="cloud-frame")
                run = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                outputs: dict[str, gr.components.Component] = {
                    "status": gr.Markdown("Ready.", elem_id="status"),
                    "command": gr.Markdown("", elem_id="command"),
                }
                with gr.Row():
                    outputs["live_source"] = gr.Image(label="Source (live)", interactive=False, elem_id="live-source")
                    outputs["live_depth"] = gr.Image(label="Depth (live)", interactive=False, elem_id="live-depth")
                with gr.Row():
                    outputs["source_video"] = gr.Video(
                        label="Source video",
                        interactive=False,
                        autoplay=True,
                        loop=True,
                        format=None,
                        elem_id="source-video",
                    )
                    outputs["depth_video"] = gr.Video(
                        label="Depth video",
                        interactive=False,
                        autoplay=True,
                        loop=True,
                        format=None,
                        elem_id="depth-video",
                    )
                with gr.Row():
                    outputs["npz_file"] = gr.File(label="Raw depths (.npz)", interactive=False, elem_id="npz-file")
                    outputs["vis_file"] = gr.File(label="Depth video (.mp4)", interactive=False, elem_id="vis-file")
                outputs["cloud"] = gr.Model3D(
                    label="Point cloud", display_mode="point_cloud", clear_color=(0.1, 0.1, 0.1, 1.0), elem_id="cloud"
                )
                outputs["cloud_status"] = gr.Markdown("", elem_id="cloud-status")
                show_cloud = gr.Button("Show this frame in 3D", elem_id="show-cloud")
        outputs["job"] = job
        settings_inputs = [
            encoder,
            depth_kind,
            mode,
            input_size,
            max_res,
            max_len,
            target_fps,
            focal_x,
            focal_y,
            relative_scale,
            relative_shift,
        ]

        def on_run(video_path: str | None, *values: Any, progress: gr.Progress = gr.Progress()) -> Iterator[dict]:  # noqa: B008 - gradio finds the tracker by this default
            *fields, index = values
            for update in app.run(video_path, page_values(*fields), int(index or 0), progress):
                yield {outputs[name]: value for name, value in update.items()}

        run.click(on_run, inputs=[video, *settings_inputs, cloud_index], outputs=list(outputs.values()))
        show_cloud.click(app.show_cloud, inputs=[job, cloud_index], outputs=[outputs["cloud"], outputs["cloud_status"]])
    return page


def page_values(
    encoder: str,
    depth_kind: str,
    mode: str,
    input_size: float,
    max_res: float,
    max_len: float,
    target_fps: float,
    focal_x: float,
    focal_y: float,
    scale: float,
    shift: float,
) -> dict[str, Value]:
    """The video options the controls set (given in their order on the page), by option name."""
    return {
        "encoder": encoder,
        "metric": depth_kind == "metric",
        "mode": mode,
        "input_size": int(input_size),
        "max_res": int(max_res),
        "max_len": int(max_len),
        "target_fps": float(target_fps),
        "focal_length_x": float(focal_x),
        "focal_length_y": float(focal_y),
        "relative_scale": float(scale or 0.0),
        "relative_shift": float(shift or 0.0),
    }


APP_MODEL_OPTIONS = ("random_weights", "device")
"""The model options the app takes; the page chooses the others for each run."""


@dataclass(frozen=True)
class AppSettings(Settings):
    """The app's options: where it serves, where runs write, and the model options its runs share.

    The web server is this module's own (the page's handlers and Gradio), so its settings live here.
    """

    host: str = option("127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
    port: int = option(7860, "Port.", int_range=(1, 65535, 0))
    share: bool = option(False, "Also publish a temporary public link through Gradio's share servers (off by default).")
    model: ModelSettings = group(ModelSettings)
    work_dir: str = option("", "Where runs write their files; empty: a new temporary folder, removed at exit.")
    max_upload_mb: int = option(
        DEFAULT_MAX_UPLOAD_MB, "Largest upload accepted, in MiB; larger ones are refused with a message in the page."
    )

    def check(self) -> None:
        super().check()
        if self.max_upload_mb < 1:
            raise OptionError(f"max_upload_mb must be at least 1; got {self.max_upload_mb}")


def build_app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-app",
        formatter_class=DefaultsHelpFormatter,
        description="Video Depth Anything in a web page: upload a video, see and download its depth. "
        "Serves on 127.0.0.1 only, unless --host or --share say otherwise. Ctrl-C or SIGTERM stops it and "
        "removes the uploads and its temporary files.",
    )
    not_offered = tuple(item.name for item in ModelSettings.options() if item.name not in APP_MODEL_OPTIONS)
    add_flags(parser, AppSettings, exclude=not_offered)
    return parser


@dataclass
class AppFiles:
    """The folders of a running app: the runs' outputs, and inside them Gradio's uploads and cache.

    Gradio keeps uploads and copies of the files it serves in $GRADIO_TEMP_DIR (by default /tmp/gradio,
    shared by every Gradio app and not emptied unless told to), which it reads when the page is built and
    when it launches: the app points it at a hidden folder of its own work folder, removed with the app even
    when the work folder (--work-dir) is kept, and restores the variable then.
    """

    work_dir: Path
    owns_work_dir: bool
    uploads: Path
    previous_gradio_dir: str | None

    @classmethod
    def create(cls, work_dir: Path | None) -> AppFiles:
        owns = work_dir is None
        work_dir = Path(tempfile.mkdtemp(prefix="vda_app_")) if work_dir is None else work_dir
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
            uploads = Path(tempfile.mkdtemp(prefix=".gradio-", dir=work_dir))
        except OSError as error:
            if owns:
                shutil.rmtree(work_dir, ignore_errors=True)
            raise UsageError(f"cannot use the work folder {work_dir}: {error.strerror or error}") from error
        files = cls(work_dir, owns, uploads, os.environ.get(GRADIO_DIR_VARIABLE))
        os.environ[GRADIO_DIR_VARIABLE] = str(uploads)
        return files

    def remove(self) -> None:
        """Delete the uploads (and the work folder if the app made it); give GRADIO_TEMP_DIR back."""
        if self.previous_gradio_dir is None:
            os.environ.pop(GRADIO_DIR_VARIABLE, None)
        else:
            os.environ[GRADIO_DIR_VARIABLE] = self.previous_gradio_dir
        shutil.rmtree(self.work_dir if self.owns_work_dir else self.uploads, ignore_errors=True)


@dataclass
class Server:
    """A running app: its URL, and close() to stop it and remove its temporary files."""

    page: gr.Blocks
    url: str
    files: AppFiles

    def close(self) -> None:
        try:
            self.page.close()
        finally:
            self.files.remove()


def serve(settings: AppSettings) -> Server:
    """Start the app in the background as the settings say and return it."""
    files = AppFiles.create(Path(settings.work_dir) if settings.work_dir else None)
    try:
        page = build_page(DepthApp(settings.model, files.work_dir))
        page.queue(default_concurrency_limit=1)
        _, url, _ = page.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=settings.share,
            prevent_thread_lock=True,
            inbrowser=False,
            quiet=True,
            ssr_mode=False,
            allowed_paths=[str(files.work_dir)],
            footer_links=[],
            max_file_size=settings.max_upload_mb * MIB,
        )
    except OSError as error:
        files.remove()
        raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {error}") from error
    except BaseException:
        files.remove()
        raise
    return Server(page, url, files)


def serve_until_stopped(settings: AppSettings) -> str:
    """Serve until SIGINT or SIGTERM (Interrupted, raised by run_tool's handlers), then stop and clean up."""
    server = serve(settings)
    try:
        print(f"vda-app: serving on {server.url} (Ctrl-C to stop)", flush=True)
        while True:
            # Woken at once by a signal that reaches this thread; the period bounds the wait for one
            # that the kernel gave to another thread (its handler runs here, at the next wake-up).
            time.sleep(SIGNAL_CHECK_S)
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-app: 2 for a usage error, 130 once stopped by SIGINT or SIGTERM (files removed)."""
    args = build_app_parser().parse_args(argv)
    return run_tool(
        "vda-app",
        lambda: serve_until_stopped(from_args(AppSettings, args)),
        "stopped; uploads and temporary files removed",
    )


if __name__ == "__main__":
    sys.exit(main())
