"""Depth for a video file or an image folder, written as files: what vda-video and the web app run.

The counterpart of the official run.py / run_streaming.py, with the same defaults, but with bounded memory:
frames stream from the reader (vda_ros.io.media) through an engine (vda_ros.model.factory) into the writers
(a disk spool for the mp4 and npz, and the per-frame files of vda_ros.io.frame_files). Everything is
configured by one VideoSettings object; the command line and the web page only build it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vda_ros.core.depth_quality import DepthQualitySettings
from vda_ros.core.frame_tap import FrameTap
from vda_ros.core.options import OptionError, Settings, group, option
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import FrameSettings, ModelSettings
from vda_ros.errors import UsageError
from vda_ros.io.files import remove_stale_temporaries
from vda_ros.io.frame_files import FrameFileOutputs, FrameFileSettings
from vda_ros.io.media import DepthFileSettings, DepthVideoOutputs, VideoInfo, read_frames
from vda_ros.model import VideoDepthAnything
from vda_ros.model.factory import RANDOM_WEIGHTS_BANNER, build_engine, build_model, check_engine

PROG = "vda-video"
MODES = ("offline", "stream")
NOT_OFFERED = (
    "max_image_pixels",
    "publish_points",
    "points_stride",
    "points_rgb",
    "min_depth",
    "max_depth",
    "color_min",
    "color_max",
    "color_smoothing",
    "min_confidence",
)
"""Options of VideoSettings' shared groups that a video run does not use (no flags; they keep their defaults):
images are not size-checked, and the clouds are the official tool's, every pixel with its colour but the flying
ones (a file carries no confidence, so none is made to leave points out by)."""

FLAG_HELP = {
    "flying_pixel_filter": "Leave the flying pixels (on the network's ramps across depth edges, floating between "
    "foreground and background) out of the --save-ply point clouds; --no-flying-pixel-filter keeps every point. "
    "The depth files (mp4, npz, exr) keep every pixel.",
}
"""What the depth quality options mean here, where the shared descriptions (published depth) would mislead."""

Log = Callable[[str], None]


def to_stderr(line: str) -> None:
    """The default log of a video run: one line on standard error (standard output carries the report)."""
    print(line, file=sys.stderr)


@dataclass(frozen=True)
class VideoSettings(Settings):
    """Everything one video run needs: input, output folder, model, frames taken, and the files written."""

    input: str = option("", "Video file, or folder of images (read in name order).", positional=True)
    output_dir: str = option("outputs", "Folder the files are written to.")
    model: ModelSettings = group(ModelSettings)
    mode: str = option(
        "offline",
        "offline: 32-frame windows, most consistent; stream: frame by frame, as the ROS node.",
        choices=MODES,
    )
    frames: FrameSettings = group(FrameSettings)
    max_len: int = option(-1, "Process at most this many frames (-1: all).")
    target_fps: float = option(
        -1.0,
        "Keep every round(source/target)-th frame (-1: every frame); the video is written at the rate kept.",
    )
    files: DepthFileSettings = group(DepthFileSettings)
    frame_files: FrameFileSettings = group(FrameFileSettings)
    outputs: OutputSettings = group(OutputSettings)
    quality: DepthQualitySettings = group(DepthQualitySettings)

    def check(self) -> None:
        super().check()
        if self.max_len == 0 or self.max_len < -1:
            raise OptionError(f"max_len must be a positive number of frames, or -1 for all; got {self.max_len}")
        if self.target_fps != -1 and not self.target_fps > 0:
            raise OptionError(f"target_fps must be a positive rate, or -1 for the source rate; got {self.target_fps}")

    @property
    def offline(self) -> bool:
        return self.mode == "offline"


@dataclass(frozen=True)
class RunSummary:
    frames: int
    seconds: float
    files: list[Path]


def check_run(settings: VideoSettings) -> None:
    """Refuse, before anything is read or loaded, what would fail later: the engine, the writers, the clouds."""
    check_engine(settings.model, offline=settings.offline)
    settings.frame_files.check_writers()
    if settings.frame_files.save_ply:
        settings.frame_files.cloud(settings.model.metric, settings.outputs, settings.quality)


def load_network(settings: ModelSettings, log: Log = to_stderr) -> VideoDepthAnything:
    """The network the settings ask for, with the RANDOM WEIGHTS banner logged first when they are random."""
    if settings.random_weights:
        log(RANDOM_WEIGHTS_BANNER)
    return build_model(settings)


def depth_stream(
    settings: VideoSettings, model: VideoDepthAnything, frames: Iterator[np.ndarray], log: Log = to_stderr
) -> Iterator[np.ndarray]:
    """Depth maps, one per frame in order, from the engine of the settings' mode (graph cache reports to `log`)."""
    if settings.offline:
        return build_engine(settings.model, "offline", model, log).run(frames)
    engine = build_engine(settings.model, "stream", model, log)
    return (engine.step(frame) for frame in frames)


def read_input(settings: VideoSettings) -> tuple[Iterator[np.ndarray], VideoInfo]:
    """The frames the settings take from their input, and what the reader knows of it (MediaError if unreadable)."""
    return read_frames(settings.input, settings.frames.max_res, settings.target_fps, settings.max_len)


def process(
    settings: VideoSettings,
    frames: Iterator[np.ndarray],
    info: VideoInfo,
    model: VideoDepthAnything,
    on_frame: Callable[[np.ndarray, np.ndarray], None] | None = None,
    log: Log = to_stderr,
) -> RunSummary:
    """Run the engine over all frames and write the outputs.

    on_frame, when given, is called with each (RGB frame, depth map) as soon as the depth is
    final (the web app shows them while it runs); an exception it raises aborts the run and
    leaves no output behind.
    """
    start = time.perf_counter()
    output_dir = Path(settings.output_dir)
    files, frame_files = settings.files, settings.frame_files
    cloud = (
        frame_files.cloud(settings.model.metric, settings.outputs, settings.quality) if frame_files.save_ply else None
    )
    with (
        DepthVideoOutputs(output_dir, info.name, info.fps, files.save_npz, files.grayscale) as outputs,
        FrameFileOutputs(output_dir, info.name, frame_files.save_exr, cloud, info.source_size) as per_frame,
    ):
        tap = FrameTap(frames) if on_frame is not None or per_frame.needs_frames else None
        depths = depth_stream(settings, model, iter(tap) if tap is not None else frames, log)
        for depth in tqdm(depths, total=info.frame_count, unit="frame", desc=info.name):
            frame = tap.pop() if tap is not None else None
            outputs.add(depth)
            per_frame.add(frame, depth)
            if on_frame is not None and frame is not None:
                on_frame(frame, depth)
        if outputs.count == 0:
            raise UsageError(f"no frames could be read from {settings.input}")
        written = outputs.finish() + per_frame.finish()
        return RunSummary(outputs.count, time.perf_counter() - start, written)


def run(settings: VideoSettings, log: Log = to_stderr) -> RunSummary:
    """Everything vda-video does; a VdaError (OptionError, MediaError, CheckpointError...) for the user to fix.

    Nothing is written unless the run completes; temporary files an earlier, killed run left in the output
    folder are removed first.
    """
    check_run(settings)
    cleaned = remove_stale_temporaries(Path(settings.output_dir))
    if cleaned:
        log(f"{PROG}: {cleaned}")
    frames, info = read_input(settings)
    model = load_network(settings.model, log)
    return process(settings, frames, info, model, log=log)


def report(summary: RunSummary, settings: VideoSettings) -> str:
    """What a finished run prints: frames, time and rate, the files written, and a warning for random weights."""
    rate = summary.frames / summary.seconds if summary.seconds > 0 else float("inf")
    lines = [f"{summary.frames} frames in {summary.seconds:.1f} s ({rate:.2f} frames/s), mode {settings.mode}"]
    lines += [f"  wrote {path}" for path in summary.files]
    if settings.model.random_weights:
        lines.append("RANDOM WEIGHTS were used: these outputs are a smoke test, not depth.")
    return "\n".join(lines)
