"""vda-process-bag's settings: its own options and the groups it shares with every node and tool, declared once.

The flags (`--image-topic T`), the ROS parameters of `ros2 run vda_ros process_bag --ros-args -p image_topic:=T`
and vda-process-bags' flags all come from BagSettings (vda_ros.core.options), so no surface can drift from
another. A recording does not use every option of the shared groups (it is never shrunk, its colours use one
range for the whole bag, its points are metric only): those are NOT_OFFERED, left off every surface and kept
at their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from vda_ros.core.depth_quality import DepthQualitySettings
from vda_ros.core.options import OptionError, Settings, Value, group, option
from vda_ros.core.outputs import OutputSettings
from vda_ros.core.settings import FrameSettings, ModelSettings
from vda_ros.io.bags import BAG_VERSIONS, DEFAULT_BAG_VERSION, STORAGES

PROG = "vda-process-bag"

NOT_OFFERED = (
    "max_res",
    "points_rgb",
    "min_depth",
    "max_depth",
    "relative_scale",
    "relative_shift",
    "color_smoothing",
)
"""Options of the shared groups that the bag tool does not offer: no flag, no parameter, always their default."""


@dataclass(frozen=True)
class BagSettings(Settings):
    """Every option of vda-process-bag. Empty strings mean "not given": ROS parameters have no None."""

    input: str = option("", "input rosbag2 bag: a directory, or one .mcap or .db3 file", positional=True)
    output: str = option("", "output bag directory (refused if it exists, unless --overwrite)", positional=True)
    image_topic: str = option("", "Image or CompressedImage topic (default: the bag's only image topic)")
    camera_info_topic: str = option("", "CameraInfo topic (default: camera_info beside the image, else the only one)")
    model: ModelSettings = group(ModelSettings)
    frames: FrameSettings = group(FrameSettings)
    storage: str = option(
        "",
        "output storage (default: the input's)",
        choices=("", *STORAGES),
        metavar="{" + ",".join(STORAGES) + "}",
    )
    bag_version: int = option(
        DEFAULT_BAG_VERSION,
        "rosbag2 format version: 8 plays on Humble and later, 9 on Jazzy and later",
        choices=BAG_VERSIONS,
    )
    copy_input: bool = option(False, "copy every input topic too, so the output plays on its own")
    outputs: OutputSettings = group(OutputSettings)
    quality: DepthQualitySettings = group(DepthQualitySettings)
    write_confidence: bool = option(
        False,
        "also write depth/confidence (32FC1 in [0, 1], higher = more trustworthy, same header and size as the "
        "depth): from the depth's geometry, its agreement with the previous frame and, with --align-topic, the "
        "fit's residual against the sparse data",
    )
    overwrite: bool = option(False, "replace an existing output")
    align_topic: str = option(
        "",
        "sparse metric topic (depth Image registered to the camera, or PointCloud2 in its optical frame): align "
        "the depth to it and write metric depth/image and points",
    )

    def check(self) -> None:
        """The groups' rules, and a fixed colour range that is a range: one bag has one colour scale."""
        super().check()
        low, high = self.outputs.color_min, self.outputs.color_max
        if (low or high) and not low < high:
            raise OptionError(f"color_max must be greater than color_min, got {low} and {high}")

    def offered(self) -> dict[str, Value]:
        """The values of the options this tool offers (what its summaries and manifests record)."""
        return {name: value for name, value in self.values().items() if name not in NOT_OFFERED}
