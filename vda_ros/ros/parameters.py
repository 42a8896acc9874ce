"""A node's parameters, declared from its settings object (vda_ros.core.options), and a live typed snapshot.

From the settings class this module declares every option as a parameter with a full descriptor, so `ros2 param
describe` explains each one, and rejects values outside their type, choices or range, or settings that do not fit
together, both at start-up (a bad value in a parameters file stops the node with InvalidParameterValueException)
and at runtime (the set is refused with the reason). Older spellings are declared too: set to anything but their
default they are mapped onto the current options, with one warning saying what replaces them. Worker threads
read the current settings object without calling into rclpy.

A node offers every option of its settings class unless it says otherwise: options of a shared group it has
no use for are left out (`exclude`, they keep their defaults), and options other tools change at runtime but
this node reads once are declared read-only (`start_up_only`), as add_flags leaves flags out for a tool.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Generic, TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from vda_ros.core.options import Alias, Option, OptionError, Settings, Value

S = TypeVar("S", bound=Settings)
T = TypeVar("T")


def descriptor(item: Option) -> ParameterDescriptor:
    """The ParameterDescriptor that ROS tools show for an option."""
    described = ParameterDescriptor(description=item.help, read_only=not item.runtime)
    if item.int_range is not None:
        start, stop, step = item.int_range
        described.integer_range = [IntegerRange(from_value=start, to_value=stop, step=step)]
    if item.float_range is not None:
        low, high = item.float_range
        described.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
    if item.choices:
        described.additional_constraints = f"one of: {', '.join(map(str, item.choices))}"
    return described


def declared_default(default: Value) -> object:
    """What declare_parameter gets: an array type for an empty tuple (an empty list has no type), else the value."""
    if isinstance(default, tuple):
        if default:
            return list(default)
        return Parameter.Type.STRING_ARRAY
    return default


class ParameterTable(Generic[S]):
    """Declares the options of a settings class as a node's parameters and keeps the settings they give.

    `settings` is always a complete, checked object: a start-up value that does not fit raises
    InvalidParameterValueException out of the constructor, a runtime one is refused and changes nothing.
    """

    def __init__(
        self,
        node: Node,
        settings: type[S],
        warn: Callable[[str], object] | None = None,
        *,
        exclude: Collection[str] = (),
        start_up_only: Collection[str] = (),
        help_overrides: Mapping[str, str] | None = None,
    ) -> None:
        """Declare the options of `settings` on `node` (InvalidParameterValueException for a bad start-up value).

        Args:
            warn: receives the note of an older spelling that was used (default: the node's warning log).
            exclude: options this node does not offer (nor their older spellings); they keep their defaults.
            start_up_only: runtime options this node reads once: declared read-only here.
            help_overrides: option -> the description this node gives it, where the shared one would mislead.
        """
        self._type = settings
        named = {item.name for item in settings.options()}
        unknown = sorted({*exclude, *start_up_only, *(help_overrides or {})} - named)
        if unknown:
            raise ValueError(f"{settings.__name__} has no option {', '.join(unknown)}")
        self._options = {
            item.name: _as_offered(item, item.name in start_up_only, (help_overrides or {}).get(item.name))
            for item in settings.options()
            if item.name not in exclude
        }
        self._aliases = {alias.name: (item, alias) for item, alias in settings.aliases() if item.name not in exclude}
        self._warn = warn or node.get_logger().warning
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._values: dict[str, object] = {}
        self._settings: S = settings()
        self._declaring = True
        self._refused: tuple[str, object] | None = None
        """The first start-up value refused while options after it were undeclared: the one a final refusal names."""
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._store)
        # Older spellings first: what they give becomes the declared value of the option they map onto, so the
        # option's parameter (`ros2 param get`) shows the value the node uses. A current name given too wins.
        node.declare_parameters(
            "", [(name, _alias_default(alias), _alias_descriptor(alias)) for name, (_, alias) in self._aliases.items()]
        )
        mapped = self._settled(lambda: self._type.from_values(self._values, warn=self._warn_once).values())
        self._values = dict(mapped)
        node.declare_parameters(
            "", [(name, declared_default(mapped[name]), descriptor(item)) for name, item in self._options.items()]
        )
        # rclpy declares one parameter at a time: the start-up values are judged together once all are known (a
        # color_min checked before color_max is declared would be judged against color_max's default).
        self._declaring = False
        self._settled(self._rebuild)

    def _settled(self, step: Callable[[], T]) -> T:
        """Run a start-up step; a refusal is rclpy's InvalidParameterValueException naming the first bad value."""
        try:
            return step()
        except OptionError as error:
            name, value = self._refused or ("", None)
            # The exception only writes the value into its message: its text is what it needs (of any type).
            raise InvalidParameterValueException(name, str(value), str(error)) from error

    @property
    def settings(self) -> S:
        """The current settings (a frozen object: safe to keep while parameters change)."""
        with self._lock:
            return self._settings

    def _check(self, parameters: list[Parameter]) -> SetParametersResult:
        """Refuse a value its option does not take, or a set that leaves the settings inconsistent."""
        mine = {p.name: _plain(p.value) for p in parameters if p.name in self._options or p.name in self._aliases}
        if not mine:
            return SetParametersResult(successful=True)
        with self._lock:
            merged = {**self._values, **mine}
        try:
            self._type.from_values(merged, warn=lambda _note: None)
        except OptionError as error:
            if self._declaring:  # decided once every start-up value is known
                self._refused = self._refused or next(iter(mine.items()))
                return SetParametersResult(successful=True)
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _store(self, parameters: list[Parameter]) -> None:
        """Record accepted values and rebuild the settings (called by rclpy after declaring and every set)."""
        mine = {p.name: _plain(p.value) for p in parameters if p.name in self._options or p.name in self._aliases}
        if not mine:
            return
        with self._lock:
            self._values.update(mine)
        if not self._declaring:
            self._rebuild()

    def _rebuild(self) -> None:
        """The settings of the values recorded (OptionError if they do not fit together)."""
        with self._lock:
            self._settings = self._type.from_values(self._values, warn=self._warn_once)
            self._values = dict(self._settings.values())

    def _warn_once(self, note: str) -> None:
        """Report an older spelling once (later rebuilds and sets of the same spelling stay quiet)."""
        if note not in self._warned:
            self._warned.add(note)
            self._warn(note)


def _as_offered(item: Option, start_up_only: bool, help_text: str | None) -> Option:
    """The option as this node offers it: read-only when the node reads it once, with its own description."""
    if start_up_only:
        item = dataclasses.replace(item, runtime=False)
    if help_text:
        item = dataclasses.replace(item, help=help_text)
    return item


def _plain(value: object) -> object:
    """A parameter value as the options take it (arrays as tuples; unset as None)."""
    return tuple(value) if isinstance(value, list) else value


def _alias_default(alias: Alias) -> object:
    """An older spelling's declared default: its not-given value (a typed empty array for an array)."""
    if isinstance(alias.default, tuple) and not alias.default:
        return Parameter.Type.DOUBLE_ARRAY
    return declared_default(alias.default)


def _alias_descriptor(alias: Alias) -> ParameterDescriptor:
    """An older spelling's descriptor: what replaces it."""
    return ParameterDescriptor(description=alias.note() if alias.deprecated else alias.help, read_only=True)
