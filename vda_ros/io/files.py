"""Writing files so that a reader never finds a half-written one under the final name.

Every tool writes to a hidden temporary beside its output and renames it into place when it is
complete. The temporary's name carries the writer's process id and host
(`.NAME.partial-PID@HOST.SUFFIX`, `.NAME.partial-PID-XXXX@HOST` for folders and spools), so that a
later run in the same place can tell what a killed run (SIGKILL, power loss: no chance to clean
up) left behind from what a run still in progress is writing, and remove only the former
(`remove_stale_temporaries`). The host matters where outputs sit on a file system that several
machines share (NFS): a process id says nothing about another machine's processes, so only this
machine's temporaries are ever judged.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_TEMPORARY = re.compile(
    r"^\.(?P<base>.+)\.partial-(?P<pid>\d+)(?:-[0-9a-f]+)?@(?P<host>[A-Za-z0-9_]+)(?P<suffix>\.[A-Za-z0-9]+)?$"
)
"""The names temporary_path and unique_temporary_path give: the writing process's pid and host."""


def host_tag() -> str:
    """This machine's name as it appears in temporaries (letters, digits and underscores only)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "localhost"


def owner_tag() -> str:
    """`PID@HOST` of this process, the owner mark of its temporaries."""
    return f"{os.getpid()}@{host_tag()}"


def temporary_path(path: Path) -> Path:
    """The hidden temporary that stands for `path` while this process writes it.

    The suffix is kept last, because writers such as cv2.VideoWriter choose the container from it.
    """
    return path.with_name(f".{path.stem}.partial-{owner_tag()}{path.suffix}")


def unique_temporary_path(directory: Path, base: str, suffix: str = "") -> Path:
    """A hidden temporary name in `directory` that no other writer uses, even in this process."""
    return directory / f".{base}.partial-{os.getpid()}-{secrets.token_hex(4)}@{host_tag()}{suffix}"


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
    """This machine's temporaries in `directory` whose writing process no longer exists, in name order.

    A pid that has since been reused by another process keeps its temporary: leaving a file
    behind is the safe mistake, deleting a live run's output is not. Other machines' temporaries
    are never listed (see the module docstring).
    """
    if not directory.is_dir():
        return []
    host = host_tag()
    found = []
    for entry in sorted(directory.iterdir()):
        match = _TEMPORARY.match(entry.name)
        if match and match["host"] == host and not _process_alive(int(match["pid"])):
            found.append(entry)
    return found


def temporaries_of(path: Path) -> list[Path]:
    """Every temporary standing for `path`, of any process and host (for a caller that knows its writer died)."""
    if not path.parent.is_dir():
        return []
    return sorted(
        entry
        for entry in path.parent.iterdir()
        if (match := _TEMPORARY.match(entry.name)) and match["base"] + (match["suffix"] or "") == path.name
    )


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
    names = ", ".join(removed)
    return f"removed {len(removed)} temporary file(s) left in {directory} by an interrupted earlier run: {names}"


@contextmanager
def atomic_directory(path: Path, replace: bool = True) -> Iterator[Path]:
    """Yield a hidden temporary folder next to `path`; it becomes `path` only on success.

    For outputs made of many files (one per frame): a reader sees either no folder or the
    complete one. An existing `path` is replaced (moved aside, then deleted) only once the new
    folder is complete. With `replace=False` an existing `path` is kept instead and PathTaken
    raised, the check and the rename being one atomic step: for folders that several processes
    may publish under one name at the same instant (a cache entry), the first wins and the others
    learn of it. Any failure, Ctrl-C included, removes the temporary folder. The hidden names
    carry this process's id, like every temporary of the tools.
    """
    temporary = unique_temporary_path(path.parent, path.name)
    previous = unique_temporary_path(path.parent, path.name)
    temporary.mkdir(parents=True)
    try:
        yield temporary
        if not replace:
            _rename_unless_taken(temporary, path)
            return
        if path.exists():
            os.replace(path, previous)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)


class PathTaken(FileExistsError):
    """Another writer published the folder first (`atomic_directory` with `replace=False`)."""


def _rename_unless_taken(folder: Path, path: Path) -> None:
    """Rename `folder` to `path`; PathTaken if another folder with files already has that name.

    rename(2) itself refuses to replace a folder that holds anything (ENOTEMPTY, or EEXIST on some
    systems), so no other writer can slip in between a check and the rename.
    """
    try:
        os.rename(folder, path)
    except OSError as error:
        if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise PathTaken(errno.EEXIST, "published by another writer first", str(path)) from error
        raise


SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""What a full disk, a quota or a file-size limit raise when data is written."""


def writable_folder_problem(folder: Path, reserve: int = 1, keep_created: bool = True) -> str | None:
    """Why `reserve` bytes cannot be written in `folder` (created if missing), or None when they can.

    A hidden file of that size is really allocated and removed: permission bits say nothing for root or
    a read-only mount, and a full disk shows only when data is written. A tool that writes big files
    (a training run's saves) reserves what one of them needs, so a disk too full for it is refused before
    the work that would fill it. keep_created=False removes the folders made for the check, for a tool
    that must leave nothing behind when it stops before its first write.
    """
    if folder.exists() and not folder.is_dir():
        return "it is a file, not a folder"
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        return _write_problem(folder, reserve)
    finally:
        if not keep_created:
            for path in created:
                with suppress(OSError):
                    path.rmdir()


def _write_problem(folder: Path, reserve: int) -> str | None:
    """writable_folder_problem's folder creation and probe write."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except NotADirectoryError:
        return "a part of its path is a file, not a folder"
    except OSError as error:
        return f"it cannot be created ({error.strerror or error})"
    probe = unique_temporary_path(folder, "write-test")
    try:
        with probe.open("wb") as stream:
            try:
                os.posix_fallocate(stream.fileno(), 0, max(reserve, 1))
            finally:
                probe.unlink()  # only once created: on a read-only system even removing nothing fails
    except OSError as error:
        if reserve > 1 and error.errno in SPACE_ERRORS:
            return f"there is no room for {reserve / 1e6:.0f} MB in it ({error.strerror or error})"
        return f"nothing can be written in it ({error.strerror or error})"
    return None
