"""One commit protocol for the data dir: prepare beside, commit in one atomic step, recover.

Everything a run changes -- the tree, the manifest and its sidecar, the provenance record, the
kept archive -- is first **prepared beside** its live counterpart under a staging name
(``.<name>.staging-<txid>``, in the same folder, so every later rename stays on one file
system). Then :meth:`Transaction.commit`:

1. makes the staged bytes durable (one ``syncfs`` of the data dir's file system, unless
   ``LUNGSEGDB_SYNC=0``; small state files are ``fsync``'ed as they are written);
2. takes the generation lock exclusive (readers finish their run first, new ones wait);
3. writes the **journal** ``<state>/journal.json`` (temp file, ``fsync``, ``rename``, ``fsync``
   of the folder): the list of renames to make. Its appearance is *the* commit point: before
   it the old state is in force, after it the new one is;
4. applies the renames in order: each live file or folder is moved aside
   (``.<name>.old-<txid>``), then its staged replacement is renamed into place; a removal is a
   move aside;
5. marks the journal ``applied`` and releases the lock (readers see the new generation);
6. deletes what was moved aside, then the journal.

**Recovery** runs at the start of every command on the data dir (writers under the writer
lock; a reader that meets a journal left ``committed`` -- its writer died mid-commit, since a
live one holds the lock it is waiting on -- takes the writer lock and recovers first). A
``committed`` journal is rolled *forward*: every step is idempotent (a staged name that still
exists has not been renamed yet), so the commit completes exactly as it would have. An
``applied`` journal only leaves deletions to finish. With no journal, staging leftovers are
rolled *back* (deleted) and moved-aside leftovers deleted; a tree moved aside by a version of
lungsegdb older than this protocol is put back if nothing took its place.

This is git's lock-file-and-rename and SQLite's journal, reduced to renames: see
docs/design.md for the crash analysis step by step. For tests, ``LUNGSEGDB_CRASH_AT=N`` kills
the process (SIGKILL) at the N-th :func:`checkpoint` it reaches (``N:interrupt`` raises
``KeyboardInterrupt`` there instead) and ``LUNGSEGDB_CRASH_TRACE=FILE`` appends the name of
every checkpoint reached to FILE.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import LocalError, from_os_error
from lungsegdb_cli.state import locking
from lungsegdb_cli.state.crashpoints import (
    ENV_CRASH_AT,
    ENV_CRASH_TRACE,
    CrashHook,
    EnvCrashHook,
    checkpoint,
    no_hook,
    set_hook,
)
from lungsegdb_cli.state.journal import (
    APPLIED,
    COMMITTED,
    ENV_SYNC,
    Journal,
    Op,
    read_journal,
    sync_filesystem,
)
from lungsegdb_cli.utils.fsutil import fsync_dir, remove_tree, write_atomically

__all__ = [
    "APPLIED",
    "COMMITTED",
    "ENV_CRASH_AT",
    "ENV_CRASH_TRACE",
    "ENV_SYNC",
    "CrashHook",
    "EnvCrashHook",
    "Journal",
    "Op",
    "Transaction",
    "checkpoint",
    "clean_debris",
    "debris",
    "is_read_only",
    "one_generation",
    "read_journal",
    "reading",
    "recover",
    "set_hook",
    "settle",
    "writing",
]

P = ParamSpec("P")
R = TypeVar("R")

_DEBRIS = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<txid>\d+-[0-9a-f]+)$")


# ---------------------------------------------------------------------------------------------
# Applying and recovering
# ---------------------------------------------------------------------------------------------
def _lexists(path: Path) -> bool:
    return os.path.lexists(path)


def _remove_any(path: Path) -> None:
    """Delete a file, link or folder tree; errors are left for the next recovery."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()
    elif path.is_dir():
        remove_tree(path)  # a tree may nest deeper than rmtree's recursion reaches


def _check_name_fits(*paths: Path) -> None:
    """Each name fits its file system (``NAME_MAX``): a name a commit would need and cannot
    have is refused while preparing (exit 5, the old state kept), not after the commit
    point, where every later run would try to roll it forward and fail the same way."""
    import errno

    for path in paths:
        try:
            most = os.pathconf(path.parent, "PC_NAME_MAX")
        except (OSError, ValueError):
            most = 255
        if len(os.fsencode(path.name)) > most:
            exc = OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(path))
            raise from_os_error(exc, "prepare the commit")


def _apply(root: Path, ops: list[Op], hook: CrashHook) -> None:
    """Make every op's rename; idempotent, so a rolled-forward commit can run it again."""
    for op in ops:
        final, aside = root / op.final, root / op.aside
        if op.kind == "remove":
            if _lexists(final):
                os.rename(final, aside)
                hook(f"removed {op.final}")
            continue
        staged = root / str(op.staged)
        if not _lexists(staged):
            continue  # done before the crash
        if _lexists(final):
            if _lexists(aside):  # cannot happen in our own sequence; keep the aside
                _remove_any(final)
            else:
                os.rename(final, aside)
                hook(f"moved aside {op.final}")
        os.rename(staged, final)
        hook(f"put {op.final}")
    for folder in sorted({(root / op.final).parent for op in ops}):
        fsync_dir(folder)


def _finish(paths: DataPaths, journal: Journal, hook: CrashHook) -> None:
    """After the renames: delete what was moved aside, then the journal."""
    for op in journal.ops:
        _remove_any(paths.root / op.aside)
    hook("removed old")
    with contextlib.suppress(FileNotFoundError):
        paths.journal.unlink()
    fsync_dir(paths.state_dir)


def _write_journal(path: Path, journal: Journal) -> None:
    """The journal written durably: its rename is the commit point (an ``OSError`` as it is:
    the caller says which step failed)."""
    write_atomically(path, journal.to_json().encode("utf-8"), durable=True, mode=0o644)


_live: set[str] = set()  # txids of this process's transactions in progress


def _debris_folders(paths: DataPaths) -> list[Path]:
    return [paths.root, paths.state_dir, paths.downloads_dir]


def _ours(paths: DataPaths, folder: Path, m: re.Match[str]) -> bool:
    """Whether a staging or moved-aside name in ``folder`` is the commit protocol's: in the
    state and downloads folders, all are; in the data root only those of the tree and the
    manifest -- an export to ``<root>/OUT`` stages ``.OUT.staging-*`` there under its own
    lock, and no reader or ``clean`` may take that for a dead writer's leftover."""
    if folder != paths.root:
        return True
    return m["name"] in (paths.dataset_dir.name, paths.manifest.name)


def _plan_debris(paths: DataPaths) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """What no journal covers: ``(to delete, to put back)``. Staging leftovers and temp files
    of the state folder go; of the moved-aside leftovers of one name, the newest is put back
    when nothing took its place (a tree moved aside by a pre-journal version), the rest go."""
    removals: list[Path] = []
    restores: list[tuple[Path, Path]] = []
    for folder in _debris_folders(paths):
        try:
            names = sorted(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise from_os_error(exc, f"list {folder}") from exc
        olds: dict[str, list[Path]] = {}
        for name in names:
            m = _DEBRIS.match(name)
            if m is None or not _ours(paths, folder, m):
                if (
                    m is None
                    and folder == paths.state_dir
                    and name.startswith(".")
                    and name.endswith(".tmp")
                ):
                    removals.append(folder / name)
                continue
            if m["txid"] in _live:
                continue
            if m["kind"] == "old":
                olds.setdefault(m["name"], []).append(folder / name)
            else:
                removals.append(folder / name)
        for target_name, candidates in olds.items():
            target = folder / target_name
            if not _lexists(target) and candidates:
                newest = max(candidates, key=lambda p: p.lstat().st_mtime)
                restores.append((newest, target))
                candidates.remove(newest)
            removals.extend(candidates)
    return removals, restores


def debris(paths: DataPaths) -> list[Path]:
    """What :func:`recover` would delete now (a writer's own staging excluded), for
    ``lungsegdb clean`` to list; deletes nothing. That is what a journal left ``applied``
    moved aside (``.<name>.old-<txid>``, deleted by :func:`_finish`), then what
    :func:`clean_debris` deletes of the rest (a journal's own names are not debris: its staged
    names are renamed into place by a roll-forward, not deleted)."""
    journal = read_journal(paths) if paths.journal.exists() else None
    covered: set[Path] = set()
    asides: list[Path] = []
    if journal is not None and journal.txid not in _live:
        for op in journal.ops:
            aside = paths.root / op.aside
            covered.add(aside)
            if op.staged is not None:
                covered.add(paths.root / op.staged)
            if journal.state == APPLIED and _lexists(aside):
                asides.append(aside)
    return asides + [p for p in _plan_debris(paths)[0] if p not in covered]


def clean_debris(paths: DataPaths) -> list[str]:
    """Roll back what no journal covers: staging leftovers go, moved-aside leftovers go (a
    tree moved aside by a pre-journal version is put back if its place is empty). Call only
    under the writer lock. Returns the names removed or restored."""
    removals, restores = _plan_debris(paths)
    done: list[str] = []
    for old, target in restores:
        os.rename(old, target)
        done.append(f"{old.name} -> {target.name}")
    for path in removals:
        _remove_any(path)
        done.append(path.name)
    return done


def recover(paths: DataPaths, hook: CrashHook | None = None, *, finish: bool = True) -> bool:
    """Finish or undo what a killed run left (call under the writer lock). True if a
    half-done commit was rolled forward. ``finish`` False makes only the renames of a
    ``committed`` journal (it is then ``applied``, the state a commit reaches before its
    deletions) and deletes nothing: what it moved aside and other debris stay, for
    :func:`debris` to list and a later :func:`recover` to delete."""
    hook = hook or checkpoint
    journal = read_journal(paths)
    rolled = False
    if journal is not None:
        if journal.state == COMMITTED:
            try:
                with locking.generation_lock(paths, locking.EXCLUSIVE):
                    _apply(paths.root, journal.ops, hook)
                    journal.state = APPLIED
                    _write_journal(paths.journal, journal)
            except OSError as exc:
                raise from_os_error(exc, f"finish the interrupted commit in {paths.root}") from exc
            rolled = True
        if not finish:
            return rolled
        _finish(paths, journal, hook)
    elif not finish:
        return rolled
    clean_debris(paths)
    return rolled


def _needs_roll_forward(paths: DataPaths) -> bool:
    if not paths.journal.exists():
        return False
    journal = read_journal(paths)
    return journal is not None and journal.state == COMMITTED


@contextmanager
def writing(paths: DataPaths, timeout: float | None = None) -> Iterator[bool]:
    """The writer's side: hold the writer lock and recover first. Yields True if we waited."""
    with locking.writer_lock(paths, timeout) as waited:
        recover(paths)
        yield waited


@contextmanager
def reading(paths: DataPaths, timeout: float | None = None, *, tidy: bool = True) -> Iterator[None]:
    """The reader's side: hold the generation lock shared, so the tree, its manifest and the
    state stay one generation until the block ends. A commit a dead writer left half-done is
    rolled forward first (that needs write access; a read-only data dir says so); with
    ``tidy`` (the default) what it left beside the tree is deleted too, when no writer is at
    work. ``lungsegdb clean`` passes False: the roll-forward makes its renames only (the
    journal left ``applied``), and nothing is deleted, so that clean lists that debris --
    what the commit moved aside too -- before deleting it (or, in a dry run, not at all)."""
    with ExitStack() as stack:
        for _ in range(5):
            stack.enter_context(locking.generation_lock(paths, locking.SHARED, timeout))
            if not _needs_roll_forward(paths):
                break
            stack.close()  # a writer died mid-commit: finish its commit, then read
            try:
                if tidy:
                    with writing(paths, timeout):
                        pass
                else:  # its renames only: what it moved aside is left for clean to list
                    with locking.writer_lock(paths, timeout):
                        recover(paths, finish=False)
            except LocalError as exc:
                if not is_read_only(exc):
                    raise  # a full disk, a lock held too long: said as itself (kind, hint)
                raise LocalError(
                    f"An interrupted update of {paths.root} must be finished first, and "
                    f"this process may not write there: {exc.message}",
                    hint="Run 'lungsegdb download' (or any command) once with write access.",
                    path=str(paths.root),
                ) from exc
        else:  # pragma: no cover - five writers died in a row under us
            raise LocalError(f"The data dir {paths.root} keeps changing under this run")
        if tidy:
            _tidy(paths)
        yield


def settle(paths: DataPaths, timeout: float | None = None, *, tidy: bool = True) -> None:
    """Recovery first: what a killed writer left is finished (a ``committed`` journal rolled
    forward, as :func:`reading` does) or tidied (unless not ``tidy``) before a command looks at
    the data dir. A few ``stat`` calls when there is nothing to do; creates nothing then."""
    with reading(paths, timeout, tidy=tidy):
        pass


def _tidy(paths: DataPaths) -> None:
    """A reader's best effort at what a killed writer left beside the tree (staging and
    moved-aside folders, an ``applied`` journal): cleaned if no writer is at work and we may
    write, else left for the next writer (this process's own writer included: it recovered
    when it took the lock, and what is there now is its own business)."""
    if locking.held_mode(paths.lock) is not None:
        return
    if not paths.journal.exists() and not any(
        _has_debris(paths, folder) for folder in _debris_folders(paths)
    ):
        return
    try:
        with locking.writer_lock(paths, timeout=0):
            recover(paths)
    except LocalError:
        return  # a writer is at work (its own staging), or the data dir is read-only


def _has_debris(paths: DataPaths, folder: Path) -> bool:
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    found = (_DEBRIS.match(n) for n in names)
    return any(m is not None and m["txid"] not in _live and _ours(paths, folder, m) for m in found)


# ---------------------------------------------------------------------------------------------
# The transaction
# ---------------------------------------------------------------------------------------------
class Transaction:
    """Changes to the data dir, prepared beside the live state and committed at one step.

    Use as a context manager: leaving the block without :meth:`commit` (an error, Ctrl-C)
    deletes what was staged; the live state is untouched. Hold :func:`writing` around it.

    Examples
    --------
    >>> txn = Transaction(paths)                          # doctest: +SKIP
    >>> with txn:                                         # doctest: +SKIP
    ...     folder = txn.stage_dir(paths.dataset_dir)     # fill it
    ...     txn.stage_bytes(paths.manifest, b"...")
    ...     txn.commit()
    """

    def __init__(self, paths: DataPaths, *, hook: CrashHook | None = None) -> None:
        self.paths = paths
        self.txid = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._hook: CrashHook = hook or checkpoint
        self._ops: list[Op] = []
        self._created: list[Path] = []
        self.committed = False
        #: after :meth:`commit`: what it moved aside and could not delete (left for recovery)
        self.left_behind: list[Path] = []

    # -- preparing -----------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        try:
            rel = Path(os.path.abspath(path)).relative_to(self.paths.root)
        except ValueError:
            raise ValueError(f"{path} is outside the data root {self.paths.root}") from None
        return rel.as_posix()

    def _slot(self, final: Path, kind: str) -> Path:
        return final.with_name(f".{final.name}.{kind}-{self.txid}")

    def _add(self, kind: str, final: Path, staged: Path | None) -> None:
        _check_name_fits(final, self._slot(final, "old"))  # before the commit point, never after
        rel = self._rel(final)
        if any(op.final == rel for op in self._ops):
            raise ValueError(f"{rel} is already part of this commit")
        self._ops.append(
            Op(
                kind=kind,
                final=rel,
                staged=None if staged is None else self._rel(staged),
                aside=self._rel(self._slot(final, "old")),
            )
        )

    def stage_dir(self, final: Path) -> Path:
        """A new empty folder that replaces ``final`` (a folder) at the commit."""
        staged = self._slot(final, "staging")
        try:
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.mkdir()
        except OSError as exc:
            raise from_os_error(exc, f"create {staged}") from exc
        self._created.append(staged)
        self._add("put", final, staged)
        return staged

    def stage_bytes(self, final: Path, data: bytes) -> None:
        """``data`` replaces the file ``final`` at the commit (written and fsync'ed now)."""
        staged = self._slot(final, "staging")
        try:
            staged.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            self._created.append(staged)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise from_os_error(exc, f"write {staged}") from exc
        self._add("put", final, staged)

    def stage_file(self, final: Path, source: Path) -> None:
        """The existing file ``source`` (in ``final``'s folder, e.g. a finished ``.part``)
        is renamed to ``final`` at the commit. It is the caller's: an abort leaves it."""
        if Path(source).parent != Path(final).parent:
            raise ValueError("a staged file must sit beside its final place")
        self._add("put", final, Path(source))

    def remove(self, final: Path) -> None:
        """``final`` is deleted at the commit (if it exists then)."""
        self._add("remove", final, None)

    @property
    def ops(self) -> list[Op]:
        return list(self._ops)

    # -- committing ----------------------------------------------------------------------------
    def commit(self) -> None:
        """Make every staged change visible at one step (see the module docstring).

        A Ctrl-C after the commit point does not stop it half-way: the remaining renames and
        clean-up (milliseconds of work) are finished first, then ``KeyboardInterrupt`` goes on.
        """
        if self.committed:
            raise RuntimeError("already committed")
        paths, hook = self.paths, self._hook
        hook("prepared")
        journal = Journal(txid=self.txid, state=COMMITTED, ops=list(self._ops))
        try:
            sync_filesystem(paths.root)
            hook("synced")
            with locking.generation_lock(paths, locking.EXCLUSIVE):
                _write_journal(paths.journal, journal)
                self.committed = True  # from here on, recovery rolls forward
                try:
                    self._apply(journal, hook)
                except KeyboardInterrupt:
                    self._apply(journal, no_hook)
                    _finish(paths, journal, no_hook)
                    raise
        except OSError as exc:
            if self.committed:
                raise from_os_error(
                    exc, "finish the commit (the next run of lungsegdb completes it)"
                ) from exc
            raise from_os_error(exc, f"commit the new state of {paths.root}") from exc
        try:
            _finish(paths, journal, hook)
            hook("done")
        except KeyboardInterrupt:
            _finish(paths, journal, no_hook)
            raise
        self.left_behind = [
            paths.root / op.aside for op in journal.ops if _lexists(paths.root / op.aside)
        ]

    def left_behind_note(self) -> str | None:
        """What a caller tells the user when :attr:`left_behind` is not empty: the old copies
        the commit could not delete (a read-only tree, say), and who names why."""
        if not self.left_behind:
            return None
        names = ", ".join(str(p) for p in self.left_behind)
        return (
            f"could not remove the old copy {names} (read-only?); 'lungsegdb clean' removes "
            "it once it can, and names why until then"
        )

    def _apply(self, journal: Journal, hook: CrashHook) -> None:
        if journal.state == COMMITTED:
            hook("journal written")
            _apply(self.paths.root, journal.ops, hook)
            journal.state = APPLIED
            _write_journal(self.paths.journal, journal)
        hook("applied")

    def abort(self) -> None:
        """Delete what this transaction staged (not files handed in with :meth:`stage_file`)."""
        for path in reversed(self._created):
            _remove_any(path)
        self._created.clear()

    def __enter__(self) -> Transaction:
        _live.add(self.txid)
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if not self.committed:
                self.abort()
        finally:
            _live.discard(self.txid)


def one_generation(func: Callable[P, R]) -> Callable[P, R]:
    """Run a reader (whose first argument is its :class:`DataPaths`) inside :func:`reading`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        paths = args[0] if args else kwargs["paths"]
        assert isinstance(paths, DataPaths)
        with reading(paths):
            return func(*args, **kwargs)

    return wrapper


def is_read_only(exc: BaseException) -> bool:
    """True if ``exc`` (a :class:`LocalError` or ``OSError``) says we may not write there."""
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return True
        seen = seen.__cause__
    return False
