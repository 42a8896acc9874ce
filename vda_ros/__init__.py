"""Video Depth Anything for ROS 2: temporally consistent monocular depth from one camera."""

__version__ = "0.1.0"
