"""vda-process-bag's options, defined once and read from either surface: the command line or ROS parameters.

The flags (`--image-topic T`) and the parameters of `ros2 run vda_ros process_bag --ros-args -p
image_topic:=T` are both built from the fields of Options, so the two cannot drift apart;
vda-process-bags adds the same flags through add_arguments.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import Field, dataclass, field, fields
from typing import Any

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

from vda_ros.core.options import DEFAULT_MAX_IMAGE_PIXELS, OPTIONS, deprecation_note, resolve_precision
from vda_ros.errors import UsageError
from vda_ros.io.bags import BAG_VERSIONS, DEFAULT_BAG_VERSION, STORAGES
from vda_ros.model import DEFAULT_ENCODER, ENCODERS, BackendError, check_backend, input_size_problem

PROG = "vda-process-bag"
NODE_NAME = "process_bag"


def _option(help_text: str, choices: tuple[Any, ...] = (), positional: bool = False) -> dict[str, Any]:
    """Field metadata from which both the command-line flag and the ROS parameter are built."""
    return {"help": help_text, "choices": choices, "positional": positional}


def _shared(name: str) -> dict[str, Any]:
    """Field metadata of an option every tool shares (vda_ros.core.options): one name, one meaning."""
    return _option(OPTIONS[name].help, OPTIONS[name].choices)


@dataclass(frozen=True)
class Options:
    """Every option of the tool, defined once.

    The command line (`--image-topic T`) and the ROS parameters (`-p image_topic:=T`) are both built
    from these fields, so the two surfaces cannot drift apart. Empty strings and tuples mean "not
    given": ROS parameters have no None.
    """

    input: str = field(
        default="", metadata=_option("input rosbag2 bag: a directory, or one .mcap or .db3 file", positional=True)
    )
    output: str = field(
        default="", metadata=_option("output bag directory (refused if it exists, unless --overwrite)", positional=True)
    )
    image_topic: str = field(
        default="", metadata=_option("Image or CompressedImage topic (default: the bag's only image topic)")
    )
    camera_info_topic: str = field(
        default="", metadata=_option("CameraInfo topic (default: camera_info beside the image, else the only one)")
    )
    checkpoint: str = field(
        default="", metadata=_option("checkpoint file (default $VDA_CHECKPOINT_DIR or ./checkpoints, official name)")
    )
    encoder: str = field(
        default="",
        metadata=_option(f"model size (default {DEFAULT_ENCODER}; with --checkpoint, read from the file)", ENCODERS),
    )
    metric: bool = field(default=False, metadata=_option("metric-depth model: depth/image in metres, and points"))
    random_weights: bool = field(
        default=False, metadata=_option("smoke test without a checkpoint: random weights, MEANINGLESS depth")
    )
    device: str = field(default="auto", metadata=_option("auto takes CUDA when available", ("auto", "cuda", "cpu")))
    fp32: bool = field(default=False, metadata=_option("shorthand for --precision fp32 (as vda-video's --fp32)"))
    precision: str = field(default="auto", metadata=_shared("precision"))
    backend: str = field(default="torch", metadata=_shared("backend"))
    backend_cache: str = field(default="", metadata=_shared("backend_cache"))
    input_size: int = field(default=518, metadata=_option("network input size, shorter side (default 518)"))
    max_image_pixels: int = field(default=DEFAULT_MAX_IMAGE_PIXELS, metadata=_shared("max_image_pixels"))
    storage: str = field(default="", metadata=_option("output storage (default: the input's)", tuple(STORAGES)))
    bag_version: int = field(
        default=DEFAULT_BAG_VERSION,
        metadata=_option("rosbag2 format version: 8 plays on Humble and later, 9 on Jazzy and later", BAG_VERSIONS),
    )
    copy_input: bool = field(
        default=False, metadata=_option("copy every input topic too, so the output plays on its own")
    )
    publish_points: bool = field(default=True, metadata=_shared("publish_points"))
    points_stride: int = field(default=1, metadata=_shared("points_stride"))
    color_min: float = field(default=0.0, metadata=_shared("color_min"))
    color_max: float = field(default=0.0, metadata=_shared("color_max"))
    overwrite: bool = field(default=False, metadata=_option("replace an existing output"))
    align_topic: str = field(
        default="",
        metadata=_option(
            "sparse metric topic (depth Image registered to the camera, or PointCloud2 in its optical "
            "frame): align the depth to it and write metric depth/image and points"
        ),
    )

    def check(self) -> None:
        """Reject values neither surface can catch alone (ROS parameters have no choices or arity)."""
        missing = [name for name in ("input", "output") if not getattr(self, name)]
        if missing:
            raise UsageError(f"missing {' and '.join(missing)}")
        for option in fields(self):
            value, choices = getattr(self, option.name), option.metadata["choices"]
            if choices and value != option.default and value not in choices:
                raise UsageError(f"{option.name} must be one of {', '.join(map(str, choices))}; got {value!r}")
        problem = input_size_problem(self.input_size)
        if problem:
            raise UsageError(f"input_size: {problem}")
        try:
            check_backend(self.backend, resolve_precision(self.precision, self.fp32), offline=True)
        except BackendError as error:
            raise UsageError(f"backend {self.backend}: {error}") from error
        if self.max_image_pixels < 0:
            raise UsageError(
                f"max_image_pixels must be a number of pixels, or 0 for no limit, got {self.max_image_pixels}"
            )
        if self.points_stride < 1:
            raise UsageError(f"points_stride must be at least 1, got {self.points_stride}")
        if (self.color_min or self.color_max) and not self.color_min < self.color_max:
            raise UsageError(f"color_max must be greater than color_min, got {self.color_min} and {self.color_max}")

    @property
    def color_range(self) -> tuple[float, ...]:
        """The fixed colour range, or () for the automatic one."""
        return (self.color_min, self.color_max) if self.color_max > self.color_min else ()


def options_from(values: dict[str, Any]) -> Options:
    """Options from either surface's values, with the deprecated spellings mapped (and warned about)."""
    used = []
    stride = values.pop("point_stride", None)
    if stride:
        used.append("point_stride")
        values["points_stride"] = stride
    if values.pop("no_points", False):
        used.append("no_points")
        values["publish_points"] = False
    color_range = values.pop("color_range", None)
    if color_range:
        used.append("color_range")
        if not (len(color_range) == 2 and color_range[0] < color_range[1]):
            raise UsageError(f"color_range must be two numbers MIN < MAX, got {list(color_range)}")
        values["color_min"], values["color_max"] = (float(v) for v in color_range)
    for old in used:
        print(f"{PROG}: warning: {deprecation_note(old)}", file=sys.stderr)
    return Options(**values)


DEPRECATED_PARAMETERS: dict[str, Any] = {
    "point_stride": 0,
    "no_points": False,
    "color_range": Parameter.Type.DOUBLE_ARRAY,
}
"""Old spellings still accepted (as CLI flags and ROS parameters); 0, False and unset mean not given."""


def _add_argument(parser: argparse.ArgumentParser, option: Field[Any]) -> None:
    """The command-line flag of one Options field."""
    help_text, choices = option.metadata["help"], option.metadata["choices"] or None
    if option.metadata["positional"]:
        parser.add_argument(option.name, help=help_text)
        return
    flag = "--" + option.name.replace("_", "-")
    if isinstance(option.default, bool):
        action = argparse.BooleanOptionalAction if option.default else "store_true"
        parser.add_argument(flag, action=action, default=option.default, help=help_text)
    else:
        parser.add_argument(flag, type=type(option.default), choices=choices, default=option.default, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Depth for every frame of a rosbag2 recording with Video Depth Anything's offline "
        "(windowed) engine, written to a new bag in constant memory.",
        epilog="As a ROS node: ros2 run vda_ros process_bag --ros-args -p input:=IN -p output:=OUT ... "
        "(every option is a parameter of the same name with underscores).",
    )
    add_arguments(parser)
    old = parser.add_argument_group("deprecated spellings (still accepted)")
    old.add_argument("--point-stride", type=int, default=0, help=deprecation_note("point_stride"))
    old.add_argument("--no-points", action="store_true", help=deprecation_note("no_points"))
    old.add_argument(
        "--color-range", nargs=2, type=float, metavar=("MIN", "MAX"), default=None, help=deprecation_note("color_range")
    )
    return parser


def add_arguments(parser: argparse.ArgumentParser, exclude: tuple[str, ...] = ()) -> None:
    """Add the flag of every Options field but those excluded: vda-process-bags shares them this way."""
    for option in fields(Options):
        if option.name not in exclude:
            _add_argument(parser, option)


def _declare(node: Node, name: str, default: Any, help_text: str) -> Any:
    """Declare one read-only parameter and return its value (None for an unset array)."""
    return node.declare_parameter(name, default, ParameterDescriptor(description=help_text, read_only=True)).value


def options_from_ros(argv: list[str]) -> Options:
    """Options from ROS parameters (`--ros-args -p name:=value`), through a node that lives only to read them.

    rclpy's signal handlers stay off: no node spins here, and Ctrl-C must reach the processing loop
    through the tool's own handler (vda_ros.interruption).
    """
    extra = remove_ros_args(args=argv)
    if extra:
        raise UsageError(
            f"with --ros-args, give every option as a parameter (-p name:=value); unexpected: {' '.join(extra)}"
        )
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = Node(NODE_NAME)
        try:
            values = {o.name: _declare(node, o.name, o.default, o.metadata["help"]) for o in fields(Options)}
            values.update(
                {
                    name: _declare(node, name, default, deprecation_note(name))
                    for name, default in DEPRECATED_PARAMETERS.items()
                }
            )
            return options_from(values)
        except ParameterException as error:
            raise UsageError(f"bad parameter: {error}") from error
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown()


def parse_options(argv: list[str]) -> Options:
    """Options from the command line, or from ROS parameters when run as a node."""
    if "--ros-args" in argv:
        return options_from_ros(argv)
    return options_from(vars(build_parser().parse_args(argv)))
