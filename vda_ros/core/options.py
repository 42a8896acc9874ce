"""The one option system: every setting of every node and tool declared once, as a field of a settings object.

A setting has one name everywhere: the field `points_stride` of a settings object is the ROS parameter
`points_stride` and the flag `--points-stride`. Settings objects are frozen dataclasses (subclasses of
`Settings`) whose fields are declared with `option()`: name, type (from the default), default, help, choices or
range, whether a running node may change it, and the older spellings still accepted. From those fields come
the command-line flags (`add_flags`), the ROS parameter descriptors (vda_ros.ros.parameters) and the typed
object the library takes (`Settings.from_values`), so no surface can drift from another. A group used by several
tools (the model, the outputs) is one settings class nested as a field: its options stay declared once.

Old spellings are `Alias`es: they keep working on every surface and say, once, what replaces them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vda_ros.errors import UsageError

Value = bool | int | float | str | tuple[str, ...] | tuple[float, ...]
"""What an option holds: a ROS parameter type. A tuple of str is a string array, a tuple of float a double array."""

_OPTION = "vda_ros.option"
"""The dataclass field metadata key that holds a field's Option."""
_GROUP = "vda_ros.option_group"
"""The dataclass field metadata key of a nested group: (its settings class, its defaults in this tool)."""

S = TypeVar("S", bound="Settings")


class OptionError(UsageError):
    """A value an option does not accept, or settings that do not fit together (exit status 2 in every tool)."""


@dataclass(frozen=True)
class Alias:
    """An older spelling of one or more options, still accepted on every surface.

    `expand` turns the old spelling's value into current option values; without it the value goes to the
    option the alias belongs to. A value equal to `default` means the old spelling was not used. A
    shorthand kept on purpose (vda-video's --fp32, from the official run.py) is not deprecated: no warning.
    """

    name: str
    replacement: str
    default: Value
    expand: Callable[[Any], dict[str, Value]] | None = None
    deprecated: bool = True
    nargs: int | None = None
    metavar: tuple[str, ...] | None = None
    help: str = ""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def note(self) -> str:
        """The warning printed or logged when the old spelling is used."""
        return f"'{self.name}' is deprecated; use {self.replacement}"

    def add_flag(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """The old spelling's flag (its help says what replaces it)."""
        help_text = self.note() if self.deprecated else self.help or f"shorthand for {self.replacement}"
        if isinstance(self.default, bool):
            parser.add_argument(self.flag, dest=self.name, action="store_true", default=False, help=help_text)
            return
        kwargs: dict[str, Any] = {"dest": self.name, "default": self.default, "help": help_text}
        if isinstance(self.default, tuple):
            kwargs.update(nargs=self.nargs or "+", type=float, metavar=self.metavar, default=None)
        else:
            kwargs["type"] = type(self.default)
        parser.add_argument(self.flag, **kwargs)


@dataclass(frozen=True)
class Option:
    """One setting: its name, default (which fixes its type), help, limits and older spellings."""

    name: str
    default: Value
    help: str
    choices: tuple[Value, ...] = ()
    int_range: tuple[int, int, int] | None = None
    """(from, to, step); step 0 means any integer in the range, else from + k * step."""
    float_range: tuple[float, float] | None = None
    runtime: bool = False
    """A running node may change it (its ROS parameter is not read-only)."""
    positional: bool = False
    """A positional argument on the command line (the bag tool's input and output)."""
    aliases: tuple[Alias, ...] = ()
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def kind(self) -> type:
        """The Python type of the option's values (tuple for arrays)."""
        return type(self.default)

    def problem(self, value: object) -> str | None:
        """Why `value` is not acceptable for this option, or None when it is."""
        if not _same_kind(value, self.default):
            return f"{self.name} must be {_kind_name(self.default)}, got {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(map(str, self.choices))}; got {value!r}"
        if self.int_range is not None and isinstance(value, int):
            start, stop, step = self.int_range
            if not start <= value <= stop or (step and (value - start) % step):
                every = f" in steps of {step}" if step else ""
                return f"{self.name} must be from {start} to {stop}{every}; got {value}"
        if self.float_range is not None and isinstance(value, float):
            low, high = self.float_range
            if not (math.isfinite(value) and low <= value <= high):
                return f"{self.name} must be from {low:g} to {high:g}; got {value}"
        return None

    def add_flag(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """This option's flag (a bool defaulting to true gets --no-NAME as well)."""
        if self.positional:
            parser.add_argument(self.name, help=self.help, metavar=self.metavar)
            return
        kwargs: dict[str, Any] = {"dest": self.name, "default": self.default, "help": self.help}
        if isinstance(self.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction if self.default else "store_true"
        elif isinstance(self.default, tuple):
            kwargs.update(nargs="*", type=str if self.holds_strings else float, default=list(self.default))
        else:
            kwargs.update(type=type(self.default), choices=self.choices or None, metavar=self.metavar)
        parser.add_argument(self.flag, **kwargs)

    @property
    def holds_strings(self) -> bool:
        """A tuple option holds strings unless its default holds floats (an empty default means strings)."""
        return not self.default or isinstance(self.default[0], str)  # type: ignore[index]


def option(
    default: Value,
    help: str,
    *,
    choices: tuple[Value, ...] = (),
    int_range: tuple[int, int, int] | None = None,
    float_range: tuple[float, float] | None = None,
    runtime: bool = False,
    positional: bool = False,
    aliases: tuple[Alias, ...] = (),
    metavar: str | None = None,
) -> Any:
    """A settings field declared as an option; the field's name is the option's name on every surface."""
    spec = {
        "default": default,
        "help": help,
        "choices": choices,
        "int_range": int_range,
        "float_range": float_range,
        "runtime": runtime,
        "positional": positional,
        "aliases": aliases,
        "metavar": metavar,
    }
    return field(default=default, metadata={_OPTION: spec})


def group(settings: type[Settings], **defaults: Value) -> Any:
    """A settings field holding a nested group of options shared by several tools.

    `defaults` give some of the group's options another default in this tool (depth_align queues more input
    messages than depth_node): the option, its help and its limits stay the group's.
    """
    return field(
        default_factory=lambda: settings._build(defaults),
        metadata={_GROUP: (settings, defaults)},
    )


class Settings:
    """Base of the settings objects: frozen dataclasses whose fields are option() or group() fields."""

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        """Every option of this settings object, nested groups flattened, in declaration order."""
        found: list[Option] = []
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            if _OPTION in item.metadata:
                found.append(Option(item.name, **item.metadata[_OPTION]))
            elif _GROUP in item.metadata:
                nested, defaults = item.metadata[_GROUP]
                found.extend(
                    dataclasses.replace(o, default=defaults[o.name]) if o.name in defaults else o
                    for o in nested.options()
                )
        return tuple(found)

    @classmethod
    def option(cls, name: str) -> Option:
        """The option called `name` (KeyError if this settings object has none)."""
        for candidate in cls.options():
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @classmethod
    def aliases(cls) -> tuple[tuple[Option, Alias], ...]:
        """Every older spelling with the option it belongs to."""
        return tuple((item, alias) for item in cls.options() for alias in item.aliases)

    @classmethod
    def from_values(cls: type[S], values: Mapping[str, object], warn: Callable[[str], None] | None = None) -> S:
        """The settings `values` (option name -> value; older spellings mapped) give; OptionError if refused.

        Names missing from `values`, or given as None (an unset ROS array, a flag left out), keep their defaults.
        An older spelling that was used is reported through `warn` (default: standard error) with what replaces it.
        Each value is checked against its option, then the whole object against the rules that tie options
        together (`check`).
        """
        current = {name: value for name, value in values.items() if value is not None}
        for item, alias in cls.aliases():
            if alias.name not in current:
                continue
            old = current.pop(alias.name)
            if old is None or old == alias.default or old == [] or old == ():
                continue
            if alias.deprecated:
                (warn or _print_warning)(alias.note())
            current.update(alias.expand(old) if alias.expand else {item.name: old})
        known = {item.name: item for item in cls.options()}
        unknown = sorted(set(current) - set(known))
        if unknown:
            raise OptionError(f"unknown option {', '.join(unknown)}")
        checked: dict[str, Value] = {}
        for name, value in current.items():
            checked[name] = _coerce(value, known[name].default)
            problem = known[name].problem(checked[name])
            if problem:
                raise OptionError(problem)
        settings = cls._build(checked)
        settings.check()
        return settings

    @classmethod
    def _build(cls: type[S], values: Mapping[str, Value]) -> S:
        """The object from checked values, nested groups built from their own options."""
        kwargs: dict[str, Any] = {}
        for item in dataclasses.fields(cls):  # type: ignore[arg-type]
            if _OPTION in item.metadata:
                if item.name in values:
                    kwargs[item.name] = values[item.name]
            elif _GROUP in item.metadata:
                nested, defaults = item.metadata[_GROUP]
                kwargs[item.name] = nested._build({**defaults, **values})
        return cls(**kwargs)

    def check(self) -> None:
        """OptionError when options that are each acceptable do not fit together (subclasses add rules)."""
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if isinstance(value, Settings):
                value.check()

    def values(self) -> dict[str, Value]:
        """Option name -> value, nested groups flattened (what a parameters file or a manifest records)."""
        found: dict[str, Value] = {}
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if isinstance(value, Settings):
                found.update(value.values())
            elif _OPTION in item.metadata:
                found[item.name] = value
        return found

    def replace(self: S, **changes: object) -> S:
        """A copy with some options changed by name (nested groups included), checked like from_values."""
        return type(self).from_values({**self.values(), **changes})


def add_flags(
    parser: argparse.ArgumentParser,
    settings: type[Settings],
    exclude: tuple[str, ...] = (),
    help_overrides: Mapping[str, str] | None = None,
) -> None:
    """Add the flag of every option of `settings` (but those excluded), and older spellings in their own group."""
    for item in settings.options():
        if item.name not in exclude:
            help_text = (help_overrides or {}).get(item.name)
            (dataclasses.replace(item, help=help_text) if help_text else item).add_flag(parser)
    aliases = [alias for item, alias in settings.aliases() if item.name not in exclude]
    deprecated = [alias for alias in aliases if alias.deprecated]
    for alias in (alias for alias in aliases if not alias.deprecated):
        alias.add_flag(parser)
    if deprecated:
        old = parser.add_argument_group("deprecated spellings (still accepted)")
        for alias in deprecated:
            alias.add_flag(old)


def from_args(
    settings: type[S], namespace: argparse.Namespace, warn: Callable[[str], None] | None = None, **fixed: object
) -> S:
    """The settings a parsed command line gives (flags of add_flags; others in the namespace are ignored).

    `fixed` sets options the tool does not offer as flags (or decides itself).
    """
    names = {item.name for item in settings.options()} | {alias.name for _, alias in settings.aliases()}
    given = {name: value for name, value in vars(namespace).items() if name in names}
    return settings.from_values({**given, **fixed}, warn)


def option_names(settings: type[Settings]) -> Iterator[str]:
    """The names of every option and older spelling of `settings` (each must be unique on its surfaces)."""
    for item in settings.options():
        yield item.name
        yield from (alias.name for alias in item.aliases)


def _print_warning(message: str) -> None:
    """Default deprecation report of command-line tools: a warning line on standard error."""
    prog = sys.argv[0].rsplit("/", 1)[-1] if sys.argv and sys.argv[0] else "vda_ros"
    print(f"{prog}: warning: {message}", file=sys.stderr)


def _same_kind(value: object, default: Value) -> bool:
    """Whether `value` has the option's type (an int is a float too; bool is never an int)."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    return isinstance(value, tuple)


def _coerce(value: object, default: Value) -> Any:
    """Values as the option keeps them: arrays as tuples, an integer given for a float as a float."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, tuple) and default and isinstance(default[0], float):
        return tuple(float(v) for v in value)
    return value


def _kind_name(default: Value) -> str:
    """How a problem message names an option's type."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(type(default), "a list")
