"""The settings of depth_node and managed_depth_node: each option declared once, its parameter derived from it.

The model, frame, QoS, output, depth quality and diagnostics options are the groups every node and tool shares;
the options below are depth_node's own. `ros2 param describe /depth_node <name>` shows each one's help and limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from vda_ros.core.depth_quality import DepthQualitySettings
from vda_ros.core.options import Settings, group, option
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import FrameSettings, ModelSettings
from vda_ros.ros.diagnostics import DiagnosticsSettings
from vda_ros.ros.qos import QosSettings

IMAGE_TRANSPORTS = ("raw", "compressed")


@dataclass(frozen=True)
class DepthSettings(Settings):
    """Every parameter of depth_node; the output options may change while it runs, the others are read once."""

    model: ModelSettings = group(ModelSettings)
    frames: FrameSettings = group(FrameSettings)
    image_transport: str = option(
        "raw",
        "raw: subscribe to image (sensor_msgs/Image); compressed: to image/compressed (sensor_msgs/CompressedImage, "
        "JPEG or PNG).",
        choices=IMAGE_TRANSPORTS,
    )
    qos: QosSettings = group(QosSettings)
    outputs: OutputSettings = group(OutputSettings)
    quality: DepthQualitySettings = group(DepthQualitySettings)
    diagnostics: DiagnosticsSettings = group(DiagnosticsSettings)
    cameras: tuple[str, ...] = option(
        (),
        "Camera namespaces served by this one node and model, e.g. ['/front', '/left']: each camera's <cam>/image "
        "and <cam>/camera_info in, <cam>/depth/... and <cam>/points out. Empty: one camera on the node's own "
        "relative topics.",
    )
    max_batch: int = option(
        4, "Most cameras run in one forward pass; more waiting cameras are served round robin.", int_range=(1, 64, 0)
    )
    refined: bool = option(
        False,
        "Also run the windowed (offline) model on every processed frame, on its own thread, and publish each "
        "frame's more accurate depth under refined/ with the frame's header, about one window (31 frames) later.",
    )
    refined_flush_timeout: float = option(
        2.0,
        "Seconds without a processed frame after which a camera's refined stream ends (or five of the stream's "
        "recent frame intervals, if longer): its last frames are finished the way the offline mode ends a video. "
        "0: only a reset, a new stream or deactivation end it.",
        float_range=(0.0, 3600.0),
    )

    @property
    def compressed(self) -> bool:
        """Whether the cameras are read as CompressedImage."""
        return self.image_transport == "compressed"


@dataclass(frozen=True)
class ManagedDepthSettings(DepthSettings):
    """managed_depth_node: depth_node's parameters and whether it brings itself up."""

    autostart: bool = option(False, "Configure and activate at start-up.")
