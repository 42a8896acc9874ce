"""vda-process-bag (`ros2 run vda_ros process_bag`): depth for a whole rosbag2 recording with the offline engine.

A recording has every frame at hand, so the windowed offline engine, where each frame also sees
later frames, can do better than the live node's streaming engine. The path of a frame is the live
node's, in another order: bag reader (vda_ros.bag_io) → vda_ros.ros_conversions → OfflineDepth →
geometry / colormap → ros_conversions → bag writer.

Memory stays flat however long the bag is. Messages stream from the reader into the engine, which
holds at most a window of frames; each image leaves its header and record time (and its pixels,
when coloured points are wanted) in a FIFO until its depth comes out, at most about one window
later; every output is written as soon as its depth exists.

Output topics, under the image topic's namespace (/cam/image_raw or /cam/image_raw/compressed →
/cam/...), each message with its source image's header and record time:
  depth/image        32FC1 metres (metric model), or
  depth/relative     32FC1 relative inverse depth, larger is nearer (relative model)
  depth/camera_info  the image's CameraInfo (same stamp, else the latest earlier one) for the depth image
  depth/colored      bgr8 inferno rendering
  points             PointCloud2 with colours (metric model with a calibrated CameraInfo)

depth/colored uses one colour range for the whole recording, so a colour means the same depth from
start to end: --color-range MIN MAX, or else the widest 2nd..98th percentile range among the first
COLOR_RANGE_FRAMES depth maps (the engine's first window: a relative model aligns every later window
to it, and metric depth is in metres throughout). A range over the whole bag would need a second pass
or the whole recording in memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import Field, dataclass, field, fields
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args
from rcl_interfaces.msg import ParameterDescriptor
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from tqdm import tqdm

from vda_ros.bag_io import (
    BAG_VERSIONS,
    CAMERA_INFO_TYPE,
    COMPRESSED_IMAGE_TYPE,
    DEFAULT_BAG_VERSION,
    IMAGE_TYPE,
    POINT_CLOUD_TYPE,
    STORAGES,
    BagError,
    BagWriter,
    RecordedMessage,
    check_output_free,
    deserialize,
    message_count,
    open_bag,
    read_messages,
    serialize,
    staged_output,
    storage_of,
    topic_types,
)
from vda_ros.cli import build_model
from vda_ros.colormap import ColorScale, robust_range
from vda_ros.errors import UsageError
from vda_ros.files import remove_stale_temporaries
from vda_ros.interruption import run_tool
from vda_ros.model import DEFAULT_ENCODER, ENCODERS, OfflineDepth, input_size_problem, select_device
from vda_ros.options import DEFAULT_MAX_IMAGE_PIXELS, OPTIONS, deprecation_note, resolve_precision
from vda_ros.pipeline import OutputSettings, frame_outputs
from vda_ros.ros_conversions import (
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
from vda_ros.nodes.bag_alignment import SPARSE_TYPES, BagAlignment

PROG = "vda-process-bag"
NODE_NAME = "process_bag"
COLOR_RANGE_FRAMES = 24
"""Depth maps that set the automatic colour range: what the offline engine's first window delivers."""
MAX_CAMERA_INFOS = 1000
"""Camera infos kept at most while waiting to be paired; only a bag whose info stamps run far ahead of
its image stamps comes near this."""

_DECODERS = {IMAGE_TYPE: (Image, image_to_rgb), COMPRESSED_IMAGE_TYPE: (CompressedImage, compressed_to_rgb)}
"""Image message type → (rclpy class, conversion to RGB): the conversions the live node uses."""


def _option(help_text: str, choices: tuple[Any, ...] = (), positional: bool = False) -> dict[str, Any]:
    """Field metadata from which both the command-line flag and the ROS parameter are built."""
    return {"help": help_text, "choices": choices, "positional": positional}


def _shared(name: str) -> dict[str, Any]:
    """Field metadata of an option every tool shares (vda_ros.options): one name, one meaning."""
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
        metadata=_option("sparse metric topic (depth Image registered to the camera, or PointCloud2 in its optical "
                         "frame): align the depth to it and write metric depth/image and points"),
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
        if self.max_image_pixels < 0:
            raise UsageError(f"max_image_pixels must be a number of pixels, or 0 for no limit, got {self.max_image_pixels}")
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
    old.add_argument("--color-range", nargs=2, type=float, metavar=("MIN", "MAX"), default=None,
                     help=deprecation_note("color_range"))
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
            values.update({name: _declare(node, name, default, deprecation_note(name))
                           for name, default in DEPRECATED_PARAMETERS.items()})
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


def topic_namespace(image_topic: str, image_type: str) -> str:
    """Namespace of a camera's topics: '/cam' for /cam/image_raw and for /cam/image_raw/compressed, '' for /image.

    image_transport publishes compressed images on <image topic>/compressed, so that suffix is
    dropped before the image topic's own name.
    """
    base = image_topic.removesuffix("/compressed") if image_type == COMPRESSED_IMAGE_TYPE else image_topic
    return base.rsplit("/", 1)[0]


@dataclass(frozen=True)
class OutputTopics:
    """Names of the generated topics (see the module docstring)."""

    depth: str
    camera_info: str
    colored: str
    points: str

    @classmethod
    def under(cls, namespace: str, metric: bool) -> OutputTopics:
        return cls(
            depth=f"{namespace}/depth/{'image' if metric else 'relative'}",
            camera_info=f"{namespace}/depth/camera_info",
            colored=f"{namespace}/depth/colored",
            points=f"{namespace}/points",
        )


@dataclass(frozen=True)
class Plan:
    """What one run reads and writes, settled before the model is loaded so that mistakes surface at once."""

    image_topic: str
    image_type: str
    camera_info_topic: str | None
    frame_count: int
    storage: str
    outputs: OutputTopics
    points: bool
    align_type: str | None = None
    """Message type of options.align_topic, when depth is aligned to it."""


def _listing(topics: Iterable[str]) -> str:
    return ", ".join(sorted(topics)) or "none"


def _given_topic(types: dict[str, str], topic: str, allowed: tuple[str, ...]) -> str:
    """A topic named by the user, checked to exist with one of the allowed types."""
    candidates = [name for name, msgtype in types.items() if msgtype in allowed]
    if topic not in types:
        raise UsageError(f"topic {topic} is not in the bag; {' or '.join(allowed)} topics: {_listing(candidates)}")
    if types[topic] not in allowed:
        raise UsageError(f"topic {topic} has type {types[topic]}, expected {' or '.join(allowed)}")
    return topic


def choose_image_topic(types: dict[str, str], requested: str) -> str:
    """The requested image topic, else the bag's only one; several or none is an error that lists the candidates."""
    image_types = tuple(_DECODERS)
    if requested:
        return _given_topic(types, requested, image_types)
    candidates = [name for name, msgtype in types.items() if msgtype in image_types]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise UsageError(f"the bag has several image topics, choose one with --image-topic: {_listing(candidates)}")
    raise UsageError(f"the bag has no {' or '.join(image_types)} topic; its topics: {_listing(types)}")


def choose_camera_info_topic(types: dict[str, str], namespace: str, requested: str) -> str | None:
    """The requested CameraInfo topic, else <namespace>/camera_info, else the only one; None if the bag has none."""
    if requested:
        return _given_topic(types, requested, (CAMERA_INFO_TYPE,))
    candidates = [name for name, msgtype in types.items() if msgtype == CAMERA_INFO_TYPE]
    if f"{namespace}/camera_info" in candidates:
        return f"{namespace}/camera_info"
    if len(candidates) > 1:
        raise UsageError(
            f"the bag has several CameraInfo topics, choose one with --camera-info-topic: {_listing(candidates)}"
        )
    return candidates[0] if candidates else None


def make_plan(reader: Reader, input_path: Path, options: Options) -> Plan:
    """Choose the topics to read and name the topics to write."""
    types = topic_types(reader)
    image_topic = choose_image_topic(types, options.image_topic)
    namespace = topic_namespace(image_topic, types[image_topic])
    camera_info_topic = choose_camera_info_topic(types, namespace, options.camera_info_topic)
    align_type = types[_given_topic(types, options.align_topic, SPARSE_TYPES)] if options.align_topic else None
    metres = options.metric or align_type is not None
    return Plan(
        image_topic=image_topic,
        image_type=types[image_topic],
        camera_info_topic=camera_info_topic,
        frame_count=message_count(reader, image_topic),
        storage=options.storage or storage_of(input_path),
        outputs=OutputTopics.under(namespace, metres),
        points=metres and options.publish_points and camera_info_topic is not None,
        align_type=align_type,
    )


def build_engine(options: Options) -> OfflineDepth:
    """The offline engine, its network built exactly as vda-video builds it (same checkpoint rules and errors)."""
    model = build_model(
        random_weights=options.random_weights,
        encoder=options.encoder or None,
        metric=options.metric,
        checkpoint=Path(options.checkpoint) if options.checkpoint else None,
    )
    try:
        device = select_device(options.device)
    except (RuntimeError, ValueError) as error:
        raise UsageError(str(error)) from error
    precision = resolve_precision(options.precision, options.fp32)
    return OfflineDepth(model, input_size=options.input_size, device=device, precision=precision)


class CameraInfoHistory:
    """Camera infos read so far, by header stamp, waiting to be paired with images whose depth comes later.

    Depth leaves the engine a window after its image was read, so an info recorded just after its
    image has usually been read too. A lookup returns the info with the image's stamp, else the latest
    earlier one, and forgets the infos before that one: later images (stamps increase) cannot need them.
    """

    def __init__(self) -> None:
        self._infos: dict[int, CameraInfo] = {}

    def add(self, info: CameraInfo) -> None:
        if len(self._infos) >= MAX_CAMERA_INFOS:
            del self._infos[next(iter(self._infos))]
        self._infos[stamp_ns(info.header.stamp)] = info

    def lookup(self, stamp: int) -> CameraInfo | None:
        earlier = [s for s in self._infos if s <= stamp]
        if not earlier:
            return None
        chosen = max(earlier)
        self._infos = {s: info for s, info in self._infos.items() if s >= chosen}
        return self._infos[chosen]


@dataclass(frozen=True)
class SourceFrame:
    """What an image leaves behind while its depth is computed: enough to stamp (and colour) the outputs."""

    timestamp: int
    header: Header
    rgb: np.ndarray | None


class BagPipeline:
    """One bag through the engine: images (and camera infos and copies) in, every output of each depth out."""

    def __init__(self, writer: BagWriter, plan: Plan, options: Options, connections: list[Connection]) -> None:
        self._writer = writer
        self._plan = plan
        self._max_pixels = options.max_image_pixels
        self._metric = options.metric
        self._settings = OutputSettings(publish_points=plan.points, points_stride=options.points_stride)
        self._pending: deque[SourceFrame] = deque()
        self._infos = CameraInfoHistory()
        self._frame_size: tuple[int, ...] | None = None
        self.warnings: list[str] = []
        self._outputs = self._add_outputs()
        self._alignment = (
            BagAlignment(options.align_topic, plan.align_type, options.metric) if plan.align_type is not None else None
        )
        read = {plan.image_topic, plan.camera_info_topic, options.align_topic}
        self.connections = connections if options.copy_input else [c for c in connections if c.topic in read]
        self._copies = self._add_copies(connections) if options.copy_input else {}

    def _add_outputs(self) -> dict[str, Connection]:
        outputs = self._plan.outputs
        topics = {outputs.depth: IMAGE_TYPE, outputs.colored: IMAGE_TYPE}
        if self._plan.camera_info_topic is not None:
            topics[outputs.camera_info] = CAMERA_INFO_TYPE
        if self._plan.points:
            topics[outputs.points] = POINT_CLOUD_TYPE
        return {topic: self._writer.add_topic(topic, msgtype) for topic, msgtype in topics.items()}

    def _add_copies(self, connections: list[Connection]) -> dict[int, Connection]:
        """Output connections for the input's, by input connection id; topics that cannot be copied are reported."""
        copies = {}
        for connection in connections:
            if connection.topic in self._outputs:
                self._warn(f"input topic {connection.topic} not copied: this run writes a new one")
            elif (copied := self._writer.add_copy(connection)) is not None:
                copies[connection.id] = copied
            else:
                self._warn(
                    f"input topic {connection.topic} not copied: the bag lacks the definition of {connection.msgtype}"
                )
        return copies

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def frames(self, messages: Iterable[RecordedMessage]) -> Iterator[np.ndarray]:
        """RGB frames of the image topic for the engine; copies and camera infos are handled on the way."""
        for message in messages:
            copied = self._copies.get(message.connection.id)
            if copied is not None:
                self._writer.write(copied, message.timestamp, message.raw)
            if message.connection.topic == self._plan.image_topic:
                yield self._receive_image(message)
            elif message.connection.topic == self._plan.camera_info_topic:
                self._infos.add(deserialize(message.raw, CameraInfo))
            elif self._alignment is not None and message.connection.topic == self._alignment.topic:
                self._alignment.add(message.raw)

    def _receive_image(self, message: RecordedMessage) -> np.ndarray:
        """Decode one image and queue what its outputs will need."""
        message_class, to_rgb = _DECODERS[self._plan.image_type]
        where = f"{self._plan.image_topic} message at {message.timestamp} ns"
        try:
            image = deserialize(message.raw, message_class)
            rgb = to_rgb(image, self._max_pixels)
        except (BagError, ImageConversionError) as error:
            raise BagError(f"{where}: {error}") from error
        if self._frame_size is None:
            self._frame_size = rgb.shape
        elif rgb.shape != self._frame_size:
            (height, width), (new_height, new_width) = self._frame_size[:2], rgb.shape[:2]
            raise BagError(f"{where}: image size changed from {width}×{height} to {new_width}×{new_height}")
        self._pending.append(SourceFrame(message.timestamp, image.header, rgb if self._plan.points else None))
        return rgb

    def write(self, depth: np.ndarray, color_scale: ColorScale) -> None:
        """Write every output of the oldest waiting image, whose depth this is."""
        source = self._pending.popleft()
        outputs = self._plan.outputs
        if self._alignment is not None:
            aligned = self._alignment.align(stamp_ns(source.header.stamp), depth, self._peek_info(source, depth))
            if aligned is None:
                return
            depth = aligned
        info = self._infos.lookup(stamp_ns(source.header.stamp)) if self._plan.camera_info_topic else None
        out = frame_outputs(source.rgb, depth, metric=self._metric or self._alignment is not None, settings=self._settings,
                            camera=camera_model(info) if info is not None else None, color_scale=color_scale,
                            want_cloud=self._plan.points)
        self._put(outputs.depth, source, depth_to_msg(out.depth, source.header))
        assert out.colored is not None
        self._put(outputs.colored, source, bgr_to_msg(out.colored, source.header))
        if info is None:
            return
        height, width = out.depth.shape
        self._put(outputs.camera_info, source, depth_camera_info(info, source.header, width, height))
        if not self._plan.points:
            return
        if out.cloud is None:
            self._warn(f"no points where {self._plan.camera_info_topic} is not calibrated or does not fit the "
                       f"images: {out.cloud_state}")
            return
        self._put(outputs.points, source, points_to_cloud(out.cloud.xyz, source.header, out.cloud.rgb))

    def _peek_info(self, source: SourceFrame, depth: np.ndarray) -> CameraInfo | None:
        """The CameraInfo of this frame's depth image, for projecting a point-cloud align topic."""
        info = self._infos.lookup(stamp_ns(source.header.stamp)) if self._plan.camera_info_topic else None
        return None if info is None else depth_camera_info(info, source.header, depth.shape[1], depth.shape[0])

    def alignment_warning(self) -> str | None:
        return None if self._alignment is None else self._alignment.warning()

    def _put(self, topic: str, source: SourceFrame, message: Any) -> None:
        self._writer.write(self._outputs[topic], source.timestamp, serialize(message))


def color_range_and_depths(
    depths: Iterator[np.ndarray], fixed: tuple[float, ...]
) -> tuple[ColorScale, Iterator[np.ndarray]]:
    """The fixed colour scale for the whole run and the depth stream (unchanged: the first maps are only looked at)."""
    if fixed:
        return ColorScale(fixed[0], fixed[1]), depths
    first = list(islice(depths, COLOR_RANGE_FRAMES))
    ranges = [r for r in map(robust_range, first) if r is not None]
    low, high = (min(lo for lo, _ in ranges), max(hi for _, hi in ranges)) if ranges else (0.0, 1.0)
    return ColorScale(low, high), chain(first, depths)


@dataclass(frozen=True)
class Summary:
    frames: int
    seconds: float
    output: Path
    storage: str
    version: int
    counts: dict[str, int]
    warnings: list[str]
    random_weights: bool


def check_separate(input_path: Path, output_path: Path) -> None:
    """Refuse an output that is the input, holds it or lies inside it: replacing it would destroy the input."""
    source, target = input_path.resolve(), output_path.resolve()
    if target == source:
        raise UsageError("the output must not be the input")
    if target in source.parents:
        raise UsageError(f"the output {output_path} contains the input {input_path}; choose an output beside it")
    if source in target.parents:
        raise UsageError(f"the output {output_path} is inside the input bag {input_path}; choose an output beside it")


def process(options: Options, engine: OfflineDepth | None = None) -> Summary:
    """Run the whole tool: check, plan, stream the bag through the engine, and publish the new bag.

    engine: a loaded engine to reuse (vda-process-bags' workers keep one for many bags); by default
    it is built from the options.
    """
    options.check()
    input_path, output_path = Path(options.input), Path(options.output)
    check_separate(input_path, output_path)
    check_output_free(output_path, options.overwrite)
    cleaned = remove_stale_temporaries(output_path.parent)
    if cleaned:
        print(f"{PROG}: {cleaned}", file=sys.stderr)
    with open_bag(input_path) as reader:
        plan = make_plan(reader, input_path, options)
        engine = build_engine(options) if engine is None else engine
        start = time.perf_counter()
        with staged_output(output_path, options.overwrite) as bag_path, BagWriter(
            bag_path, plan.storage, options.bag_version
        ) as writer:
            pipeline = BagPipeline(writer, plan, options, reader.connections)
            frames = pipeline.frames(read_messages(reader, pipeline.connections))
            # Started before the first window and unsmoothed: depth comes out in bursts of a window, so
            # only the average since the start gives an honest rate and time left.
            with tqdm(total=plan.frame_count, unit="frame", desc=plan.image_topic, smoothing=0) as progress:
                color_scale, depths = color_range_and_depths(engine.run(frames), options.color_range)
                for depth in depths:
                    pipeline.write(depth, color_scale)
                    progress.update()
            frames_written = writer.counts[plan.outputs.depth]
            if frames_written == 0:
                raise BagError(pipeline.alignment_warning() or f"{input_path} has no message on {plan.image_topic}")
    return Summary(
        frames=frames_written,
        seconds=time.perf_counter() - start,
        output=output_path,
        storage=plan.storage,
        version=options.bag_version,
        counts=writer.counts,
        warnings=pipeline.warnings + list(filter(None, [pipeline.alignment_warning()])),
        random_weights=options.random_weights,
    )


def report(summary: Summary) -> str:
    rate = summary.frames / summary.seconds if summary.seconds > 0 else float("inf")
    lines = [
        f"{summary.frames} frames in {summary.seconds:.1f} s ({rate:.2f} frames/s)",
        f"wrote {summary.output} ({summary.storage}, rosbag2 format {summary.version}):",
    ]
    width = max(map(len, summary.counts))
    lines += [f"  {topic:<{width}}  {count} messages" for topic, count in summary.counts.items()]
    lines += [f"warning: {text}" for text in summary.warnings]
    if summary.random_weights:
        lines.append("RANDOM WEIGHTS were used: this bag is a smoke test, its depth is meaningless.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of vda-process-bag and of the process_bag node.

    Exit status 0 when the bag was written, 2 for a refused option or an unusable input (message, no
    traceback), 130 when interrupted; an unexpected failure shows its traceback (status 1). In every
    case but 0, no output exists.
    """
    argv = sys.argv[1:] if argv is None else argv
    return run_tool(
        PROG, lambda: report(process(parse_options(argv))), "no output was written",
    )


if __name__ == "__main__":
    sys.exit(main())
