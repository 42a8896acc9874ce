"""Every backend gives the official depth (fp32), builds its graphs once, reuses them and rebuilds damaged ones.

One cache folder serves the module, so the ONNX files the onnxruntime tests export are the ones OpenVINO
converts, as on a user's machine. onnxruntime runs all 48 reference frames (the slot ring wraps at frame 42,
the slow anchor appears); the other graph backends run the same graphs, so their first 16 frames (a new slot
map at every step) prove their step while keeping the suite's time in bounds. The slot bookkeeping itself is
the engine's, shared by every backend, and proven over all 48 frames with PyTorch (test_model_reference).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from test_model_reference import INPUT_SIZE, assert_matches_reference, load_frames

from vda_ros.core.settings import BACKEND_CHOICES, ENCODER_CHOICES, PRECISION_CHOICES, ModelSettings
from vda_ros.model import (
    BACKEND_NAMES,
    ENCODERS,
    BackendError,
    BatchedStreamingDepth,
    OfflineDepth,
    StreamingDepth,
    random_model,
)
from vda_ros.model.backends import BACKENDS
from vda_ros.model.backends.cache import MANIFEST, GraphCache, GraphKey
from vda_ros.model.backends.openvino_backend import _SignalStack

STREAM_FRAMES = {"onnxruntime": 48, "openvino": 16, "compile": 16}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graphs")


@pytest.fixture(scope="module")
def frames(reference_dir: Path) -> list[np.ndarray]:
    return load_frames(reference_dir)


def streaming(backend: str, cache_dir: Path, log: list[str] | None = None, **kwargs: object) -> StreamingDepth:
    return StreamingDepth(
        random_model("vits", seed=0),
        input_size=INPUT_SIZE,
        device="cpu",
        backend=backend,
        cache_dir=cache_dir,
        log=log.append if log is not None else None,
        **kwargs,
    )


def entries(cache_dir: Path, prefix: str) -> list[Path]:
    return sorted(p for p in cache_dir.iterdir() if p.name.startswith(prefix + "-") and (p / MANIFEST).exists())


def test_the_options_name_every_registered_backend_encoder_and_precision() -> None:
    """core/settings.py imports no torch, so it spells the model's names out: they must stay the model's."""
    assert BACKEND_CHOICES == BACKEND_NAMES
    assert ModelSettings.option("backend").choices == BACKEND_NAMES and ModelSettings().backend == "torch"
    assert ENCODER_CHOICES == ("auto", *ENCODERS)
    precisions = {precision for backend in BACKENDS.values() for precision in backend.precisions}
    assert set(PRECISION_CHOICES) == {"auto", *precisions}


@pytest.mark.slow
@pytest.mark.parametrize("backend", STREAM_FRAMES)
def test_streaming_matches_official_and_the_second_start_loads_the_cache(
    backend: str, frames: list[np.ndarray], reference_dir: Path, cache_dir: Path
) -> None:
    count = STREAM_FRAMES[backend]
    log: list[str] = []
    engine = streaming(backend, cache_dir, log)
    depths = np.stack([engine.step(frame) for frame in frames[:count]])
    assert_matches_reference(depths, reference_dir / "vits_seed0_a_stream_280.npz", count)
    assert any(line.startswith(f"built {backend if backend != 'onnxruntime' else 'onnx'} graph") for line in log), log

    second = streaming(backend, cache_dir)
    again = np.stack([second.step(frame) for frame in frames[:2]])
    assert second.backend.cache.builds == 0 and second.backend.cache.hits >= 1
    np.testing.assert_array_equal(again, depths[:2])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ("onnxruntime", "openvino"))
def test_offline_matches_official(backend: str, frames: list[np.ndarray], reference_dir: Path, cache_dir: Path) -> None:
    """Two windows (48 frames) with alignment; the metric variant differs only in the engine's alignment step."""
    engine = OfflineDepth(
        random_model("vits", seed=0), input_size=INPUT_SIZE, device="cpu", backend=backend, cache_dir=cache_dir
    )
    assert_matches_reference(np.stack(list(engine.run(iter(frames)))), reference_dir / "vits_seed0_a_offline_280.npz")


@pytest.mark.slow
def test_a_changed_cache_file_is_detected_and_rebuilt(frames: list[np.ndarray], cache_dir: Path) -> None:
    first = streaming("onnxruntime", cache_dir)
    reference = [first.step(frame) for frame in frames[:2]]
    (graph,) = [entry / "graph.onnx" for entry in entries(cache_dir, "onnx-next")]
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    log: list[str] = []
    engine = streaming("onnxruntime", cache_dir, log)
    depths = [engine.step(frame) for frame in frames[:2]]
    assert engine.backend.cache.builds == 1
    assert any("differ from their recorded sha256: rebuilding" in line for line in log), log
    for got, want in zip(depths, reference, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_an_entry_its_runtime_cannot_load_is_rebuilt(frames: list[np.ndarray], cache_dir: Path) -> None:
    """Garbage with a matching manifest (hashes recomputed) passes the hash check; the runtime's refusal counts."""
    streaming("openvino", cache_dir).step(frames[0])
    (entry,) = entries(cache_dir, "openvino-first")
    (entry / "graph.bin").write_bytes(b"not a model")
    manifest = json.loads((entry / MANIFEST).read_text())

    manifest["files"]["graph.bin"] = hashlib.sha256(b"not a model").hexdigest()
    (entry / MANIFEST).write_text(json.dumps(manifest))
    log: list[str] = []
    engine = streaming("openvino", cache_dir, log)
    engine.step(frames[0])
    assert engine.backend.cache.builds == 1
    assert any("cannot be loaded" in line for line in log), log


@pytest.mark.slow
def test_openvino_leaves_the_threads_signal_stack_as_it_was(frames: list[np.ndarray], cache_dir: Path) -> None:
    """Its compile_model swaps in an alternate signal stack of its own; a later Ctrl-C must not run on it."""
    libc = ctypes.CDLL(None)

    def signal_stack() -> tuple[int | None, int, int]:
        stack = _SignalStack()
        libc.sigaltstack(None, ctypes.byref(stack))
        return stack.ss_sp, stack.ss_flags, stack.ss_size

    before = signal_stack()
    engine = streaming("openvino", cache_dir)
    for frame in frames[:2]:  # both graphs: compiling the step is what swapped it
        engine.step(frame)
    assert signal_stack() == before


@pytest.mark.slow
def test_a_damaged_compiled_package_is_refused(frames: list[np.ndarray], cache_dir: Path) -> None:
    """The compiled step goes through the same checks (rebuilding it, minutes on this CPU, is the tests' above)."""
    engine = streaming("compile", cache_dir)
    engine.step(frames[0])
    engine.step(frames[1])
    (entry,) = entries(cache_dir, "compile-next")
    key = GraphKey(**{**json.loads((entry / MANIFEST).read_text())["key"], "network_size": tuple(engine.net_size)})
    cache = GraphCache(cache_dir)
    assert cache.problem(key) is None
    package = entry / "graph.pt2"
    package.write_bytes(package.read_bytes()[:-100])
    assert cache.problem(key) == "has files that differ from their recorded sha256"


def test_a_new_checkpoint_size_or_runtime_gets_its_own_entry() -> None:
    key = GraphKey(
        backend="onnx",
        runtime="onnx opset 17; torch 2",
        graph="next",
        network_size=(280, 378),
        precision="fp32",
        weights="ab" * 32,
    )
    changed = [
        GraphKey(**{**key.__dict__, field: value})
        for field, value in [
            ("weights", "cd" * 32),
            ("network_size", (280, 364)),
            ("runtime", "onnx opset 17; torch 3"),
            ("precision", "int8"),
            ("graph", "first"),
        ]
    ]
    names = {key.name, *(other.name for other in changed)}
    assert len(names) == 1 + len(changed)


@pytest.mark.slow
def test_graph_backends_batch_streams_like_separate_engines(frames: list[np.ndarray], cache_dir: Path) -> None:
    """Two streams through one onnxruntime engine, the second starting later, equal two one-stream engines."""
    batched = BatchedStreamingDepth(
        random_model("vits", seed=0), input_size=INPUT_SIZE, backend="onnxruntime", cache_dir=cache_dir
    )
    alone = {name: streaming("onnxruntime", cache_dir) for name in "ab"}
    for index in range(4):
        batch = {"a": frames[index]} | ({"b": frames[10 + index]} if index else {})
        got = batched.step_batch(batch)
        for name, frame in batch.items():
            np.testing.assert_allclose(got[name], alone[name].step(frame), rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "precision", "bound"), [("onnxruntime", "int8", 0.2), ("openvino", "bf16", 0.1)])
def test_lossy_precisions_stay_near_fp32(
    backend: str, precision: str, bound: float, frames: list[np.ndarray], cache_dir: Path
) -> None:
    """Lossy, so not equal to fp32 (the option is really applied), but close to it."""
    try:
        lossy = streaming(backend, cache_dir, precision=precision)
    except BackendError as error:
        pytest.skip(f"this CPU lacks {precision}: {error}")
    exact = streaming(backend, cache_dir)
    for frame in frames[:2]:
        want = exact.step(frame)
        error = float(np.abs(lossy.step(frame) - want).max() / np.abs(want).max())
        assert 1e-5 < error < bound


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "precision", "message"),
    [
        ("tensorrt", None, "unknown backend 'tensorrt': expected one of torch, compile, onnxruntime, openvino"),
        ("onnxruntime", "bf16", "the onnxruntime backend offers precision fp32, int8, not bf16"),
        ("torch", "int8", "the torch backend offers precision fp32, fp16, bf16, not int8"),
    ],
)
def test_what_a_backend_does_not_offer_is_refused(
    backend: str, precision: str | None, message: str, cache_dir: Path
) -> None:
    with pytest.raises(BackendError, match=message):
        streaming(backend, cache_dir, precision=precision)


def test_offline_refuses_the_streaming_only_backend(cache_dir: Path) -> None:
    with pytest.raises(BackendError, match="compile backend runs the streaming step only"):
        OfflineDepth(random_model("vits", seed=0), backend="compile", cache_dir=cache_dir)
