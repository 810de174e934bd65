"""Write-back started behind a long write, so the commit's flush finds little left to do.

A commit makes its staged bytes durable with one ``syncfs`` (:mod:`lungsegdb_cli.state.commit`).
For a freshly downloaded archive that flush used to start only at the commit: ~0.4 s of
waiting for 0.95 GB to reach the disk after the last byte had arrived. :class:`WriteBehind`
asks the kernel (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``) to start writing each
completed window of the file while the next one is still arriving; it does not wait for the
disk, and the later ``syncfs`` still guarantees durability, so this only moves the disk's work
earlier, into time it would otherwise spend idle. Where the call does not exist (other
systems) or is refused, and under ``LUNGSEGDB_SYNC=0``, it does nothing.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from lungsegdb_cli.state.journal import sync_enabled

__all__ = ["WINDOW", "WriteBehind"]

#: Bytes written before their write-back is started.
WINDOW = 8 << 20
_SYNC_FILE_RANGE_WRITE = 2

_Starter = Callable[[int, int, int], bool]


@functools.lru_cache(maxsize=1)
def _sync_file_range() -> _Starter | None:
    """The libc ``sync_file_range`` as ``start(fd, offset, length) -> ok``, or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at import time: only a download needs it

    try:
        func = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    func.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    func.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> bool:
        return func(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0

    return start


class WriteBehind:
    """Start the write-back of ``fd`` every ``window`` bytes written (from ``offset``).

    Call :meth:`wrote` after each write with its length. Never raises: a refusal turns it off.
    ``starter(fd, offset, length) -> ok`` starts the write-back of a range (default: Linux
    ``sync_file_range``, none elsewhere or under ``LUNGSEGDB_SYNC=0``); ``started`` counts the
    bytes it was started for.

    Examples
    --------
    >>> calls = []
    >>> def start(fd, offset, length):
    ...     calls.append((offset, length))
    ...     return True
    >>> behind = WriteBehind(3, window=4, starter=start)
    >>> for n in (2, 2, 2):
    ...     behind.wrote(n)
    >>> calls, behind.started
    ([(0, 4)], 4)
    """

    def __init__(
        self,
        fd: int,
        offset: int = 0,
        *,
        window: int = WINDOW,
        starter: _Starter | None = None,
    ) -> None:
        self._fd = fd
        self._start = self._end = offset
        self._window = max(1, window)
        if starter is None:
            starter = _sync_file_range() if sync_enabled() else None
        self._starter = starter
        self.started = 0

    def wrote(self, n: int) -> None:
        """``n`` more bytes were written; start the write-back of a full window."""
        self._end += n
        pending = self._end - self._start
        if self._starter is None or pending < self._window:
            return
        if not self._starter(self._fd, self._start, pending):
            self._starter = None  # not supported by this file system: leave it to the flush
            return
        self._start = self._end
        self.started += pending
