"""ONNX Runtime: the exported graphs on its CPU execution provider (CUDA and TensorRT providers where present).

The fp32 ONNX files are the artifact every ONNX consumer shares: `vda-export-onnx` writes the same files for
users who build TensorRT engines themselves. int8 is ONNX Runtime's dynamic quantization of the weights of
every MatMul and Gemm (activations quantized per call), built from the fp32 files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import GraphBackend, Runner
from .cache import GraphKey
from .errors import BackendError
from .graphs import OPSET, export_onnx

GRAPH_FILE = "graph.onnx"


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendError("the onnxruntime backend needs the onnxruntime package (pip install onnxruntime)") from error
    return onnxruntime


class OnnxBackend(GraphBackend):
    name = "onnxruntime"
    precisions = ("fp32", "int8")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runtime = _onnxruntime()
        available = runtime.get_available_providers()
        if self.device.type == "cuda":
            wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
            if not wanted:
                raise BackendError(
                    f"device {self.device} asked for, but this onnxruntime has no CUDA provider "
                    f"(it has {', '.join(available)})"
                )
            self.providers = [*wanted, "CPUExecutionProvider"]
        else:
            self.providers = ["CPUExecutionProvider"]
        # The graphs take and return host arrays; the engine keeps its tensors on the CPU for them.
        self.device = torch.device("cpu")

    def runtime_version(self) -> str:
        return f"onnxruntime {_onnxruntime().__version__}"

    def open(self, graph: str, net_size: tuple[int, int]) -> Runner:
        build: Callable[[Path], None]
        if self.precision == "int8":
            key = self.key(graph, net_size, "onnx-int8", self.runtime_version())

            def quantized(folder: Path) -> None:
                # The fp32 file is needed only to quantize: a start that finds the int8 entry never reads it.
                _quantize(onnx_graph(self, graph, net_size), folder / GRAPH_FILE)

            build = quantized
        else:
            key, build = onnx_key(self, graph, net_size), onnx_export(self, graph, net_size)
        # A cached file that the runtime cannot parse counts as damage: the cache rebuilds it.
        session = self.cache.get(key, build, lambda folder: self._session(folder / GRAPH_FILE))
        names = [entry.name for entry in session.get_inputs()]

        def run(inputs: list[Tensor]) -> list[Tensor]:
            feeds = {name: np.ascontiguousarray(t.numpy()) for name, t in zip(names, inputs, strict=True)}
            return [torch.from_numpy(output) for output in session.run(None, feeds)]

        return run

    def _session(self, path: Path) -> Any:
        runtime = _onnxruntime()
        options = runtime.SessionOptions()
        options.graph_optimization_level = runtime.GraphOptimizationLevel.ORT_ENABLE_ALL
        return runtime.InferenceSession(str(path), options, providers=self.providers)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)


def onnx_key(backend: GraphBackend, graph: str, net_size: tuple[int, int]) -> GraphKey:
    """The key of a graph's fp32 ONNX file: it depends on torch (which traces it) and the opset, no runtime."""
    return backend.key(graph, net_size, "onnx", f"onnx opset {OPSET}", precision="fp32")


def onnx_export(backend: GraphBackend, graph: str, net_size: tuple[int, int]) -> Callable[[Path], None]:
    """The build step of that file: export the graph of `backend`'s model into a cache entry's folder."""
    return lambda folder: export_onnx(backend.model, graph, net_size, folder / GRAPH_FILE)


def onnx_graph(backend: GraphBackend, graph: str, net_size: tuple[int, int]) -> Path:
    """The fp32 ONNX file of one graph of `backend`'s model, exported into its cache if it is not there yet."""
    return backend.cache.get(
        onnx_key(backend, graph, net_size), onnx_export(backend, graph, net_size), lambda folder: folder / GRAPH_FILE
    )
