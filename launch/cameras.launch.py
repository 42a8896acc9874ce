"""Live depth for every camera of a robot from one depth_node (one model, batched inference).

    ros2 launch vda_ros cameras.launch.py params_file:=/path/to/robot_cameras.yaml [managed:=true autostart:=true]

The parameters file names the cameras (`cameras: ['/front', '/left', '/right']`) and the model; see the
package's config/cameras_example.yaml. Each camera's <cam>/image and <cam>/camera_info are read and its
<cam>/depth/... and <cam>/points written; the node itself runs as /depth_node (or under `namespace`),
with one reset service per camera (~/front/reset, ...) and ~/reset for all. Purely declarative.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CONFIG = PathJoinSubstitution([FindPackageShare("vda_ros"), "config"])

ARGUMENTS = (
    ("params_file", PathJoinSubstitution([CONFIG, "cameras_example.yaml"]), "depth_node parameters with `cameras`"),
    ("namespace", "", "namespace of the node (camera namespaces in the file are resolved in it when relative)"),
    ("use_sim_time", "false", "use /clock (bag playback)"),
    ("managed", "false", "true: run the lifecycle (managed) node, managed_depth_node"),
    ("autostart", "false", "with managed:=true: configure and activate at start-up"),
)


def generate_launch_description() -> LaunchDescription:
    executable = PythonExpression(
        ["'managed_depth_node' if '", LaunchConfiguration("managed"), "'.lower() == 'true' else 'depth_node'"]
    )
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS),
        SetEnvironmentVariable(
            "FASTDDS_DEFAULT_PROFILES_FILE",
            EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([CONFIG, "fastdds_large_messages.xml"]),
            ),
        ),
        Node(
            package="vda_ros",
            executable=executable,
            namespace=LaunchConfiguration("namespace"),
            parameters=[
                LaunchConfiguration("params_file"),
                {"use_sim_time": LaunchConfiguration("use_sim_time"), "autostart": LaunchConfiguration("autostart")},
            ],
            output="screen",
        ),
    ])
