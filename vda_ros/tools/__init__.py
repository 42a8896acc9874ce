"""Command-line tools that are not ROS nodes, though they may start nodes or read ROS parameters."""
