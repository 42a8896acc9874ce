"""Writing files so that a reader never finds a half-written one under the final name.

Every tool writes to a hidden temporary beside its output and renames it into place when it is
complete. The temporary's name carries the writer's process id (`.NAME.partial-PID.SUFFIX`,
`.NAME.partial-PID-XXXX` for folders and spools), so that a later run in the same place can
tell what a killed run (SIGKILL, power loss: no chance to clean up) left behind from what a
run still in progress is writing, and remove only the former (`remove_stale_temporaries`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TEMPORARY = re.compile(r"^\.(?P<base>.+)\.partial-(?P<pid>\d+)(?:-[0-9a-f]+)?(?P<suffix>\.[A-Za-z0-9]+)?$")
"""The names temporary_path and unique_temporary_path give; the pid is the writing process's."""


def temporary_path(path: Path) -> Path:
    """The hidden temporary that stands for `path` while this process writes it.

    The suffix is kept last, because writers such as cv2.VideoWriter choose the container from it.
    """
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def unique_temporary_path(directory: Path, base: str, suffix: str = "") -> Path:
    """A hidden temporary name in `directory` that no other writer uses, even in this process."""
    return directory / f".{base}.partial-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary path next to `path`; rename it to `path` only on success.

    Any failure, Ctrl-C included, removes the temporary file.
    """
    temporary = temporary_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    """True when a process with this pid exists (ours, or one we may not signal)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temporaries(directory: Path) -> list[Path]:
    """The temporaries in `directory` whose writing process no longer exists, in name order.

    A pid that has since been reused by another process keeps its temporary: leaving a file
    behind is the safe mistake, deleting a live run's output is not.
    """
    if not directory.is_dir():
        return []
    found = []
    for entry in sorted(directory.iterdir()):
        match = _TEMPORARY.match(entry.name)
        if match and not _process_alive(int(match["pid"])):
            found.append(entry)
    return found


def remove_stale_temporaries(directory: Path) -> str | None:
    """Delete what killed runs left in `directory`; a one-line report of it, or None if there was nothing."""
    removed = []
    for entry in stale_temporaries(directory):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        if not entry.exists():
            removed.append(entry.name)
    if not removed:
        return None
    return f"removed {len(removed)} temporary file(s) left in {directory} by an interrupted earlier run: {', '.join(removed)}"


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a hidden temporary folder next to `path`; it becomes `path` only on success.

    For outputs made of many files (one per frame): a reader sees either no folder or the
    complete one. An existing `path` is replaced (moved aside, then deleted) only once the new
    folder is complete. Any failure, Ctrl-C included, removes the temporary folder. The hidden
    names carry this process's id, like every temporary of the tools.
    """
    temporary = unique_temporary_path(path.parent, path.name)
    previous = unique_temporary_path(path.parent, path.name)
    temporary.mkdir(parents=True)
    try:
        yield temporary
        if path.exists():
            os.replace(path, previous)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
