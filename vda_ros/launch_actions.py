"""Launch actions shared by launch/*.py (imported only by launch files: it needs the launch packages).

The Fast DDS profile must be in the environment before the first node of a launch starts: a
process reads FASTDDS_DEFAULT_PROFILES_FILE once, when its participant is created, so a camera
started before the variable is set keeps the small default segments and loses most large frames.
"""

from launch.actions import SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"


def large_message_profile() -> SetEnvironmentVariable:
    """Point Fast DDS at config/fastdds_large_messages.xml, keeping a profile the user already set."""
    return SetEnvironmentVariable(
        PROFILE_VARIABLE,
        EnvironmentVariable(
            PROFILE_VARIABLE,
            default_value=PathJoinSubstitution([FindPackageShare("vda_ros"), "config", "fastdds_large_messages.xml"]),
        ),
    )
