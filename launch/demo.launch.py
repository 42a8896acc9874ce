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
from vda_ros.ros.launch_actions import FROM_FILE, NOT_GIVEN, given_true, large_message_profile

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
    (
        "checkpoint",
        NOT_GIVEN,
        "model checkpoint (the file's empty value: the official file in $VDA_CHECKPOINT_DIR "
        "or ./checkpoints)" + FROM_FILE,
    ),
    ("encoder", NOT_GIVEN, "model size: auto (read from the checkpoint, else vits), vits, vitb or vitl" + FROM_FILE),
    ("metric", NOT_GIVEN, "true: metric model (metres, point cloud)" + FROM_FILE),
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
    ("reliability", "reliable", "QoS of the camera images, publisher and subscriber: reliable or best_effort"),
    ("use_sim_time", NOT_GIVEN, "use /clock" + FROM_FILE),
    (
        "refined",
        NOT_GIVEN,
        "true: also publish the windowed model's more accurate depth under refined/, about one window "
        "(31 frames) behind" + FROM_FILE,
    ),
    ("refined_flush_timeout", NOT_GIVEN, "seconds without a frame that end a refined stream" + FROM_FILE),
    ("random_weights", NOT_GIVEN, "smoke test without a checkpoint: random weights, MEANINGLESS depth" + FROM_FILE),
    ("managed", "false", "true: run the lifecycle (managed) node, managed_depth_node, instead of depth_node"),
    ("autostart", NOT_GIVEN, "with managed:=true: configure and activate at start-up" + FROM_FILE),
    ("rviz", "false", "open RViz with config/vda.rviz"),
)


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration("namespace")
    forwarded = (
        "namespace",
        "params_file",
        "checkpoint",
        "encoder",
        "metric",
        "device",
        "precision",
        "backend",
        "input_size",
        "max_res",
        "use_sim_time",
        "random_weights",
        "refined",
        "refined_flush_timeout",
        "managed",
        "autostart",
        "rviz",
    )
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(name, description=text, **({} if default is None else {"default_value": default}))
                for name, default, text in ARGUMENTS
            ),
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
