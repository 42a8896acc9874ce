"""The bag path: depth for a whole rosbag2 recording with the offline engine (vda-process-bag and its fleet).

A recording has every frame at hand, so the windowed offline engine, where each frame also sees
later frames, can do better than the live node's streaming engine. The path of a frame is the live
node's, in another order: bag reader (vda_ros.io.bags) → vda_ros.ros.conversions → OfflineDepth →
vda_ros.core.outputs → ros_conversions → bag writer.

Output topics, under the image topic's namespace (/cam/image_raw or /cam/image_raw/compressed →
/cam/...), each message with its source image's header and record time:
  depth/image        32FC1 metres (metric model), or
  depth/relative     32FC1 relative inverse depth, larger is nearer (relative model)
  depth/camera_info  the image's CameraInfo (same stamp, else the latest earlier one) for the depth image
  depth/colored      bgr8 inferno rendering
  points             PointCloud2 with colours (metric model with a calibrated CameraInfo)

depth/colored uses one colour range for the whole recording, so a colour means the same depth from
start to end: --color-min MIN --color-max MAX, or else the widest 2nd..98th percentile range among
the first COLOR_RANGE_FRAMES depth maps (the engine's first window: a relative model aligns every
later window to it, and metric depth is in metres throughout). A range over the whole bag would need
a second pass or the whole recording in memory.

The modules, one job each: settings (BagSettings, every option of the tool), plan (topics read and
written), pipeline (frames through the engine, outputs into the bag), alignment (--align-topic), report
(the summary), run (the whole run). The command line and the ROS parameters are read by vda_ros.cli.process_bag.
"""
