"""Extract an archive into the documented tree: safely, atomically, in one pass.

The steps of :func:`extract_archive`:

1. Detect the format by magic bytes (:mod:`lungsegdb_cli.archive.formats`).
2. Under the data dir's writer lock, finish or undo what a killed run left
   (:func:`lungsegdb_cli.state.commit.recover`). If the tree is complete and intact (every file of
   the
   manifest present with its recorded size) and not ``force``: stop, ``already=True``.
3. Screen every member (absolute paths, ``..``, links, devices refused) and map it onto the
   documented tree (:mod:`lungsegdb_cli.archive.treemap`). For zip this happens for all members from
   the central directory *before anything is written*, together with the caps on member count,
   total size and compression ratio and the free-space check. Tar-like archives are streams:
   the same checks run member by member as the headers arrive, and a refusal removes what was
   staged.
4. Write every file into a staging folder beside the tree (``.LungSegDB.staging-<txid>``),
   hashing it (SHA-256) as it is written. Zip members are inflated, hashed and written by one
   thread per core (zlib, hashlib and ``os.write`` release the GIL); a tar stream is
   decompressed in one thread while another hashes and writes.
5. Stage the manifest and its sidecar (which records the archive's SHA-256 when known, and
   where each documented folder sits in the archive) beside theirs, and commit tree +
   manifest + sidecar at one step (:mod:`lungsegdb_cli.state.commit`).
   Any failure or Ctrl-C before the commit point leaves the old state exactly as it was and
   removes what was staged (after a SIGKILL, the next run does); after it, the new state.

``download`` stages the archive and its provenance into the same commit, and makes steps
4-5 itself (:func:`staging` plans and makes the staging folder; the download calls the
writer, :mod:`lungsegdb_cli.archive.extract_write`, and stages the manifest), so the record
never changes before the tree does. Files are not
fsync'ed one by one (that would make extraction several times slower): one ``syncfs`` before
the commit point makes them durable together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.archive import formats as af
from lungsegdb_cli.archive.extract_plan import (
    ENV_MAX_BYTES,
    ENV_MAX_FILES,
    ENV_MAX_RATIO,
    Limits,
    Plan,
    open_plan,
)
from lungsegdb_cli.archive.extract_write import RESERVE, write_tree
from lungsegdb_cli.checks import manifest
from lungsegdb_cli.checks.manifest import Entry
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.places import check_outside_tree, check_places
from lungsegdb_cli.errors import LocalError, UsageError
from lungsegdb_cli.state import commit, parts, provenance
from lungsegdb_cli.utils.fsutil import check_free_space
from lungsegdb_cli.utils.progress import Progress, ensure, note

__all__ = [
    "ENV_MAX_BYTES",
    "ENV_MAX_FILES",
    "ENV_MAX_RATIO",
    "RESERVE",
    "ExtractResult",
    "Limits",
    "Staging",
    "already_intact",
    "archive_to_extract",
    "extract_archive",
    "staging",
]


@dataclass
class ExtractResult:
    """What :func:`extract_archive` did (``to_dict`` gives the ``--json`` shape)."""

    dataset_dir: Path
    #: the archive read; None when none was given or recorded and the tree was already there
    archive: Path | None
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
    #: The LungSegDB folder was a symbolic link to this folder: the new tree replaced the link
    #: (the commit never writes through a link) and that folder was left as it was.
    replaced_link: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True: an extraction that did not complete raises instead."""
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset_dir": str(self.dataset_dir),
            "archive": str(self.archive) if self.archive is not None else None,
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
            "replaced_link": self.replaced_link,
            "seconds": round(self.seconds, 3),
        }


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
    if not force and paths.manifest.is_file():  # the common re-run: no archive I/O
        existing = already_intact(paths)
        if existing is not None:
            return _already(paths, archive, fmt, existing, clock() - t0)
    limits = Limits.from_env() if limits is None else limits
    # zip/7z: every member screened, mapped and capped before anything is created
    with open_plan(archive, fmt, limits) as plan, commit.writing(paths):
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
        if (left := txn.left_behind_note()) is not None:
            note(progress, left)
    result.seconds = clock() - t0
    return result


def extract_recorded(
    paths: DataPaths, *, force: bool = False, progress: Progress | None = None
) -> ExtractResult:
    """``extract`` without ``--archive``: the archive :func:`archive_to_extract` finds, or,
    when there is none (a tree extracted from a file given by hand), nothing to do if the
    tree is complete -- as ``extract --archive FILE`` says on a re-run."""
    t0 = time.monotonic()
    try:
        archive = archive_to_extract(paths)
    except UsageError:
        if force or not paths.manifest.is_file():
            raise
        existing = already_intact(paths)
        if existing is None:
            raise
        return _already(paths, None, None, existing, time.monotonic() - t0)
    return extract_archive(paths, archive, force=force, progress=progress)


def archive_to_extract(paths: DataPaths) -> Path:
    """The archive ``extract`` uses when none is given: the kept one the provenance records,
    else the one archive in ``downloads/`` (read after a half-done commit is recovered)."""
    with commit.reading(paths):
        record = provenance.Provenance.read(paths.provenance)
        kept = record.kept_archive(paths.root) if record is not None else None
    if kept is not None:
        return kept
    found = parts.archive_candidates(paths)
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(
            f"Several files in {paths.downloads_dir}: " + ", ".join(p.name for p in found),
            hint="Say which one with --archive FILE.",
        )
    if record is not None and record.discarded:
        raise UsageError(
            f"No archive to extract: the one recorded ({record.path}) was discarded once the "
            "tree verified (--no-keep-archive or clean), and none is in "
            f"{paths.downloads_dir}",
            hint="Run 'lungsegdb download --force' (it fetches the archive again and "
            "re-extracts), or pass the archive with --archive FILE.",
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
    check_places(paths)
    check_outside_tree(paths, archive)
    return archive


def check_replaceable(paths: DataPaths, staged: Collection[str] | None = None) -> None:
    """A tree lungsegdb did not write (no readable manifest: unzipped by hand, say) that an
    extraction is about to replace holds nothing but the dataset's slices -- else a
    :class:`UsageError` (exit 2) naming what else it holds, before the commit: the commit
    replaces the whole folder, and a file of the user's in it (notes, a script, a prediction
    saved beside the slices or under a copy of the layout) would go with it.

    A file is the dataset's when it lies in a leaf folder of the documented tree (however
    spelt) under the one wrapper the tree has -- the shortest path to a leaf, ``""`` or, for
    an archive unzipped with its top folder, ``LungSegDB/`` (docs/extract.md step 4); a leaf
    under any other folder (``predictions/raw data/V1/...``) is the user's -- and, with
    ``staged`` (the tree paths this extraction wrote, known once they are written, whatever
    the archive's format), when the extraction writes it again (its name compared without
    case); without (the cheap look ``download`` takes before fetching), when it is a TIFF. A
    tree with its manifest is lungsegdb's: what is not in the manifest is what ``verify``
    lists as extra, and ``--force`` replaces it as documented. A tree that is a symlink is
    only a name here (the commit replaces the link, never its target). Lists folders only."""
    from lungsegdb_cli.dataset import card
    from lungsegdb_cli.dataset.walk import scan_tree
    from lungsegdb_cli.errors import CheckFailed

    tree = paths.dataset_dir
    if tree.is_symlink() or not tree.is_dir():
        return
    try:
        if manifest.read_text(paths.manifest) is not None:
            return
    except CheckFailed:
        pass  # a corrupt manifest: judged as none
    try:
        found = [rel for rel, _size in scan_tree(tree, sizes=False)]
    except OSError as exc:
        from lungsegdb_cli.errors import from_os_error

        raise from_os_error(exc, f"list {tree}") from exc

    def placed(rel: str) -> tuple[str, str] | None:
        """(wrapper, the leaf path as the extraction names it), or None: in no leaf."""
        parts = rel.split("/")
        leaf = card.canonical_leaf(*parts[-4:-1]) if len(parts) >= 4 else None
        return None if leaf is None else ("/".join(parts[:-4]), f"{leaf}/{parts[-1]}")

    where = {rel: placed(rel) for rel in found}
    wrappers = sorted({p[0] for p in where.values() if p is not None}, key=lambda w: (len(w), w))
    wanted = {name.lower() for name in staged} if staged is not None else None

    def the_datasets(rel: str) -> bool:
        at = where[rel]
        if at is None or at[0] != wrappers[0]:
            return False
        return at[1].lower() in wanted if wanted is not None else card.is_tiff(rel)

    foreign = [
        rel if len(rel) <= 80 else rel[:77] + "..." for rel in found if not the_datasets(rel)
    ]
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UsageError(
            f"{tree} has no manifest and holds what is not the dataset's ({shown}): the "
            "extraction would replace the whole folder with them",
            hint="Move them out of the LungSegDB folder (or delete them), then run again.",
            path=str(tree),
        )


def _already(
    paths: DataPaths,
    archive: Path | None,
    fmt: str | None,
    existing: list[Entry],
    seconds: float,
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


@dataclass
class Staging:
    """A tree being staged into a transaction (:func:`staging`): the archive's plan open,
    its staging folder made. The caller writes the files
    (:func:`lungsegdb_cli.archive.extract_write.write_tree` of :attr:`plan` into
    :attr:`folder`), stages :meth:`manifest`'s texts through the transaction, and takes
    :meth:`result`."""

    paths: DataPaths
    plan: Plan
    #: the staging folder that replaces the tree at the commit
    folder: Path
    progress: Progress
    workers: int | None
    archive_sha256: str | None
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0

    def manifest(self, total: list[Entry]) -> tuple[bytes, bytes]:
        """The manifest and its sidecar of the files written (``total``): what the caller
        stages beside the tree (``paths.manifest``, ``paths.manifest_sizes``)."""
        commit.checkpoint("extracted")
        folders = {leaf: folder for folder, leaf in self.plan.mapper.mapped.items()}
        layout = manifest.ArchiveLayout(self.plan.fmt, folders)
        return manifest.render(total, archive_sha256=self.archive_sha256, layout=layout)

    def result(self, total: list[Entry]) -> ExtractResult:
        """What was staged, as :func:`extract_archive` reports it."""
        mapper, target = self.plan.mapper, self.paths.dataset_dir
        return ExtractResult(
            dataset_dir=target,
            archive=self.plan.archive,
            format=self.plan.fmt,
            files=len(total),
            bytes=sum(e.size for e in total),
            manifest=self.paths.manifest,
            mapped=dict(mapper.mapped),
            skipped=list(mapper.skipped),
            skipped_count=mapper.skipped_count,
            junk=mapper.junk,
            missing=mapper.missing(),
            replaced=target.exists(),
            replaced_link=os.path.realpath(target) if target.is_symlink() else None,
            seconds=self.clock() - self.started,
        )


@contextmanager
def staging(
    txn: commit.Transaction,
    paths: DataPaths,
    archive: Path,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    archive_sha256: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Staging]:
    """The extraction of ``archive`` into ``txn``, planned: format detected, every member
    screened and capped (zip/7z: before anything is created), the free space checked, the
    staging folder made. The caller writes the files and stages the manifest (see
    :class:`Staging`): ``download`` does, so this module is not on the stack while the bytes
    land. Nothing live changes until ``txn.commit()``. Raises as :func:`extract_archive`."""
    t0 = clock()
    limits = Limits.from_env() if limits is None else limits
    fmt = af.detect(archive) if fmt is None else fmt
    with open_plan(archive, fmt, limits) as plan:
        yield _begin(txn, paths, plan, progress, workers, archive_sha256, clock, t0)


def _begin(
    txn: commit.Transaction,
    paths: DataPaths,
    plan: Plan,
    progress: Progress | None,
    workers: int | None,
    archive_sha256: str | None,
    clock: Callable[[], float],
    t0: float,
) -> Staging:
    """Check the free space for ``plan``'s files and make the staging folder of ``txn``."""
    target, archive, jobs = paths.dataset_dir, plan.archive, plan.jobs
    wanted = sum(m.size for m, _ in jobs) if jobs is not None else plan.reader.archive_size
    check_free_space(target.parent, wanted + RESERVE, f"extracting {archive.name}")
    folder = txn.stage_dir(target)
    commit.checkpoint("staging")
    return Staging(paths, plan, folder, ensure(progress), workers, archive_sha256, clock, t0)


def _stage_planned(
    txn: commit.Transaction,
    paths: DataPaths,
    plan: Plan,
    *,
    progress: Progress | None,
    workers: int | None,
    archive_sha256: str | None,
) -> ExtractResult:
    """Write ``plan``'s files into a staging folder of ``txn``, then stage the manifest
    (``extract``'s own run; ``download`` makes these steps itself)."""
    stage = _begin(txn, paths, plan, progress, workers, archive_sha256, time.monotonic, 0.0)
    total = write_tree(plan, stage.folder, stage.progress, workers)
    check_replaceable(paths, [e.path for e in total])  # before the commit replaces the tree
    sums, sizes = stage.manifest(total)
    txn.stage_bytes(paths.manifest, sums)
    txn.stage_bytes(paths.manifest_sizes, sizes)
    return stage.result(total)
