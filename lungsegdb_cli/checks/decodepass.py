"""One decode pass over many files: cache first, then both cores, streaming.

Files whose ``(path, size, mtime)`` the :class:`~lungsegdb_cli.checks.scancache.ScanCache` knows are
not opened. The rest are decoded by :func:`lungsegdb_cli.tiff.decode.summarize_many` in a process
pool, in chunks, with a bounded number of chunks in flight so memory stays flat whatever the
number of files. Small jobs run in-process.

Every file is decoded under one decode limit (:func:`lungsegdb_cli.tiff.decode.max_image_pixels`,
read once here, before any work, and sent to the workers with each file): a file whose tags
declare more is never decoded. Its ``too_large`` summary is not cached, and a cached summary
records what its file declares, so a file is checked against the limit of the current run
(raising it, or lowering it, takes effect at once).

Processes, not threads: the per-file work is many short numpy calls and TIFF header parsing in
Python, which hold the GIL. Measured on the full synthetic tree (10,000 files, 2 cores): two
threads took 5.3 s against 3.1 s for one thread (GIL contention); two processes 1.6-1.9x one.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lungsegdb_cli.checks.scancache import ScanCache
from lungsegdb_cli.dataset.tree import FileEntry, GroupScan
from lungsegdb_cli.tiff.decode import FileSummary, max_image_pixels, summarize_many
from lungsegdb_cli.utils import workers as _workers
from lungsegdb_cli.utils.progress import Progress, ensure

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future, ProcessPoolExecutor

#: What a worker returns per file: :meth:`FileSummary.as_tuple` and the cache's JSON.
_Result = tuple[tuple[Any, ...], str]

ENV_WORKERS = _workers.ENV_WORKERS
#: Files per task sent to a worker: large enough to amortise IPC, small enough to balance.
CHUNK = 48
#: Below this many files to decode, a pool costs more than it saves.
MIN_POOL_FILES = 48
#: Chunks in flight per worker: queued work (~80 ms) that covers the main process's pauses
#: (listing the next group). Memory: a few hundred small summaries at most.
INFLIGHT_PER_WORKER = 8


class Mark(NamedTuple):
    """An item of a pass's jobs that is not a file: ``call(summaries)`` runs once every file
    listed before it has its summary (its chunk came back), while later files may still be
    decoding. :func:`decode_groups` puts one after each group, so the caller reduces a group
    on the main process while the workers decode the next ones, not after the last."""

    call: Callable[[dict[str, FileSummary]], None]


@dataclass
class PassResult:
    summaries: dict[str, FileSummary]
    decoded: int
    cached: int


def default_workers(progress: Progress | None = None) -> int:
    """``$LUNGSEGDB_WORKERS`` (at most :func:`lungsegdb_cli.utils.workers.max_workers`, with a
    warning through ``progress``), else the CPUs, at most 8; 1 in a daemonic process (a
    ``multiprocessing.Pool`` worker: it may not start the decode processes)."""
    return _workers.process_workers(cap=8, progress=progress)


def _init_worker() -> None:
    """A decode worker has the cyclic collector on (a parent running under
    ``_tuning.decode_switches`` forks it with the collector off)."""
    import gc

    gc.enable()


def _pool(workers: int) -> ProcessPoolExecutor:
    """The decode processes: they ignore Ctrl-C and die with this process
    (:func:`lungsegdb_cli.utils.procpool.process_pool`)."""
    import multiprocessing

    from lungsegdb_cli.utils.procpool import process_pool

    methods = multiprocessing.get_all_start_methods()
    # fork: workers start in milliseconds and inherit whatever is already imported
    method = "fork" if "fork" in methods and os.name == "posix" else None
    if method == "fork":
        # numpy once, here, rather than once per worker (~60 ms of CPU each, taken from the
        # cores the main process is listing on); the main process needs it anyway (stats
        # reduces on it; the workers' results are numpy-backed)
        import numpy  # noqa: F401
    return process_pool(workers, multiprocessing.get_context(method), _init_worker)


def _warm() -> None:
    """Run in each worker at start: import numpy while the main process scans (tifffile is
    imported only if a file needs it: plain uncompressed files take the fast path)."""
    import numpy  # noqa: F401


class Workers:
    """The decode processes. Started early (``start=True``) their start-up (fork, numpy and
    tifffile imports) overlaps the tree scan; otherwise on first use. A context manager."""

    def __init__(
        self, workers: int | None = None, *, start: bool = True, progress: Progress | None = None
    ) -> None:
        self.n = default_workers(progress) if workers is None else max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        if start and self.n > 1:
            self.pool()

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = _pool(self.n)
            try:
                for _ in range(self.n):
                    self._pool.submit(_warm)
            except BaseException:  # Ctrl-C while the workers start: none may be left behind
                self.close(cancel=True)
                raise
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


class _Pass:
    """The state of one :func:`decode` pass: the summaries so far, the files waiting for a
    chunk, the chunks in flight. The listing calls :meth:`add` per file, then :meth:`finish`
    once it is complete."""

    __slots__ = (
        "base",
        "buf",
        "cache",
        "cached",
        "crew",
        "decoded",
        "done",
        "limit",
        "marks",
        "max_inflight",
        "out",
        "pending",
        "pool",
        "prog",
        "started",
    )

    def __init__(
        self, dataset_dir: Path, limit: int, cache: ScanCache, prog: Progress, crew: Workers
    ) -> None:
        self.base = os.path.join(str(dataset_dir), "")
        self.limit = limit
        self.cache = cache
        self.prog = prog
        self.crew = crew
        self.out: dict[str, FileSummary] = {}
        self.pending: deque[tuple[list[FileEntry], Future[list[_Result]]]] = deque()
        self.max_inflight = crew.n * INFLIGHT_PER_WORKER
        self.pool: Executor | None = None
        self.started = False
        self.buf: list[tuple[FileEntry, str]] = []
        self.done = self.cached = self.decoded = 0
        #: marks waiting for the files queued before them: (files decoded by then, mark)
        self.marks: deque[tuple[int, Mark]] = deque()

    def mark(self, mark: Mark) -> None:
        """Run ``mark`` once every file added so far has its summary (now, if they have).
        The files waiting for a full chunk are sent now: the mark's group is complete."""
        pool, buf = self.pool, self.buf
        if pool is not None and buf:
            self._submit(pool, buf[:])
            buf.clear()
        self.marks.append((self.decoded, mark))  # in-process: fired as finish() decodes
        self._fire()

    def _fire(self) -> None:
        """Run the marks whose files are all back."""
        marks = self.marks
        while marks and marks[0][0] <= self.done:
            marks.popleft()[1].call(self.out)

    def add(self, entry: FileEntry, kind: str) -> None:
        """One listed file: from the cache, or queued (a full chunk goes to the pool)."""
        hit = self.cache.get(entry, kind)
        if hit is not None and hit.declared <= self.limit:  # else decoded: too-large now
            self.out[entry.rel] = hit
            self.cached += 1
            return
        buf = self.buf
        buf.append((entry, kind))
        self.decoded += 1
        if self.pool is None and self.crew.n > 1 and len(buf) >= MIN_POOL_FILES:
            self.pool = self.crew.pool()
        pool = self.pool
        if pool is not None and len(buf) >= CHUNK:
            self._submit(pool, buf[:CHUNK])
            del buf[:CHUNK]

    def begin(self, description: str, total: int) -> None:
        """Start the progress bar: ``total`` files, before the first is decoded."""
        self.prog.start(description, total, "files")
        self.started = True

    def finish(self) -> None:
        """The listing is complete: decode the rest, wait for all."""
        self.prog.advance(self.cached)
        buf, pool = self.buf, self.pool
        for i in range(0, len(buf), CHUNK):
            part = buf[i : i + CHUNK]
            if pool is None:
                self._take([e for e, _ in part], summarize_many(self._tasks(part)))
            else:
                self._submit(pool, part)
        self._drain(0)
        self._fire()

    def _tasks(self, part: list[tuple[FileEntry, str]]) -> list[tuple[str, str, int, int]]:
        base, limit = self.base, self.limit
        return [(base + e.rel, kind, e.size, limit) for e, kind in part]

    def _submit(self, pool: Executor, part: list[tuple[FileEntry, str]]) -> None:
        fut = pool.submit(summarize_many, self._tasks(part))
        self.pending.append(([e for e, _ in part], fut))
        self._drain(self.max_inflight - 1)

    def _drain(self, keep: int) -> None:
        """Collect the oldest chunks until at most ``keep`` are in flight."""
        pending = self.pending
        while len(pending) > keep:
            entries, fut = pending.popleft()
            self._take(entries, fut.result())

    def _take(self, entries: list[FileEntry], results: list[_Result]) -> None:
        out, cache = self.out, self.cache
        for e, (fields, raw) in zip(entries, results, strict=True):
            s = out[e.rel] = FileSummary.from_tuple(fields)
            if not s.too_large:  # checked again next run, against that run's limit
                cache.put(e, s, raw)
        self.done += len(entries)
        if self.started:
            self.prog.advance(len(entries))
        if self.marks:
            self._fire()


def decode(
    dataset_dir: Path,
    jobs: Iterable[tuple[FileEntry, str] | Mark],
    *,
    cache: ScanCache,
    progress: Progress | None = None,
    workers: int | Workers | None = None,
    description: str = "Decoding",
    max_pixels: int | None = None,
) -> PassResult:
    """Summaries of every ``(file, kind)`` in ``jobs``, keyed by relative path.

    ``jobs`` may be a generator that lists the tree as it goes; it is listed to the end first,
    so that the progress bar starts with its total before anything is decoded; a
    :class:`Mark` among them runs once the files before it are decoded. ``workers``: a number of
    processes, or a :class:`Workers` already started (left open). ``max_pixels``: the decode
    limit (default: :func:`~lungsegdb_cli.tiff.decode.max_image_pixels`, which raises
    :class:`~lungsegdb_cli.errors.UsageError` for a bad ``LUNGSEGDB_MAX_IMAGE_PIXELS``).
    Interrupted, it saves what was decoded (the next run resumes) and re-raises.

    Changes no interpreter-wide setting: a process whose main job is this pass may run it
    under :func:`lungsegdb_cli.cli.tuning.decode_switches` (a shorter GIL switch interval, the
    cyclic collector off), which its entry point applies.
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    prog = ensure(progress)
    own = not isinstance(workers, Workers)
    crew = workers if isinstance(workers, Workers) else Workers(workers, start=False, progress=prog)
    run = _Pass(dataset_dir, limit, cache, prog, crew)
    try:
        # The listing first (a few ms a thousand files): the progress bar then starts, with
        # its total, before any decoding. (Listing while decoding hid the progress: the
        # listing waits for the decoding once the workers are busy, so the bar only started
        # when nearly everything was decoded.) The workers start meanwhile.
        listed = list(jobs)
        run.begin(description, sum(type(job) is not Mark for job in listed))
        add, mark = run.add, run.mark
        for job in listed:
            if type(job) is Mark:
                mark(job)
            else:
                add(*job)
        run.finish()
    except BaseException:
        if own:
            crew.close(cancel=True)
        cache.save(set(), [])  # interrupted: keep what was decoded, the next run resumes
        raise
    if own:
        crew.close()
    prog.done()
    return PassResult(run.out, decoded=run.decoded, cached=run.cached)


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
    on_group: Callable[[GroupScan, dict[str, FileSummary]], None] | None = None,
) -> tuple[list[GroupScan], PassResult, Callable[[], bool]]:
    """The pass validate and stats share: list the groups, decode ``jobs_of(group)`` for each.

    The worker processes of a cold run start while the tree is listed, and the cache is saved
    in the background with ``keep_of(groups)`` (the entries and folders to
    keep) while the workers exit. Returns the groups, the decode results and a function that
    waits for the cache to be written. ``max_pixels``: as for :func:`decode` (resolved here,
    before the workers start). ``on_group(group, summaries)``: called on the main process for
    each group, in order, as soon as its files are decoded -- while the workers decode the
    groups after it -- so reducing the groups does not wait for the last file.
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    groups: list[GroupScan] = []

    def jobs() -> Iterator[tuple[FileEntry, str] | Mark]:
        for gs in listing:
            groups.append(gs)
            yield from jobs_of(gs)
            if on_group is not None:
                yield Mark(functools.partial(on_group, gs))

    with Workers(workers, start=cache.empty, progress=progress) as crew:
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
