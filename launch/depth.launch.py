"""Live depth next to a running camera driver.

    ros2 launch vda_ros depth.launch.py namespace:=camera image:=image_raw [rviz:=true] [managed:=true autostart:=true]
    ros2 launch vda_ros depth.launch.py params_file:=robot_cameras.yaml metric:=true   # `cameras` in the file

depth_node runs in the camera's namespace, so its relative topics (depth/image, depth/relative,
depth/camera_info, depth/colored, points) appear beside the camera's. Parameters come from
params_file (default: the package's config/depth.yaml); a parameter argument (PARAMETERS, described
by the parameter's own help) wins over the file only when it is given: left out, the file's value
stays. Declarative but for that choice, made when launch runs (an OpaqueFunction).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription
from vda_ros.nodes.depth_settings import ManagedDepthSettings
from vda_ros.ros.launch_actions import (
    DEPTH_NODE_ARGUMENTS,
    FROM_FILE,
    NOT_GIVEN,
    given_parameters,
    given_true,
    large_message_profile,
    parameter_arguments,
    parameter_types,
)

CONFIG = PathJoinSubstitution([FindPackageShare("vda_ros"), "config"])
EXECUTABLE = PythonExpression(
    ["'managed_depth_node' if '", LaunchConfiguration("managed"), "'.lower() == 'true' else 'depth_node'"]
)
"""The plain node, or with managed:=true the lifecycle node (same parameters and topics)."""

PARAMETERS = (*DEPTH_NODE_ARGUMENTS, "input_reliability")
"""Node parameters set by the argument of their name, each winning over params_file only when given."""
NODE_PARAMETERS = {**parameter_types(ManagedDepthSettings, PARAMETERS), "use_sim_time": bool}
"""How each such argument is read."""

ARGUMENTS = (
    ("namespace", "", "namespace of the camera; depth_node (and RViz) run in it"),
    (
        "image",
        "image",
        "camera image topic, relative to namespace (raw; the /compressed sibling with "
        "image_transport:=compressed in the params file)",
    ),
    ("camera_info", "camera_info", "camera info topic, relative to namespace"),
    ("params_file", PathJoinSubstitution([CONFIG, "depth.yaml"]), "depth_node parameters file"),
    ("use_sim_time", NOT_GIVEN, "use /clock (bag playback)" + FROM_FILE),
    ("managed", "false", "true: run the lifecycle (managed) node, managed_depth_node, instead of depth_node"),
    ("rviz", "false", "open RViz with config/vda.rviz"),
    ("camera_frame", "camera_optical_frame", "RViz fixed frame: the camera's optical frame_id"),
)
"""The launch file's own arguments (the parameter arguments follow them)."""

REMAPPINGS = [("image", LaunchConfiguration("image")), ("camera_info", LaunchConfiguration("camera_info"))]


def depth_node(context: LaunchContext) -> list[Node]:
    """depth_node (or managed_depth_node): params_file, then the parameter arguments the user gave."""
    given = given_parameters(context, NODE_PARAMETERS)
    return [
        Node(
            package="vda_ros",
            executable=EXECUTABLE,
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"), *([given] if given else [])],
            remappings=REMAPPINGS,
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
            *parameter_arguments(ManagedDepthSettings, PARAMETERS),
            # Large best-effort messages between processes need bigger shared-memory segments with
            # Fast DDS; a profile the user already set is kept.
            large_message_profile(),
            OpaqueFunction(function=depth_node),
            Node(
                package="rviz2",
                executable="rviz2",
                namespace=LaunchConfiguration("namespace"),
                # The .rviz file names topics relatively, so they resolve in the camera's namespace.
                arguments=["-d", PathJoinSubstitution([CONFIG, "vda.rviz"]), "-f", LaunchConfiguration("camera_frame")],
                parameters=[{"use_sim_time": given_true("use_sim_time")}],
                remappings=REMAPPINGS,
                condition=IfCondition(LaunchConfiguration("rviz")),
            ),
        ]
    )
