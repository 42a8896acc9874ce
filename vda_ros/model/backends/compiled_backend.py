"""Compiled PyTorch: the fixed-shape streaming step compiled ahead of time by TorchInductor (AOTInductor).

The compiled step is a package file (`graph.pt2`: generated C++ and the weights) that loads in a fraction of a
second on later starts, with no compiler needed then. Only the repeated step is compiled: the first frame of
a stream, one call per stream start, runs the same explicit graph eagerly, since compiling it (minutes)
would cost more than it could ever save. Offline windows are not compiled: use the torch, onnxruntime or
openvino backend for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .base import GraphBackend, Runner
from .errors import BackendError
from .graphs import FirstStep, module_and_inputs

PACKAGE_FILE = "graph.pt2"


class CompiledBackend(GraphBackend):
    name = "compile"
    precisions = ("fp32",)
    offline = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.device.type != "cpu":
            raise BackendError(f"the compile backend is built for the CPU here, not for {self.device}")

    def runtime_version(self) -> str:
        return "aotinductor"

    def open(self, graph: str, net_size: tuple[int, int]) -> Runner:
        if graph == "first":
            step = FirstStep(self.model)
            return lambda inputs: list(step(*inputs))

        def build(folder: Path) -> None:
            module, example = module_and_inputs(self.model, graph, net_size)
            with torch.no_grad():
                program = torch.export.export(module, example, strict=False)
                torch._inductor.aoti_compile_and_package(program, package_path=str(folder / PACKAGE_FILE))

        compiled = self.cache.get(
            self.key(graph, net_size, "compile", self.runtime_version()),
            build,
            lambda folder: torch._inductor.aoti_load_package(str(folder / PACKAGE_FILE)),
        )

        return lambda inputs: list(compiled(*inputs))
