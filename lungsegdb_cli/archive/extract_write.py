"""Writing an extraction's files into the staging folder, hashing each (SHA-256) as it is
written. Every path writes through :class:`HashingFile` (the one write loop):

* zip (:class:`~lungsegdb_cli.archive.formats.ChunkReader`): members are inflated, hashed and
  written by one thread per core (zlib, hashlib and ``os.write`` release the GIL);
* 7z (:class:`~lungsegdb_cli.archive.formats.PushReader`): py7zr pushes each member's data into
  a :class:`HashingFile` capped at the member's declared size;
* streams (:class:`~lungsegdb_cli.archive.formats.StreamReader`): one thread reads,
  decompresses and screens (:class:`~lungsegdb_cli.archive.extract_plan.StreamScreen`), the caller
  hashes and writes.

Files are created with ``O_EXCL`` and never fsync'ed here (the commit syncs them together).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import os
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.archive import formats as af
from lungsegdb_cli.archive.extract_plan import Job, Plan, StreamScreen, require_tree
from lungsegdb_cli.checks.manifest import Entry
from lungsegdb_cli.errors import (
    ArchiveError,
    LungSegDBError,
    UnsafeArchiveError,
    from_os_error,
)
from lungsegdb_cli.utils import workers as _workers
from lungsegdb_cli.utils.fsutil import check_free_space, free_bytes
from lungsegdb_cli.utils.progress import Progress
from lungsegdb_cli.utils.units import counted

#: Head-room kept free beyond the files themselves (directories, manifest, file-system slack).
RESERVE = 64 << 20

_WFLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_STAGING_NAME = re.compile(r"^\..*\.staging-\d+-[0-9a-f]{8}$")


class _Cancelled(Exception):
    """Another worker failed (or Ctrl-C): stop quietly."""


def _raise_if_name_too_long(exc: OSError, path: str) -> None:
    """ENAMETOOLONG while creating a member's file: the archive's name is the problem (exit 4),
    not the local machine. The message names the member by its path in the tree."""
    if exc.errno != errno.ENAMETOOLONG:
        return
    parts = path.replace(os.sep, "/").split("/")
    inside = [i for i, part in enumerate(parts) if _STAGING_NAME.match(part)]
    member = "/".join(parts[inside[0] + 1 :]) if inside else os.path.basename(path)
    raise ArchiveError(
        f"Cannot extract member {member!r}: its name is too long for this file system",
        hint="Rename the file in the archive (or extract on a file system that allows longer "
        "names), then pass it with --archive.",
        member=member,
    ) from exc


def _raise_write_error(exc: BaseException) -> None:
    if isinstance(exc, OSError) and not isinstance(exc, LungSegDBError):
        _raise_if_name_too_long(exc, str(exc.filename or ""))
        raise from_os_error(exc, "writing the extracted files") from exc
    raise exc


class HashingFile:
    """A new file (``O_EXCL``) that hashes what is written to it: the one write loop.

    A name too long for the file system is an :class:`ArchiveError` naming the member; other
    ``OSError`` s propagate as they are.
    """

    __slots__ = ("_fd", "_h", "size")

    def __init__(self, path: str) -> None:
        try:
            self._fd = os.open(path, _WFLAGS, 0o666)
        except OSError as exc:
            _raise_if_name_too_long(exc, path)
            raise
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self._h.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def close(self) -> str:
        """Close the file (the first call; later ones only read) and return its SHA-256."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        return self._h.hexdigest()


def _write_file(path: str, chunks: Iterator[bytes], cancel: threading.Event) -> tuple[str, int]:
    """Write ``chunks`` to a new file at ``path``, hashing as it goes: (sha256, size)."""
    out = HashingFile(path)
    try:
        for data in chunks:
            if cancel.is_set():
                raise _Cancelled
            out.write(data)
    finally:
        digest = out.close()
    return digest, out.size


def _join_all(threads: list[threading.Thread], cancel: threading.Event) -> None:
    """Join ``threads`` even if Ctrl-C arrives meanwhile (then cancel them first)."""
    interrupted: BaseException | None = None
    for t in threads:
        while t.is_alive():
            try:
                t.join()
            except KeyboardInterrupt as exc:
                cancel.set()
                interrupted = exc
    if interrupted is not None:
        raise interrupted


def write_tree(plan: Plan, staging: Path, prog: Progress, workers: int | None) -> list[Entry]:
    """Write every file ``plan`` maps into ``staging``: their manifest entries, in order.

    ``workers`` threads inflate a zip (default: one per usable core). Raises
    :class:`ArchiveError` / :class:`UnsafeArchiveError` for the archive's faults (also those a
    stream reveals only as it is read), :class:`~lungsegdb_cli.errors.LocalError` for the
    local machine's.
    """
    reader = plan.reader
    if plan.jobs is not None and isinstance(reader, af.IndexedReader):
        return _write_planned(reader, plan.jobs, staging, prog, workers)
    if isinstance(reader, af.StreamReader):
        return _write_stream(plan, reader, staging, prog)
    raise TypeError(f"{type(reader).__name__} is neither an indexed nor a stream reader")


# ---------------------------------------------------------------------------------------------
# Indexed archives: folders first, then every planned job
# ---------------------------------------------------------------------------------------------
def _write_planned(
    reader: af.IndexedReader,
    jobs: list[Job],
    staging: Path,
    prog: Progress,
    workers: int | None,
) -> list[Entry]:
    """Write the planned ``jobs`` of an indexed reader into ``staging``: their manifest entries."""
    wanted = sum(m.size for m, _ in jobs)
    try:
        for leaf in sorted({dest.rsplit("/", 1)[0] for _, dest in jobs}):
            (staging / leaf).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"create folders in {staging}") from exc
    prog.start(f"Extracting {counted(len(jobs), 'file')}", wanted, "B")
    try:
        if isinstance(reader, af.ChunkReader):
            return _Parallel(reader, jobs, str(staging), prog).run(workers)
        if isinstance(reader, af.PushReader):
            return _run_pushed(reader, jobs, str(staging), prog)
        raise TypeError(f"{type(reader).__name__} can neither be read in chunks nor push data")
    finally:
        prog.done()


class _Parallel:
    """Inflate, hash and write jobs on several threads: each takes the next job in turn."""

    def __init__(self, reader: af.ChunkReader, jobs: list[Job], staging: str, prog: Progress):
        self._reader = reader
        self._jobs = jobs
        self._staging = staging
        self._prog = prog
        self._results: list[Entry | None] = [None] * len(jobs)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self._errors: list[BaseException] = []

    def _claim(self) -> int | None:
        with self._lock:
            i = self._next
            self._next = i + 1
        return i if i < len(self._jobs) else None

    def _work(self) -> None:
        try:
            while not self._cancel.is_set():
                i = self._claim()
                if i is None:
                    return
                member, dest = self._jobs[i]
                path = os.path.join(self._staging, dest)
                digest, size = _write_file(path, self._reader.chunks(member), self._cancel)
                self._results[i] = Entry(dest, digest, size)
                self._prog.advance(size)
        except _Cancelled:
            return
        except BaseException as exc:
            with self._lock:
                self._errors.append(exc)
            self._cancel.set()

    def run(self, workers: int | None) -> list[Entry]:
        """Run on ``workers`` threads (the calling thread is one): the entries in job order."""
        n = max(1, min(workers or _workers.default_workers(progress=self._prog), len(self._jobs)))
        threads = [
            threading.Thread(target=self._work, name=f"lungsegdb-extract-{i}", daemon=True)
            for i in range(n - 1)
        ]
        for t in threads:
            t.start()
        try:
            self._work()
        except BaseException:
            self._cancel.set()
            raise
        finally:
            if self._errors:
                self._cancel.set()
            _join_all(threads, self._cancel)
        if self._errors:
            _raise_write_error(self._errors[0])
        return [e for e in self._results if e is not None]


class _CappedSink:
    """A :class:`HashingFile` that refuses more than the member's declared size (for readers
    that push data, like py7zr)."""

    def __init__(self, base: str, dest: str, member: af.Member, archive: Path) -> None:
        self.dest = dest
        self._member = member
        self._archive = archive
        self.digest: str | None = None
        self._file = HashingFile(os.path.join(base, dest))

    @property
    def size(self) -> int:
        return self._file.size

    def write(self, data: bytes | bytearray) -> None:
        if self._file.size + len(data) > self._member.size:
            raise UnsafeArchiveError(
                f"{self._archive.name}: member {self._member.name!r} grows past the "
                f"{self._member.size:,} bytes its header declares",
                path=str(self._archive),
                member=self._member.name,
            )
        self._file.write(data)

    def close(self) -> None:
        if self.digest is None:
            self.digest = self._file.close()


class _Sinks:
    """Makes the sink of each member a push reader asks for, and keeps them by destination."""

    def __init__(self, jobs: list[Job], staging: str, archive: Path) -> None:
        self._dest_of = {id(m): dest for m, dest in jobs}
        self._staging = staging
        self._archive = archive
        self._lock = threading.Lock()  # py7zr may ask from its own threads
        self.by_dest: dict[str, _CappedSink] = {}

    def __call__(self, member: af.Member) -> _CappedSink:
        sink = _CappedSink(self._staging, self._dest_of[id(member)], member, self._archive)
        with self._lock:
            self.by_dest[sink.dest] = sink
        return sink

    def close_all(self) -> None:
        for sink in list(self.by_dest.values()):
            sink.close()

    def entry(self, member: af.Member, dest: str) -> Entry:
        """The entry of a written member; :class:`ArchiveError` if it was not fully written."""
        sink = self.by_dest.get(dest)
        if sink is None and member.size == 0:  # empty files may never reach a writer
            sink = _CappedSink(self._staging, dest, member, self._archive)
            sink.close()
        if sink is None or sink.digest is None or sink.size != member.size:
            raise ArchiveError(
                f"{self._archive.name}: member {member.name!r} was not fully extracted",
                path=str(self._archive),
                member=member.name,
            )
        return Entry(dest, sink.digest, sink.size)


def _run_pushed(
    reader: af.PushReader, jobs: list[Job], staging: str, prog: Progress
) -> list[Entry]:
    """Let the reader push each member's data into a capped hashing file."""
    sinks = _Sinks(jobs, staging, reader.path)
    try:
        reader.extract([m for m, _ in jobs], sinks)
    except OSError as exc:
        raise from_os_error(exc, "writing the extracted files") from exc
    finally:
        sinks.close_all()
    entries = []
    for m, dest in jobs:
        entry = sinks.entry(m, dest)
        entries.append(entry)
        prog.advance(entry.size)
    return entries


# ---------------------------------------------------------------------------------------------
# Streams (tar family, RAR): one thread reads and decompresses, the caller hashes and writes
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Open:
    """Start a new file at ``dest`` (``size`` bytes declared)."""

    dest: str
    size: int


class _Signal(enum.Enum):
    END = "end"  # the current file is complete
    DONE = "done"  # the stream is complete


_Message = bytes | bytearray | _Open | _Signal | BaseException


def _write_stream(
    plan: Plan, reader: af.StreamReader, staging: Path, prog: Progress
) -> list[Entry]:
    """Screen, map and write a stream's members as they arrive: their manifest entries."""
    pipeline = _Pipeline(StreamScreen(reader, plan.mapper, plan.limits), reader, staging)
    prog.start("Extracting", None, "B")
    try:
        entries = pipeline.run(prog)
    finally:
        prog.done()
    require_tree(plan.mapper, reader.path)
    return entries


class _Pipeline:
    """A reader thread feeds a bounded queue of :data:`_Message`; the caller writes them."""

    def __init__(self, screen: StreamScreen, reader: af.StreamReader, staging: Path) -> None:
        self._screen = screen
        self._reader = reader
        self._staging = staging
        self._q: queue.Queue[_Message] = queue.Queue(maxsize=16)
        self._cancel = threading.Event()
        self._made: set[str] = set()
        self._out: HashingFile | None = None  # the file being written
        self._dest = ""  # its destination

    # -- the reader thread ----------------------------------------------------------------------
    def _put(self, msg: _Message) -> None:
        while True:
            if self._cancel.is_set():
                raise _Cancelled
            try:
                self._q.put(msg, timeout=0.1)
                return
            except queue.Full:
                continue

    def _feed(self) -> None:
        for member, chunks in self._reader.entries():
            if self._cancel.is_set():
                return
            dest = self._screen.admit(member)
            if dest is None or chunks is None:
                continue
            self._put(_Open(dest, member.size))
            for data in chunks:
                self._put(data)
            self._put(_Signal.END)
        self._put(_Signal.DONE)

    def _produce(self) -> None:
        try:
            self._feed()
        except _Cancelled:
            return
        except BaseException as exc:
            with contextlib.suppress(_Cancelled):
                self._put(exc)

    # -- the calling thread ---------------------------------------------------------------------
    def _open(self, msg: _Open) -> HashingFile:
        base = str(self._staging)
        folder = msg.dest.rsplit("/", 1)[0]
        if folder not in self._made:
            os.makedirs(os.path.join(base, folder), exist_ok=True)
            self._made.add(folder)
        if free_bytes(self._staging) < msg.size + RESERVE:
            check_free_space(self._staging, msg.size + RESERVE, f"extracting {msg.dest}")
        return HashingFile(os.path.join(base, msg.dest))

    def _copy(self, out: HashingFile) -> _Message:
        """Write data messages into ``out``; the first other message is returned."""
        while True:
            msg = self._q.get()
            if not isinstance(msg, (bytes, bytearray)):
                return msg
            out.write(msg)

    def _consume(self, prog: Progress) -> list[Entry]:
        entries: list[Entry] = []
        while True:
            msg = self._q.get()
            if isinstance(msg, _Open):
                self._dest = msg.dest
                out = self._out = self._open(msg)
                msg = self._copy(out)
                if msg is _Signal.END:
                    self._out = None
                    entries.append(Entry(self._dest, out.close(), out.size))
                    prog.advance(out.size)
                    continue
            if isinstance(msg, BaseException):
                raise msg
            if msg is _Signal.DONE:
                return entries

    def run(self, prog: Progress) -> list[Entry]:
        """Start the reader thread and write what it sends until the stream ends."""
        thread = threading.Thread(target=self._produce, name="lungsegdb-extract-read", daemon=True)
        thread.start()
        try:
            return self._consume(prog)
        except OSError as exc:
            if isinstance(exc, LungSegDBError):
                raise
            _raise_if_name_too_long(exc, os.path.join(str(self._staging), self._dest))
            raise from_os_error(exc, "writing the extracted files") from exc
        finally:
            if self._out is not None:
                self._out.close()
            self._cancel.set()
            _join_all([thread], self._cancel)
