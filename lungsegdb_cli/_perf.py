"""Interpreter-wide settings for a process whose main job is a decode pass.

Library code never changes them: a command's entry point applies :func:`decode_switches`
around the commands that run :func:`lungsegdb_cli.decodepass.decode` (``validate``,
``stats``), and restores them after.

Why: the process pool's feeder thread needs the GIL for every chunk it hands a worker; while
the main thread lists the tree it would wait up to the 5 ms default switch interval each time
(measured on the full synthetic tree: ~0.12 s of idle gaps per worker, ~0.05 s with
:data:`SWITCH_INTERVAL`). A full collection (~20 ms once 10,000 summaries are alive) would
starve it too; the pass makes no reference cycles, so the collector can be off until it is
over.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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
