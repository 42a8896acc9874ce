"""OpenVINO on the CPU: the ONNX graphs converted to OpenVINO's IR once, compiled at every start (seconds).

bf16 is OpenVINO's inference-precision hint on CPUs with AVX512-BF16 or AMX, applied when compiling the same
IR; fp32 sets the hint to f32 explicitly, because OpenVINO would otherwise pick bf16 by itself on AMX CPUs.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import GraphBackend, Runner
from .errors import BackendError
from .onnx_backend import onnx_graph

IR_FILE = "graph.xml"
HINTS = {"fp32": "f32", "bf16": "bf16"}


def _openvino() -> Any:
    try:
        import openvino
    except ImportError as error:
        raise BackendError("the openvino backend needs the openvino package (pip install openvino)") from error
    return openvino


class _SignalStack(ctypes.Structure):
    """`stack_t` of sigaltstack(2)."""

    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@contextmanager
def thread_signal_stack_kept() -> Iterator[None]:
    """Restore the calling thread's alternate signal stack when the block ends.

    OpenVINO's compile_model installs an alternate signal stack of its own on the calling thread (measured with
    2026.4) and does not put the previous one back. Python delivers every signal on the alternate stack
    (SA_ONSTACK), so a later Ctrl-C or SIGTERM can run on memory OpenVINO has since freed: a crash instead of
    the tools' clean exit 130.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    previous = _SignalStack()
    libc.sigaltstack(None, ctypes.byref(previous))
    try:
        yield
    finally:
        libc.sigaltstack(ctypes.byref(previous), None)


class OpenVinoBackend(GraphBackend):
    name = "openvino"
    precisions = ("fp32", "bf16")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.device.type != "cpu":
            raise BackendError(f"the openvino backend runs on the CPU here, not on {self.device}")
        self.core = _openvino().Core()
        if self.precision == "bf16" and "BF16" not in self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise BackendError(
                "precision bf16 needs a CPU with AVX512-BF16 or AMX; this one offers "
                + ", ".join(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
            )

    def runtime_version(self) -> str:
        return f"openvino {_openvino().__version__}"

    def open(self, graph: str, net_size: tuple[int, int]) -> Runner:
        openvino = _openvino()

        def build(folder: Path) -> None:
            model = self.core.read_model(str(onnx_graph(self, graph, net_size)))
            # compress_to_fp16 would halve the file but round every weight: parity needs them as they are.
            openvino.save_model(model, str(folder / IR_FILE), compress_to_fp16=False)

        def load(folder: Path) -> Any:
            config = {"INFERENCE_PRECISION_HINT": HINTS[self.precision], "PERFORMANCE_HINT": "LATENCY"}
            with thread_signal_stack_kept():
                return self.core.compile_model(str(folder / IR_FILE), "CPU", config)

        compiled = self.cache.get(
            self.key(graph, net_size, "openvino", self.runtime_version(), precision="fp32"), build, load
        )
        request = compiled.create_infer_request()
        count = len(compiled.outputs)

        def run(inputs: list[Tensor]) -> list[Tensor]:
            request.infer([np.ascontiguousarray(t.numpy()) for t in inputs])
            # The request reuses its output memory: copy before the next stream's step overwrites it.
            return [torch.from_numpy(request.get_output_tensor(i).data.copy()) for i in range(count)]

        return run
