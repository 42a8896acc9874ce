"""The core of depth_node: the model, the cameras, the inference thread, the publishers and the diagnostics.

The path of one frame: Image (or CompressedImage) -> RGB array -> BatchedStreamingDepth.step_batch ->
vda_ros.core.outputs (depth values with flying pixels filtered, colour, confidence, depth intrinsics, cloud) ->
messages. DepthService wires the
pieces together and owns the threading: each camera's subscription drops its image into that camera's
one-frame slot and returns at once, and one worker thread runs the model on the newest frame of every
camera that has one (up to max_batch cameras per forward pass, round robin), so a camera faster than the
model costs dropped frames, never a growing delay, and no camera starves another. With `refined` on, every
processed frame also goes to its camera's RefinedStream (the windowed engine on a thread of its own), whose
depth comes back about a window later and is published under refined/ with the frame's header.

It works for one rclpy node it is given, plain (depth_node) or lifecycle (managed_depth_node), in the steps of
the ROS 2 lifecycle: configure (model, publishers, reset services), activate (subscriptions, inference thread,
diagnostics), deactivate (undoes activate), cleanup (undoes configure); shutdown undoes whatever is done.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
import traceback
from collections.abc import Callable

import cv2
import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from vda_ros.core.outputs import FrameOutputs, cloud_off_reason, frame_outputs
from vda_ros.core.settings import FrameSettings
from vda_ros.errors import VdaError
from vda_ros.io.media import scaled_size
from vda_ros.model import (
    BatchedStreamingDepth,
    CacheError,
    FrameSizeError,
    OfflineDepth,
    RefinedStream,
    build_engine,
    model_source,
)
from vda_ros.model.backends.base import GraphBackend
from vda_ros.model.preprocess import network_size
from vda_ros.nodes.camera_mailbox import CameraMailbox
from vda_ros.nodes.camera_stream import (
    REFINED,
    CameraStream,
    ImageMessage,
    RefinedFrame,
    camera_name_problem,
    reset_service_name,
)
from vda_ros.nodes.depth_settings import DepthSettings
from vda_ros.ros.conversions import (
    ImageConversionError,
    bgr_to_msg,
    camera_model,
    compressed_to_rgb,
    depth_camera_info,
    depth_to_msg,
    image_to_rgb,
    points_to_cloud,
    stamp_ns,
)
from vda_ros.ros.diagnostics import diagnostic_status, publish_diagnostics
from vda_ros.ros.publishing import try_publish
from vda_ros.ros.stream_state import LogLimiter

RESET_LOG_PERIOD = 10.0
"""Seconds between two logged resets of one kind (a stream alternating sizes resets on every frame)."""
FAILURE_LOG_PERIOD = 10.0
"""Seconds between two logged tracebacks of one kind of failed inference step (the first is logged at once)."""
FAILURES_FOR_ERROR = 3
"""A camera whose last this many frames all failed in the inference step reports ERROR in /diagnostics (WARN
before): a CUDA out-of-memory or a bug fails every frame, where a passing fault fails one."""

RANDOM_WEIGHTS_WARNING = (
    "RANDOM WEIGHTS (random_weights:=true): smoke-test mode, every depth map, colour image and point "
    "cloud this node publishes is MEANINGLESS. Set a checkpoint for real depth."
)

Waiting = tuple[CameraStream, ImageMessage]
"""A camera's newest frame waiting for the inference thread."""
Batch = list[tuple[str, Waiting]]
"""The frames one inference step takes, by camera name."""


class StartupError(VdaError, RuntimeError):
    """The node cannot run with its parameters (missing checkpoint, unavailable device, invalid camera name)."""


class DepthService:
    """Live depth for one node: what the plain and the managed node share, in the steps of the lifecycle.

    `settings` gives the node's current parameters (its ParameterTable's settings): the start-up options are
    read at configure and activate, the output options again for every frame.
    """

    def __init__(self, node: Node, settings: Callable[[], DepthSettings]) -> None:
        self._node = node
        self._settings = settings
        self._log = node.get_logger()
        self._engine: BatchedStreamingDepth | None = None
        """The model; None while not configured."""
        self._refined_engine: OfflineDepth | None = None
        """The windowed engine on the same network, with refined depth; None without."""
        self._model_name = ""
        self._metric = False
        self._cameras: dict[str, CameraStream] = {}
        self._reset_services: list[Service] = []
        self._diagnostics: Publisher | None = None
        self._diagnostics_timer: Timer | None = None
        self._worker: threading.Thread | None = None
        """The inference thread; None while not active."""
        self._mailbox: CameraMailbox[str, Waiting] = CameraMailbox([])
        self._stopping = threading.Event()
        self._in_step = threading.Event()
        self._stopped_for_good: str | None = None
        """Why inference stopped until the next activation (an unusable graph cache), or None."""
        self._reset_log = LogLimiter(self._log.info, RESET_LOG_PERIOD)
        self._failure_log = LogLimiter(self._log.error, FAILURE_LOG_PERIOD)

    @property
    def configured(self) -> bool:
        return self._engine is not None

    @property
    def active(self) -> bool:
        return self._worker is not None

    # --- lifecycle steps ------------------------------------------------------------------------

    def configure(self) -> None:
        """Load the model and create the publishers and reset services.

        StartupError (nothing is then held) for an invalid camera name or a model that cannot be built: the
        factory's errors (checkpoint, device, backend, graph cache) with what to change.
        """
        settings = self._settings()
        names = self._camera_names(settings.cameras)
        try:
            engine = build_engine(settings.model, "batched", log=self._log_info)
            refined = (
                build_engine(settings.model, "offline", engine.model, self._log_info) if settings.refined else None
            )
        except VdaError as error:
            raise StartupError(str(error)) from error
        if settings.model.random_weights:
            self._log.warning(RANDOM_WEIGHTS_WARNING)
        family = "metric" if engine.metric else "relative"
        source = model_source(settings.model)
        self._model_name = f"{engine.model.encoder} {family} ({source}), {engine.backend.describe()} on {engine.device}"
        self._engine, self._refined_engine, self._metric = engine, refined, engine.metric
        node = self._node
        self._cameras = {name: CameraStream(node, name, self._metric, settings.compressed) for name in names}
        for camera in self._cameras.values():
            camera.create_publishers(node, settings.qos.output, refined=settings.refined)
        self._reset_services = [node.create_service(Trigger, "~/reset", self._on_reset_all)]
        if settings.cameras:
            self._reset_services += [
                node.create_service(Trigger, reset_service_name(name), functools.partial(self._on_reset, camera))
                for name, camera in self._cameras.items()
            ]
        self._diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._log.info(self._outputs_line(settings))

    def activate(self) -> None:
        """Subscribe, start the inference thread and the diagnostics."""
        assert self.configured, "activate follows configure"
        settings = self._settings()
        self._stopping.clear()
        self._stopped_for_good = None  # activating again retries what stopped inference
        self._mailbox = CameraMailbox(list(self._cameras))
        for camera in self._cameras.values():
            camera.subscribe(self._node, settings.qos.input, self._on_image)
        self._diagnostics_timer = self._node.create_timer(
            settings.diagnostics.diagnostics_period, self._publish_diagnostics
        )
        self._worker = threading.Thread(
            target=self._run_worker, args=(settings.max_batch,), name="depth_inference", daemon=True
        )
        self._worker.start()
        if self._refined_engine is not None:
            for camera in self._cameras.values():
                camera.refined = RefinedStream(
                    self._refined_engine,
                    functools.partial(self._publish_refined, camera),
                    flush_timeout=settings.refined_flush_timeout,
                    on_error=functools.partial(self._refined_failed, camera),
                    name=f"refined_depth{camera.camera.replace('/', '_')}",
                )
        inputs = ", ".join(
            f"{c.image_topic} and {self._node.resolve_topic_name(c.info_topic)}" for c in self._cameras.values()
        )
        self._log.info(f"model {self._model_name}; listening on {inputs}")

    def deactivate(self) -> None:
        """Stop listening and inferring (if active): nothing is published until activated again.

        Returns only once the worker has ended, so that cleanup never releases what a step still uses. A step
        in progress (a first frame that builds graphs can take minutes) is waited for, then its outputs are
        dropped; the worker takes no frame after it.
        """
        if not self.active:
            return
        for camera in self._cameras.values():
            camera.unsubscribe(self._node)
        self._stopping.set()
        self._mailbox.close()
        if self._worker is not None:
            if self._in_step.is_set():
                self._log.info("stopping: waiting for the inference step in progress to end")
            self._worker.join()
            self._worker = None
        self._finish_refined()
        if self._diagnostics_timer is not None:
            self._node.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None

    def cleanup(self) -> None:
        """Release the publishers, services and the model (and its device memory), if configured."""
        if not self.configured:
            return
        for camera in self._cameras.values():
            camera.destroy_publishers(self._node)
        for service in self._reset_services:
            self._node.destroy_service(service)
        if self._diagnostics is not None:
            self._node.destroy_publisher(self._diagnostics)
        device = self._engine.device if self._engine is not None else None
        self._cameras, self._reset_services, self._diagnostics, self._engine = {}, [], None, None
        self._refined_engine = None
        release_device_memory(device)
        self._log.info("released the model and its device memory")

    def shutdown(self) -> None:
        """Undo whatever is done: deactivate, then clean up (the end of the node)."""
        self.deactivate()
        self.cleanup()

    def _finish_refined(self) -> None:
        """Finish and publish every camera's pending refined frames (the end of their streams), then stop them."""
        streams = [camera.refined for camera in self._cameras.values() if camera.refined is not None]
        if any(stream.stats.pending for stream in streams):
            self._log.info("stopping: finishing the refined depth of the frames still pending")
        for stream in streams:
            stream.close()
        for camera in self._cameras.values():
            camera.refined = None

    def _log_info(self, line: str) -> None:
        """The graph cache's reports (building, built, loaded) as INFO lines."""
        self._log.info(line)

    # --- configuration ----------------------------------------------------------------------------

    def _camera_names(self, cameras: tuple[str, ...]) -> list[str]:
        """The cameras to serve, each once ([""]: the node's own topics); StartupError naming an invalid one.

        Spellings of one namespace ('/a', 'a' in the root namespace, '/a/') are one camera: it is served once,
        as first spelled, and a warning names the duplicates.
        """
        spellings: dict[str, list[str]] = {}
        for name in cameras:
            problem = camera_name_problem(name)
            if problem is not None:
                raise StartupError(f"cameras: {name!r} is not a camera namespace: {problem}")
            spellings.setdefault(self._node.resolve_topic_name(name.rstrip("/")), []).append(name)
        for resolved, names in spellings.items():
            if len(names) > 1:
                self._log.warning(f"cameras: {', '.join(map(repr, names))} all name {resolved}: served once")
        return [names[0].rstrip("/") for names in spellings.values()] or [""]

    def _outputs_line(self, settings: DepthSettings) -> str:
        """What this configuration publishes, and why points are off while they are (a runtime parameter)."""
        depth = "depth/image (metres)" if self._metric else "depth/relative (relative inverse depth)"
        off = self._cloud_off(settings)
        points = f"points (advertised, {off})" if off else "points (with a calibrated CameraInfo, while subscribed)"
        where = "outputs of each camera" if settings.cameras else "outputs"
        line = (
            f"{where}: {depth}, depth/camera_info (with a CameraInfo), depth/colored (while subscribed), "
            f"depth/confidence (while subscribed), {points}"
        )
        if settings.refined:
            line += f"; refined depth under {REFINED} (depth, camera_info, points), {self._refined_line(settings)}"
        return line

    def _cloud_off(self, settings: DepthSettings) -> str | None:
        """Why the current parameters give no cloud at all (None: frames with intrinsics get one)."""
        return cloud_off_reason(self._metric, settings.outputs)

    # --- callbacks ------------------------------------------------------------------------------

    def _on_image(self, camera: CameraStream, msg: ImageMessage) -> None:
        """Hand the frame to the worker; an older frame of this camera still waiting there is dropped."""
        camera.counts["received"] += 1
        camera.input_rate.tick()
        if self._mailbox.put(camera.camera, (camera, msg)):
            camera.counts["dropped"] += 1

    def _on_reset_all(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        for camera in self._cameras.values():
            camera.refined_end_requested.set()  # first: the worker clears it when it takes the reset
            camera.reset_requested.set()
        response.success = True
        response.message = "the temporal cache is cleared before the next frame"
        return response

    def _on_reset(
        self, camera: CameraStream, _request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        camera.refined_end_requested.set()  # first: the worker clears it when it takes the reset
        camera.reset_requested.set()
        response.success = True
        response.message = f"the temporal cache of {camera.camera} is cleared before its next frame"
        return response

    # --- the worker: one batch at a time ------------------------------------------------------

    def _run_worker(self, max_batch: int) -> None:
        """Run batches until deactivated (checked between steps), or until the graph cache proves unusable."""
        while not self._stopping.is_set():
            batch = self._mailbox.take_batch(max_batch, timeout=0.2)
            self._end_refined_on_request({name for name, _ in batch})
            if not batch:
                continue
            self._in_step.set()
            try:
                self._process(batch)
            except Exception as error:  # noqa: BLE001 - one failed step must not end the stream
                if self._stopping.is_set():
                    return
                if self._cache_failed(error):
                    return
                self._record_failure(batch, error)
            finally:
                self._in_step.clear()

    def _end_refined_on_request(self, in_batch: set[str]) -> None:
        """End the refined streams a reset service asked to end, without waiting for the camera's next frame.

        A reset clears the streaming cache before the camera's next frame; the refined stream of a camera with
        no frame in this batch is ended now (within the worker's 0.2 s wait), so its pending frames are finished
        even if no frame follows. A camera with a frame in the batch is reset with that frame, refined included.
        """
        for name, camera in self._cameras.items():
            if name not in in_batch and camera.refined_end_requested.is_set():
                camera.refined_end_requested.clear()
                if camera.refined is not None:
                    camera.refined.end()

    def _cache_failed(self, error: Exception) -> bool:
        """Stop inference for good when a graph backend cannot write or read its cache; True if it did.

        Every frame would otherwise start the same graph build again (a full export each time, on a full disk)
        and fail the same way: one ERROR line and an ERROR diagnostic say what to change instead.
        """
        assert self._engine is not None
        backend = self._engine.backend
        if not (isinstance(error, (CacheError, OSError)) and isinstance(backend, GraphBackend)):
            return False
        self._stopped_for_good = (
            f"inference stopped: the {backend.name} backend cannot build its graphs in {backend.cache.root} "
            f"({error}); free space there or set the backend_cache parameter to another folder, then restart (or "
            "reactivate) the node"
        )
        self._log.error(self._stopped_for_good)
        return True

    def _record_failure(self, batch: Batch, error: Exception) -> None:
        """Count a failed step against its cameras and log its traceback (each kind at most once a period)."""
        topics = ", ".join(camera.image_topic for _, (camera, _msg) in batch)
        trace = "".join(traceback.format_exception(error)).rstrip()
        self._failure_log.log(f"inference failed on {topics}, frame skipped:\n{trace}")
        for _, (camera, _msg) in batch:
            camera.failures += 1
            camera.counts["failed"] += 1
            camera.last_failure = f"{type(error).__name__}: {error}"

    def _process(self, batch: Batch) -> None:
        """Decode every frame, run them through the model together, publish each camera's outputs."""
        settings = self._settings()
        ready: dict[str, tuple[CameraStream, ImageMessage, np.ndarray]] = {}
        for name, (camera, msg) in batch:
            rgb = self._to_rgb(camera, msg, settings.frames, settings.model.input_size)
            if rgb is not None:
                self._reset_if_discontinuous(camera, msg.header, rgb.shape[:2])
                ready[name] = (camera, msg, rgb)
        if not ready:
            return
        assert self._engine is not None
        started = time.perf_counter()
        predictions = self._engine.step_batch({name: rgb for name, (_, _, rgb) in ready.items()})
        elapsed = time.perf_counter() - started
        if self._stopping.is_set():
            return  # deactivated during the step: nothing more is published
        current = self._settings()  # the newest: a runtime change applies from this frame on
        for name, (camera, msg, rgb) in ready.items():
            camera.inference_time.add(elapsed)
            camera.failures = 0
            info = camera.camera_infos.lookup(msg.header.frame_id, stamp_ns(msg.header.stamp))
            self._publish_outputs(camera, msg.header, rgb, info, predictions[name], current)
            camera.counts["processed"] += 1
            camera.output_rate.tick()
            camera.end_to_end.add((self._node.get_clock().now().nanoseconds - stamp_ns(msg.header.stamp)) / 1e9)
            if camera.refined is not None:  # after the live outputs: refined depth never delays them
                camera.refined.push(rgb, RefinedFrame(msg.header, rgb, info))

    def _to_rgb(
        self, camera: CameraStream, msg: ImageMessage, frames: FrameSettings, input_size: int
    ) -> np.ndarray | None:
        """Decode to RGB and shrink to max_res; None (reported) for input that cannot be read.

        A frame the network cannot take (too elongated) is refused here, before batching, so that it
        cannot fail the other cameras' frames of its batch.
        """
        decode = compressed_to_rgb if isinstance(msg, CompressedImage) else image_to_rgb
        try:
            rgb = decode(msg, frames.max_image_pixels)
            width, height = scaled_size(rgb.shape[1], rgb.shape[0], frames.max_res)
            network_size(height, width, input_size)
        except (ImageConversionError, FrameSizeError) as error:
            camera.problems.add(f"bad image on {camera.image_topic}: {error}")
            return None
        if (width, height) != (rgb.shape[1], rgb.shape[0]):
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        return rgb

    def _reset_if_discontinuous(self, camera: CameraStream, header: Header, size: tuple[int, int]) -> None:
        """Clear the camera's temporal cache when asked to, or when this frame starts another stream."""
        reason = camera.continuity.check(header.frame_id, size, stamp_ns(header.stamp))
        if camera.reset_requested.is_set():
            camera.reset_requested.clear()
            camera.refined_end_requested.clear()
            reason = "requested on ~/reset" if len(self._cameras) == 1 else "requested on a reset service"
        if reason is None:
            return
        assert self._engine is not None
        self._engine.reset(camera.camera)
        if camera.refined is not None:
            camera.refined.end()
        camera.colors.reset()
        camera.cues.reset()
        camera.counts["resets"] += 1
        camera.last_reset = reason
        where = f"camera {camera.camera}: " if camera.camera else ""
        self._reset_log.log(f"{where}temporal cache reset: {reason}")

    # --- outputs ------------------------------------------------------------------------------

    def _publish_outputs(
        self,
        camera: CameraStream,
        header: Header,
        rgb: np.ndarray,
        info: CameraInfo | None,
        prediction: np.ndarray,
        settings: DepthSettings,
    ) -> None:
        """Depth, then the derived outputs somebody listens to, all with the image's header.

        The confidence's cues beside the geometry: the disagreement with this camera's previous frame.
        """
        outputs = settings.outputs
        want_confidence = camera.wanted("confidence")
        out = frame_outputs(
            rgb,
            prediction,
            metric=self._metric,
            settings=outputs,
            camera=camera_model(info) if info is not None else None,
            color_scale=camera.colors.scale(outputs) if camera.wanted("colored") else None,
            want_cloud=camera.wanted("points"),
            quality=settings.quality,
            want_confidence=want_confidence,
            confidence_factors=camera.cues.next_frame(prediction),
        )
        camera.cloud_state = out.cloud_state
        if out.problem is not None:
            camera.problems.add(out.problem)
        self._send(camera, "", out, header, info, want_confidence)

    def _publish_refined(self, camera: CameraStream, frame: RefinedFrame, depth: np.ndarray) -> None:
        """A frame's refined depth (from the refined stream's thread) on refined/: depth, camera_info and points.

        The depth rules are the live ones, read now (the flying-pixel filter and the cloud's settings); the
        problems they report were already reported for the frame's live outputs.
        """
        settings = self._settings()
        out = frame_outputs(
            frame.rgb,
            depth,
            metric=self._metric,
            settings=settings.outputs,
            camera=camera_model(frame.info) if frame.info is not None else None,
            want_cloud=camera.wanted("refined points"),
            quality=settings.quality,
        )
        self._send(camera, "refined ", out, frame.header, frame.info, want_confidence=False)
        camera.refined_rate.tick()

    def _refined_failed(self, camera: CameraStream, error: Exception) -> None:
        """A refined window or publication failed: its traceback in the log (each kind once a period)."""
        trace = "".join(traceback.format_exception(error)).rstrip()
        self._failure_log.log(f"refined depth failed on {camera.image_topic}, its frames skipped:\n{trace}")

    def _send(
        self,
        camera: CameraStream,
        prefix: str,
        out: FrameOutputs,
        header: Header,
        info: CameraInfo | None,
        want_confidence: bool,
    ) -> None:
        """Publish one frame's outputs on the live publishers (prefix '') or the refined ones ('refined ')."""
        publishers = camera.publishers
        self._publish(camera, publishers[prefix + "depth"], depth_to_msg(out.depth, header))
        if out.colored is not None:
            self._publish(camera, publishers[prefix + "colored"], bgr_to_msg(out.colored, header))
        if want_confidence and out.confidence is not None:
            self._publish(camera, publishers[prefix + "confidence"], depth_to_msg(out.confidence, header))
        if out.camera is not None:
            assert info is not None
            height, width = out.depth.shape
            self._publish(camera, publishers[prefix + "info"], depth_camera_info(info, header, width, height))
        if out.cloud is not None:
            self._publish(camera, publishers[prefix + "points"], points_to_cloud(out.cloud.xyz, header, out.cloud.rgb))

    def _publish(self, camera: CameraStream, publisher: Publisher, msg: object) -> None:
        """Publish; a reliable writer's full queue is the camera's problem, unless the node is stopping."""
        problem = try_publish(publisher, msg)
        if problem is not None and not self._stopping.is_set():
            camera.problems.add(problem)

    # --- diagnostics ----------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        """One status per camera (named as a single-camera node always was when there is one) and the model's."""
        assert self._engine is not None and self._diagnostics is not None
        settings = self._settings()
        fqn, device = self._node.get_fully_qualified_name(), str(self._engine.device)
        statuses = []
        cloud_off = self._cloud_off(settings)
        for camera in self._cameras.values():
            name = f"{fqn}: depth {camera.camera}" if camera.camera else f"{fqn}: depth"
            level, message = self._health(camera, settings.model.random_weights)
            values = camera.diagnostic_values(self._model_name)
            if cloud_off is not None:  # say why before the first frame too, and at once after a change
                values["point cloud"] = cloud_off
            statuses.append(diagnostic_status(name, device, level, message, values))
        batches = ", ".join(f"{size}: {count}" for size, count in sorted(self._engine.batch_sizes.items())) or "-"
        level, message = (
            (DiagnosticStatus.OK, self._model_name)
            if self._stopped_for_good is None
            else (DiagnosticStatus.ERROR, self._stopped_for_good)
        )
        statuses.append(
            diagnostic_status(
                f"{fqn}: model",
                device,
                level,
                message,
                {
                    "model": self._model_name,
                    "device": device,
                    "precision": self._engine.precision,
                    "backend": self._engine.backend.name,
                    "cameras": ", ".join(camera.image_topic for camera in self._cameras.values()),
                    "max batch": settings.max_batch,
                    "batches by size": batches,
                    "refined depth": self._refined_line(settings),
                },
            )
        )
        publish_diagnostics(self._node, self._diagnostics, statuses)  # a stalled reader: the next report follows

    def _refined_line(self, settings: DepthSettings) -> str:
        """Whether refined depth is on, and how its streams end."""
        if self._refined_engine is None:
            return "off"
        flush = settings.refined_flush_timeout
        ends = f"after {flush:g} s without a frame, " if flush > 0 else ""
        return f"on: windowed engine, about one window (31 frames) behind; streams end {ends}on resets and deactivation"

    def _health(self, camera: CameraStream, random_weights: bool) -> tuple[bytes, str]:
        """The camera's level and why: ERROR when inference stopped, or its last FAILURES_FOR_ERROR frames failed;
        WARN for random weights, a failed last frame or bad input since the last report; else OK."""
        if self._stopped_for_good is not None:
            return DiagnosticStatus.ERROR, self._stopped_for_good
        if camera.failures >= FAILURES_FOR_ERROR:
            return DiagnosticStatus.ERROR, (
                f"inference failing: the last {camera.failures} frames failed, last: {camera.last_failure}"
            )
        warnings = []
        if camera.failures:
            warnings.append(f"inference failed on the last frame: {camera.last_failure}")
        if random_weights:
            warnings.append("RANDOM WEIGHTS: depth is meaningless")
        if camera.refined is not None and camera.refined.stats.failed > camera.refined_failures_reported:
            camera.refined_failures_reported = camera.refined.stats.failed
            warnings.append(f"refined depth failed: {camera.refined.stats.last_failure}")
        problems = camera.problems.count
        if problems > camera.problems_at_last_report:
            warnings.append(f"bad input: {camera.problems.last}")
        camera.problems_at_last_report = problems
        if warnings:
            return DiagnosticStatus.WARN, "; ".join(warnings)
        if camera.counts["processed"] == 0:
            return DiagnosticStatus.OK, f"waiting for images on {camera.image_topic}"
        return DiagnosticStatus.OK, "streaming"


def release_device_memory(device: torch.device | None) -> None:
    """Give cached CUDA memory back to the driver once the model is gone (cleanup of a managed node)."""
    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()
