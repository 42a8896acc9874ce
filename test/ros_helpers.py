"""Shared helpers for tests that talk to nodes over real DDS.

Nodes run as separate processes started with `python -m`, so a crash, a hang or a slow model
in a node cannot take the test process down, and the messages really cross process boundaries
(serialisation, shared-memory transport, QoS matching). The test side is one rclpy node in its
own context, spun in a background thread, with collectors that keep what arrives.

The ROS environment (discovery range, domain id, Fast DDS profile, log directory) is set by
conftest.py before anything imports rclpy; child processes inherit it from os.environ.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue, SetParametersResult
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy

from vda_ros.ros.child_nodes import stop_all

REPO_ROOT = Path(__file__).resolve().parent.parent
M = TypeVar("M")


def node_env(**extra: str) -> dict[str, str]:
    """The test's environment for a child node, with the repository importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll predicate until it is true or timeout seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class NodeProcess:
    """A node process (command from vda_ros.ros.child_nodes.node_command), output to a log file.

    stop() asks politely (SIGINT, as Ctrl-C), then SIGTERM, then kills, so no process outlives
    the test even when the node hangs.
    """

    def __init__(self, command: list[str], log_path: Path, env: Mapping[str, str] | None = None):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else node_env(),
            cwd=REPO_ROOT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """True once text appears in the log; False on timeout or if the process ended without it."""
        return wait_until(lambda: text in self.log() or not self.running(), timeout, 0.1) and text in self.log()

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself and return its exit code (TimeoutExpired if it does not)."""
        return self.process.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """End the process (SIGINT, then SIGTERM, then SIGKILL) and return its exit code."""
        stop_all([self.process], timeout)
        self._log.close()
        return self.process.wait()

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Collector(Generic[M]):
    """Messages received on one topic, with their arrival times (time.time(), seconds).

    Each message's publication time is kept too: the publisher's clock when it published, carried
    by DDS, so unlike the arrival time it does not depend on how busy this test process is.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[M, float]] = []
        self._published: list[float] = []

    def __call__(self, msg: M, info: Mapping[str, Any]) -> None:
        """rclpy's two-argument callback: the message and its rmw message info (rclpy.subscription.MessageInfo
        from Kilted on; Jazzy passes the same dict without naming its type)."""
        with self._lock:
            self._items.append((msg, time.time()))
            self._published.append(info["source_timestamp"] / 1e9)

    def items(self) -> list[tuple[M, float]]:
        with self._lock:
            return list(self._items)

    def published(self) -> list[tuple[M, float]]:
        """The messages with their publication times (time.time() of the publishing process, seconds)."""
        with self._lock:
            return [(msg, published) for (msg, _), published in zip(self._items, self._published, strict=True)]

    def messages(self) -> list[M]:
        return [msg for msg, _ in self.items()]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._published.clear()

    def with_stamp(self, stamp: Any) -> M | None:
        """The first message whose header.stamp equals stamp, or None."""
        for msg in self.messages():
            if msg.header.stamp == stamp:
                return msg
        return None


class TestNode:
    """An rclpy node for the test side, in a private context, spinning in a background thread."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def collect(self, msg_type: type[M], topic: str, reliable: bool = True, depth: int = 50) -> Collector[M]:
        """Subscribe to topic and keep everything that arrives."""
        collector: Collector[M] = Collector()
        reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        self.node.create_subscription(msg_type, topic, collector, QoSProfile(depth=depth, reliability=reliability))
        return collector

    def publisher(self, msg_type: type, topic: str, depth: int = 10) -> Publisher:
        """A reliable publisher (it reaches best-effort and reliable subscriptions alike)."""
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        return self.node.create_publisher(msg_type, topic, qos)

    def set_parameters(
        self, node_name: str, values: Mapping[str, bool | int | float | str], timeout: float = 10.0
    ) -> list[SetParametersResult]:
        """Set parameters on a remote node; return one SetParametersResult per value."""
        client = self.node.create_client(SetParameters, f"{node_name}/set_parameters")
        try:
            assert client.wait_for_service(timeout), f"no parameter service on {node_name}"
            request = SetParameters.Request(parameters=[_parameter(k, v) for k, v in values.items()])
            return self.call(client, request, timeout).results
        finally:
            self.node.destroy_client(client)

    def get_parameters(self, node_name: str, names: list[str], timeout: float = 10.0) -> dict[str, Any]:
        """The current values of parameters of a remote node, by name (arrays as lists)."""
        client = self.node.create_client(GetParameters, f"{node_name}/get_parameters")
        try:
            assert client.wait_for_service(timeout), f"no parameter service on {node_name}"
            values = self.call(client, GetParameters.Request(names=names), timeout).values
            return {name: _python(parameter_value_to_python(value)) for name, value in zip(names, values, strict=True)}
        finally:
            self.node.destroy_client(client)

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        """Call a service from the test thread (the executor thread delivers the answer)."""
        future = client.call_async(request)
        assert wait_until(future.done, timeout), f"no answer from {client.srv_name} in {timeout} s"
        return future.result()

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)


def _python(value: Any) -> Any:
    """A parameter value as plain Python: arrays (array.array, sequences) as lists."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else list(value)


def _parameter(name: str, value: bool | int | float | str) -> Parameter:
    """An rcl_interfaces Parameter message for a plain Python value."""
    if isinstance(value, bool):
        parameter_value = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    elif isinstance(value, int):
        parameter_value = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    elif isinstance(value, float):
        parameter_value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        parameter_value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    return Parameter(name=name, value=parameter_value)


def wait_for_subscribers(publisher: Publisher, count: int = 1, timeout: float = 20.0) -> None:
    """Discovery takes a moment: publish only once the node under test has matched."""
    assert wait_until(lambda: publisher.get_subscription_count() >= count, timeout), (
        f"nobody subscribed to {publisher.topic_name} within {timeout} s"
    )


def diagnostic_values(collector: Collector[DiagnosticArray], name: str) -> dict[str, str] | None:
    """Key/values of the newest DiagnosticStatus called name, with 'level' and 'message' added."""
    for array in reversed(collector.messages()):
        for status in array.status:
            if status.name == name:
                values = {kv.key: kv.value for kv in status.values}
                values.update(level=str(status.level[0]), message=status.message, hardware_id=status.hardware_id)
                return values
    return None
