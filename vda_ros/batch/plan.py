"""What one vda-process-bag run reads and writes, settled before the model is loaded so mistakes surface at once.

The image topic (the requested one, else the bag's only one), its CameraInfo topic, the align topic,
the names of the topics written (under the image topic's namespace), the output storage, and the
check that the output cannot destroy the input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CompressedImage, Image

from vda_ros.batch.alignment import SPARSE_TYPES
from vda_ros.batch.settings import BagSettings
from vda_ros.errors import UsageError
from vda_ros.io.bags import CAMERA_INFO_TYPE, COMPRESSED_IMAGE_TYPE, IMAGE_TYPE, message_count, storage_of, topic_types
from vda_ros.ros.conversions import compressed_to_rgb, image_to_rgb

IMAGE_DECODERS = {IMAGE_TYPE: (Image, image_to_rgb), COMPRESSED_IMAGE_TYPE: (CompressedImage, compressed_to_rgb)}
"""Image message type → (rclpy class, conversion to RGB): the types read, with the live node's conversions."""


def topic_namespace(image_topic: str, image_type: str) -> str:
    """Namespace of a camera's topics: '/cam' for /cam/image_raw and for /cam/image_raw/compressed, '' for /image.

    image_transport publishes compressed images on <image topic>/compressed, so that suffix is
    dropped before the image topic's own name.
    """
    base = image_topic.removesuffix("/compressed") if image_type == COMPRESSED_IMAGE_TYPE else image_topic
    return base.rsplit("/", 1)[0]


@dataclass(frozen=True)
class OutputTopics:
    """Names of the generated topics (see the package docstring, vda_ros.batch)."""

    depth: str
    camera_info: str
    colored: str
    points: str
    confidence: str

    @classmethod
    def under(cls, namespace: str, metric: bool) -> OutputTopics:
        return cls(
            depth=f"{namespace}/depth/{'image' if metric else 'relative'}",
            camera_info=f"{namespace}/depth/camera_info",
            colored=f"{namespace}/depth/colored",
            points=f"{namespace}/points",
            confidence=f"{namespace}/depth/confidence",
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
    confidence: bool = False
    """Whether depth/confidence is written (--write-confidence)."""
    align_type: str | None = None
    """Message type of the settings' align_topic, when depth is aligned to it."""


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
    image_types = tuple(IMAGE_DECODERS)
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


def make_plan(reader: Reader, input_path: Path, settings: BagSettings) -> Plan:
    """Choose the topics to read and name the topics to write."""
    types = topic_types(reader)
    image_topic = choose_image_topic(types, settings.image_topic)
    namespace = topic_namespace(image_topic, types[image_topic])
    camera_info_topic = choose_camera_info_topic(types, namespace, settings.camera_info_topic)
    align_type = types[_given_topic(types, settings.align_topic, SPARSE_TYPES)] if settings.align_topic else None
    metres = settings.model.metric or align_type is not None
    return Plan(
        image_topic=image_topic,
        image_type=types[image_topic],
        camera_info_topic=camera_info_topic,
        frame_count=message_count(reader, image_topic),
        storage=settings.storage or storage_of(input_path),
        outputs=OutputTopics.under(namespace, metres),
        points=metres and settings.outputs.publish_points and camera_info_topic is not None,
        confidence=settings.write_confidence,
        align_type=align_type,
    )


def check_separate(input_path: Path, output_path: Path) -> None:
    """Refuse an output that is the input, holds it or lies inside it: replacing it would destroy the input."""
    source, target = input_path.resolve(), output_path.resolve()
    if target == source:
        raise UsageError("the output must not be the input")
    if target in source.parents:
        raise UsageError(f"the output {output_path} contains the input {input_path}; choose an output beside it")
    if source in target.parents:
        raise UsageError(f"the output {output_path} is inside the input bag {input_path}; choose an output beside it")
