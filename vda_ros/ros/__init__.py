"""ROS helpers: message <-> array conversions, parameters from settings, QoS, diagnostics, node life, launch.

The nodes are built from these; nothing here runs the network.
"""
