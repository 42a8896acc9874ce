"""video_source: a video file or a camera device published as `image` + `camera_info`.

Stands in for a camera driver in demos and tests, so the depth pipeline can be run end to end
on a machine without a camera: frames go out at the video's own rate (or a chosen one), each
image with a CameraInfo of the same header, as a real driver would publish them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from vda_ros.core.options import Settings, group, option
from vda_ros.core.settings import FrameSettings
from vda_ros.errors import VdaError
from vda_ros.io.media import scaled_size
from vda_ros.ros.conversions import rgb_to_msg, scale_camera_info
from vda_ros.ros.node_main import run_node
from vda_ros.ros.parameters import ParameterTable
from vda_ros.ros.qos import OutputQosSettings

NODE_NAME = "video_source"
FALLBACK_FPS = 30.0
"""Rate used when neither the parameter nor the source gives one (many webcams report 0)."""
DELIVERY_TIMEOUT = 5.0
"""Seconds an ending video waits for reliable subscribers to acknowledge its last frames."""


@dataclass(frozen=True)
class VideoSourceSettings(Settings):
    """Every parameter of video_source (all read at start-up).

    The publications' QoS was `reliability` and `queue_depth`: they are output_reliability and output_queue_depth,
    as on every node, and the old names still work (with a warning).
    """

    source: str = option("", "Video file path, or a camera device index (0, 1, ...).")
    loop: bool = option(True, "Start a video file again when it ends (stamps keep increasing); false: exit.")
    fps: float = option(0.0, "Publishing rate; 0: the source's own rate.", float_range=(0.0, 1000.0))
    frame_id: str = option(
        "camera_optical_frame", "frame_id of image and camera_info (an optical frame: x right, y down, z forward)."
    )
    frames: FrameSettings = group(FrameSettings)
    """Only max_res applies: frames come from a decoder, not from messages (OFFERED_FRAME_OPTIONS)."""
    encoding: str = option("rgb8", "Encoding of the published images.", choices=("rgb8", "bgr8"))
    fx: float = option(
        0.0, "Focal length in pixels at the source's resolution; 0: from horizontal_fov.", float_range=(0.0, 1.0e6)
    )
    fy: float = option(0.0, "Vertical focal length in pixels; 0: same as fx.", float_range=(0.0, 1.0e6))
    cx: float = option(0.0, "Principal point x in pixels; 0: the image centre.", float_range=(0.0, 1.0e6))
    cy: float = option(0.0, "Principal point y in pixels; 0: the image centre.", float_range=(0.0, 1.0e6))
    horizontal_fov: float = option(
        60.0, "Horizontal field of view in degrees, used when fx is 0.", float_range=(1.0, 179.0)
    )
    qos: OutputQosSettings = group(OutputQosSettings)
    wait_for_subscribers: int = option(
        0,
        "Hold the first frame until this many subscriptions matched on image and on camera_info (a short clip "
        "played once is otherwise over before discovery ends); 0: publish at once.",
        int_range=(0, 100, 0),
    )

    @property
    def camera_device(self) -> bool:
        """Whether source is a camera device index rather than a video file."""
        return self.source.isdigit()


UNUSED_FRAME_OPTIONS = ("max_image_pixels",)
"""A limit on the pixels of received images: this node receives none."""
MAX_RES_HELP = "Shrink frames whose longer side exceeds this (camera_info is scaled with them); 0: never."


class SourceError(VdaError, RuntimeError):
    """The source cannot be opened or read; the message names it."""


def open_capture(source: str) -> cv2.VideoCapture:
    """Open a video file, or a camera when source is a device index."""
    if not source:
        raise SourceError("parameter 'source' is empty: give a video file or a camera index (source:=0)")
    capture = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not capture.isOpened():
        kind = "camera device" if source.isdigit() else "video file (missing, or a format OpenCV cannot decode)"
        raise SourceError(f"cannot open {kind}: {source}")
    return capture


def camera_info(width: int, height: int, settings: VideoSourceSettings) -> CameraInfo:
    """A distortion-free pinhole CameraInfo for width x height images from the intrinsics parameters.

    Unset focal lengths follow from the field of view; an unset principal point is the centre of
    the pixel grid ((width - 1) / 2 with pixel centres at integer coordinates).
    """
    fx = settings.fx or (width / 2.0) / math.tan(math.radians(settings.horizontal_fov) / 2.0)
    fy = settings.fy or fx
    cx = settings.cx or (width - 1) / 2.0
    cy = settings.cy or (height - 1) / 2.0
    return CameraInfo(
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


class VideoSource(Node):
    """Publishes the source's frames at a steady rate with a matching CameraInfo."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self._params = ParameterTable(
            self, VideoSourceSettings, exclude=UNUSED_FRAME_OPTIONS, help_overrides={"max_res": MAX_RES_HELP}
        )
        self._settings = settings = self._params.settings  # every option here is read once
        self._capture = open_capture(settings.source)
        self._info: CameraInfo | None = None
        self._waiting_for = settings.wait_for_subscribers
        self.finished = False
        self.failed = False

        self._image_pub = self.create_publisher(Image, "image", settings.qos.output)
        self._info_pub = self.create_publisher(CameraInfo, "camera_info", settings.qos.output)
        fps = settings.fps or self._capture.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
        self._timer = self.create_timer(1.0 / fps, self._publish_next)
        where = self.resolve_topic_name("image")
        self.get_logger().info(f"publishing {settings.source} at {fps:.2f} Hz on {where}")
        if self._waiting_for:
            self.get_logger().info(f"waiting for {self._waiting_for} subscriptions on image and camera_info")

    def _publish_next(self) -> None:
        if self._waiting_for:
            matched = min(self._image_pub.get_subscription_count(), self._info_pub.get_subscription_count())
            if matched < self._waiting_for:
                return
            self._waiting_for = 0
        bgr = self._next_frame()
        if bgr is None:
            self._timer.cancel()
            self._deliver_published()
            self.finished = True
            return
        native_size = (bgr.shape[1], bgr.shape[0])
        size = scaled_size(*native_size, self._settings.frames.max_res)
        rgb = cv2.cvtColor(
            bgr if size == native_size else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
        )
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self._settings.frame_id)
        self._image_pub.publish(rgb_to_msg(rgb, header, self._settings.encoding))
        self._info_pub.publish(self._camera_info(native_size, size, header))

    def _next_frame(self) -> np.ndarray | None:
        """The next BGR frame as decoded; None when the source is done (or failed)."""
        source = self._settings.source
        ok, bgr = self._capture.read()
        if not ok and self._settings.loop and not self._settings.camera_device:
            self.get_logger().info(f"end of {source}: looping")
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._capture.read()
        if ok:
            return bgr
        self.failed = self._settings.camera_device
        if self.failed:
            self.get_logger().error(f"camera {source} stopped delivering frames")
        else:
            self.get_logger().info(f"end of {source}")
        return None

    def _camera_info(self, native_size: tuple[int, int], size: tuple[int, int], header: Header) -> CameraInfo:
        """The intrinsics (given at the source's resolution) scaled to the published size, with header.

        Built on the first frame, because a camera may not report its resolution before it delivers.
        """
        if self._info is None or (self._info.width, self._info.height) != size:
            self._info = scale_camera_info(camera_info(*native_size, self._settings), *size)
        self._info.header = header
        return self._info

    def _deliver_published(self) -> None:
        """Wait until reliable subscribers have the last frames: the process is about to exit with them."""
        for publisher in (self._image_pub, self._info_pub):
            if not publisher.wait_for_all_acked(Duration(seconds=DELIVERY_TIMEOUT)):
                self.get_logger().warning(f"not every subscriber of {publisher.topic_name} got the last frames")

    def close(self) -> None:
        self._capture.release()


def spin_until_finished(node: VideoSource) -> None:
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not node.finished:
        executor.spin_once(timeout_sec=0.1)


def main(args: list[str] | None = None) -> int:
    """Publish until the video ends (loop:=false), Ctrl-C or shutdown; exit 1 if the source fails."""
    node = run_node(NODE_NAME, args, VideoSource, spin_until_finished, (SourceError, InvalidParameterValueException))
    return 1 if node is None or node.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
