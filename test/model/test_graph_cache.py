"""The graph cache's own rules, with stand-in builds (bytes, not graphs): damage, unusable folders, races.

The runtimes' side (real graphs rebuilt after damage, loaded on the second start) is test_backends'; here the
cache is exercised where a real build would take minutes: every kind of broken manifest, a full disk in the
middle of a build, another process publishing the same entry at the same instant.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vda_ros.model import CacheError
from vda_ros.model.backends import check_cache_dir
from vda_ros.model.backends.cache import MANIFEST, GraphCache, GraphKey

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = GraphKey(
    backend="onnx",
    runtime="onnx opset 17; torch 2",
    graph="next",
    network_size=(56, 70),
    precision="fp32",
    weights="ab" * 32,
)
CHOOSE_ANOTHER = "choose another folder with backend_cache (--backend-cache)"


def writer(data: bytes) -> Callable[[Path], None]:
    """A build that writes `data` as the entry's one graph file."""
    return lambda folder: (folder / "graph.bin").write_bytes(data)


def read(folder: Path) -> bytes:
    return (folder / "graph.bin").read_bytes()


def cache_with_log(root: Path) -> tuple[GraphCache, list[str]]:
    log: list[str] = []
    return GraphCache(root, log.append), log


@pytest.mark.parametrize(
    "manifest",
    [
        None,
        [],
        1,
        "text",
        {},
        {"key": KEY.fields()},
        {"key": KEY.fields(), "files": []},
        {"key": [], "files": {}},
        {"key": "onnx", "files": {"graph.bin": "00"}},
    ],
    ids=["null", "list", "number", "string", "empty", "no-files", "files-list", "key-list", "key-string"],
)
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


def test_a_missing_cache_folder_is_created_and_left_empty(tmp_path: Path) -> None:
    root = tmp_path / "a" / "graphs"
    assert check_cache_dir(root) == root
    assert root.is_dir() and list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ("file", "it is a file, not a folder"),
        ("under-a-file", "a part of its path is a file, not a folder"),
    ],
)
def test_a_cache_folder_that_cannot_be_used_is_refused_before_any_build(
    tmp_path: Path, layout: str, reason: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("in the way")
    root = blocker if layout == "file" else blocker / "graphs"
    with pytest.raises(CacheError) as refused:
        check_cache_dir(root)
    assert str(refused.value) == f"the graph cache folder {root} cannot be used: {reason}; {CHOOSE_ANOTHER}"
    built: list[Path] = []
    with pytest.raises(CacheError, match=reason):
        GraphCache(root).get(KEY, built.append, read)
    assert built == [] and blocker.read_text() == "in the way" and sorted(os.listdir(tmp_path)) == ["blocker"]


def test_a_read_only_cache_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a read-only mount, where root too can create nothing (and removing even a missing file fails)."""

    def read_only_file_system(path: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    root = tmp_path / "graphs"
    root.mkdir()
    monkeypatch.setattr(Path, "open", read_only_file_system)
    monkeypatch.setattr(Path, "unlink", read_only_file_system)
    with pytest.raises(CacheError) as refused:
        check_cache_dir(root)
    assert str(refused.value) == (
        f"the graph cache folder {root} cannot be used: nothing can be written in it "
        f"(Read-only file system); {CHOOSE_ANOTHER}"
    )


def full_disk(error_at: str) -> Callable[[Path], None]:
    """A build whose writing stops at a full disk: in the graph file, or when the manifest is written."""

    def build(folder: Path) -> None:
        graph = folder / "graph.bin"
        graph.write_bytes(b"half a graph")
        if error_at == "graph":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(graph))

    return build


@pytest.mark.parametrize("error_at", ["graph", "manifest"])
def test_a_full_disk_during_a_build_is_a_cache_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error_at: str
) -> None:
    write_text = Path.write_text

    def manifest_on_a_full_disk(path: Path, *args: Any, **kwargs: Any) -> int:
        if path.name == MANIFEST:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write_text(path, *args, **kwargs)

    if error_at == "manifest":
        monkeypatch.setattr(Path, "write_text", manifest_on_a_full_disk)
    root = tmp_path / "graphs"
    with pytest.raises(CacheError) as refused:
        GraphCache(root).get(KEY, full_disk(error_at), read)
    message = str(refused.value)
    assert message.startswith(
        f"the graph cache folder {root} cannot be used: writing {KEY.name} failed (No space left on device: "
    ), message
    assert message.endswith(CHOOSE_ANOTHER)
    assert isinstance(refused.value.__cause__, OSError) and refused.value.__cause__.errno == errno.ENOSPC
    assert os.listdir(root) == []


WINNER = """
import json, sys
from pathlib import Path
from vda_ros.model.backends.cache import GraphCache, GraphKey
fields = json.loads(sys.argv[2])
key = GraphKey(**{**fields, "network_size": tuple(fields["network_size"])})
GraphCache(Path(sys.argv[1])).get(key, lambda folder: (folder / "graph.bin").write_bytes(b"winner"), lambda f: None)
"""


def publish_from_another_process(root: Path) -> None:
    """Another process (a second camera's node, a second tool) builds and publishes the entry for KEY."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run(
        [sys.executable, "-c", WINNER, str(root), json.dumps(KEY.fields())], env=env, check=True, timeout=300
    )


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["before-the-check", "between-the-check-and-the-rename"])
def test_the_process_that_finishes_an_entry_second_uses_the_first_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """Both build the same entry; the other process publishes first, at the last moment this one could be told.

    before-the-check: while this build writes its files; between-the-check-and-the-rename: the instant before
    this process renames its finished folder into place (a hook on the rename itself), as when both finish at once.
    """
    cache, log = cache_with_log(tmp_path)
    entry = cache.entry(KEY)

    def build(folder: Path) -> None:
        writer(b"loser")(folder)
        if moment == "before-the-check":
            publish_from_another_process(tmp_path)

    def published_first(rename: Callable[..., None]) -> Callable[..., None]:
        def hooked(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            if Path(target) == entry and Path(source).name.startswith(f".{entry.name}.partial-"):
                publish_from_another_process(tmp_path)
            rename(source, target, *args, **kwargs)

        return hooked

    if moment == "between-the-check-and-the-rename":
        for name in ("rename", "replace"):
            monkeypatch.setattr(os, name, published_first(getattr(os, name)))
    assert cache.get(KEY, build, read) == b"winner"
    assert os.listdir(tmp_path) == [entry.name], "this process's own folder is removed"
    assert read(entry) == b"winner" and cache.problem(KEY) is None
    assert any("another process built onnx graph 'next' at the same time: using its entry" in line for line in log)
