"""Files: atomic writes, videos and image folders, per-frame depth files, rosbag2 reading and writing.

No ROS node lives here (bags are read and written with rosbags; messages are (de)serialised with rclpy's
serialisation only), and nothing here runs the network.
"""
