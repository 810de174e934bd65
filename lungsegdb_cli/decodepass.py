"""One decode pass over many files: cache first, then both cores, streaming.

Files whose ``(path, size, mtime)`` the :class:`~lungsegdb_cli.scancache.ScanCache` knows are
not opened. The rest are decoded by :func:`lungsegdb_cli.tiffinfo.summarize_many` in a process
pool, in chunks, with a bounded number of chunks in flight so memory stays flat whatever the
number of files. Small jobs run in-process.

Every file is decoded under one decode limit (:func:`lungsegdb_cli.tiffinfo.max_image_pixels`,
read once here, before any work, and sent to the workers with each file): a file whose tags
declare more is never decoded. Its ``too_large`` summary is not cached, so a file is checked
against the limit of the current run (raising it takes effect at once).

Processes, not threads: the per-file work is many short numpy calls and TIFF header parsing in
Python, which hold the GIL. Measured on the full synthetic tree (10,000 files, 2 cores): two
threads took 5.3 s against 3.1 s for one thread (GIL contention); two processes 1.6-1.9x one.
"""

from __future__ import annotations

import gc
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli import _workers
from lungsegdb_cli.progress import Progress, ensure
from lungsegdb_cli.scancache import ScanCache
from lungsegdb_cli.tiffinfo import FileSummary, max_image_pixels, summarize_many
from lungsegdb_cli.tree import FileEntry, GroupScan

ENV_WORKERS = _workers.ENV_WORKERS
#: Files per task sent to a worker: large enough to amortise IPC, small enough to balance.
CHUNK = 48
#: Below this many files to decode, a pool costs more than it saves.
MIN_POOL_FILES = 48
#: Chunks in flight per worker: queued work (~80 ms) that covers the main process's pauses
#: (listing the next group). Memory: a few hundred small summaries at most.
INFLIGHT_PER_WORKER = 8
#: GIL switch interval (s) while decoding: see :func:`decode`.
SWITCH_INTERVAL = 0.0005


@dataclass
class PassResult:
    summaries: dict[str, FileSummary]
    decoded: int
    cached: int


def default_workers() -> int:
    return _workers.default_workers(cap=8)


def _init_worker() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool(workers: int):  # type: ignore[no-untyped-def]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    # fork: workers start in milliseconds and inherit whatever is already imported
    method = "fork" if "fork" in methods and os.name == "posix" else None
    ctx = multiprocessing.get_context(method)
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)


def _warm() -> None:
    """Run in each worker at start: import numpy while the main process scans (tifffile is
    imported only if a file needs it: plain uncompressed files take the fast path)."""
    import numpy  # noqa: F401


class Workers:
    """The decode processes. Started early (``start=True``) their start-up (fork, numpy and
    tifffile imports) overlaps the tree scan; otherwise on first use. A context manager."""

    def __init__(self, workers: int | None = None, *, start: bool = True) -> None:
        self.n = default_workers() if workers is None else max(1, workers)
        self._pool: Any = None
        if start and self.n > 1:
            self.pool()

    def pool(self) -> Any:
        if self._pool is None:
            self._pool = _pool(self.n)
            for _ in range(self.n):
                self._pool.submit(_warm)
        return self._pool

    def close(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            # done: the processes exit (and are joined by the executor's thread) while the
            # caller builds its report; interrupted: wait for them
            self._pool.shutdown(wait=cancel, cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.close(cancel=exc_type is not None)


def decode(
    dataset_dir: Path,
    jobs: Iterable[tuple[FileEntry, str]],
    *,
    cache: ScanCache,
    progress: Progress | None = None,
    workers: int | Workers | None = None,
    description: str = "Decoding",
    max_pixels: int | None = None,
) -> PassResult:
    """Summaries of every ``(file, kind)`` in ``jobs``, keyed by relative path.

    ``jobs`` may be a generator that lists the tree as it goes: files are sent to the workers
    as soon as a chunk is complete, so decoding overlaps the listing. The progress bar starts
    when the listing is complete (its total is known then). ``workers``: a number of
    processes, or a :class:`Workers` already started (left open). ``max_pixels``: the decode
    limit (default: :func:`~lungsegdb_cli.tiffinfo.max_image_pixels`, which raises
    :class:`~lungsegdb_cli.errors.UsageError` for a bad ``LUNGSEGDB_MAX_IMAGE_PIXELS``).
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    prog = ensure(progress)
    own = not isinstance(workers, Workers)
    crew = workers if isinstance(workers, Workers) else Workers(workers, start=False)
    base = os.path.join(str(dataset_dir), "")
    out: dict[str, FileSummary] = {}
    pending: deque[tuple[list[FileEntry], Any]] = deque()
    max_inflight = crew.n * INFLIGHT_PER_WORKER
    pool: Any = None
    started = False
    done = total = cached = decoded = 0

    def take(entries: list[FileEntry], results: list[tuple[tuple[Any, ...], str]]) -> None:
        nonlocal done
        for e, (fields, raw) in zip(entries, results, strict=True):
            s = out[e.rel] = FileSummary.from_tuple(fields)
            if not s.too_large:  # checked again next run, against that run's limit
                cache.put(e, s, raw)
        done += len(entries)
        if started:
            prog.advance(len(entries))

    def tasks(part: list[tuple[FileEntry, str]]) -> list[tuple[str, str, int, int]]:
        return [(base + e.rel, kind, e.size, limit) for e, kind in part]

    def submit(part: list[tuple[FileEntry, str]]) -> None:
        pending.append(([e for e, _ in part], pool.submit(summarize_many, tasks(part))))
        while len(pending) >= max_inflight:
            entries, fut = pending.popleft()
            take(entries, fut.result())

    buf: list[tuple[FileEntry, str]] = []
    # The executor's feeder thread needs the GIL for every chunk it hands a worker; while this
    # thread lists the tree it would wait up to the 5 ms default switch interval each time
    # (measured on the full tree: ~0.12 s of idle gaps per worker, now ~0.05 s). A full
    # collection (~20 ms once 10,000 summaries are alive) would starve it too: the pass makes
    # no reference cycles, so the collector is off until it is over.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    collecting = gc.isenabled()
    gc.disable()
    try:
        for entry, kind in jobs:
            total += 1
            hit = cache.get(entry, kind)
            if hit is not None:
                out[entry.rel] = hit
                cached += 1
                continue
            buf.append((entry, kind))
            decoded += 1
            if pool is None and crew.n > 1 and len(buf) >= MIN_POOL_FILES:
                pool = crew.pool()
            if pool is not None and len(buf) >= CHUNK:
                submit(buf[:CHUNK])
                del buf[:CHUNK]
        prog.start(description, total=total, unit="files")
        started = True
        prog.advance(cached + done)
        for i in range(0, len(buf), CHUNK):
            part = buf[i : i + CHUNK]
            if pool is None:
                take([e for e, _ in part], summarize_many(tasks(part)))
            else:
                submit(part)
        while pending:
            entries, fut = pending.popleft()
            take(entries, fut.result())
    except BaseException:
        if own:
            crew.close(cancel=True)
        cache.save(set(), [])  # interrupted: keep what was decoded, the next run resumes
        raise
    finally:
        sys.setswitchinterval(interval)
        if collecting:  # no gc.freeze() here: a library must not pin its caller's objects
            gc.enable()
    if own:
        crew.close()
    prog.done()
    return PassResult(out, decoded=decoded, cached=cached)


def decode_groups(
    dataset_dir: Path,
    listing: Iterable[GroupScan],
    jobs_of: Callable[[GroupScan], Iterable[tuple[FileEntry, str]]],
    keep_of: Callable[[list[GroupScan]], tuple[set[str], list[Any]]],
    *,
    cache: ScanCache,
    progress: Progress | None = None,
    workers: int | None = None,
    description: str = "Decoding",
    max_pixels: int | None = None,
) -> tuple[list[GroupScan], PassResult, Callable[[], None]]:
    """The pass validate and stats share: list the groups, decode ``jobs_of(group)`` for each.

    Decoding overlaps the listing (a cold run starts the worker processes first), and the
    cache is saved in the background with ``keep_of(groups)`` (the entries and folders to
    keep) while the workers exit. Returns the groups, the decode results and a function that
    waits for the cache to be written. ``max_pixels``: as for :func:`decode` (resolved here,
    before the workers start).
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    groups: list[GroupScan] = []

    def jobs() -> Iterator[tuple[FileEntry, str]]:
        for gs in listing:  # decoding starts while later groups are listed
            groups.append(gs)
            yield from jobs_of(gs)

    with Workers(workers, start=cache.empty) as crew:
        passed = decode(
            dataset_dir,
            jobs(),
            cache=cache,
            progress=progress,
            workers=crew,
            description=description,
            max_pixels=limit,
        )
        saved = cache.save_in_background(*keep_of(groups))
    return groups, passed, saved
