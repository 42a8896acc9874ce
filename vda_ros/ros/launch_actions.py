"""Launch actions shared by launch/*.py (imported only by launch files: it needs the launch packages).

The Fast DDS profile must be in the environment before the first node of a launch starts: a
process reads FASTDDS_DEFAULT_PROFILES_FILE once, when its participant is created, so a camera
started before the variable is set keeps the small default segments and loses most large frames.

A launch argument that sets a node parameter must win over the parameters file only when the user
gave it: an argument with a default would otherwise replace the file's value every time (a file's
`encoder: vitl` silently run as the argument's `vits`). Such arguments default to "" (not given), and
the node gets only the given ones on top of the file.

Such an argument is described by its option's own help (vda_ros.core.options): one text for the flag,
the parameter's descriptor, the docs' tables and `ros2 launch ... --show-args`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from vda_ros.core.options import Settings

if TYPE_CHECKING:  # launch's own name for it; the repository's launch/ folder shadows the package for type checkers
    from launch.launch_context import LaunchContext

PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
NOT_GIVEN = ""
"""Default of an argument that overrides a parameter only when given."""
FROM_FILE = " (Default: params_file's.)"
"""Ends the description of such an argument."""
DEPTH_NODE_ARGUMENTS = (
    "checkpoint",
    "encoder",
    "metric",
    "device",
    "precision",
    "backend",
    "input_size",
    "max_res",
    "random_weights",
    "refined",
    "refined_flush_timeout",
    "autostart",
)
"""The depth_node parameters that depth.launch.py and demo.launch.py both take as arguments."""


def large_message_profile() -> SetEnvironmentVariable:
    """Point Fast DDS at config/fastdds_large_messages.xml, keeping a profile the user already set."""
    return SetEnvironmentVariable(
        PROFILE_VARIABLE,
        EnvironmentVariable(
            PROFILE_VARIABLE,
            default_value=PathJoinSubstitution([FindPackageShare("vda_ros"), "config", "fastdds_large_messages.xml"]),
        ),
    )


def given_parameters(context: LaunchContext, types: Mapping[str, type | None]) -> dict[str, ParameterValue]:
    """The node parameters whose launch argument (of the same name) was given, each typed as `types` says.

    Put after the parameters file in a Node's `parameters`, so that what the user gave wins over the file
    and everything else comes from it. A type of None reads the value as YAML (lists, numbers).
    """
    return {
        name: ParameterValue(LaunchConfiguration(name), value_type=value_type)
        for name, value_type in types.items()
        if context.launch_configurations.get(name, NOT_GIVEN) != NOT_GIVEN
    }


def given_true(name: str) -> PythonExpression:
    """Whether launch argument `name` was given as true (not given: false), for a node without a parameters file."""
    return PythonExpression(["'", LaunchConfiguration(name), "'.lower() == 'true'"])


def parameter_arguments(settings: type[Settings], names: Iterable[str]) -> list[DeclareLaunchArgument]:
    """A launch argument per named node parameter, described by its option's help, not given by default."""
    return [
        DeclareLaunchArgument(name, default_value=NOT_GIVEN, description=settings.option(name).help + FROM_FILE)
        for name in names
    ]


def parameter_types(settings: type[Settings], names: Iterable[str]) -> dict[str, type | None]:
    """How given_parameters reads each named parameter's argument: as its option's type, a list as YAML (None).

    Typed explicitly: launch would read a path such as "1.5" as a number.
    """
    return {name: None if (kind := settings.option(name).kind) is tuple else kind for name in names}
