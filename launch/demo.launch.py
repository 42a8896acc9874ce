"""The depth pipeline fed by a video file instead of a camera.

    ros2 launch vda_ros demo.launch.py video:=/path/to/clip.mp4 [rviz:=true] [random_weights:=true]

video_source plays the file (looped) as image + camera_info in the demo namespace, and
depth.launch.py runs depth_node (and optionally RViz) on it, with the same arguments: a parameter
argument left out keeps params_file's value. Without `ros2 launch`, the same
pipeline runs with `vda-demo` (vda_ros.cli.demo), which also records the result to an mp4.
The Fast DDS large-message profile is set before the first node starts, and the images travel
reliably: with Jazzy's Fast DDS best-effort full-HD frames between processes are mostly lost.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from vda_ros.nodes.depth_settings import ManagedDepthSettings
from vda_ros.ros.launch_actions import (
    DEPTH_NODE_ARGUMENTS,
    FROM_FILE,
    NOT_GIVEN,
    given_true,
    large_message_profile,
    parameter_arguments,
)

FRAME = "camera_optical_frame"

ARGUMENTS = (
    ("video", None, "video file to play as the camera (required)"),
    ("fps", "0.0", "playback rate in Hz; 0: the video's own"),
    ("namespace", "vda_demo", "namespace of the demo's topics"),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare("vda_ros"), "config", "depth.yaml"]),
        "depth_node parameters file",
    ),
    ("reliability", "reliable", "QoS of the camera images, publisher and subscriber: reliable or best_effort"),
    ("use_sim_time", NOT_GIVEN, "use /clock" + FROM_FILE),
    ("managed", "false", "true: run the lifecycle (managed) node, managed_depth_node, instead of depth_node"),
    ("rviz", "false", "open RViz with config/vda.rviz"),
)
"""The launch file's own arguments; depth.launch.py's parameter arguments (DEPTH_NODE_ARGUMENTS) follow them."""


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration("namespace")
    forwarded = ("namespace", "params_file", *DEPTH_NODE_ARGUMENTS, "use_sim_time", "managed", "rviz")
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, description=text, **({} if default is None else {"default_value": default}))
                for name, default, text in ARGUMENTS
            ),
            *parameter_arguments(ManagedDepthSettings, DEPTH_NODE_ARGUMENTS),
            # Before any node: a process reads the profile once, when it starts (the camera too).
            large_message_profile(),
            Node(
                package="vda_ros",
                executable="video_source",
                namespace=namespace,
                parameters=[
                    {
                        # Typed explicitly: launch would read "30" as an integer and a path as whatever it looks like.
                        "source": ParameterValue(LaunchConfiguration("video"), value_type=str),
                        "fps": ParameterValue(LaunchConfiguration("fps"), value_type=float),
                        "loop": True,
                        "frame_id": FRAME,
                        "output_reliability": LaunchConfiguration("reliability"),
                        "use_sim_time": given_true("use_sim_time"),
                    }
                ],
                output="screen",
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare("vda_ros"), "launch", "depth.launch.py"])
                ),
                launch_arguments=[
                    *((name, LaunchConfiguration(name)) for name in forwarded),
                    ("input_reliability", LaunchConfiguration("reliability")),
                    ("camera_frame", FRAME),
                ],
            ),
        ]
    )
