"""Node parameters declared from one table, with descriptors, and a live snapshot of their values.

Each node lists its parameters once (name, default, description, range or choices, whether it
can change at runtime). From that table this module declares them with full descriptors, so
`ros2 param describe` explains every one, rejects values outside their choices both at start-up
and at runtime, and keeps a dictionary of current values that worker threads can read without
calling into rclpy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from vda_ros.core.options import SharedOption

ParameterValue = bool | int | float | str | tuple[str, ...] | list[float]
"""A tuple default declares a string array (ROS cannot infer an empty array's type); a list of floats a double
array. Array values are read back as tuples."""
Validator = Callable[[Mapping[str, ParameterValue]], str | None]
"""Checks a would-be set of all values together; returns why it is rejected, or None."""


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its default fixes the type; read_only marks values used only at start-up."""

    name: str
    default: ParameterValue
    description: str
    read_only: bool = True
    int_range: tuple[int, int, int] | None = None
    """(from, to, step); step 0 means any integer in the range."""
    float_range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()

    @classmethod
    def shared(cls, option: SharedOption, read_only: bool = True) -> ParameterSpec:
        """The parameter of an option every tool shares (vda_ros.core.options), with its one name and meaning."""
        return cls(
            option.name, option.default, option.help, read_only, option.int_range, option.float_range, option.choices
        )

    def descriptor(self) -> ParameterDescriptor:
        """The ParameterDescriptor that tools show for this parameter."""
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.int_range is not None:
            start, stop, step = self.int_range
            descriptor.integer_range = [IntegerRange(from_value=start, to_value=stop, step=step)]
        if self.float_range is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1], step=0.0)
            ]
        if self.choices:
            descriptor.additional_constraints = f"one of: {', '.join(self.choices)}"
        return descriptor

    def check_choice(self, value: ParameterValue) -> str | None:
        """Why value is not one of the allowed choices, or None when it is (or there are none)."""
        if self.choices and value not in self.choices:
            return f"parameter '{self.name}' is {value!r}; expected one of: {', '.join(self.choices)}"
        return None


def defaults(specs: Sequence[ParameterSpec]) -> dict[str, ParameterValue]:
    """Name -> default value, e.g. to compare with a parameters file."""
    return {spec.name: spec.default for spec in specs}


class ParameterTable:
    """Declares a table of parameters on a node and mirrors their current values.

    Declaring runs the validation callbacks on every value, so a bad value given on the command
    line or in a parameters file raises rclpy's InvalidParameterValueException during start-up,
    and the same check rejects it when set at runtime.
    """

    def __init__(
        self,
        node: Node,
        specs: Sequence[ParameterSpec],
        validate: Validator | None = None,
    ) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._validate = validate
        self._lock = threading.Lock()
        self._values: dict[str, ParameterValue] = {}
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._store)
        node.declare_parameters("", [(spec.name, _declared_default(spec.default), spec.descriptor()) for spec in specs])

    @property
    def values(self) -> Mapping[str, ParameterValue]:
        """A read-only snapshot of the current values (safe to keep while others change)."""
        with self._lock:
            return MappingProxyType(dict(self._values))

    def _check(self, parameters: list[Parameter]) -> SetParametersResult:
        """Reject values outside their choices, then let the node check the combination."""
        mine = [p for p in parameters if p.name in self._specs]
        for parameter in mine:
            reason = self._specs[parameter.name].check_choice(parameter.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if self._validate is not None and mine:
            with self._lock:
                merged = {**self._values, **{p.name: p.value for p in mine}}
            reason = self._validate(merged)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _store(self, parameters: list[Parameter]) -> None:
        """Record accepted values (called by rclpy after declaring and after every accepted set)."""
        with self._lock:
            for p in parameters:
                if p.name in self._specs:
                    value = p.value if p.value is not None else self._specs[p.name].default
                    self._values[p.name] = tuple(value) if isinstance(value, list) else value


def _declared_default(default: ParameterValue) -> object:
    """What declare_parameters gets: a string array type for tuples (an empty list has no type), else the value."""
    if isinstance(default, tuple):
        return Parameter.Type.STRING_ARRAY if not default else list(default)
    return default
