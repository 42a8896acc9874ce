"""The numpy-only core: settings, geometry, per-frame outputs, colour, alignment, sparse sampling, metrics.

Nothing here imports ROS, PyTorch or touches files: the nodes, the bag tools, vda-video and the web app all
call these same functions, so a depth map becomes the same metres, cloud and colours on every path.
"""
