"""vda-app: Video Depth Anything in a web page (Gradio), to try depth on a video without ROS.

The page is a front end to vda-video, not a second implementation: its settings become a
vda-video command line (cli.build_parser), frames are read by media.read_frames and the run is
cli.process, so the .npz offered for download is exactly what `vda-video --save-npz` writes for
the same clip and options (the page shows that command). Point clouds use the same
frame_files.point_cloud as `vda-video --save-ply`, hence vda_ros.core.outputs as the ROS cloud.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# Read by Gradio when it is imported and when it launches: no telemetry, no version check.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr

from vda_ros.cli.video import (
    RunSummary,
    UsageError,
    build_model,
    build_parser,
    check_arguments,
    cloud_settings,
    process,
)
from vda_ros.core.colormap import ColorScale, colorize
from vda_ros.core.geometry import optical_to_opengl
from vda_ros.errors import VdaError
from vda_ros.interruption import run_tool
from vda_ros.io.files import atomic_output
from vda_ros.io.frame_files import DEFAULT_FOCAL_LENGTH, point_cloud, write_ply
from vda_ros.io.media import read_frames
from vda_ros.model import DEFAULT_ENCODER, ENCODERS, VideoDepthAnything

SAMPLE_CLIP = Path(__file__).resolve().parent.parent / "assets" / "davis_rollercoaster.mp4"
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


@dataclass(frozen=True)
class Settings:
    """The page's controls, in vda-video's terms."""

    encoder: str = DEFAULT_ENCODER
    metric: bool = False
    mode: str = "offline"
    input_size: int = 518
    max_res: int = 1280
    max_len: int = -1
    target_fps: float = -1
    focal_length_x: float = DEFAULT_FOCAL_LENGTH
    focal_length_y: float = DEFAULT_FOCAL_LENGTH
    relative_scale: float = 0.0
    relative_shift: float = 0.0


def video_argv(video: str | Path, output_dir: Path, settings: Settings, random_weights: bool, device: str) -> list[str]:
    """The vda-video command line (without the program name) that a page request runs."""
    argv = [
        str(video),
        "--output-dir",
        str(output_dir),
        "--save-npz",
        "--encoder",
        settings.encoder,
        "--mode",
        settings.mode,
        "--input-size",
        str(settings.input_size),
        "--max-res",
        str(settings.max_res),
        "--max-len",
        str(settings.max_len),
        "--target-fps",
        str(settings.target_fps),
        "--device",
        device,
        "--focal-length-x",
        str(settings.focal_length_x),
        "--focal-length-y",
        str(settings.focal_length_y),
        "--relative-scale",
        str(settings.relative_scale),
        "--relative-shift",
        str(settings.relative_shift),
    ]
    if settings.metric:
        argv.append("--metric")
    if random_weights:
        argv.append("--random-weights")
    return argv


class ModelCache:
    """Networks loaded once per (checkpoint, device) and kept for later requests."""

    def __init__(self) -> None:
        self._models: dict[tuple[Any, ...], VideoDepthAnything] = {}
        self._lock = threading.Lock()

    def get(self, args: argparse.Namespace) -> VideoDepthAnything:
        """The network vda-video would build for these options; UsageError for a missing checkpoint."""
        weights = "random" if args.random_weights else str(args.checkpoint)
        key = (weights, args.encoder, args.metric, args.device)
        with self._lock:
            if key not in self._models:
                self._models[key] = build_model(
                    random_weights=args.random_weights,
                    encoder=args.encoder,
                    metric=args.metric,
                    checkpoint=args.checkpoint,
                )
            return self._models[key]


@dataclass(frozen=True)
class Job:
    """What the page keeps of a finished run, to draw any of its frames as a point cloud later."""

    argv: list[str]
    npz: str
    frames: int


class _Cancelled(Exception):
    """The page went away during a run; raised in the run's thread to stop it."""


class _Run:
    """cli.process on a worker thread, reporting each (frame, depth) through a queue.

    The page's handler is a generator that must yield to update the page, while process() calls
    back from inside its loop; the thread and queue connect the two. The processed source frames
    are also written as a browser-playable video, to show beside the depth video.
    """

    def __init__(self, args: argparse.Namespace, model: VideoDepthAnything, source_video: Path) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._args = args
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
            frames, info = read_frames(self._args.input, self._args.max_res, self._args.target_fps, self._args.max_len)
            self.events.put(("started", info.frame_count))

            def on_frame(frame: np.ndarray, depth: np.ndarray) -> None:
                nonlocal writer
                if self._stop.is_set():
                    raise _Cancelled
                if writer is None:
                    writer = cv2.VideoWriter(
                        str(self._source_video),
                        cv2.VideoWriter_fourcc(*BROWSER_VIDEO_FOURCC),
                        info.fps,
                        (frame.shape[1], frame.shape[0]),
                    )
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                self.events.put(("frame", (frame, depth)))

            summary = process(self._args, frames, info, self._model, on_frame=on_frame)
            self.events.put(("done", summary))
        except VdaError as error:
            self.events.put(("error", str(error)))
        except _Cancelled:
            self.events.put(("error", "cancelled"))
        except Exception as error:  # the page must survive anything; the console gets the traceback
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
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*BROWSER_VIDEO_FOURCC), fps, size)
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
    args = build_parser().parse_args(job.argv)
    try:
        settings = cloud_settings(args)
    except UsageError as error:
        return None, f"No point cloud: {error}"
    index = min(max(int(index), 0), job.frames - 1)
    with np.load(job.npz) as archive:
        depth = archive["depths"][index]
    frames, info = read_frames(args.input, args.max_res, args.target_fps, args.max_len)
    frame = next(itertools.islice(frames, index, None))
    xyz, rgb = point_cloud(depth, frame, settings, info.source_size or (info.width, info.height))
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
    """The page's request handlers, with the model cache and the folder of finished runs."""

    def __init__(self, random_weights: bool, device: str, work_dir: Path) -> None:
        self.random_weights = random_weights
        self.device = device
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

    def run(
        self, video: str | None, settings: Settings, cloud_index: int, progress: gr.Progress
    ) -> Iterator[dict[str, Any]]:
        """Depth for one uploaded video: live previews, then the videos, downloads and a cloud.

        Yields partial page updates keyed by output name (see build_page); user errors become a
        message in the status line, never an exception.
        """
        if not video:
            yield {"status": _error("upload a video or pick the sample first.")}
            return
        name = Path(video).name
        job_dir = self._job_dir()
        argv = video_argv(video, job_dir, settings, self.random_weights, self.device)
        args = build_parser().parse_args(argv)
        command = "vda-video " + " ".join(argv).replace(str(video), name).replace(str(job_dir), "OUT")
        yield {**CLEARED, "status": f"Loading the model for `{name}`…"}
        try:
            check_arguments(args)
            model = self.models.get(args)
        except UsageError as error:
            yield {"status": _error(str(error))}
            return
        except Exception as error:  # the page must survive anything; the console gets the traceback
            yield {"status": _error(_internal(error))}
            return
        stem = Path(video).stem
        run = _Run(args, model, job_dir / f"{stem}_src.webm")
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
                        yield self._finished(payload, argv, job_dir, stem, cloud_index)
                    except Exception as error:
                        yield {"status": _error(_internal(error))}
                    return
        finally:
            run.stop()

    def _finished(
        self, summary: RunSummary, argv: list[str], job_dir: Path, stem: str, cloud_index: int
    ) -> dict[str, Any]:
        """The page once a run is complete: both videos, the downloads and one frame's cloud."""
        vis, npz = summary.files[0], summary.files[1]
        job = Job(argv=argv, npz=str(npz), frames=summary.frames)
        cloud, cloud_status = frame_cloud(job, cloud_index)
        rate = summary.frames / summary.seconds if summary.seconds > 0 else float("inf")
        status = f"Done: {summary.frames} frames in {summary.seconds:.1f} s ({rate:.2f} frames/s)."
        if self.random_weights:
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


def build_page(app: DepthApp) -> gr.Blocks:
    """The Gradio page; every output component is updated by name from DepthApp.run's dicts."""
    with gr.Blocks(title="Video Depth Anything", analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as page:
        gr.Markdown(INTRO)
        if app.random_weights:
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
                input_size = gr.Number(
                    518,
                    label="Input size (multiple of 14)",
                    precision=0,
                    minimum=14,
                    maximum=2044,
                    step=14,
                    elem_id="input-size",
                )
                max_res = gr.Number(
                    1280, label="Max resolution (longer side)", precision=0, minimum=14, elem_id="max-res"
                )
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
                outputs = {
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

        def on_run(video_path: str | None, *values: Any, progress: gr.Progress = gr.Progress()) -> Iterator[dict]:
            *fields, index = values
            settings = page_settings(*fields)
            for update in app.run(video_path, settings, int(index or 0), progress):
                yield {outputs[name]: value for name, value in update.items()}

        run.click(on_run, inputs=[video, *settings_inputs, cloud_index], outputs=list(outputs.values()))
        show_cloud.click(app.show_cloud, inputs=[job, cloud_index], outputs=[outputs["cloud"], outputs["cloud_status"]])
    return page


def page_settings(
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
) -> Settings:
    """Settings from the controls' values (in their order on the page)."""
    return Settings(
        encoder=encoder,
        metric=depth_kind == "metric",
        mode=mode,
        input_size=int(input_size),
        max_res=int(max_res),
        max_len=int(max_len),
        target_fps=float(target_fps),
        focal_length_x=float(focal_x),
        focal_length_y=float(focal_y),
        relative_scale=float(scale or 0.0),
        relative_shift=float(shift or 0.0),
    )


def build_app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vda-app",
        description="Video Depth Anything in a web page: upload a video, see and download its depth. "
        "Serves on 127.0.0.1 only, unless --host or --share say otherwise. Ctrl-C or SIGTERM stops it and "
        "removes the uploads and its temporary files.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: every interface)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--share",
        action="store_true",
        help="also publish a temporary public link through Gradio's share servers (off by default)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="smoke test without checkpoints: random weights, meaningless depth",
    )
    parser.add_argument(
        "--device", choices=("auto", "cuda", "cpu"), default="auto", help="default auto: CUDA when available"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where runs write their files (default: a new temporary folder, removed at exit)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=int,
        default=DEFAULT_MAX_UPLOAD_MB,
        help=f"largest upload accepted, in MiB (default {DEFAULT_MAX_UPLOAD_MB}); larger ones are "
        "refused with a message in the page",
    )
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


def serve(args: argparse.Namespace) -> Server:
    """Start the app in the background as the options say and return it."""
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {args.port}")
    if args.max_upload_mb < 1:
        raise UsageError(f"--max-upload-mb must be at least 1, got {args.max_upload_mb}")
    files = AppFiles.create(args.work_dir)
    try:
        page = build_page(DepthApp(args.random_weights, args.device, files.work_dir))
        page.queue(default_concurrency_limit=1)
        _, url, _ = page.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            prevent_thread_lock=True,
            inbrowser=False,
            quiet=True,
            ssr_mode=False,
            allowed_paths=[str(files.work_dir)],
            footer_links=[],
            max_file_size=args.max_upload_mb * MIB,
        )
    except OSError as error:
        files.remove()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error}") from error
    except BaseException:
        files.remove()
        raise
    return Server(page, url, files)


def serve_until_stopped(args: argparse.Namespace) -> str:
    """Serve until SIGINT or SIGTERM (Interrupted, raised by run_tool's handlers), then stop and clean up."""
    server = serve(args)
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
    return run_tool("vda-app", lambda: serve_until_stopped(args), "stopped; uploads and temporary files removed")


if __name__ == "__main__":
    sys.exit(main())
