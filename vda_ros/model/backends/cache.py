"""The on-disk cache of exported and compiled graphs: built once, checked on every load, rebuilt when damaged.

An entry is a folder named for what it holds (`onnx-next-280x378-fp32-<digest>`), holding the graph files and
`manifest.json`: the key it was built for and the sha256 of every file. Its name carries the digest of the
whole key — backend, the runtime and torch versions, the graph, the network input size (which the frame size
and input size fix), the precision and the sha256 of the weights — so another checkpoint, size or runtime
version never finds a stale entry. A load first compares the manifest and every file's hash; an entry that
fails either, or that its runtime cannot load, is removed and rebuilt, never used. Entries are written under a
temporary name and renamed into place when complete (`atomic_directory`), so a killed build leaves no entry
that looks complete; of two processes finishing the same entry at once, the first to rename wins and the other
uses its entry. A folder the cache cannot write in, and any failure to write an entry (a full disk), is a
CacheError naming the folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from vda_ros.io.files import PathTaken, atomic_directory, remove_stale_temporaries, writable_folder_problem

from .errors import CacheError

FORMAT = 1
"""Version of the graphs' layout (inputs, outputs, names); raise it when graphs.py changes what it exports."""

MANIFEST = "manifest.json"

T = TypeVar("T")

_LOGGER = logging.getLogger("vda_ros.backends")


def default_cache_dir() -> Path:
    """`$VDA_ROS_CACHE_DIR`, else `$XDG_CACHE_HOME/vda_ros/graphs`, else `~/.cache/vda_ros/graphs`."""
    if os.environ.get("VDA_ROS_CACHE_DIR"):
        return Path(os.environ["VDA_ROS_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vda_ros" / "graphs"


def check_cache_dir(folder: Path | None = None) -> Path:
    """The cache folder (None: default_cache_dir()), created if missing; CacheError unless graphs can be written in it.

    Tools and nodes call it before any work starts: an unusable folder is then one clear error at start-up,
    not an export that fails (or is retried) when the first frame arrives.
    """
    root = Path(folder) if folder is not None else default_cache_dir()
    problem = writable_folder_problem(root)
    if problem is not None:
        raise unusable_cache(root, problem)
    return root


def unusable_cache(folder: Path, problem: str) -> CacheError:
    """The error for a cache folder that cannot be used, saying why and how to choose another."""
    return CacheError(
        f"the graph cache folder {folder} cannot be used: {problem}; choose another folder with "
        "backend_cache (--backend-cache)"
    )


def weights_digest(model: nn.Module) -> str:
    """sha256 of the network's parameters and buffers (names, shapes, dtypes, values): the checkpoint's identity.

    Hashing the tensors, not a file, covers every source of weights (a checkpoint, seeded random weights, a
    fine-tuned model still in memory) and ignores differences in how a file was saved.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


@dataclass(frozen=True)
class GraphKey:
    """Everything a built graph depends on; two equal keys may share one cache entry."""

    backend: str
    """What the entry holds: onnx, onnx-int8, openvino, compile."""
    runtime: str
    """Versions of the runtime that built it and of torch, which traced the network."""
    graph: str
    """first, next or window (see graphs.py)."""
    network_size: tuple[int, int]
    precision: str
    weights: str
    format: int = FORMAT

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.fields(), sort_keys=True).encode()).hexdigest()

    @property
    def name(self) -> str:
        height, width = self.network_size
        return f"{self.backend}-{self.graph}-{height}x{width}-{self.precision}-{self.digest[:16]}"

    def fields(self) -> dict[str, object]:
        fields = asdict(self)
        fields["network_size"] = list(self.network_size)
        return fields


def _file_hashes(folder: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            digest = hashlib.sha256()
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(1 << 22), b""):
                    digest.update(block)
            hashes[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return hashes


class GraphCache:
    """A folder of built graphs. `hits`, `builds` and `build_seconds` say what this instance loaded and built."""

    def __init__(self, root: Path | None = None, log: Callable[[str], None] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.log = log or _LOGGER.info
        self.hits = 0
        self.builds = 0
        self.build_seconds = 0.0

    def entry(self, key: GraphKey) -> Path:
        return self.root / key.name

    def problem(self, key: GraphKey) -> str | None:
        """Why the entry for `key` must not be used (missing, wrong key, a file changed), or None if it is sound."""
        entry = self.entry(key)
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
        except FileNotFoundError:
            return "has no manifest"
        except (OSError, ValueError, RecursionError) as error:
            return f"has an unreadable manifest ({error})"
        if not (
            isinstance(manifest, dict)
            and isinstance(manifest.get("key"), dict)
            and isinstance(manifest.get("files"), dict)
        ):
            return "has a malformed manifest (not an object with a 'key' and 'files' object)"
        if manifest["key"] != key.fields():
            return "was built for another key"
        if manifest["files"] != _file_hashes(entry):
            return "has files that differ from their recorded sha256"
        return None

    def get(self, key: GraphKey, build: Callable[[Path], None], load: Callable[[Path], T]) -> T:
        """The loaded graph for `key`: from a sound entry, else built into a new entry first.

        `build(folder)` writes the graph's files into an empty folder; `load(folder)` opens them. A load that
        fails on an entry whose hashes match (a runtime that cannot read what an older build wrote) counts as
        damage too: the entry is rebuilt once. When another process publishes the entry while this one builds
        it, this build is dropped and that entry used.
        """
        entry = self.entry(key)
        if entry.exists():
            problem = self.problem(key)
            if problem is None:
                try:
                    loaded = load(entry)
                except Exception as error:  # noqa: BLE001 - any runtime's own error type: the entry is unusable either way
                    problem = f"cannot be loaded ({type(error).__name__}: {error})"
                else:
                    self.hits += 1
                    self.log(f"loaded {key.backend} graph '{key.graph}' from the cache ({entry})")
                    return loaded
            self.log(f"cache entry {entry} {problem}: rebuilding it")
            shutil.rmtree(entry, ignore_errors=True)
        if not self._build(key, build):
            problem = self.problem(key)
            if problem is not None:
                raise unusable_cache(
                    self.root, f"its entry {entry.name}, written by another process at the same time, {problem}"
                )
        return load(entry)

    def _build(self, key: GraphKey, build: Callable[[Path], None]) -> bool:
        """Build the entry for `key`; False when another process published it first (this build is then dropped).

        CacheError when the folder cannot be used or the entry cannot be written; nothing of it is left then.
        """
        check_cache_dir(self.root)
        stale = remove_stale_temporaries(self.root)
        if stale:
            self.log(stale)
        height, width = key.network_size
        self.log(
            f"building {key.backend} graph '{key.graph}' for network input {height}×{width} {key.precision} "
            f"(once per model, size and runtime version; cached in {self.root})"
        )
        start = time.monotonic()
        try:
            with atomic_directory(self.entry(key), replace=False) as folder:
                build(folder)
                manifest = {"key": key.fields(), "files": _file_hashes(folder)}
                (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        except PathTaken:
            self.log(f"another process built {key.backend} graph '{key.graph}' at the same time: using its entry")
            return False
        except OSError as error:
            raise unusable_cache(self.root, f"writing {key.name} failed ({_describe(error)})") from error
        seconds = time.monotonic() - start
        self.builds += 1
        self.build_seconds += seconds
        self.log(f"built {key.backend} graph '{key.graph}' in {seconds:.1f} s")
        return True


def _describe(error: OSError) -> str:
    """An OSError as its reason and the file it concerns, without the errno number."""
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename else reason
