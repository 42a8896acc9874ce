"""ROS 2 nodes: thin glue between messages and the depth engines."""
