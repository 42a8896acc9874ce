"""Metric depth from a relative (or metric) depth_node and a sparse range sensor, next to depth.launch.py.

    ros2 launch vda_ros depth.launch.py namespace:=camera image:=image_raw
    ros2 launch vda_ros depth_align.launch.py namespace:=camera sparse_topic:=/lidar/points sparse_source:=points \
        sparse_translation:='[0.0, -0.08, 0.02]' sparse_rotation:='[0.5, -0.5, 0.5, 0.5]'

depth_align runs in the camera's namespace beside depth_node: it reads depth/relative (or, with
input:=metric, depth/metric: remap depth_node's depth/image there) and depth/camera_info, and publishes
depth/image and points. sparse_topic is remapped onto sparse_depth or sparse_points, whichever
sparse_source selects. Parameters come from params_file (default config/depth_align.yaml); the
arguments below win over it.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CONFIG = PathJoinSubstitution([FindPackageShare("vda_ros"), "config"])

ARGUMENTS = (
    ("namespace", "", "namespace of the camera (and of depth_node)"),
    ("input", "relative", "relative (depth/relative) or metric (depth/metric)"),
    ("sparse_source", "depth_image", "depth_image (registered depth, 32FC1 m or 16UC1 mm) or points (PointCloud2)"),
    ("sparse_topic", "sparse_depth", "the sparse sensor's topic (relative to namespace, or absolute)"),
    ("sparse_translation", "[0.0, 0.0, 0.0]", "points: sensor position in the camera optical frame [x, y, z] m"),
    ("sparse_rotation", "[0.0, 0.0, 0.0, 1.0]", "points: sensor orientation in the camera optical frame [x, y, z, w]"),
    ("params_file", PathJoinSubstitution([CONFIG, "depth_align.yaml"]), "depth_align parameters file"),
    ("use_sim_time", "false", "use /clock (bag playback)"),
)


def generate_launch_description() -> LaunchDescription:
    sparse_topic = LaunchConfiguration("sparse_topic")
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS),
        Node(
            package="vda_ros",
            executable="depth_align",
            namespace=LaunchConfiguration("namespace"),
            parameters=[
                LaunchConfiguration("params_file"),
                {
                    "input": LaunchConfiguration("input"),
                    "sparse_source": LaunchConfiguration("sparse_source"),
                    # Read as YAML lists: write the numbers with a decimal point (doubles, not integers).
                    "sparse_translation": LaunchConfiguration("sparse_translation"),
                    "sparse_rotation": LaunchConfiguration("sparse_rotation"),
                    "use_sim_time": LaunchConfiguration("use_sim_time"),
                },
            ],
            remappings=[("sparse_depth", sparse_topic), ("sparse_points", sparse_topic)],
            output="screen",
        ),
    ])
