"""Live depth next to a running camera driver.

    ros2 launch vda_ros depth.launch.py namespace:=camera image:=image_raw [rviz:=true] [managed:=true autostart:=true]
    ros2 launch vda_ros depth.launch.py params_file:=robot_cameras.yaml metric:=true   # `cameras` in the file

depth_node runs in the camera's namespace, so its relative topics (depth/image, depth/relative,
depth/camera_info, depth/colored, points) appear beside the camera's. Parameters come from
params_file (default: the package's config/depth.yaml); a parameter argument below (NODE_PARAMETERS)
wins over the file only when it is given: left out, the file's value stays. Declarative but for
that choice, made when launch runs (an OpaqueFunction).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription
from vda_ros.ros.launch_actions import FROM_FILE, NOT_GIVEN, given_parameters, given_true, large_message_profile

CONFIG = PathJoinSubstitution([FindPackageShare("vda_ros"), "config"])
EXECUTABLE = PythonExpression(
    ["'managed_depth_node' if '", LaunchConfiguration("managed"), "'.lower() == 'true' else 'depth_node'"]
)
"""The plain node, or with managed:=true the lifecycle node (same parameters and topics)."""

NODE_PARAMETERS = {
    # Typed explicitly: launch would read a path such as "1.5" as a number.
    "checkpoint": str,
    "encoder": str,
    "metric": bool,
    "device": str,
    "precision": str,
    "backend": str,
    "input_size": int,
    "max_res": int,
    "random_weights": bool,
    "input_reliability": str,
    "refined": bool,
    "refined_flush_timeout": float,
    "use_sim_time": bool,
    "autostart": bool,
}
"""Arguments that set the node parameter of their name (and type); each wins over params_file only when given."""

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
    (
        "checkpoint",
        NOT_GIVEN,
        "model checkpoint (the file's empty value: the official file in "
        "$VDA_CHECKPOINT_DIR or ./checkpoints)" + FROM_FILE,
    ),
    ("encoder", NOT_GIVEN, "model size: auto (read from the checkpoint, else vits), vits, vitb or vitl" + FROM_FILE),
    ("metric", NOT_GIVEN, "true: metric model (metres on depth/image, point cloud)" + FROM_FILE),
    ("device", NOT_GIVEN, "auto, cuda or cpu" + FROM_FILE),
    ("precision", NOT_GIVEN, "auto (fp16 on CUDA with torch, else fp32), fp32, fp16, bf16 or int8" + FROM_FILE),
    (
        "backend",
        NOT_GIVEN,
        "torch, compile, onnxruntime or openvino (graphs are built on first use and cached)" + FROM_FILE,
    ),
    (
        "input_size",
        NOT_GIVEN,
        "network input size (shorter side, multiple of 14); 252 runs about 4x faster on a CPU" + FROM_FILE,
    ),
    ("max_res", NOT_GIVEN, "larger images are shrunk to this longer side before inference; 0: never" + FROM_FILE),
    ("random_weights", NOT_GIVEN, "smoke test without a checkpoint: random weights, MEANINGLESS depth" + FROM_FILE),
    (
        "input_reliability",
        NOT_GIVEN,
        "QoS of the image subscription: best_effort (hears every camera) or "
        "reliable (a reliable camera loses no large frames, e.g. on Jazzy)" + FROM_FILE,
    ),
    (
        "refined",
        NOT_GIVEN,
        "true: also publish the windowed model's more accurate depth under refined/, about one window "
        "(31 frames) behind" + FROM_FILE,
    ),
    ("refined_flush_timeout", NOT_GIVEN, "seconds without a frame that end a refined stream" + FROM_FILE),
    ("use_sim_time", NOT_GIVEN, "use /clock (bag playback)" + FROM_FILE),
    ("managed", "false", "true: run the lifecycle (managed) node, managed_depth_node, instead of depth_node"),
    ("autostart", NOT_GIVEN, "with managed:=true: configure and activate at start-up" + FROM_FILE),
    ("rviz", "false", "open RViz with config/vda.rviz"),
    ("camera_frame", "camera_optical_frame", "RViz fixed frame: the camera's optical frame_id"),
)

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
