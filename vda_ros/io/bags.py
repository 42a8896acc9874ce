"""rosbag2 input and output through rosbags, with messages as the rclpy classes the live node uses.

rosbag2_py is not on PyPI and no ROS distribution is installed where this runs, so bags are read and
written with rosbags. rosbags deserialises into its own dataclasses, which the conversions in
vda_ros.ros.conversions do not accept; instead, raw CDR bytes travel between rosbags and
rclpy.serialization (which works without rclpy.init), so the bag tool converts messages with exactly
the functions the node uses.

Compatibility of what is written:
- Format version 8 by default: the newest that ROS 2 Humble reads. Humble parses each topic's
  offered_qos_profiles as a YAML string, which version 9 (Jazzy and later) replaced by a YAML
  mapping that Humble's parser rejects. Jazzy and later read both, so 8 plays everywhere.
- Message definitions and RIHS01 type hashes come from rosbags' Humble type store; for
  sensor_msgs Image, CompressedImage, CameraInfo and PointCloud2 they are identical in Humble,
  Jazzy and Kilted, and MCAP consumers (Foxglove, ros2 bag on Jazzy+) need them.
- Generated topics offer reliable, volatile QoS: a reliable publisher matches both reliable and
  best-effort subscribers, so `ros2 bag play` output reaches RViz whatever its display asks for.
  Copied topics keep the QoS they were recorded with.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinitionFormat,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore
from ruamel.yaml import YAML

from vda_ros.errors import VdaError
from vda_ros.io.files import temporaries_of, unique_temporary_path

if TYPE_CHECKING:
    from rosbags.interfaces.typing import RPath

STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}
BAG_VERSIONS = (8, 9)
DEFAULT_BAG_VERSION = 8
"""The newest format ROS 2 Humble reads (see the module docstring); 9 is what Jazzy and later write."""

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD_TYPE = "sensor_msgs/msg/PointCloud2"

GENERATED_TOPIC_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=10,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.VOLATILE,
    deadline=QosTime(0, 0),
    lifespan=QosTime(0, 0),
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=QosTime(0, 0),
    avoid_ros_namespace_conventions=False,
)
"""rclcpp's default profile; durations of zero mean 'unspecified' (infinite) to every rmw."""

Message = TypeVar("Message")
_WRITE_ERRORS = (OSError, WriterError, sqlite3.Error)
"""What a failing write raises, by storage: OSError (MCAP, metadata.yaml), sqlite3.Error, rosbags' WriterError."""


class BagError(VdaError):
    """A bag cannot be read or written; the text names the bag and says why, for the user to act on."""


@dataclass(frozen=True)
class RecordedMessage:
    """One message as stored: its connection, its record (receive) time in ns, its CDR bytes."""

    connection: Connection
    timestamp: int
    raw: bytes


def ros_type_name(message_class: type) -> str:
    """'sensor_msgs/msg/Image' for rclpy's sensor_msgs.msg.Image: the name bags store types under."""
    package = message_class.__module__.split(".")[0]
    return f"{package}/msg/{message_class.__name__}"


def deserialize(raw: bytes, message_class: type[Message]) -> Message:
    """CDR bytes from a bag into an rclpy message.

    Every failure of the one library call means the bytes are not a valid message of that type
    (rclpy raises its private RMWError), so all are reported as a damaged input.
    """
    try:
        return deserialize_message(raw, message_class)
    except Exception as error:
        raise BagError(f"a {ros_type_name(message_class)} message is damaged: {error}") from error


def serialize(message: Any) -> bytes:
    """An rclpy message as the CDR bytes a bag stores."""
    return serialize_message(message)


def _unreadable(path: Path | RPath, error: Exception) -> BagError:
    """The one wording for a bag rosbags cannot read, whatever layer (YAML, MCAP, SQLite) failed."""
    reason = str(error) or type(error).__name__
    return BagError(
        f"cannot read bag {path}: {reason} "
        "(is it a complete rosbag2 bag? recordings cut short may need `ros2 bag reindex`)"
    )


@contextmanager
def open_bag(path: Path) -> Iterator[Reader]:
    """Open a rosbag2 directory, or a single .mcap or .db3 file, for reading.

    rosbags reports damage with whatever its storage layer raises (ReaderError, apsw errors,
    OverflowError from a garbled MCAP record, ...); anything raised by opening means the input is
    unusable, so it becomes one BagError with the reason.
    """
    if not path.exists():
        raise BagError(f"input bag not found: {path}")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:
        raise _unreadable(path, error) from error
    try:
        yield reader
    finally:
        reader.close()


def read_messages(reader: Reader, connections: list[Connection]) -> Iterator[RecordedMessage]:
    """The messages of these connections in record-time order; damage found while reading is a BagError."""
    stream = reader.messages(connections=connections)
    while True:
        try:
            connection, timestamp, raw = next(stream)
        except StopIteration:
            return
        except Exception as error:
            raise _unreadable(reader.path, error) from error
        yield RecordedMessage(connection, timestamp, raw)


def storage_of(path: Path) -> str:
    """'mcap' or 'sqlite3': the storage of an (already opened, so valid) bag directory or file."""
    if path.is_file():
        return _STORAGE_SUFFIXES[path.suffix]
    metadata = YAML(typ="safe").load((path / "metadata.yaml").read_text())
    return str(metadata["rosbag2_bagfile_information"]["storage_identifier"])


def topic_types(reader: Reader) -> dict[str, str]:
    """Topic name → message type for every topic of the bag."""
    return {connection.topic: connection.msgtype for connection in reader.connections}


def message_count(reader: Reader, topic: str) -> int:
    """Messages on a topic according to the bag's index (metadata or MCAP summary)."""
    return sum(connection.msgcount for connection in reader.connections if connection.topic == topic)


def _describe(path: Path) -> str:
    """What is at path, in a few words, for a refusal to replace it."""
    if path.is_symlink():
        return "a symbolic link"
    if path.is_dir():
        entries = sorted(entry.name for entry in path.iterdir())
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        return f"a folder that is not a rosbag2 bag (no metadata.yaml; it holds: {shown or 'nothing'})"
    return "a file, not a rosbag2 bag folder"


def check_output_free(output: Path, overwrite: bool) -> None:
    """Refuse an existing output unless overwriting was asked for, before any work is done.

    Even with overwrite, only a rosbag2 bag (a folder with metadata.yaml, such as an earlier
    run wrote) is replaced: a mistyped output must never delete an unrelated folder.
    """
    if not (output.exists() or output.is_symlink()):
        return
    if not overwrite:
        raise BagError(f"output {output} exists; pass --overwrite to replace it")
    if output.is_symlink() or not (output / "metadata.yaml").is_file():
        raise BagError(f"output {output} is {_describe(output)}; --overwrite only replaces a rosbag2 bag")


def staging_directories(output: Path) -> list[Path]:
    """The hidden directories staged_output has made for `output` and not yet removed, whoever made them.

    Only a process killed while writing (SIGKILL, a lost machine) leaves one behind; whoever
    retries its work knowing the writer is gone (vda-process-bags) removes them.
    """
    return [path for path in temporaries_of(output) if path.is_dir()]


@contextmanager
def staged_output(output: Path, overwrite: bool) -> Iterator[Path]:
    """Yield the path to write the new bag to; it appears as `output` only if the block completes.

    The bag is written inside a hidden directory next to `output`, on the same file system, so the
    final step is a rename. The bag keeps `output`'s name inside it because rosbag2 names its
    storage file after the bag directory. Whatever ends the block early (an error, Ctrl-C) removes
    the hidden directory and leaves `output` as it was.
    """
    check_output_free(output, overwrite)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        staging = unique_temporary_path(output.parent, output.name)
        staging.mkdir()
    except OSError as error:
        raise BagError(f"cannot create output {output}: {error}") from error
    try:
        bag = staging / output.name
        yield bag
        check_output_free(output, overwrite)  # something may have appeared there while we worked
        if output.exists() or output.is_symlink():
            os.rename(output, staging / "replaced")  # removed with the staging directory below
        os.rename(bag, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class BagWriter:
    """A rosbag2 writer for generated topics (standard sensor_msgs types) and copies of input topics.

    Counts messages per topic for the run's summary.
    """

    def __init__(self, path: Path, storage: str, version: int) -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
        if version not in BAG_VERSIONS:
            raise BagError(f"unsupported bag format version {version}; expected one of {BAG_VERSIONS}")
        self._writer = Writer(path, version=cast(Literal[8, 9], version), storage_plugin=STORAGES[storage])
        # Humble's store: it fills in definitions that Humble-era bags did not record (see module docstring).
        self._typestore = get_typestore(Stores.ROS2_HUMBLE)
        self._copies: dict[tuple[str, str, str, tuple[Qos, ...]], Connection] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Finish the bag (index, metadata.yaml) on success; on failure only release it (the caller discards it).

        Finishing writes the last chunk, the index and metadata.yaml, so a full disk often shows only
        here: that is a BagError like any other write error.
        """
        if exc_type is not None:
            self._writer.abort()
            return
        try:
            self._writer.close()
        except _WRITE_ERRORS as error:
            with suppress(*_WRITE_ERRORS):  # release what is still open; the staged bag is discarded anyway
                self._writer.abort()
            raise BagError(f"cannot finish output bag {self._writer.path}: {error}") from error

    def add_topic(self, topic: str, msgtype: str) -> Connection:
        """A generated topic of a standard type, offering GENERATED_TOPIC_QOS."""
        self.counts[topic] = 0
        return self._writer.add_connection(
            topic, msgtype, typestore=self._typestore, offered_qos_profiles=[GENERATED_TOPIC_QOS]
        )

    def add_copy(self, source: Connection) -> Connection | None:
        """A connection copying an input connection (type, definition, QoS), or None when its definition is unknown.

        Several input connections of one topic with equal type and QoS (several publishers) share one
        output connection, as rosbag2 stores them.
        """
        ext = cast(ConnectionExtRosbag2, source.ext)
        key = (source.topic, source.msgtype, ext.serialization_format, tuple(ext.offered_qos_profiles))
        if key not in self._copies:
            definition = self._definition(source)
            if definition is None:
                return None
            msgdef, digest = definition
            self.counts.setdefault(source.topic, 0)
            self._copies[key] = self._writer.add_connection(
                source.topic,
                source.msgtype,
                msgdef=msgdef,
                rihs01=digest,
                serialization_format=ext.serialization_format,
                offered_qos_profiles=ext.offered_qos_profiles,
            )
        return self._copies[key]

    def _definition(self, source: Connection) -> tuple[str, str] | None:
        """Definition text and RIHS01 hash of an input connection.

        Taken from the bag when it has both (Jazzy and later); bags from older distributions lack
        the hash and sometimes the text, which the type store then supplies (after learning the
        bag's own definition of a type it does not know).
        """
        msgdef, digest = source.msgdef.data, source.digest
        if msgdef and digest:
            return msgdef, digest
        if source.msgtype not in self._typestore.types and source.msgdef.format == MessageDefinitionFormat.MSG:
            try:
                self._typestore.register(get_types_from_msg(msgdef, source.msgtype))
            except (TypesysError, ValueError):
                return None
        if source.msgtype not in self._typestore.types:
            return None
        text = msgdef or self._typestore.generate_msgdef(source.msgtype, ros_version=2)[0]
        return text, self._typestore.hash_rihs01(source.msgtype)

    def write(self, connection: Connection, timestamp: int, raw: bytes) -> None:
        """Store one message's CDR bytes with its record time (ns)."""
        try:
            self._writer.write(connection, timestamp, raw)
        except _WRITE_ERRORS as error:
            raise BagError(f"cannot write output bag {self._writer.path}: {error}") from error
        self.counts[connection.topic] += 1
