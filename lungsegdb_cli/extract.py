"""Extract an archive into the documented tree: safely, atomically, in one pass.

The steps of :func:`extract_archive`:

1. Detect the format by magic bytes (:mod:`lungsegdb_cli.archive_formats`).
2. Under the data dir's writer lock, finish or undo what a killed run left
   (:func:`lungsegdb_cli.commit.recover`). If the tree is complete and intact (every file of the
   manifest present with its recorded size) and not ``force``: stop, ``already=True``.
3. Screen every member (absolute paths, ``..``, links, devices refused) and map it onto the
   documented tree (:mod:`lungsegdb_cli.treemap`). For zip this happens for all members from
   the central directory *before anything is written*, together with the caps on member count,
   total size and compression ratio and the free-space check. Tar-like archives are streams:
   the same checks run member by member as the headers arrive, and a refusal removes what was
   staged.
4. Write every file into a staging folder beside the tree (``.LungSegDB.staging-<txid>``),
   hashing it (SHA-256) as it is written. Zip members are inflated, hashed and written by one
   thread per core (zlib, hashlib and ``os.write`` release the GIL); a tar stream is
   decompressed in one thread while another hashes and writes.
5. Stage the manifest and its sidecar (which records the archive's SHA-256 when known) beside
   theirs, and commit tree + manifest + sidecar at one step (:mod:`lungsegdb_cli.commit`).
   Any failure or Ctrl-C before the commit point leaves the old state exactly as it was and
   removes what was staged (after a SIGKILL, the next run does); after it, the new state.

``download`` stages the archive and its provenance into the same commit
(:func:`stage_tree`), so the record never changes before the tree does. Files are not
fsync'ed one by one (that would make extraction several times slower): one ``syncfs`` before
the commit point makes them durable together.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli import archive_formats as af
from lungsegdb_cli import commit, manifest, provenance, treemap
from lungsegdb_cli.errors import (
    ArchiveError,
    LocalError,
    LungSegDBError,
    UnsafeArchiveError,
    UsageError,
    from_os_error,
)
from lungsegdb_cli.fsutil import check_free_space, free_bytes
from lungsegdb_cli.manifest import Entry
from lungsegdb_cli.paths import DataPaths
from lungsegdb_cli.progress import Progress, ensure

ENV_MAX_BYTES = "LUNGSEGDB_MAX_BYTES"
ENV_MAX_FILES = "LUNGSEGDB_MAX_FILES"
ENV_MAX_RATIO = "LUNGSEGDB_MAX_RATIO"

#: Head-room kept free beyond the files themselves (directories, manifest, file-system slack).
RESERVE = 64 << 20

_WFLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile archive from filling the disk or the inode table."""

    #: total uncompressed bytes of all files in the archive
    max_bytes: int = 64 << 30
    #: number of members (files, folders, anything)
    max_members: int = 500_000
    #: total uncompressed bytes / archive size; only enforced past ``ratio_floor`` bytes
    max_ratio: float = 100.0
    ratio_floor: int = 64 << 20

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``LUNGSEGDB_MAX_BYTES`` / ``_MAX_FILES`` / ``_MAX_RATIO``.

        A value that is not a finite positive number of the right type (``nan``, ``inf``,
        ``0``, ``-1``, ``abc``) is a :class:`UsageError` naming the variable: a cap is never
        silently switched off.
        """
        from lungsegdb_cli import envvars

        base = cls()
        return cls(
            max_bytes=envvars.positive_int(ENV_MAX_BYTES, base.max_bytes, env),
            max_members=envvars.positive_int(ENV_MAX_FILES, base.max_members, env),
            max_ratio=envvars.positive_float(ENV_MAX_RATIO, base.max_ratio, env),
            ratio_floor=base.ratio_floor,
        )


@dataclass
class ExtractResult:
    """What :func:`extract_archive` did (``to_dict`` gives the ``--json`` shape)."""

    dataset_dir: Path
    archive: Path
    format: str | None
    files: int
    bytes: int
    manifest: Path | None
    mapped: dict[str, str] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    junk: int = 0
    missing: list[str] = field(default_factory=list)
    already: bool = False
    replaced: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "dataset_dir": str(self.dataset_dir),
            "archive": str(self.archive),
            "format": self.format,
            "files": self.files,
            "bytes": self.bytes,
            "manifest": str(self.manifest) if self.manifest is not None else None,
            "mapped": dict(self.mapped),
            "skipped": list(self.skipped),
            "skipped_count": self.skipped_count,
            "junk": self.junk,
            "missing": list(self.missing),
            "already": self.already,
            "replaced": self.replaced,
            "seconds": round(self.seconds, 3),
        }


class _Cancelled(Exception):
    """Another worker failed (or Ctrl-C): stop quietly."""


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------
def extract_archive(
    paths: DataPaths,
    archive: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    archive_sha256: str | None = None,
) -> ExtractResult:
    """Extract ``archive`` into ``paths.dataset_dir`` and write the manifest, in one commit.

    ``archive_sha256``, when the caller knows it (the kept archive's recorded checksum), is
    recorded as what the tree was made from.

    Raises :class:`ArchiveError` / :class:`UnsafeArchiveError` (exit 4) for an unusable or
    hostile archive, :class:`~lungsegdb_cli.errors.DiskFullError` (exit 5) when the disk is too
    small, :class:`UsageError` (exit 2) when ``archive`` is not a file.
    """
    t0 = clock()
    archive = _check_archive_arg(paths, archive)
    fmt = af.detect(archive)
    if not force and manifest.intact(paths) is not None:  # the common re-run: no archive I/O
        existing = already_intact(paths)
        if existing is not None:
            return _already(paths, archive, fmt, existing, clock() - t0)
    limits = Limits.from_env() if limits is None else limits
    # zip/7z: every member screened, mapped and capped before anything is created
    with _open_plan(archive, fmt, limits) as plan, commit.writing(paths):
        if not force:
            existing = manifest.intact(paths)
            if existing is not None:
                return _already(paths, archive, fmt, existing, clock() - t0)
        if archive_sha256 is None:
            archive_sha256 = _recorded_sha256(paths, archive)
        with commit.Transaction(paths) as txn:
            result = _stage_planned(
                txn, paths, plan, progress=progress, workers=workers, archive_sha256=archive_sha256
            )
            txn.commit()
    result.seconds = clock() - t0
    return result


def archive_to_extract(paths: DataPaths) -> Path:
    """The archive ``extract`` uses when none is given: the kept one the provenance records,
    else the one archive in ``downloads/`` (read after a half-done commit is recovered)."""
    with commit.reading(paths):
        record = provenance.Provenance.read(paths.provenance)
        kept = record.kept_archive(paths.root) if record is not None else None
    if kept is not None:
        return kept
    try:
        found = sorted(
            p
            for p in paths.downloads_dir.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and not p.name.endswith((".part", ".part.json", ".rejected"))
        )
    except OSError:
        found = []
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"Several files in {paths.downloads_dir}: " + ", ".join(p.name for p in found),
            hint="Say which one with --archive FILE.",
        )
    raise UsageError(
        f"No archive to extract: none recorded and none in {paths.downloads_dir}",
        hint="Run 'lungsegdb download', or pass a file downloaded by hand with --archive FILE.",
    )


def _recorded_sha256(paths: DataPaths, archive: Path) -> str | None:
    """The recorded SHA-256 of ``archive`` if it is the kept archive the provenance names."""
    record = provenance.Provenance.read(paths.provenance)
    kept = record.kept_archive(paths.root) if record is not None else None
    try:
        same = kept is not None and os.path.samefile(kept, archive)
    except OSError:
        same = False
    return record.pin if same and record is not None else None


def already_intact(paths: DataPaths) -> list[Entry] | None:
    """The manifest's entries if the tree is complete (sizes match), after recovering what a
    killed run left; on a data dir we may not write, the same check as a reader."""
    try:
        with commit.writing(paths):
            return manifest.intact(paths)
    except LocalError as exc:
        if not commit.is_read_only(exc):
            raise
    with commit.reading(paths):
        return manifest.intact(paths)


def _check_archive_arg(paths: DataPaths, archive: Path) -> Path:
    archive = Path(archive).absolute()
    if not archive.is_file():
        raise UsageError(f"Archive not found: {archive}", hint="Check the path.", path=str(archive))
    target = paths.dataset_dir
    if target.exists() and not target.is_dir():
        raise LocalError(
            f"{target} exists and is not a folder",
            hint="Move it away, or choose another --data-dir.",
            path=str(target),
        )
    if archive.resolve().is_relative_to(target.resolve()):
        raise UsageError(
            f"The archive {archive} is inside the tree it would replace ({target})",
            hint="Move the archive out of the LungSegDB folder first.",
            path=str(archive),
        )
    return archive


def _already(
    paths: DataPaths, archive: Path, fmt: str | None, existing: list[Entry], seconds: float
) -> ExtractResult:
    return ExtractResult(
        dataset_dir=paths.dataset_dir,
        archive=archive,
        format=fmt,
        files=len(existing),
        bytes=sum(max(0, e.size) for e in existing),
        manifest=paths.manifest,
        already=True,
        seconds=seconds,
    )


def stage_tree(
    txn: commit.Transaction,
    paths: DataPaths,
    archive: Path,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    archive_sha256: str | None = None,
) -> ExtractResult:
    """Extract ``archive`` into a staging folder of ``txn`` and stage the manifest beside it.

    Nothing live changes until ``txn.commit()``. Raises as :func:`extract_archive`.
    """
    limits = Limits.from_env() if limits is None else limits
    fmt = af.detect(archive) if fmt is None else fmt
    with _open_plan(archive, fmt, limits) as plan:
        return _stage_planned(
            txn, paths, plan, progress=progress, workers=workers, archive_sha256=archive_sha256
        )


@dataclass
class _Plan:
    """An open archive and, for random-access formats, every member already screened,
    capped and mapped (``jobs``); streams are screened as they are read."""

    archive: Path
    fmt: str | None
    reader: Any
    mapper: treemap.TreeMapper
    limits: Limits
    jobs: list[tuple[af.Member, str]] | None


@contextlib.contextmanager
def _open_plan(archive: Path, fmt: str | None, limits: Limits) -> Iterator[_Plan]:
    mapper = treemap.TreeMapper()
    with af.open_archive(archive, fmt) as reader:
        jobs = _plan(reader, mapper, limits) if reader.random_access else None
        yield _Plan(archive, fmt, reader, mapper, limits, jobs)


def _stage_planned(
    txn: commit.Transaction,
    paths: DataPaths,
    plan: _Plan,
    *,
    progress: Progress | None,
    workers: int | None,
    archive_sha256: str | None,
) -> ExtractResult:
    prog = ensure(progress)
    target, archive, reader = paths.dataset_dir, plan.archive, plan.reader
    jobs = plan.jobs
    wanted = sum(m.size for m, _ in jobs) if jobs is not None else reader.archive_size
    check_free_space(target.parent, wanted + RESERVE, f"extracting {archive.name}")
    staging = txn.stage_dir(target)
    commit.checkpoint("staging")
    if plan.jobs is not None:
        total = _write_planned(reader, plan.jobs, staging, prog, workers)
    else:
        total = _extract_stream(reader, plan.mapper, plan.limits, staging, prog)
    commit.checkpoint("extracted")
    sums, sizes = manifest.render(total, archive_sha256=archive_sha256)
    txn.stage_bytes(paths.manifest, sums)
    txn.stage_bytes(paths.manifest_sizes, sizes)
    mapper = plan.mapper
    return ExtractResult(
        dataset_dir=target,
        archive=archive,
        format=plan.fmt,
        files=len(total),
        bytes=sum(e.size for e in total),
        manifest=paths.manifest,
        mapped=dict(mapper.mapped),
        skipped=list(mapper.skipped),
        skipped_count=mapper.skipped_count,
        junk=mapper.junk,
        missing=mapper.missing(),
        replaced=target.exists(),
    )


# ---------------------------------------------------------------------------------------------
# Screening
# ---------------------------------------------------------------------------------------------
def _screen(member: af.Member, archive: Path) -> None:
    """Refuse a member whose extraction would be unsafe, wherever it sits in the archive."""
    reason = treemap.unsafe_reason(member.name)
    if reason is None and member.kind in (af.SYMLINK, af.HARDLINK):
        reason = f"is a {'symbolic' if member.kind == af.SYMLINK else 'hard'} link"
    elif reason is None and member.kind == af.DEVICE:
        reason = "is a device, FIFO or other special file"
    elif reason is not None:
        reason = f"has {reason}"
    if reason is not None:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: member {member.name!r} {reason}; nothing was extracted",
            path=str(archive),
            member=member.name,
        )


def _check_caps(archive: Path, members: int, total: int, packed: int, limits: Limits) -> None:
    if members > limits.max_members:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: more than {limits.max_members:,} members",
            hint=f"If this archive is genuine, raise {ENV_MAX_FILES}.",
            path=str(archive),
            members=members,
        )
    if total > limits.max_bytes:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: it unpacks to over {total:,} bytes "
            f"(cap {limits.max_bytes:,})",
            hint=f"If this archive is genuine, raise {ENV_MAX_BYTES}.",
            path=str(archive),
            bytes=total,
        )
    if total > limits.ratio_floor and total > limits.max_ratio * max(packed, 1):
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: {total:,} bytes from {packed:,} compressed "
            f"(ratio {total / max(packed, 1):.0f}, cap {limits.max_ratio:g}): a zip bomb?",
            hint=f"If this archive is genuine, raise {ENV_MAX_RATIO}.",
            path=str(archive),
            bytes=total,
            compressed=packed,
        )


def _require_tree(mapper: treemap.TreeMapper, archive: Path) -> None:
    if mapper.files:
        return
    listing = mapper.top_level()
    shown = ", ".join(listing[:30]) + (" ..." if len(listing) > 30 else "")
    raise ArchiveError(
        f"No LungSegDB tree (preprocessed data|raw data / V1|V2 / CT_Images|CT_Masks / *.TIF) "
        f"found in {archive.name}; its top level holds: {shown or '(nothing)'}",
        hint="Check that this is the LungSegDB archive; re-download it if unsure.",
        path=str(archive),
        top_level=listing,
    )


# ---------------------------------------------------------------------------------------------
# zip and 7z: plan everything from the headers, then write (zip: inflate in parallel)
# ---------------------------------------------------------------------------------------------
def _plan(
    reader: af.ZipReader | af.SevenZipReader,
    mapper: treemap.TreeMapper,
    limits: Limits,
) -> list[tuple[af.Member, str]]:
    """Screen, cap and map every member from the headers: ``[(member, destination)]``."""
    archive = reader.path
    members = reader.members()
    for m in members:
        _screen(m, archive)
    total = sum(m.size for m in members if m.is_file)
    _check_caps(archive, len(members), total, reader.archive_size, limits)
    jobs: list[tuple[af.Member, str]] = []
    for m in members:
        dest = mapper.decide(m.name, is_dir=m.kind == af.DIR)
        if dest is not None:
            jobs.append((m, dest))
    _require_tree(mapper, archive)
    return jobs


def _write_planned(
    reader: af.ZipReader | af.SevenZipReader,
    jobs: list[tuple[af.Member, str]],
    staging: Path,
    prog: Progress,
    workers: int | None,
) -> list[Entry]:
    wanted = sum(m.size for m, _ in jobs)
    try:
        for leaf in sorted({dest.rsplit("/", 1)[0] for _, dest in jobs}):
            (staging / leaf).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"create folders in {staging}") from exc
    prog.start(f"Extracting {len(jobs):,} files", wanted, unit="B")
    try:
        if isinstance(reader, af.ZipReader):
            return _run_parallel(reader, jobs, str(staging), prog, workers)
        return _run_pushed(reader, jobs, str(staging), prog)
    finally:
        prog.done()


def _write_file(path: str, chunks: Iterator[bytes], cancel: threading.Event) -> tuple[str, int]:
    """Write ``chunks`` to a new file at ``path``, hashing as it goes: (sha256, size)."""
    h = hashlib.sha256()
    size = 0
    try:
        fd = os.open(path, _WFLAGS, 0o666)
    except OSError as exc:
        _raise_if_name_too_long(exc, path)
        raise
    try:
        for data in chunks:
            if cancel.is_set():
                raise _Cancelled
            h.update(data)
            size += len(data)
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
    finally:
        os.close(fd)
    return h.hexdigest(), size


class _Writer:
    """A new file that hashes what is written to it and refuses more than ``declared`` bytes
    (for readers that push data, like py7zr)."""

    def __init__(self, base: str, dest: str, member: af.Member, archive: Path) -> None:
        self.dest = dest
        self._member = member
        self._archive = archive
        self._h = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None
        self._fd = os.open(os.path.join(base, dest), _WFLAGS, 0o666)

    def write(self, data: bytes | bytearray) -> None:
        self.size += len(data)
        if self.size > self._member.size:
            raise UnsafeArchiveError(
                f"{self._archive.name}: member {self._member.name!r} grows past the "
                f"{self._member.size:,} bytes its header declares",
                path=str(self._archive),
                member=self._member.name,
            )
        self._h.update(data)
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.digest = self._h.hexdigest()


def _run_pushed(
    reader: af.SevenZipReader,
    jobs: list[tuple[af.Member, str]],
    staging: str,
    prog: Progress,
) -> list[Entry]:
    """Let the reader push each member's data into a hashing writer."""
    dest_of = {id(m): dest for m, dest in jobs}
    writers: dict[str, _Writer] = {}
    lock = threading.Lock()

    def make_writer(member: af.Member) -> _Writer:
        w = _Writer(staging, dest_of[id(member)], member, reader.path)
        with lock:
            writers[w.dest] = w
        return w

    try:
        reader.extract([m for m, _ in jobs], make_writer)
    except OSError as exc:
        raise from_os_error(exc, "writing the extracted files") from exc
    finally:
        for w in list(writers.values()):
            w.close()
    entries = []
    for m, dest in jobs:
        w = writers.get(dest)
        if w is None and m.size == 0:  # empty files may never reach a writer
            w = _Writer(staging, dest, m, reader.path)
            w.close()
        if w is None or w.digest is None or w.size != m.size:
            raise ArchiveError(
                f"{reader.path.name}: member {m.name!r} was not fully extracted",
                path=str(reader.path),
                member=m.name,
            )
        entries.append(Entry(dest, w.digest, w.size))
        prog.advance(w.size)
    return entries


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
_malloc_tuned = False


def _tune_malloc() -> None:
    """Keep freed chunk buffers in the heap (glibc only; elsewhere a no-op).

    Every inflated chunk is a new ``bytes`` of up to 1 MiB. With glibc's defaults such blocks
    are mmap'ed, or the heap is trimmed as soon as they are freed, so each one is faulted in
    afresh: about one page fault per 4 KiB extracted, a large share of the system time. Raising
    the mmap and trim thresholds to a few MiB lets the same memory be reused (peak RSS grows by
    a few MiB at most).
    """
    global _malloc_tuned
    if _malloc_tuned or not sys.platform.startswith("linux"):
        return
    _malloc_tuned = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, 4 * af.CHUNK)
    mallopt(_M_TRIM_THRESHOLD, 32 * af.CHUNK)


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _run_parallel(
    reader: af.ZipReader,
    jobs: list[tuple[af.Member, str]],
    staging: str,
    prog: Progress,
    workers: int | None,
) -> list[Entry]:
    """Inflate, hash and write ``jobs`` on ``workers`` threads (the calling thread is one)."""
    n = max(1, min(workers or _default_workers(), len(jobs)))
    _tune_malloc()
    results: list[Entry | None] = [None] * len(jobs)
    cancel = threading.Event()
    lock = threading.Lock()
    cursor = [0]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not cancel.is_set():
                with lock:
                    i = cursor[0]
                    cursor[0] = i + 1
                if i >= len(jobs):
                    return
                member, dest = jobs[i]
                digest, size = _write_file(
                    os.path.join(staging, dest), reader.chunks(member), cancel
                )
                results[i] = Entry(dest, digest, size)
                prog.advance(size)
        except _Cancelled:
            return
        except BaseException as exc:
            with lock:
                errors.append(exc)
            cancel.set()

    threads = [
        threading.Thread(target=work, name=f"lungsegdb-extract-{i}", daemon=True)
        for i in range(n - 1)
    ]
    for t in threads:
        t.start()
    try:
        work()
    except BaseException:
        cancel.set()
        raise
    finally:
        if errors:
            cancel.set()
        _join_all(threads, cancel)
    if errors:
        _raise_write_error(errors[0])
    return [e for e in results if e is not None]


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


def _raise_write_error(exc: BaseException) -> None:
    if isinstance(exc, OSError) and not isinstance(exc, LungSegDBError):
        _raise_if_name_too_long(exc, str(exc.filename or ""))
        raise from_os_error(exc, "writing the extracted files") from exc
    raise exc


_STAGING_NAME = re.compile(r"^\..*\.staging-\d+-[0-9a-f]{8}$")


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


# ---------------------------------------------------------------------------------------------
# Streams (tar family, 7z, RAR): one thread reads and decompresses, the caller hashes and writes
# ---------------------------------------------------------------------------------------------
_FILE, _DATA, _END, _DONE, _ERROR = range(5)


def _extract_stream(
    reader: Any,
    mapper: treemap.TreeMapper,
    limits: Limits,
    staging: Path,
    prog: Progress,
) -> list[Entry]:
    prog.start("Extracting", None, unit="B")
    try:
        entries = _pipeline(reader, mapper, limits, staging, prog)
    finally:
        prog.done()
    _require_tree(mapper, reader.path)
    return entries


def _pipeline(
    reader: Any,
    mapper: treemap.TreeMapper,
    limits: Limits,
    staging: Path,
    prog: Progress,
) -> list[Entry]:
    archive: Path = reader.path
    q: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=16)
    cancel = threading.Event()

    def put(kind: int, value: Any = None) -> None:
        while True:
            if cancel.is_set():
                raise _Cancelled
            try:
                q.put((kind, value), timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        try:
            count = 0
            declared = 0
            for member, chunks in reader.entries():
                if cancel.is_set():
                    return
                _screen(member, archive)
                count += 1
                if member.is_file:
                    declared += max(0, member.size)
                _check_caps(archive, count, declared, reader.compressed_read, limits)
                dest = mapper.decide(member.name, is_dir=member.kind == af.DIR)
                if dest is None or chunks is None:
                    continue
                put(_FILE, (dest, member.size))
                for data in chunks:
                    put(_DATA, data)
                put(_END)
            put(_DONE)
        except _Cancelled:
            return
        except BaseException as exc:
            try:
                put(_ERROR, exc)
            except _Cancelled:
                return

    _tune_malloc()
    thread = threading.Thread(target=produce, name="lungsegdb-extract-read", daemon=True)
    thread.start()
    entries: list[Entry] = []
    made: set[str] = set()
    base = str(staging)
    fd = -1
    try:
        h = hashlib.sha256()
        dest = ""
        size = 0
        while True:
            kind, value = q.get()
            if kind == _DATA:
                h.update(value)
                size += len(value)
                view = memoryview(value)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            elif kind == _FILE:
                dest, declared_size = value
                folder = dest.rsplit("/", 1)[0]
                if folder not in made:
                    os.makedirs(os.path.join(base, folder), exist_ok=True)
                    made.add(folder)
                free = free_bytes(staging)
                if free < declared_size + RESERVE:
                    check_free_space(staging, declared_size + RESERVE, f"extracting {dest}")
                fd = os.open(os.path.join(base, dest), _WFLAGS, 0o666)
                h = hashlib.sha256()
                size = 0
            elif kind == _END:
                os.close(fd)
                fd = -1
                entries.append(Entry(dest, h.hexdigest(), size))
                prog.advance(size)
            elif kind == _ERROR:
                raise value
            else:
                break
    except OSError as exc:
        if isinstance(exc, LungSegDBError):
            raise
        _raise_if_name_too_long(exc, os.path.join(base, dest))
        raise from_os_error(exc, "writing the extracted files") from exc
    finally:
        if fd >= 0:
            os.close(fd)
        cancel.set()
        _join_all([thread], cancel)
    return entries
