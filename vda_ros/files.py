"""Writing files so that a reader never finds a half-written one under the final name."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to `path`; rename it to `path` only on success.

    The temporary name keeps the suffix, because writers such as cv2.VideoWriter choose the
    container from it. Any failure, Ctrl-C included, removes the temporary file.
    """
    temporary = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _hidden_sibling(path: Path) -> Path:
    """A hidden name beside `path` that no other writer uses (process id and a random tag)."""
    return path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder next to `path`; it becomes `path` only on success.

    For outputs made of many files (one per frame): a reader sees either no folder or the
    complete one. An existing `path` is replaced (moved aside, then deleted) only once the new
    folder is complete. Any failure, Ctrl-C included, removes the temporary folder. The hidden
    names carry this process's id, like every temporary of the tools.
    """
    temporary, previous = _hidden_sibling(path), _hidden_sibling(path)
    temporary.mkdir(parents=True)
    try:
        yield temporary
        if path.exists():
            os.replace(path, previous)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
