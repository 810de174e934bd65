"""Interpreter-wide tuning for the command-line program, never applied by library code.

The one place for such switches. The CLI entry point (``lungsegdb_cli.cli.app.serve``) calls
:func:`apply` once at start-up and :func:`freeze_before_exit` just before it exits; the
``validate`` and ``stats`` commands run their decode pass inside :func:`decode_switches`, which
restores what it changed. A program that imports the library (or runs the CLI in-process with
``cli.run``) keeps its own settings apart from that scoped, restored block.

Why :func:`decode_switches`: the process pool's feeder thread needs the GIL for every chunk it
hands a worker; while the main thread lists the tree it would wait up to the 5 ms default
switch interval each time (measured on the full synthetic tree: ~0.12 s of idle gaps per
worker, ~0.05 s with :data:`SWITCH_INTERVAL`). A full collection (~20 ms once 10,000 summaries
are alive) would starve it too; the pass makes no reference cycles, so the collector can be off
until it is over (the decode workers switch theirs back on: they allocate per file).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: The size of the blocks extraction inflates (:data:`lungsegdb_cli.archive.base.CHUNK`; a test
#: keeps the two equal). A copy, not an import: every command applies the tuning at start-up,
#: and the archive modules (zlib-ng, tarfile, zipfile) cost start-up time the cheap commands
#: (``verify --quick``, ``download`` on an intact tree) should not pay.
CHUNK = 1 << 20
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
    gc.freeze()


#: GIL switch interval (s) while decoding.
SWITCH_INTERVAL = 0.0005


@contextmanager
def decode_switches() -> Iterator[None]:
    """Within: the GIL switch interval at most :data:`SWITCH_INTERVAL` and the cyclic
    collector off. Both are restored on leaving, however it is left (the collector is
    re-enabled only if it was on). No ``gc.freeze()``: objects are not pinned."""
    interval = sys.getswitchinterval()
    collecting = gc.isenabled()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    gc.disable()
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()
