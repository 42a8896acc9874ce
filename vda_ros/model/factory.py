"""The one place that turns a user's model settings into a network and an engine, for every node and tool.

Every error a user can fix comes out as one of the package's own errors (CheckpointError, DeviceError,
BackendError with CacheError): tools print them as one `error:` line, nodes refuse to start with them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, overload

from vda_ros.core.settings import DEFAULT_ENCODER, ModelSettings

from .backends import check_backend, check_backend_cache
from .checkpoint import CheckpointError, default_checkpoint, load_model
from .device import select_device
from .network import VideoDepthAnything
from .offline import OfflineDepth
from .random_weights import random_model
from .streaming import BatchedStreamingDepth, StreamingDepth

CHECKPOINT_HINT = (
    "(Set checkpoint (--checkpoint) to the file, or random_weights (--random-weights) for a smoke test with "
    "meaningless depth.)"
)

RANDOM_WEIGHTS_BANNER = """\
######################################################################
#  RANDOM WEIGHTS: smoke-test mode. The network has random weights,  #
#  so every depth map and video written by this run is MEANINGLESS.  #
######################################################################"""
"""What a command-line tool prints on standard error before it builds a network with random_weights."""

EngineKind = Literal["stream", "batched", "offline"]


def open_model(
    checkpoint: str | Path | None, encoder: str | None, metric: bool, random_weights: bool = False
) -> VideoDepthAnything:
    """Seeded random weights for smoke tests; otherwise the checkpoint, by default the official file name.

    With a checkpoint but no encoder, the encoder is detected from the file. Raises CheckpointError with
    what to do when the file is missing or does not fit.
    """
    if random_weights:
        return random_model(encoder or DEFAULT_ENCODER, seed=0, metric=metric)
    path = Path(checkpoint) if checkpoint else default_checkpoint(encoder or DEFAULT_ENCODER, metric)
    return load_model(path, encoder=encoder, metric=metric)


def build_model(settings: ModelSettings) -> VideoDepthAnything:
    """The network the settings ask for; CheckpointError saying which setting to change when it cannot load."""
    try:
        return open_model(settings.checkpoint_path, settings.encoder_name, settings.metric, settings.random_weights)
    except CheckpointError as error:
        raise CheckpointError(f"{error}\n{CHECKPOINT_HINT}") from error


def model_source(settings: ModelSettings) -> str:
    """Where the weights come from, for logs: RANDOM WEIGHTS, or the checkpoint file."""
    if settings.random_weights:
        return "RANDOM WEIGHTS"
    return str(
        settings.checkpoint_path or default_checkpoint(settings.encoder_name or DEFAULT_ENCODER, settings.metric)
    )


def check_engine(settings: ModelSettings, offline: bool = False) -> None:
    """Refuse, before any model loads, a backend, precision or graph cache the engine could not use."""
    check_backend(settings.backend, settings.engine_precision, offline)
    check_backend_cache(settings.backend, settings.cache_dir)


@overload
def build_engine(
    settings: ModelSettings,
    kind: Literal["stream"],
    model: VideoDepthAnything | None = None,
    log: Callable[[str], None] | None = None,
) -> StreamingDepth: ...
@overload
def build_engine(
    settings: ModelSettings,
    kind: Literal["batched"],
    model: VideoDepthAnything | None = None,
    log: Callable[[str], None] | None = None,
) -> BatchedStreamingDepth: ...
@overload
def build_engine(
    settings: ModelSettings,
    kind: Literal["offline"],
    model: VideoDepthAnything | None = None,
    log: Callable[[str], None] | None = None,
) -> OfflineDepth: ...
def build_engine(
    settings: ModelSettings,
    kind: EngineKind,
    model: VideoDepthAnything | None = None,
    log: Callable[[str], None] | None = None,
) -> StreamingDepth | BatchedStreamingDepth | OfflineDepth:
    """The engine of `kind` for the settings: checked first, then the network (`model` if given) on its device.

    Args:
        settings: the model options (network, device, precision, backend, graph cache, input size).
        kind: stream (one camera, frame by frame), batched (several cameras in one forward pass) or offline
            (32-frame windows over a recording).
        model: a network already built from the same settings (a web app keeps one per model size).
        log: receives the graph cache's one-line reports (building, built, loaded, rebuilding).

    Raises CheckpointError, DeviceError or BackendError (CacheError) for what the user can change.
    """
    check_engine(settings, offline=kind == "offline")
    device = select_device(settings.device)
    network = build_model(settings) if model is None else model
    engine_class: type[StreamingDepth | BatchedStreamingDepth | OfflineDepth]
    engine_class = {"stream": StreamingDepth, "batched": BatchedStreamingDepth, "offline": OfflineDepth}[kind]
    return engine_class(
        network,
        input_size=settings.input_size,
        device=device,
        precision=settings.engine_precision,
        backend=settings.backend,
        cache_dir=settings.cache_dir,
        log=log,
    )
