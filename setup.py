"""Build script for vda_ros (ament_python): colcon and pip both install through this file."""

from glob import glob
from pathlib import Path
from xml.etree import ElementTree

from setuptools import find_packages, setup

PACKAGE = "vda_ros"


def package_version() -> str:
    """The version written in package.xml, its one place: ROS tooling (bloom, catkin_prepare_release) reads and
    bumps it there, and vda_ros.__version__ reads it too."""
    return (
        ElementTree.parse(Path(__file__).resolve().with_name("package.xml")).getroot().findtext("version", "").strip()
    )


# Executables under two names: the short ROS names that `ros2 run vda_ros <name>` expects
# and `vda-` names that are unambiguous on a plain PATH (pip installs). process_bag is a tool,
# not a node, but it takes ROS parameters under `ros2 run` as the nodes do.
NODE_ENTRY_POINTS = {
    "depth_node": "vda_ros.nodes.depth_node:main",
    "managed_depth_node": "vda_ros.nodes.managed_depth_node:main",
    "video_source": "vda_ros.nodes.video_source:main",
    "process_bag": "vda_ros.cli.process_bag:main",
    "depth_align": "vda_ros.nodes.depth_align:main",
}


def console_scripts() -> list[str]:
    """Entry points of both tools and nodes, each node under its ROS and its vda- name."""
    scripts = [
        "vda-video = vda_ros.cli.video:main",
        "vda-download-weights = vda_ros.cli.weights:main",
        "vda-demo = vda_ros.cli.demo:main",
        "vda-export-onnx = vda_ros.cli.export_onnx:main",
        "vda-app = vda_ros.cli.app:main",
        "vda-finetune = vda_ros.cli.finetune:main",
        "vda-eval = vda_ros.cli.eval:main",
        "vda-process-bags = vda_ros.cli.process_bags:main",
    ]
    for name, target in NODE_ENTRY_POINTS.items():
        scripts.append(f"{name} = {target}")
        scripts.append(f"vda-{name.replace('_', '-')} = {target}")
    return scripts


setup(
    name=PACKAGE,
    version=package_version(),
    packages=find_packages(exclude=["test", "test.*"]),
    # PEP 561: the package's own type hints are for its users' type checkers too.
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        # The ament index marker and package.xml make `ros2 pkg` and launch find the package.
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*")),
    ],
    # Minimum versions only (requirements.txt pins the tested ones): NumPy 1.21 and Python 3.10 are
    # Humble's, tested by the humble install variant; the model needs PyTorch 2.0. OpenCV is left
    # out because two distributions provide cv2 (pip's opencv-python[-headless], apt's
    # python3-opencv); naming one would reject the other.
    install_requires=["setuptools", "numpy>=1.21", "torch>=2.0", "tqdm>=4.57", "rosbags>=0.11"],
    extras_require={
        # What the tests need: colcon test runs pytest (not unittest) only when "test" names it.
        "test": ["pytest", "pytest-timeout", "onnx", "onnxruntime"],
        # vda-process-bags runs on Ray; the client extra lets it reach a cluster at ray://host:port.
        "fleet": ["ray[client]"],
        # The onnxruntime and openvino backends (torch and compile need nothing more).
        "backends": ["onnxruntime", "openvino"],
    },
    zip_safe=True,
    maintainer="vda_ros maintainers",
    maintainer_email="maintainers@users.noreply.b-seed-ae655f45.example",
    description="Video Depth Anything monocular depth for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={"console_scripts": console_scripts()},
)
