"""Ctrl-C held back for a moment: :func:`sigint_blocked`.

Two places must not be interrupted half-way, though a Ctrl-C there is not lost: the start of
a pool's worker processes (a worker forked with SIGINT blocked never runs its parent's
handler before it ignores SIGINT itself, :mod:`lungsegdb_cli.utils.procpool`), and the
writing of a command's result (a write into a full pipe that a signal interrupts returns
short, and CPython's text stream can then drop the rest: 2 in 30 runs cut a 110 KB document
at 64 KiB, exit 0). A Ctrl-C that comes meanwhile is delivered when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: How many :func:`sigint_blocked` blocks the main thread is in. A SIGINT that another thread
#: of the process receives still runs Python's handler in the main thread, mask or not: a
#: handler that raises (the CLI's) looks here first and, while a block is open, raises it a
#: moment later instead (:func:`held`).
_held = 0


def held() -> bool:
    """Whether the main thread is inside :func:`sigint_blocked` now."""
    return _held > 0


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked for this thread (and what it forks or starts) during the block, where
    the platform can (POSIX, the main thread); a Ctrl-C meanwhile is delivered when it ends."""
    global _held
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = mask(signal.SIG_BLOCK, {signal.SIGINT})
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        mask(signal.SIG_SETMASK, old)
