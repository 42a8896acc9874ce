"""depth_node: live, temporally consistent depth from one camera, or from several through one model.

The path of one frame: Image (or CompressedImage) -> RGB array -> BatchedStreamingDepth.step_batch ->
vda_ros.core.outputs (depth values, colour, depth intrinsics, cloud) -> messages. This module only wires
the pieces together and owns the threading: each camera's subscription drops its image into that
camera's one-frame slot and returns at once, and one worker thread runs the model on the newest frame
of every camera that has one (up to max_batch cameras per forward pass, round robin), so a camera
faster than the model costs dropped frames, never a growing delay, and no camera starves another.
"""

from __future__ import annotations

import gc
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from vda_ros.core.options import OPTIONS, resolve_precision
from vda_ros.core.outputs import OutputSettings, cloud_off_reason, frame_outputs
from vda_ros.errors import VdaError
from vda_ros.io.media import scaled_size
from vda_ros.model import (
    ENCODERS,
    BackendError,
    BatchedStreamingDepth,
    CacheError,
    CheckpointError,
    FrameSizeError,
    default_checkpoint,
    open_model,
    select_device,
)
from vda_ros.model.backends import check_backend_cache
from vda_ros.model.backends.base import GraphBackend
from vda_ros.model.preprocess import network_size
from vda_ros.nodes.camera_mailbox import CameraMailbox
from vda_ros.nodes.camera_stream import CameraStream, ImageMessage, camera_name_problem, reset_service_name
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
from vda_ros.ros.diagnostics import diagnostic_status
from vda_ros.ros.node_main import run_node
from vda_ros.ros.parameters import ParameterSpec, ParameterTable, ParameterValue
from vda_ros.ros.qos import RELIABILITIES, qos_profile
from vda_ros.ros.stream_state import LogLimiter

NODE_NAME = "depth_node"
RELIABILITY_CHOICES = tuple(RELIABILITIES)
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

PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "checkpoint",
        "",
        "Checkpoint file (.pth). Empty: the official file name for encoder and "
        "metric in $VDA_CHECKPOINT_DIR, else ./checkpoints (vda-download-weights puts it there).",
    ),
    ParameterSpec("encoder", "vits", "Model size; must match the checkpoint.", choices=tuple(ENCODERS)),
    ParameterSpec(
        "metric",
        False,
        "Metric-depth model (metres on depth/image) instead of relative inverse depth (depth/relative).",
    ),
    ParameterSpec("random_weights", False, "Smoke test without a checkpoint: random weights, meaningless depth."),
    ParameterSpec(
        "device", "auto", "Inference device; auto takes CUDA when available.", choices=("auto", "cuda", "cpu")
    ),
    ParameterSpec.shared(OPTIONS["precision"]),
    ParameterSpec.shared(OPTIONS["backend"]),
    ParameterSpec.shared(OPTIONS["backend_cache"]),
    ParameterSpec.shared(OPTIONS["input_size"]),
    ParameterSpec.shared(OPTIONS["max_res"]),
    ParameterSpec.shared(OPTIONS["max_image_pixels"]),
    ParameterSpec(
        "image_transport",
        "raw",
        "raw: subscribe to image (sensor_msgs/Image); compressed: to "
        "image/compressed (sensor_msgs/CompressedImage, JPEG or PNG).",
        choices=("raw", "compressed"),
    ),
    ParameterSpec(
        "input_reliability",
        "best_effort",
        "Reliability of the image and camera_info subscriptions (best_effort hears every publisher).",
        choices=RELIABILITY_CHOICES,
    ),
    ParameterSpec("input_queue_depth", 1, "Queue depth of the input subscriptions.", int_range=(1, 100, 0)),
    ParameterSpec(
        "output_reliability",
        "reliable",
        "Reliability of the publications (reliable is heard by every subscriber).",
        choices=RELIABILITY_CHOICES,
    ),
    ParameterSpec("output_queue_depth", 2, "Queue depth of the publications.", int_range=(1, 100, 0)),
    ParameterSpec.shared(OPTIONS["publish_points"], read_only=False),
    ParameterSpec.shared(OPTIONS["points_stride"], read_only=False),
    ParameterSpec("points_rgb", True, "Add the image colour to each point (rgb field).", read_only=False),
    ParameterSpec(
        "min_depth", 0.0, "Points nearer than this (metres) are NaN.", read_only=False, float_range=(0.0, 10000.0)
    ),
    ParameterSpec(
        "max_depth",
        0.0,
        "Points farther than this (metres) are NaN; 0: no limit.",
        read_only=False,
        float_range=(0.0, 10000.0),
    ),
    ParameterSpec(
        "relative_scale",
        0.0,
        "Relative model only: metric depth = 1 / (relative_scale * relative + "
        "relative_shift) for the point cloud; 0 disables the cloud.",
        read_only=False,
        float_range=(0.0, 1.0e6),
    ),
    ParameterSpec(
        "relative_shift", 0.0, "Relative model only: see relative_scale.", read_only=False, float_range=(-1.0e6, 1.0e6)
    ),
    ParameterSpec.shared(OPTIONS["color_min"], read_only=False),
    ParameterSpec.shared(OPTIONS["color_max"], read_only=False),
    ParameterSpec(
        "color_smoothing",
        0.05,
        "How fast an automatic colour range follows the data (1: every frame, flickers).",
        read_only=False,
        float_range=(0.001, 1.0),
    ),
    ParameterSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", float_range=(0.1, 60.0)),
    ParameterSpec(
        "cameras",
        (),
        "Camera namespaces served by this one node and model, e.g. ['/front', '/left']: "
        "each camera's <cam>/image and <cam>/camera_info in, <cam>/depth/... and <cam>/points out. "
        "Empty: one camera on the node's own relative topics.",
    ),
    ParameterSpec(
        "max_batch",
        4,
        "Most cameras run in one forward pass; more waiting cameras are served round robin.",
        int_range=(1, 64, 0),
    ),
)


class StartupError(VdaError, RuntimeError):
    """The node cannot run with its parameters (missing checkpoint, unavailable device)."""


def check_depth_limits(values: Mapping[str, ParameterValue]) -> str | None:
    """Reject a depth window that keeps nothing (min above a set max)."""
    low, high = values.get("min_depth", 0.0), values.get("max_depth", 0.0)
    if high and low > high:
        return f"min_depth {low} is greater than max_depth {high}"
    return None


def load_engine(values: Mapping[str, ParameterValue], log: Callable[[str], None]) -> tuple[BatchedStreamingDepth, str]:
    """Build the streaming engine the parameters ask for, and a one-line description of the model.

    Errors the user can fix become StartupError with what to do next. `log` gets the graph cache's reports
    (a backend other than torch builds its graphs on the first frame of each size, once per machine).
    """
    encoder, metric = str(values["encoder"]), bool(values["metric"])
    cache_dir = Path(str(values["backend_cache"])) if values["backend_cache"] else None
    try:  # before the model loads: the cache itself would find out only when the first frame builds a graph
        check_backend_cache(str(values["backend"]), cache_dir)
    except CacheError as error:
        raise StartupError(f"backend_cache: {error}") from error
    try:
        model = open_model(values["checkpoint"] or None, encoder, metric, bool(values["random_weights"]))
    except CheckpointError as error:
        raise StartupError(
            f"{error}\nSet the 'checkpoint' parameter to the file, or random_weights:=true "
            "for a smoke test with meaningless depth."
        ) from error
    if values["random_weights"]:
        source = "RANDOM WEIGHTS"
    else:
        source = str(values["checkpoint"] or default_checkpoint(encoder, metric))
    try:
        device = select_device(str(values["device"]))
    except (RuntimeError, ValueError) as error:
        raise StartupError(str(error)) from error
    try:
        engine = BatchedStreamingDepth(
            model,
            input_size=int(values["input_size"]),
            device=device,
            precision=resolve_precision(str(values["precision"])),
            backend=str(values["backend"]),
            cache_dir=cache_dir,
            log=log,
        )
    except BackendError as error:
        raise StartupError(f"backend {values['backend']}: {error}") from error
    family = "metric" if metric else "relative"
    return engine, f"{encoder} {family} ({source}), {engine.backend.describe()} on {engine.device}"


class DepthCore:
    """Everything the plain and the managed (lifecycle) node share, in the order the lifecycle needs it.

    configure: model and publishers; activate: subscriptions, inference thread, diagnostics; deactivate
    undoes activate, cleanup undoes configure. The plain node runs configure and activate at start-up.
    Mixed into an rclpy Node or LifecycleNode.
    """

    def _declare(self: Any) -> None:
        self._params = ParameterTable(self, PARAMETERS, validate=check_depth_limits)
        self._engine: BatchedStreamingDepth | None = None
        self._cameras: dict[str, CameraStream] = {}
        self._reset_services: list[Any] = []
        self._worker: threading.Thread | None = None
        self._diagnostics_timer: Any = None
        self._diagnostics: Publisher | None = None
        self._stopping = threading.Event()
        self._in_step = threading.Event()
        self._stopped_for_good: str | None = None
        self._mailbox: CameraMailbox[str, tuple[CameraStream, ImageMessage]] = CameraMailbox([])

    # --- lifecycle steps ------------------------------------------------------------------------

    def _configure(self: Any) -> None:
        """Load the model and create the publishers and reset services; StartupError if the model cannot load."""
        values = self._params.values
        names = self._camera_names()
        self._engine, self._model_name = load_engine(values, self.get_logger().info)
        if values["random_weights"]:
            self.get_logger().warning(RANDOM_WEIGHTS_WARNING)
        self._metric = self._engine.metric
        self._max_res = int(values["max_res"])
        self._max_pixels = int(values["max_image_pixels"])
        self._input_size = int(values["input_size"])
        self._max_batch = int(values["max_batch"])
        self._reset_log = LogLimiter(self.get_logger().info, RESET_LOG_PERIOD)
        self._failure_log = LogLimiter(self.get_logger().error, FAILURE_LOG_PERIOD)
        compressed = values["image_transport"] == "compressed"
        self._cameras = {name: CameraStream(self, name, self._metric, compressed) for name in names}
        qos = qos_profile(str(values["output_reliability"]), int(values["output_queue_depth"]))
        for camera in self._cameras.values():
            camera.create_publishers(self, qos)
        self._reset_services = [self.create_service(Trigger, "~/reset", self._on_reset_all)]
        if values["cameras"]:
            self._reset_services += [
                self.create_service(
                    Trigger,
                    reset_service_name(name),
                    lambda request, response, camera=camera: self._on_reset(camera, response),
                )
                for name, camera in self._cameras.items()
            ]
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.get_logger().info(self._outputs_line())

    def _outputs_line(self: Any) -> str:
        """What this configuration publishes, and why points are off while they are (a runtime parameter)."""
        depth = "depth/image (metres)" if self._metric else "depth/relative (relative inverse depth)"
        off = self._cloud_off()
        points = f"points (advertised, {off})" if off else "points (with a calibrated CameraInfo, while subscribed)"
        where = "outputs of each camera" if self._params.values["cameras"] else "outputs"
        return f"{where}: {depth}, depth/camera_info (with a CameraInfo), depth/colored (while subscribed), {points}"

    def _cloud_off(self: Any) -> str | None:
        """Why the current parameters give no cloud at all (None: frames with intrinsics get one)."""
        return cloud_off_reason(self._metric, OutputSettings.from_values(self._params.values))

    def _camera_names(self: Any) -> list[str]:
        """The cameras to serve, each once ([""]: the node's own topics); StartupError naming an invalid one.

        Spellings of one namespace ('/a', 'a' in the root namespace, '/a/') are one camera: it is served once,
        as first spelled, and a warning names the duplicates.
        """
        spellings: dict[str, list[str]] = {}
        for name in self._params.values["cameras"]:
            problem = camera_name_problem(name)
            if problem is not None:
                raise StartupError(f"cameras: {name!r} is not a camera namespace: {problem}")
            spellings.setdefault(self.resolve_topic_name(name.rstrip("/")), []).append(name)
        for resolved, names in spellings.items():
            if len(names) > 1:
                self.get_logger().warning(f"cameras: {', '.join(map(repr, names))} all name {resolved}: served once")
        return [names[0].rstrip("/") for names in spellings.values()] or [""]

    def _activate(self: Any) -> None:
        """Subscribe, start the inference thread and the diagnostics."""
        values = self._params.values
        self._stopping.clear()
        self._stopped_for_good = None  # activating again retries what stopped inference
        self._mailbox = CameraMailbox(list(self._cameras))
        qos = qos_profile(str(values["input_reliability"]), int(values["input_queue_depth"]))
        for camera in self._cameras.values():
            camera.subscribe(self, qos, self._on_image)
        self._diagnostics_timer = self.create_timer(float(values["diagnostics_period"]), self._publish_diagnostics)
        self._worker = threading.Thread(target=self._run_worker, name="depth_inference", daemon=True)
        self._worker.start()
        inputs = ", ".join(
            f"{c.image_topic} and {self.resolve_topic_name(c.info_topic)}" for c in self._cameras.values()
        )
        self.get_logger().info(f"model {self._model_name}; listening on {inputs}")

    def _deactivate(self: Any) -> None:
        """Stop listening and inferring: nothing is published until activated again.

        Returns only once the worker has ended, so that cleanup never releases what a step still uses. A step
        in progress (a first frame that builds graphs can take minutes) is waited for, then its outputs are
        dropped; the worker takes no frame after it.
        """
        for camera in self._cameras.values():
            camera.unsubscribe(self)
        self._stopping.set()
        self._mailbox.close()
        if self._worker is not None:
            if self._in_step.is_set():
                self.get_logger().info("stopping: waiting for the inference step in progress to end")
            self._worker.join()
            self._worker = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None

    def _cleanup(self: Any) -> None:
        """Release the publishers, services and the model (and its device memory)."""
        for camera in self._cameras.values():
            camera.destroy_publishers(self)
        for service in self._reset_services:
            self.destroy_service(service)
        if self._diagnostics is not None:
            self.destroy_publisher(self._diagnostics)
        device = self._engine.device if self._engine is not None else None
        self._cameras, self._reset_services, self._diagnostics, self._engine = {}, [], None, None
        release_device_memory(device)
        if device is not None:
            self.get_logger().info("released the model and its device memory")

    # --- callbacks ------------------------------------------------------------------------------

    def _on_image(self: Any, camera: CameraStream, msg: ImageMessage) -> None:
        """Hand the frame to the worker; an older frame of this camera still waiting there is dropped."""
        camera.counts["received"] += 1
        camera.input_rate.tick()
        if self._mailbox.put(camera.camera, (camera, msg)):
            camera.counts["dropped"] += 1

    def _on_reset_all(self: Any, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        for camera in self._cameras.values():
            camera.reset_requested.set()
        response.success = True
        response.message = "the temporal cache is cleared before the next frame"
        return response

    def _on_reset(self: Any, camera: CameraStream, response: Trigger.Response) -> Trigger.Response:
        camera.reset_requested.set()
        response.success = True
        response.message = f"the temporal cache of {camera.camera} is cleared before its next frame"
        return response

    # --- the worker: one batch at a time ------------------------------------------------------

    def _run_worker(self: Any) -> None:
        """Run batches until deactivated (checked between steps), or until the graph cache proves unusable."""
        while not self._stopping.is_set():
            batch = self._mailbox.take_batch(self._max_batch, timeout=0.2)
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

    def _cache_failed(self: Any, error: Exception) -> bool:
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
        self.get_logger().error(self._stopped_for_good)
        return True

    def _record_failure(
        self: Any, batch: list[tuple[str, tuple[CameraStream, ImageMessage]]], error: Exception
    ) -> None:
        """Count a failed step against its cameras and log its traceback (each kind at most once a period)."""
        topics = ", ".join(camera.image_topic for _, (camera, _msg) in batch)
        trace = "".join(traceback.format_exception(error)).rstrip()
        self._failure_log.log(f"inference failed on {topics}, frame skipped:\n{trace}")
        for _, (camera, _msg) in batch:
            camera.failures += 1
            camera.counts["failed"] += 1
            camera.last_failure = f"{type(error).__name__}: {error}"

    def _process(self: Any, batch: list[tuple[str, tuple[CameraStream, ImageMessage]]]) -> None:
        """Decode every frame, run them through the model together, publish each camera's outputs."""
        ready: dict[str, tuple[CameraStream, ImageMessage, np.ndarray]] = {}
        for name, (camera, msg) in batch:
            rgb = self._to_rgb(camera, msg)
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
        settings = OutputSettings.from_values(self._params.values)
        for name, (camera, msg, rgb) in ready.items():
            camera.inference_time.add(elapsed)
            camera.failures = 0
            self._publish_outputs(camera, msg.header, rgb, predictions[name], settings)
            camera.counts["processed"] += 1
            camera.output_rate.tick()
            camera.end_to_end.add((self.get_clock().now().nanoseconds - stamp_ns(msg.header.stamp)) / 1e9)

    def _to_rgb(self: Any, camera: CameraStream, msg: ImageMessage) -> np.ndarray | None:
        """Decode to RGB and shrink to max_res; None (reported) for input that cannot be read.

        A frame the network cannot take (too elongated) is refused here, before batching, so that it
        cannot fail the other cameras' frames of its batch.
        """
        decode = compressed_to_rgb if isinstance(msg, CompressedImage) else image_to_rgb
        try:
            rgb = decode(msg, self._max_pixels)
            width, height = scaled_size(rgb.shape[1], rgb.shape[0], self._max_res)
            network_size(height, width, self._input_size)
        except (ImageConversionError, FrameSizeError) as error:
            camera.problems.add(f"bad image on {camera.image_topic}: {error}")
            return None
        if (width, height) != (rgb.shape[1], rgb.shape[0]):
            rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        return rgb

    def _reset_if_discontinuous(self: Any, camera: CameraStream, header: Header, size: tuple[int, int]) -> None:
        """Clear the camera's temporal cache when asked to, or when this frame starts another stream."""
        reason = camera.continuity.check(header.frame_id, size, stamp_ns(header.stamp))
        if camera.reset_requested.is_set():
            camera.reset_requested.clear()
            reason = "requested on ~/reset" if len(self._cameras) == 1 else "requested on a reset service"
        if reason is None:
            return
        assert self._engine is not None
        self._engine.reset(camera.camera)
        camera.colors.reset()
        camera.counts["resets"] += 1
        camera.last_reset = reason
        where = f"camera {camera.camera}: " if camera.camera else ""
        self._reset_log.log(f"{where}temporal cache reset: {reason}")

    # --- outputs ------------------------------------------------------------------------------

    def _publish_outputs(
        self: Any,
        camera: CameraStream,
        header: Header,
        rgb: np.ndarray,
        prediction: np.ndarray,
        settings: OutputSettings,
    ) -> None:
        """Depth, then the derived outputs somebody listens to, all with the image's header."""
        info = camera.camera_infos.lookup(header.frame_id, stamp_ns(header.stamp))
        out = frame_outputs(
            rgb,
            prediction,
            metric=self._metric,
            settings=settings,
            camera=camera_model(info) if info is not None else None,
            color_scale=camera.colors.scale(settings) if camera.wanted("colored") else None,
            want_cloud=camera.wanted("points"),
        )
        camera.cloud_state = out.cloud_state
        if out.problem is not None:
            camera.problems.add(out.problem)
        publishers = camera.publishers
        self._publish(camera, publishers["depth"], depth_to_msg(out.depth, header))
        if out.colored is not None:
            self._publish(camera, publishers["colored"], bgr_to_msg(out.colored, header))
        if out.camera is not None:
            assert info is not None
            height, width = out.depth.shape
            self._publish(camera, publishers["info"], depth_camera_info(info, header, width, height))
        if out.cloud is not None:
            self._publish(camera, publishers["points"], points_to_cloud(out.cloud.xyz, header, out.cloud.rgb))

    def _publish(self: Any, camera: CameraStream, publisher: Publisher, msg: object) -> None:
        """Publish, tolerating a reliable writer's full queue (a stalled subscriber must not stop us)."""
        try:
            publisher.publish(msg)
        except RuntimeError as error:  # rclpy's RCLError is a RuntimeError
            if not self._stopping.is_set():
                camera.problems.add(f"could not publish on {publisher.topic_name}: {error}")

    # --- diagnostics ----------------------------------------------------------------------------

    def _publish_diagnostics(self: Any) -> None:
        """One status per camera (named as a single-camera node always was when there is one) and the model's."""
        assert self._engine is not None and self._diagnostics is not None
        fqn, device = self.get_fully_qualified_name(), str(self._engine.device)
        statuses = []
        cloud_off = self._cloud_off()
        for camera in self._cameras.values():
            name = f"{fqn}: depth {camera.camera}" if camera.camera else f"{fqn}: depth"
            level, message = self._health(camera)
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
                    "max batch": self._max_batch,
                    "batches by size": batches,
                },
            )
        )
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        try:
            self._diagnostics.publish(array)
        except RuntimeError:
            pass  # a stalled /diagnostics reader: the next report follows

    def _health(self: Any, camera: CameraStream) -> tuple[bytes, str]:
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
        if self._params.values["random_weights"]:
            warnings.append("RANDOM WEIGHTS: depth is meaningless")
        problems = camera.problems.count
        if problems > camera.problems_at_last_report:
            warnings.append(f"bad input: {camera.problems.last}")
        camera.problems_at_last_report = problems
        if warnings:
            return DiagnosticStatus.WARN, "; ".join(warnings)
        if camera.counts["processed"] == 0:
            return DiagnosticStatus.OK, f"waiting for images on {camera.image_topic}"
        return DiagnosticStatus.OK, "streaming"


def release_device_memory(device: Any) -> None:
    """Give cached CUDA memory back to the driver once the model is gone (cleanup of a managed node)."""
    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()


class DepthNode(DepthCore, Node):
    """Subscribes to one or several cameras and publishes depth, colourised depth, CameraInfo and points."""

    def __init__(self) -> None:
        Node.__init__(self, NODE_NAME)
        self._declare()
        self._configure()
        self._activate()

    def close(self) -> None:
        """Stop the worker before the node goes away, so it never publishes on a destroyed node."""
        self._deactivate()


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C or shutdown; exit 1 with a clear message when it cannot start."""
    node = run_node(NODE_NAME, args, DepthNode, rclpy.spin, (StartupError, InvalidParameterValueException))
    return 1 if node is None else 0


if __name__ == "__main__":
    raise SystemExit(main())
