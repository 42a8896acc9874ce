"""Live depth next to a running camera driver.

    ros2 launch vda_ros depth.launch.py namespace:=camera image:=image_raw [rviz:=true] [managed:=true autostart:=true]
    ros2 launch vda_ros depth.launch.py params_file:=robot_cameras.yaml metric:=true   # `cameras` in the file

depth_node runs in the camera's namespace, so its relative topics (depth/image, depth/relative,
depth/camera_info, depth/colored, points) appear beside the camera's. Parameters come from
params_file (default: the package's config/depth.yaml); the model arguments below are applied
on top of it, so they win over the file. Purely declarative: nothing here runs before launch does.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from vda_ros.launch_actions import large_message_profile

CONFIG = PathJoinSubstitution([FindPackageShare("vda_ros"), "config"])
EXECUTABLE = PythonExpression(
    ["'managed_depth_node' if '", LaunchConfiguration("managed"), "'.lower() == 'true' else 'depth_node'"]
)
"""The plain node, or with managed:=true the lifecycle node (same parameters and topics)."""

ARGUMENTS = (
    ("namespace", "", "namespace of the camera; depth_node (and RViz) run in it"),
    ("image", "image", "camera image topic, relative to namespace (raw; the /compressed sibling with "
                       "image_transport:=compressed in the params file)"),
    ("camera_info", "camera_info", "camera info topic, relative to namespace"),
    ("params_file", PathJoinSubstitution([CONFIG, "depth.yaml"]), "depth_node parameters file"),
    ("checkpoint", "", "model checkpoint; empty: the official file in $VDA_CHECKPOINT_DIR or ./checkpoints"),
    ("encoder", "vits", "model size: vits, vitb or vitl"),
    ("metric", "false", "true: metric model (metres on depth/image, point cloud)"),
    ("device", "auto", "auto, cuda or cpu"),
    ("precision", "auto", "auto (fp16 on CUDA with torch, else fp32), fp32, fp16, bf16 or int8"),
    ("backend", "torch", "torch, compile, onnxruntime or openvino (graphs are built on first use and cached)"),
    ("input_size", "518", "network input size (shorter side, multiple of 14); 252 runs about 4x faster on a CPU"),
    ("max_res", "1280", "larger images are shrunk to this longer side before inference; 0: never"),
    ("random_weights", "false", "smoke test without a checkpoint: random weights, MEANINGLESS depth"),
    ("input_reliability", "best_effort", "QoS of the image subscription: best_effort (hears every camera) or "
                                         "reliable (a reliable camera loses no large frames, e.g. on Jazzy)"),
    ("use_sim_time", "false", "use /clock (bag playback)"),
    ("managed", "false", "true: run the lifecycle (managed) node, managed_depth_node, instead of depth_node"),
    ("autostart", "false", "with managed:=true: configure and activate at start-up"),
    ("rviz", "false", "open RViz with config/vda.rviz"),
    ("camera_frame", "camera_optical_frame", "RViz fixed frame: the camera's optical frame_id"),
)


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration("namespace")
    use_sim_time = LaunchConfiguration("use_sim_time")
    remappings = [("image", LaunchConfiguration("image")), ("camera_info", LaunchConfiguration("camera_info"))]
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS),
        # Large best-effort messages between processes need bigger shared-memory segments with
        # Fast DDS; a profile the user already set is kept.
        large_message_profile(),
        Node(
            package="vda_ros",
            executable=EXECUTABLE,
            namespace=namespace,
            parameters=[
                LaunchConfiguration("params_file"),
                {
                    # Typed explicitly: launch would read a path such as "1.5" as a number.
                    "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
                    "encoder": LaunchConfiguration("encoder"),
                    "metric": LaunchConfiguration("metric"),
                    "device": LaunchConfiguration("device"),
                    "precision": LaunchConfiguration("precision"),
                    "backend": LaunchConfiguration("backend"),
                    "input_size": ParameterValue(LaunchConfiguration("input_size"), value_type=int),
                    "max_res": ParameterValue(LaunchConfiguration("max_res"), value_type=int),
                    "random_weights": LaunchConfiguration("random_weights"),
                    "input_reliability": LaunchConfiguration("input_reliability"),
                    "use_sim_time": use_sim_time,
                    "autostart": LaunchConfiguration("autostart"),
                },
            ],
            remappings=remappings,
            output="screen",
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            namespace=namespace,
            # The .rviz file names topics relatively, so they resolve in the camera's namespace.
            arguments=["-d", PathJoinSubstitution([CONFIG, "vda.rviz"]), "-f", LaunchConfiguration("camera_frame")],
            parameters=[{"use_sim_time": use_sim_time}],
            remappings=remappings,
            condition=IfCondition(LaunchConfiguration("rviz")),
        ),
    ])
