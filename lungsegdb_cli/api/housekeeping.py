"""The data dir's lifecycle: :func:`clean` removes what is safe to remove, never the tree.

What goes (:mod:`lungsegdb_cli.state.parts` names each part): the tool's partial downloads
(``<key>.part`` and their sidecars), the rejected downloads it recorded moving aside
(``<name>.rejected``), stale staging (what a killed run
staged or moved aside), the decode cache, and the kept archive -- the archive only when the
tree verifies: every file hashed against the manifest (``verify``'s full check, the archive
itself not read), recorded as extracted from exactly that archive. It is then deleted as
``download --no-keep-archive`` deletes it (:mod:`lungsegdb_cli.sources.discard`: at one
commit with the record ``"kept": false``), so ``verify`` passes afterwards and ``info`` still
shows the pin. An archive given with ``--archive FILE`` is the user's, never touched, wherever it
lies (also in ``downloads/``): ownership comes from the provenance record, not the location.
A ``*.part`` or ``*.rejected`` lungsegdb did not write (a browser's, with ``--data-dir ~``) is
left, and listed in ``kept`` with the reason.

All of it under the writer lock (no download or extract runs meanwhile, so nothing listed is
in use) and through the one door (:func:`~lungsegdb_cli.api.common.data_paths`), told not to
tidy on its own so that what recovery would delete is listed, with its size, before it goes
(a commit a killed run left half-done gets its renames only: what it moved aside is listed
as ``stale-staging`` too, and a dry run deletes none of it).

See :mod:`lungsegdb_cli.api` for what every operation shares.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from pathlib import Path

    from lungsegdb_cli.dataset.paths import DataPaths
    from lungsegdb_cli.state.parts import Part
    from lungsegdb_cli.utils.progress import Progress

from lungsegdb_cli.api.common import PathLike, data_paths
from lungsegdb_cli.utils.fsutil import tree_size


@dataclass
class CleanResult:
    """What :func:`clean` removed (or, with ``dry_run``, would remove), and what it kept."""

    data_dir: str
    dry_run: bool
    removed: list[Part] = field(default_factory=list)
    #: removable-looking things left in place, each ``{"path", "bytes", "what", "why"}``
    kept: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "data_dir": self.data_dir,
            "dry_run": self.dry_run,
            "removed": [p.to_dict() for p in self.removed],
            "bytes": self.bytes,
            "kept": list(self.kept),
        }


def clean(
    data_dir: PathLike | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> CleanResult:
    """Remove what is safe to remove from the data dir, with sizes; never the tree.

    Partial downloads, rejected downloads, stale staging, the decode cache, and the kept
    archive once the tree verifies (every file hashed against the manifest; the tree recorded
    as extracted from that archive). Holds the writer lock. Afterwards ``verify`` still passes:
    the tree and its manifest are untouched, the archive recorded as discarded.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root, or the LungSegDB folder itself.
    dry_run : bool
        List what would be removed; remove nothing.
    progress : Progress, optional
        Receives the progress of the tree's check (only when an archive is kept).

    Returns
    -------
    CleanResult
        ``removed`` (each :class:`~lungsegdb_cli.state.parts.Part`: ``path``, ``bytes``,
        ``what`` -- ``partial-download``, ``rejected-download``, ``stale-staging``,
        ``decode-cache``, ``kept-archive``), ``bytes`` (their total), ``kept`` (what was
        left in place and why: an archive whose tree does not verify, the user's own archive
        given with ``--archive``, a ``*.part`` or ``*.rejected`` lungsegdb did not write),
        ``dry_run``.

    Raises
    ------
    UsageError
        ``data_dir`` does not exist, or a bad ``LUNGSEGDB_WORKERS`` /
        ``LUNGSEGDB_LOCK_TIMEOUT`` value (exit 2; never a reason to keep the archive).
    LocalError
        The writer lock is held past ``LUNGSEGDB_LOCK_TIMEOUT``, or a file cannot be removed
        (exit 5).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/synth", pairs=1)
    >>> _ = L.download(tmp + "/data", url=made.archive.path.as_uri())
    >>> _ = L.validate(tmp + "/data")                       # fills the decode cache
    >>> [(p.what, p.path.name) for p in L.clean(tmp + "/data", dry_run=True).removed]
    [('decode-cache', 'cache'), ('kept-archive', 'LungSegDB.zip')]
    >>> result = L.clean(tmp + "/data")
    >>> result.bytes > 0, L.verify(tmp + "/data").ok, L.clean(tmp + "/data").removed
    (True, True, [])
    >>> work.cleanup()
    """
    from lungsegdb_cli.state import locking
    from lungsegdb_cli.utils import envvars

    # What the tree's check reads, read first: a bad value is exit 2, not a "kept" reason.
    envvars.check([*envvars.WORKERS, envvars.LOCK])
    paths = data_paths(data_dir, must_exist=True, tidy=False)
    result = CleanResult(data_dir=str(paths.root), dry_run=dry_run)
    if not paths.root.is_dir():
        return result  # the default data dir, never made: nothing to clean
    if _never_used(paths):  # a folder lungsegdb never wrote to: leave no lock file behind
        _clean(paths, result, progress)
        return result
    with locking.writer_lock(paths):
        _clean(paths, result, progress)
    return result


def _never_used(paths: DataPaths) -> bool:
    """No state folder and nothing that looks like a leftover of ours: there is nothing to
    remove, so ``clean`` takes no lock (which would create ``.lungsegdb/`` in a folder that
    never held it). A writer starting meanwhile has committed nothing yet."""
    from lungsegdb_cli.state import parts

    return not paths.state_dir.exists() and not parts.leftovers(paths)


def _clean(paths: DataPaths, result: CleanResult, progress: Progress | None) -> None:
    """List, then (unless dry-run) remove: the leftovers first, the archive last."""
    from lungsegdb_cli.state import parts

    found = parts.leftovers(paths)
    archive = _archive(paths, result, progress)
    result.kept += [{**part.to_dict(), "why": why} for part, why in parts.foreign(paths)]
    if result.dry_run:
        result.removed = [*found, *([archive] if archive else [])]
        return
    _remove_leftovers(paths, found)
    result.removed = [p for p in found if not os.path.lexists(p.path)]
    gone = [p.path.name for p in result.removed if p.what == parts.REJECTED]
    if gone:
        from lungsegdb_cli.state import rejected

        rejected.forget(paths, gone)
    if archive is not None and _discard(paths):
        result.removed.append(archive)


def _archive(paths: DataPaths, result: CleanResult, progress: Progress | None) -> Part | None:
    """The kept archive as a removable part if the tree verifies, else None (and why it is
    kept in ``result.kept``)."""
    from lungsegdb_cli.checks import manifest
    from lungsegdb_cli.checks.verify import verify
    from lungsegdb_cli.errors import LungSegDBError, UsageError
    from lungsegdb_cli.state import parts
    from lungsegdb_cli.state.provenance import Provenance

    kept = parts.kept_archive(paths)
    if kept is None:
        users = parts.users_archive(paths)
        if users is not None:  # given with --archive FILE: the user's own, wherever it lies
            result.kept.append(
                {
                    **parts.Part(users, tree_size(users), parts.ARCHIVE).to_dict(),
                    "why": "given with --archive: your file, never deleted",
                }
            )
        found = parts.unrecorded_archive(paths)
        if found is not None:  # what extract takes from downloads/: no record makes it ours
            part = parts.Part(found, tree_size(found), parts.ARCHIVE)
            result.kept.append({**part.to_dict(), "why": parts.NOT_RECORDED_ARCHIVE})
        return None
    part = parts.Part(kept, tree_size(kept), parts.ARCHIVE)
    record = Provenance.read(paths.provenance)
    why = None
    if record is None or manifest.tree_archive(paths) != record.pin:
        why = "the tree is not recorded as extracted from it"
    else:
        try:
            checked = verify(paths, archive=False, progress=progress)
        except UsageError:
            raise  # the user's configuration: exit 2, never a reason to keep the archive
        except LungSegDBError as exc:
            why = f"the tree cannot be verified: {exc.message}"
        else:
            if not checked.ok:
                why = "the tree does not verify (see 'lungsegdb verify')"
    if why is not None:
        result.kept.append({**part.to_dict(), "why": why})
        return None
    return part


def _remove_leftovers(paths: DataPaths, found: list[Part]) -> None:
    """Delete ``found``: stale staging by recovery's own rules (it also finishes a journal
    left ``applied``), the rest file by file; the cache folder whole. ``downloads/`` goes
    too when this run emptied it (never an empty one it found so: it may be the user's).

    Each removal is one step (a crash point): a run killed between two, or in the middle of
    the cache folder, leaves only leftovers of the same kinds, which the next run lists and
    removes (what is left of the cache folder: files each written whole, or their temp
    files)."""
    from lungsegdb_cli.errors import from_os_error
    from lungsegdb_cli.state import commit, parts

    if any(p.what == parts.STAGING for p in found) or paths.journal.exists():
        commit.checkpoint("clean stale-staging")
        commit.recover(paths)
        for p in found:  # recovery leaves what it cannot delete: said, never dropped
            if p.what == parts.STAGING and os.path.lexists(p.path):
                exc = _why_not_removed(p.path)
                if exc is not None:
                    raise from_os_error(exc, f"remove {p.path}") from exc
    for p in found:
        if p.what != parts.STAGING:
            commit.checkpoint(f"clean {p.what}")
        try:
            if p.what == parts.CACHE:
                shutil.rmtree(p.path)  # the cache: a few files, never deep
            elif p.what != parts.STAGING:
                p.path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise from_os_error(exc, f"remove {p.path}") from exc
    if any(p.path.parent == paths.downloads_dir and not os.path.lexists(p.path) for p in found):
        with contextlib.suppress(OSError):  # emptied by this run: the folder goes too
            paths.downloads_dir.rmdir()


def _why_not_removed(path: Path) -> OSError | None:
    """Try once more to delete ``path`` (stale staging recovery could not delete), to say
    why it stays: the ``OSError``, or None if it went now."""
    import errno

    failed: list[OSError] = []

    def note(_func: object, where: str, info: Any) -> None:  # the full path, not dir_fd's
        exc = info[1]
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            failed.append(OSError(exc.errno, exc.strerror, where))

    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, onerror=note)
        else:
            path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc
    except RecursionError:  # deeper than rmtree reaches, and recovery could not delete it
        failed.append(OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), str(path)))
    if failed:
        return failed[0]
    return None if not os.path.lexists(path) else OSError(errno.ENOTEMPTY, "not removed", path)


def _discard(paths: DataPaths) -> bool:
    """Delete the kept archive as ``download --no-keep-archive`` does; True if it went."""
    from lungsegdb_cli.sources.discard import discard_archive

    return discard_archive(paths).deleted
