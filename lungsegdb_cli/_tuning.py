"""Interpreter-wide tuning for the command-line program, never applied by library code.

The CLI entry point (``lungsegdb_cli.cli.main``) calls :func:`apply` once at start-up and
:func:`freeze_before_exit` just before it exits; a program that imports the library (or runs
the CLI in-process with ``cli.run``) keeps its own settings.
"""

from __future__ import annotations

import sys

from lungsegdb_cli.archive_formats import CHUNK

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
_applied = False


def apply() -> bool:
    """Keep freed chunk buffers in the heap (glibc only; elsewhere a no-op). True if applied.

    Every inflated chunk is a new ``bytes`` of up to 1 MiB. With glibc's defaults such blocks
    are mmap'ed, or the heap is trimmed as soon as they are freed, so each one is faulted in
    afresh: about one page fault per 4 KiB extracted, a large share of the system time. Raising
    the mmap and trim thresholds to a few MiB lets the same memory be reused (peak RSS grows by
    a few MiB at most). Calling it again does nothing.
    """
    global _applied
    if _applied or not sys.platform.startswith("linux"):
        return _applied
    _applied = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return True
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, 4 * CHUNK)
    mallopt(_M_TRIM_THRESHOLD, 32 * CHUNK)
    return True


def freeze_before_exit() -> None:
    """Put every object out of the cyclic collector's reach, just before the process ends.

    The interpreter's final collections then skip typer's and pydantic's tens of thousands of
    objects (~20 ms of every command's wall time). Only for a process about to exit: nothing
    frozen is ever collected afterwards.
    """
    import gc

    gc.freeze()
