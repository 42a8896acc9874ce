"""Ctrl-C and SIGTERM for the command-line tools: stop, clean up, exit 130.

Each tool runs its work inside `interruptible()`; both signals then raise `Interrupted` wherever
the work is, so the same `finally` blocks that remove temporaries on an error remove them on a
signal too.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from vda_ros.errors import VdaError

EXIT_USAGE = 2
"""A problem the user can fix: bad option, unusable input or output (argparse uses 2 too)."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what a shell reports for a program stopped by Ctrl-C."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a run (a BaseException, like KeyboardInterrupt, so `except Exception` passes it on).

    Not KeyboardInterrupt itself: once a KeyboardInterrupt has passed through some C extension code,
    CPython sends itself SIGINT again at exit even when the exception was caught, so a cleanly
    interrupted run was sometimes reported as killed by SIGINT instead of exiting with 130.
    """

    def __str__(self) -> str:
        return self.args[0] if self.args else "SIGINT"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into Interrupted while the block runs, so both clean up.

    SIGINT needs it too: a child started in the background by a non-interactive shell inherits an
    ignored SIGINT, and Ctrl-C (or `ros2 run` forwarding it) must still stop the run.
    """
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_tool(prog: str, work: Callable[[], str], clean_state: str) -> int:
    """Run a command-line tool's work and turn its outcome into an exit status.

    work returns the report printed on success (status 0). A VdaError is the user's to fix:
    `prog: error: ...` on stderr, status 2, no traceback. SIGINT or SIGTERM: status 130 with
    clean_state, which says what the interrupted run left (e.g. "no output was written").
    """
    with interruptible():
        try:
            report = work()
        except VdaError as error:
            print(f"{prog}: error: {error}", file=sys.stderr)
            return EXIT_USAGE
        except Interrupted as interruption:
            print(f"{prog}: interrupted ({interruption}); {clean_state}", file=sys.stderr)
            return EXIT_INTERRUPTED
    print(report)
    return 0
