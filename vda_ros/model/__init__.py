"""Video Depth Anything in plain PyTorch (no ROS): the network, checkpoint loading, the streaming and windowed
engines, and the windowed engine behind a live stream (refined depth)."""

from vda_ros.core.settings import DEFAULT_ENCODER

from .backends import BACKEND_NAMES, BackendError, CacheError, check_backend, check_backend_cache
from .checkpoint import (
    CheckpointError,
    checkpoint_filename,
    default_checkpoint,
    default_checkpoint_dir,
    load_model,
)
from .config import ENCODER_CONFIGS, ENCODERS, EncoderConfig, encoder_config
from .device import PRECISIONS, DeviceError, select_device
from .factory import build_engine, build_model, check_engine, model_source, open_model
from .network import VideoDepthAnything
from .offline import OfflineDepth
from .preprocess import FrameSizeError, input_size_problem
from .random_weights import random_model
from .refined import RefinedStats, RefinedStream
from .streaming import BatchedStreamingDepth, StreamingDepth

__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_ENCODER",
    "ENCODERS",
    "ENCODER_CONFIGS",
    "PRECISIONS",
    "BackendError",
    "BatchedStreamingDepth",
    "CacheError",
    "CheckpointError",
    "DeviceError",
    "EncoderConfig",
    "FrameSizeError",
    "OfflineDepth",
    "RefinedStats",
    "RefinedStream",
    "StreamingDepth",
    "VideoDepthAnything",
    "build_engine",
    "build_model",
    "check_backend",
    "check_backend_cache",
    "check_engine",
    "checkpoint_filename",
    "default_checkpoint",
    "default_checkpoint_dir",
    "encoder_config",
    "input_size_problem",
    "load_model",
    "model_source",
    "open_model",
    "random_model",
    "select_device",
]
