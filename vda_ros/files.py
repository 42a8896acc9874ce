"""Writing files so that a reader never finds a half-written one under the final name."""

from __future__ import annotations

import os
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
