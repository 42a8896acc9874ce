"""Metric depth from a relative (or metric) depth_node and a sparse range sensor, next to depth.launch.py.

    ros2 launch vda_ros depth.launch.py namespace:=camera image:=image_raw
    ros2 launch vda_ros depth_align.launch.py namespace:=camera sparse_topic:=/lidar/points sparse_source:=points \
        sparse_translation:='[0.0, -0.08, 0.02]' sparse_rotation:='[0.5, -0.5, 0.5, 0.5]'

depth_align runs in the camera's namespace beside depth_node: it reads depth/relative (or, with
input:=metric, depth/metric: remap depth_node's depth/image there) and depth/camera_info, and publishes
depth/image and points. sparse_topic is remapped onto sparse_depth or sparse_points, whichever
sparse_source selects. Parameters come from params_file (default config/depth_align.yaml); a
parameter argument (PARAMETERS, described by the parameter's own help) wins over it only when it is given.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription
from vda_ros.nodes.depth_align import AlignSettings
from vda_ros.ros.launch_actions import FROM_FILE, NOT_GIVEN, given_parameters, parameter_arguments, parameter_types

CONFIG = PathJoinSubstitution([FindPackageShare("vda_ros"), "config"])

PARAMETERS = ("input", "sparse_source", "sparse_translation", "sparse_rotation", "sparse_history")
"""Node parameters set by the argument of their name, each winning over params_file only when given. The lists
(sparse_translation, sparse_rotation) are read as YAML: write their numbers with a decimal point (doubles)."""
NODE_PARAMETERS = {**parameter_types(AlignSettings, PARAMETERS), "use_sim_time": bool}
"""How each such argument is read."""

ARGUMENTS = (
    ("namespace", "", "namespace of the camera (and of depth_node)"),
    ("sparse_topic", "sparse_depth", "the sparse sensor's topic (relative to namespace, or absolute)"),
    ("params_file", PathJoinSubstitution([CONFIG, "depth_align.yaml"]), "depth_align parameters file"),
    ("use_sim_time", NOT_GIVEN, "use /clock (bag playback)" + FROM_FILE),
)
"""The launch file's own arguments (the parameter arguments follow them)."""


def depth_align(context: LaunchContext) -> list[Node]:
    """depth_align: params_file, then the parameter arguments the user gave."""
    given = given_parameters(context, NODE_PARAMETERS)
    sparse_topic = LaunchConfiguration("sparse_topic")
    return [
        Node(
            package="vda_ros",
            executable="depth_align",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"), *([given] if given else [])],
            remappings=[("sparse_depth", sparse_topic), ("sparse_points", sparse_topic)],
            output="screen",
        )
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, default_value=default, description=text)
                for name, default, text in ARGUMENTS
            ),
            *parameter_arguments(AlignSettings, PARAMETERS),
            OpaqueFunction(function=depth_align),
        ]
    )
