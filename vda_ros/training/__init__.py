"""Fine-tuning Video Depth Anything on recorded RGB + ground-truth depth (no ROS imports at this level).

`VideoDepthLoss` is the official training loss; `clip_forward` runs the network over a clip either as the
official offline training does (bidirectional 32-frame windows) or exactly as the streaming engine does.
"""

from .losses import LossInputError, MetricVideoDepthLoss, VideoDepthLoss

__all__ = ["LossInputError", "MetricVideoDepthLoss", "VideoDepthLoss"]
