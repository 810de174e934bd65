"""``lungsegdb verify``: is the data on disk exactly what was downloaded?

Two checks, run together on one pool of hashing threads:

* **Archive** (where kept): its SHA-256 against the pin (``--sha256`` / ``LUNGSEGDB_SHA256``) or
  else the checksum recorded in the provenance at download time. One deleted by
  ``download --no-keep-archive`` is reported as ``discarded`` (gone by choice), one deleted by
  hand with a ``note`` (neither is a problem by itself); anything else in its place (a folder,
  a FIFO) is a problem, never read.
* **A pin means the tree** (:mod:`lungsegdb_cli.checks.origin`, the rule ``download`` uses too):
  the tree's own record must say it was extracted from the pinned archive, else
  ``tree_problem`` with ``tree_hint`` (the command that re-extracts it).
* **Tree**: every file of the manifest (``<root>/LungSegDB.sha256``) against its digest, plus
  the files of the tree the manifest does not list. Outcome lists: ``missing``, ``modified``,
  ``extra`` (OS junk such as ``.DS_Store`` or ``__MACOSX/`` is never extra).

``quick=True`` reads no file contents: presence and sizes only (sizes from the manifest's
sidecar), so a same-size modification goes unnoticed; the archive is checked by size.

Only regular files are read, and only inside the tree:

* a manifest path that is absolute, has a ``..``/``.``/empty component or a NUL, or leads
  outside the tree through a symlinked folder stops the run before anything is read
  (:class:`~lungsegdb_cli.checks.manifest.ManifestPathOutsideTree`, exit 1), so whether a file
  outside exists never shows in the outcome;
* a listed file that is a symlink (extraction never makes one) is not followed, and a FIFO,
  device or socket is not read: both are ``modified``, and also named in ``symlinks`` /
  ``not_regular``. Unlisted ones are ``extra`` (and named there too). Nothing can hang.

Nothing is written: verify works on a read-only data dir and takes no lock.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Container, Iterable
from pathlib import Path

from lungsegdb_cli.checks import manifest
from lungsegdb_cli.checks.localarchive import LocalArchive, local_archive
from lungsegdb_cli.checks.origin import fix_hint, tree_origin
from lungsegdb_cli.checks.verify_result import ArchiveCheck, VerifyResult
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.tree import Confined, LeavesTree
from lungsegdb_cli.dataset.walk import LINK, SPECIAL, scan_tree
from lungsegdb_cli.errors import LocalError, NothingToVerify, from_os_error
from lungsegdb_cli.state import commit
from lungsegdb_cli.state.provenance import Provenance
from lungsegdb_cli.utils import hashing
from lungsegdb_cli.utils.progress import Progress, ensure

__all__ = ["LINK", "SPECIAL", "ArchiveCheck", "VerifyResult", "scan_tree", "verify"]

#: Sentinel key of the archive among the hashing jobs (tree keys are relative paths).
_ARCHIVE = ("archive",)


def _os_error(exc: OSError, action: str, path: object) -> LocalError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return LocalError(
            f"Permission denied: cannot read {path}",
            hint="Make the data dir readable for this user (chmod/chown), then verify again.",
            path=str(path),
        )
    return from_os_error(exc, f"{action} {path}")


# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------
@commit.one_generation
def verify(
    paths: DataPaths,
    *,
    sha256: str | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
    archive: bool = True,
) -> VerifyResult:
    """Check the kept archive and every file of the tree; never raises for bad data.

    ``sha256`` pins the archive's checksum (else the provenance record is the reference) and
    the tree: it must be recorded as extracted from the pinned archive. ``archive`` False
    leaves the archive out (``lungsegdb clean`` checks the tree before deleting the archive:
    reading what it deletes would be wasted).
    Raises :class:`NothingToVerify` (exit 3) when there is neither a manifest nor a kept
    archive to check, :class:`LocalError` (exit 5) when a file cannot be read, and
    :class:`~lungsegdb_cli.checks.manifest.ManifestCorrupt` or
    :class:`~lungsegdb_cli.checks.manifest.ManifestPathOutsideTree` (exit 1) for a manifest that
    cannot be trusted, before reading or ``stat``-ing any file of the tree.
    """
    t0 = clock()
    pin = sha256.lower() if sha256 else None
    try:
        listed = _read_manifest(paths)
        sidecar = manifest.Sidecar.read(paths, listed[1]) if listed is not None else None
        kept, record = local_archive(paths)
    except OSError as exc:  # (the sidecar's own refusal is a LocalError already)
        raise _os_error(exc, "read", exc.filename or paths.manifest) from exc
    tree_exists = paths.dataset_dir.is_dir()
    if listed is None and (tree_exists or kept is None):
        raise _nothing_to_verify(paths, tree_exists)
    expected, text = listed if listed is not None else ({}, "")
    sizes = (sidecar.sizes if sidecar is not None else None) or {}
    # Where each listed file really is (None: its folder is absent), or the refusal.
    where = _locate(paths.dataset_dir, expected, text)

    result = VerifyResult(
        dataset_dir=str(paths.dataset_dir),
        manifest=str(paths.manifest) if listed is not None else None,
        archive=None,
        quick=quick,
    )
    result.archive = _archive_check(paths, kept, record, pin, quick) if archive else None
    if sidecar is not None:
        _tree_record(paths, record, pin, result, sidecar)
    if not quick:
        against = expected if listed is not None else None
        _hash_all(paths, against, sizes, where, result, progress=progress, workers=workers)
    elif listed is not None:
        result.sizes_checked = bool(sizes) or not expected
        _check_sizes(paths, sizes, where, result)
    _finish(result)
    result.seconds = clock() - t0
    return result


def _hash_all(
    paths: DataPaths,
    expected: dict[str, str] | None,
    sizes: dict[str, int],
    where: dict[str, str | None],
    result: VerifyResult,
    *,
    progress: Progress | None,
    workers: int | None,
) -> None:
    """The full check: hash the archive (if ``result.archive`` is there to hash) and every
    listed file (``where``: :func:`_locate`) on all cores, against ``expected`` (None without
    a manifest); walk the tree for extras meanwhile."""
    arch = result.archive
    jobs: list[hashing.Job[object]] = []
    if arch is not None and arch.present:
        jobs.append(hashing.Job(_ARCHIVE, arch.path, arch.size or 0))
    job = hashing.Job
    for rel, path in where.items():
        if path is None:
            result.missing.append(rel)
        else:
            jobs.append(job(rel, path, sizes.get(rel, -1), False))
    listed = expected or {}
    result.checked = len(listed)
    prog = ensure(progress)
    sizes_known = all(j.size >= 0 for j in jobs)
    prog.start("Verifying", sum(j.size for j in jobs) if sizes_known else None, "B")
    # Without a progress display, no per-read callback at all (one call less per file).
    on_bytes = None if progress is None else prog.advance
    try:
        with hashing.hash_many(jobs, workers=workers, on_bytes=on_bytes) as run:
            if expected is not None:
                _extras(paths.dataset_dir, expected, result)
            for h in run:
                if h.key is _ARCHIVE:
                    _archive_hashed(arch, h)
                    continue
                key = str(h.key)
                if h.error is not None:
                    _file_error(key, h.error, h.path, result)
                    continue
                result.bytes += h.size
                if h.digest != listed[key]:
                    result.modified.append(key)
    finally:
        prog.done()


#: errno values that mean "no file there": missing, or a folder (or a link to one) in its place.
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR})


def _file_error(key: str, exc: OSError, path: object, result: VerifyResult) -> None:
    """Sort a listed file that could not be hashed: missing, a symlink, not a regular file;
    anything else (permission denied, I/O error) stops the check (:class:`LocalError`)."""
    if isinstance(exc, hashing.SymlinkFound):
        result.modified.append(key)
        result.symlinks.append(key)
    elif isinstance(exc, hashing.NotRegularFile):
        result.modified.append(key)
        result.not_regular.append(key)
    elif exc.errno in _ABSENT:  # gone, or a folder where a file should be
        result.missing.append(key)
    else:
        raise _os_error(exc, "read", path)


def _finish(result: VerifyResult) -> None:
    """Sort every list of ``result`` (the contract: complete and sorted)."""
    for items in (
        result.missing,
        result.modified,
        result.extra,
        result.symlinks,
        result.not_regular,
    ):
        items.sort()


def _locate(dataset_dir: Path, listed: dict[str, str], text: str) -> dict[str, str | None]:
    """``{rel: real path}`` of every listed file (:meth:`~lungsegdb_cli.dataset.tree.Confined.file`:
    folders resolved inside the tree, one ``lstat`` per distinct folder component); None
    where a folder is absent. Raises :class:`~lungsegdb_cli.checks.manifest.ManifestPathOutsideTree`
    for a path whose folder leads outside the tree, before any file is touched."""
    folder_of = Confined(dataset_dir).folder
    bases: dict[str, str | None] = {}  # folder as listed -> its real path and a "/"
    out: dict[str, str | None] = {}
    for rel in listed:
        parent, _, name = rel.rpartition("/")
        try:
            base = bases[parent]
        except KeyError:
            try:
                folder = folder_of(parent)
            except LeavesTree:
                raise manifest.leaves_tree(text, rel) from None
            except OSError as exc:
                raise _os_error(exc, "list", exc.filename or dataset_dir) from exc
            base = bases[parent] = None if folder is None else folder + "/"
        out[rel] = None if base is None else base + name
    return out


def extra_files(paths: DataPaths) -> list[str]:
    """The files of the tree (OS junk excluded) its manifest does not list: what ``verify
    --quick`` reports as ``extra`` (no manifest: every file). Only lists folders."""
    try:
        listed = _read_manifest(paths)
    except OSError as exc:
        raise _os_error(exc, "read", exc.filename or paths.manifest) from exc
    result = VerifyResult(
        dataset_dir=str(paths.dataset_dir), manifest=None, archive=None, quick=True
    )
    _extras(paths.dataset_dir, listed[0] if listed is not None else {}, result)
    return result.extra


def _extras(dataset_dir: Path, listed: Container[str], result: VerifyResult) -> None:
    """Files of the tree (junk excluded) the manifest does not list, into ``result.extra``
    (symlinks and FIFOs/devices/sockets among them also into their lists)."""
    try:
        found = [
            (rel, size)
            for rel, size in scan_tree(dataset_dir, sizes=False, skip=listed)
            if rel not in listed
        ]
    except OSError as exc:
        raise _os_error(exc, "list", exc.filename or dataset_dir) from exc
    _add_extras(found, result)


def _add_extras(found: Iterable[tuple[str, int]], result: VerifyResult) -> None:
    for rel, size in found:
        result.extra.append(rel)
        if size == LINK:
            result.symlinks.append(rel)
        elif size == SPECIAL:
            result.not_regular.append(rel)


def _read_manifest(paths: DataPaths) -> tuple[dict[str, str], str] | None:
    """``({path: sha256}, text)`` from the manifest, or None without one. A plain dict, no
    per-entry objects: at full scale this runs before any hashing starts, so every
    millisecond is wall time."""
    text = manifest.read_text(paths.manifest)
    if text is None:
        return None
    return manifest.parse(text), text


def _check_sizes(
    paths: DataPaths, sizes: dict[str, int], where: dict[str, str | None], result: VerifyResult
) -> None:
    """``--quick``: presence and sizes against the manifest; no reading, and no ``stat`` but
    inside the tree (``where``: :func:`_locate`): one ``lstat`` per listed file, and a walk
    that only lists folders (no ``stat``) for the files the manifest does not name."""
    _extras(paths.dataset_dir, where, result)
    result.checked = len(where)
    for rel, path in where.items():
        size = None if path is None else _lstat_size(path)
        if size is None:  # absent, or a folder where a file should be
            result.missing.append(rel)
            continue
        if size == LINK:
            result.modified.append(rel)
            result.symlinks.append(rel)
            continue
        if size == SPECIAL:
            result.modified.append(rel)
            result.not_regular.append(rel)
            continue
        result.bytes += size
        want = sizes.get(rel, -1)
        if want >= 0 and size != want:
            result.modified.append(rel)


def _lstat_size(path: str) -> int | None:
    """Size of a listed file the walk did not see (junk-named, or under a symlinked folder
    inside the tree): :data:`LINK` or :data:`SPECIAL` for those, None if absent or a folder.
    ``path`` is a real path inside the tree; the last component is not followed."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _os_error(exc, "stat", path) from exc
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    if stat.S_ISLNK(st.st_mode):
        return LINK
    return None if stat.S_ISDIR(st.st_mode) else SPECIAL


def _nothing_to_verify(paths: DataPaths, tree_exists: bool) -> NothingToVerify:
    if tree_exists:
        return NothingToVerify(
            f"No manifest for {paths.dataset_dir}: nothing to verify it against "
            f"(expected {paths.manifest})",
            hint=(
                "Run 'lungsegdb extract --force' to re-extract from the archive and write one, "
                "or 'lungsegdb download --force'."
            ),
            dataset_dir=str(paths.dataset_dir),
            manifest=str(paths.manifest),
        )
    return NothingToVerify(
        f"Nothing to verify in {paths.root}: no tree, no manifest, no archive",
        hint="Run 'lungsegdb download' first (or pass the right --data-dir).",
        data_dir=str(paths.root),
    )


def _tree_record(
    paths: DataPaths,
    record: Provenance | None,
    pin: str | None,
    result: VerifyResult,
    sidecar: manifest.Sidecar,
) -> None:
    """What the tree's own record says it was extracted from. A pin vouches for the tree
    only if that record names the pinned archive (:mod:`lungsegdb_cli.checks.origin`): a kept
    archive that matches the pin beside a tree from another archive is a problem."""
    if sidecar.archive != manifest.UNRECORDED:
        result.tree_archive_sha256 = sidecar.archive
    if not pin:
        return
    origin = tree_origin(paths, record, sidecar=sidecar)
    if not origin.matches(pin):
        result.tree_problem = origin.mismatch(pin)
        result.tree_hint = fix_hint(pin)


def _archive_check(
    paths: DataPaths,
    archive: LocalArchive | None,
    record: Provenance | None,
    pin: str | None,
    quick: bool,
) -> ArchiveCheck | None:
    """The archive check before hashing (final for ``quick`` or an archive not there)."""
    recorded = record.pin if record is not None else None
    expected = pin or recorded
    source = "pin" if pin else ("provenance" if recorded else None)
    expected_size = record.size if record is not None else None
    if archive is None:
        if record is None or not record.path:
            return None
        if record.discarded:
            return _discarded_check(record, pin)
        return _gone_check(paths, record, pin)
    size = archive.size
    check = ArchiveCheck(
        path=str(archive.path),
        sha256=None,
        expected=expected,
        ok=True,
        source=source,
        size=size,
        expected_size=expected_size,
    )
    if quick:
        problems = []
        if expected_size is not None and size != expected_size:
            problems.append(f"size {size:,} bytes, recorded {expected_size:,}")
        if pin and recorded and recorded != pin:
            problems.append(f"recorded sha256 {recorded} is not the pin")
        check.ok = not problems
        check.problem = "; ".join(problems) or None
    return check


def _gone_check(paths: DataPaths, record: Provenance, pin: str | None) -> ArchiveCheck:
    """The recorded archive is not there as a regular file. Deleted (or moved) by hand: a
    note, not a failure by itself (the tree is still checked, and a pin is then decided by
    the tree's record alone); something else in its place (a folder, a FIFO): a problem,
    never read. A pin that contradicts the recorded checksum is a problem either way."""
    where = record.archive_path(paths.root) or Path(str(record.path))
    recorded = record.pin
    check = ArchiveCheck(
        path=str(where),
        sha256=None,
        expected=pin or recorded,
        ok=True,
        source="pin" if pin else ("provenance" if recorded else None),
        size=None,
        expected_size=record.size,
        present=False,
    )
    problems = []
    kind = _kind_in_place(where)
    if kind is None:
        check.note = "gone (deleted or moved since it was recorded): not checked"
    else:
        problems.append(f"a {kind} is in its place: not read")
    if pin and recorded and recorded != pin:
        problems.append(_not_the_pin(recorded))
    check.ok = not problems
    check.problem = "; ".join(problems) or None
    return check


def _not_the_pin(recorded: str | None) -> str:
    return f"the archive recorded at download has sha256 {recorded}, not the pin"


def _kind_in_place(path: Path) -> str | None:
    """What is at ``path`` instead of a regular file (``folder``, ``FIFO``, ...), or None
    when nothing is (a dangling symlink counts as nothing)."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        raise _os_error(exc, "stat", path) from exc
    return None if stat.S_ISREG(st.st_mode) else hashing.kind_of_mode(st.st_mode)


def _discarded_check(record: Provenance, pin: str | None) -> ArchiveCheck:
    """The archive was deleted by choice (``download --no-keep-archive``): nothing to hash;
    only a pin that contradicts the recorded checksum is a problem."""
    recorded = record.pin
    ok = not pin or recorded == pin
    return ArchiveCheck(
        path=str(record.path),
        sha256=None,
        expected=pin or recorded,
        ok=ok,
        source="pin" if pin else ("provenance" if recorded else None),
        size=None,
        expected_size=record.size,
        present=False,
        problem=None if ok else _not_the_pin(recorded),
        discarded=True,
    )


def _archive_hashed(check: ArchiveCheck | None, h: hashing.Hashed[object]) -> None:
    if check is None:  # pragma: no cover - the job exists only with a check
        return
    if h.error is not None:
        if isinstance(h.error, FileNotFoundError):
            check.present = False
            check.ok = False
            check.problem = "the archive vanished while it was being checked"
            return
        if isinstance(h.error, (hashing.NotRegularFile, IsADirectoryError)):
            check.ok = False
            check.problem = f"not a regular file ({h.error.strerror}): not read"
            return
        raise _os_error(h.error, "read", h.path)
    check.sha256 = h.digest
    check.size = h.size
    if check.expected is not None and h.digest != check.expected:
        check.ok = False
        what = "the pin" if check.source == "pin" else "the recorded checksum"
        check.problem = f"sha256 differs from {what}"
