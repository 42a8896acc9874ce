"""The graph cache's own rules, with stand-in builds (bytes, not graphs): damage is rebuilt.

The runtimes' side (real graphs rebuilt after damage, loaded on the second start) is test_backends'; here the
cache is exercised where a real build would take minutes: every kind of broken manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vda_ros.model.backends.cache import MANIFEST, GraphCache, GraphKey

KEY = GraphKey(backend="onnx", runtime="onnx opset 17; torch 2", graph="next", network_size=(56, 70),
               precision="fp32", weights="ab" * 32)


def writer(data: bytes) -> Callable[[Path], None]:
    """A build that writes `data` as the entry's one graph file."""
    return lambda folder: (folder / "graph.bin").write_bytes(data)


def read(folder: Path) -> bytes:
    return (folder / "graph.bin").read_bytes()


def cache_with_log(root: Path) -> tuple[GraphCache, list[str]]:
    log: list[str] = []
    return GraphCache(root, log.append), log


@pytest.mark.parametrize("manifest", [
    None, [], 1, "text",
    {},
    {"key": KEY.fields()},
    {"key": KEY.fields(), "files": []},
    {"key": [], "files": {}},
    {"key": "onnx", "files": {"graph.bin": "00"}},
], ids=["null", "list", "number", "string", "empty", "no-files", "files-list", "key-list", "key-string"])
def test_a_malformed_manifest_is_damage_and_the_entry_is_rebuilt(tmp_path: Path, manifest: Any) -> None:
    first = GraphCache(tmp_path)
    assert first.get(KEY, writer(b"old"), read) == b"old"
    (first.entry(KEY) / MANIFEST).write_text(json.dumps(manifest))
    cache, log = cache_with_log(tmp_path)
    assert cache.get(KEY, writer(b"new"), read) == b"new"
    assert cache.builds == 1 and any(line.endswith(": rebuilding it") for line in log), log
    assert cache.problem(KEY) is None
    assert GraphCache(tmp_path).get(KEY, writer(b"never"), read) == b"new"


def test_a_manifest_nested_too_deep_to_parse_is_damage(tmp_path: Path) -> None:
    GraphCache(tmp_path).get(KEY, writer(b"old"), read)
    (tmp_path / KEY.name / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    cache = GraphCache(tmp_path)
    assert cache.get(KEY, writer(b"new"), read) == b"new" and cache.builds == 1
