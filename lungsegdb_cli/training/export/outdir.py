"""OUT, the export folder, owned for one run: claimed, prepared beside, put in place in one
step, recovered. One protocol, git's lock file and rename, on a folder the user names.

**Claim.** ``.<OUT>.lock`` beside OUT (in OUT's parent, where the staging folder goes too) is
opened once -- its check, its ``flock`` and the marker on that one descriptor -- and held
exclusive with the data dir's lock design (:func:`lungsegdb_cli.state.locking.try_lock`:
``flock``, dropped by the kernel when its process dies) for the whole export, and never
waited for: a second export to the same OUT fails at once with
:class:`~lungsegdb_cli.errors.OutBusy` (exit 5), naming OUT and the run that holds it. The
lock file holds the marker (the holder's pid, format and start time) and is removed by its
holder at the end, so nothing is left beside OUT; a run that finds the file it locked removed
under it takes the lock again on the file there now. Anything of that name but a marker or an
empty file is a user's -- a file holding other text, a FIFO, a folder, a symbolic link: the
export is refused (exit 2) and it is left as it was. An empty file is taken for what a run
killed between creating the lock and writing its marker left, and is removed at the end like
a marker. The claim keeps other exports out; what a commit may replace is checked at the
commit itself, so a file a user puts in OUT meanwhile is never deleted.

**What OUT is.** An export owns only what it made. :func:`check_target` records what OUT is
when the export starts (:class:`Seen`): absent or an empty folder, or -- only with ``force``
-- a previous lungsegdb export whose record is intact and which holds nothing the record does
not list (anything else: exit 2, nothing touched).

**Prepare beside, commit.** The export is built in ``.<OUT>.staging-<pid>-<hex>`` beside OUT
(same folder, so the final rename never crosses a file system). Then, only if OUT is still
what was seen:

* OUT absent or an empty folder: one ``rename(2)``, which the kernel refuses (atomically) if
  OUT is not empty by then: exit 5 naming what appeared there, nothing deleted.
* OUT a previous export and ``force``: checked again (same record, nothing added), then on
  Linux one ``renameat2(RENAME_EXCHANGE)`` swaps the two folders atomically; the folder swapped
  out is checked once more (swapped back if a file appeared in it meanwhile) and removed.
  Elsewhere OUT is first renamed to ``.<OUT>.old-<txid>``, checked there, and the staging
  folder renamed to OUT (a Ctrl-C between the two is held back until both are done). A crash
  in that short window leaves the old export in the ``.old-`` folder, which the next export to
  OUT puts back before it starts.

**Recover.** Leftover staging folders of killed runs beside OUT are removed by :func:`tidy`,
under the claim (:func:`claim` runs it).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli.errors import (
    LungSegDBError,
    OutBusy,
    OutChanged,
    UsageError,
    from_os_error,
)
from lungsegdb_cli.state import locking
from lungsegdb_cli.training.export.check import RECORD, foreign, read_record
from lungsegdb_cli.utils.fsutil import remove_tree
from lungsegdb_cli.utils.hashing import read_regular
from lungsegdb_cli.utils.units import counted

# ---------------------------------------------------------------------------------------------
# The claim: .OUT.lock
# ---------------------------------------------------------------------------------------------
_MARKER_MAX = 4096
#: The lock file is opened without following a link (a symbolic link there is the user's)
#: nor waiting on a FIFO.
_NOFOLLOW = (
    getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
)
#: A marker, whole, as :func:`_write_marker` writes it: a file there holding anything else is
#: not an export's lock.
_MARKER = re.compile(
    rb"lungsegdb [^\n]{1,200} \(pid [0-9]+\), started [0-9]{4}-[0-9]{2}-[0-9]{2} "
    rb"[0-9]{2}:[0-9]{2}:[0-9]{2}\n"
)


def lock_path(out: Path) -> Path:
    """The lock file (and marker) of the export folder ``out``."""
    return out.parent / f".{out.name}.lock"


def _open(out: Path, lock: Path) -> int:
    """The lock file, opened once -- created if absent -- for its flock, its check and the
    marker, without following a link or waiting on a FIFO. Where it cannot be opened so, what
    is there decides: a user's (a symbolic link, a folder, other text) is refused (exit 2),
    an export's is the machine refusing (exit 5)."""
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    except OSError as exc:
        found = _found(out, lock)  # a link or a folder is refused by the look itself
        if not _ours(found):
            raise _not_ours(out, lock) from None
        if found is not None:
            _busy_read_only(out, lock)  # another user's export holds it: busy, not "denied"
        action = f"open the lock file {lock}" if found is None else f"write {lock}"
        raise from_os_error(exc, action) from exc


def _busy_read_only(out: Path, lock: Path) -> None:
    """:class:`OutBusy` if a run holds the lock file this process may not write (another
    user's, in a shared folder): its flock is tried on a read-only descriptor. Nothing if it
    is free or cannot be opened even so (the write error is then the one to report)."""
    try:
        fd = os.open(lock, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return
    try:
        if not locking.try_lock(fd, locking.EXCLUSIVE):
            raise _busy(out, lock, fd)
    finally:
        os.close(fd)  # a lock taken here is released with it


def _read(fd: int) -> bytes:
    """What the lock file holds (at most one byte more than a marker may have)."""
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, _MARKER_MAX + 1)


def _check(out: Path, lock: Path, fd: int) -> None:
    """The file opened is a marker, an empty file or nothing yet; else it is the user's."""
    kind = stat.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat.S_IFREG:
        raise _not_ours(out, lock, _KINDS.get(kind, "not a regular file"))
    if not _ours(_read(fd)):
        raise _not_ours(out, lock)


def _same_file(lock: Path, fd: int) -> bool:
    """``lock`` still names the file open as ``fd`` (not removed by its last holder)."""
    held = os.fstat(fd)
    try:
        now = os.stat(lock, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _holder(lock: Path, fd: int | None = None) -> str:
    """The marker of the run holding ``lock``, as text (best effort)."""
    try:
        data = _read(fd) if fd is not None else read_regular(lock, _MARKER_MAX)
        text = data[:_MARKER_MAX].decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else "another lungsegdb export"


def _busy(out: Path, lock: Path, fd: int | None = None) -> OutBusy:
    return OutBusy(
        f"OUT {out} is being written by another export: {_holder(lock, fd)}",
        path=str(out),
        lock=str(lock),
    )


def _take(out: Path, lock: Path) -> int:
    """The lock file open with its flock held (not waiting), checked before the flock (a
    user's file is refused, never reported busy) and again once held (no export writes it
    then: what is there is final); closing the descriptor releases it."""
    for _ in range(5):
        fd = _open(out, lock)
        try:
            _check(out, lock, fd)
            if not locking.try_lock(fd, locking.EXCLUSIVE):
                raise _busy(out, lock, fd)
            if _same_file(lock, fd):
                _check(out, lock, fd)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # its holder removed it as we opened it: lock the one there now
    raise _busy(out, lock)


def _write_marker(fd: int, lock: Path, what: str) -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    data = f"lungsegdb {what} (pid {os.getpid()}), started {started}\n".encode()
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        while data:
            data = data[os.write(fd, data) :]
    except OSError as exc:
        raise from_os_error(exc, f"write {lock}") from exc


def _found(out: Path, lock: Path) -> bytes | None:
    """What ``lock`` holds (None: there is none): a regular file's bytes (at most one more
    than a marker may have), read without following a link or waiting on a FIFO. Anything
    else there (a FIFO, a folder, a device) is the user's: :func:`_not_ours`."""
    flags = os.O_RDONLY | _NOFOLLOW
    try:
        fd = os.open(lock, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link: not ours either
            raise _not_ours(out, lock, "a symbolic link") from None
        raise from_os_error(exc, f"read {lock}") from exc
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise _not_ours(out, lock, _KINDS.get(kind, "not a regular file"))
        return os.read(fd, _MARKER_MAX + 1)
    finally:
        os.close(fd)


_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}


def _ours(found: bytes | None) -> bool:
    """Nothing there, a marker as :func:`_write_marker` writes it, or an empty file (a run
    killed between creating the lock and writing its marker)."""
    return found is None or found == b"" or _MARKER.fullmatch(found) is not None


def _not_ours(
    out: Path, lock: Path, what: str = "a file that is not an export's marker"
) -> UsageError:
    return UsageError(
        f"{lock} is in the way: the lock file of OUT {out} is {what}, not lungsegdb's "
        "(it was left untouched)",
        hint=f"Move {lock.name} away (it is not an export's), or choose another OUT.",
        path=str(lock),
    )


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _debris(out: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(out.name)}\.(staging|old)-(\d+)-[0-9a-f]+$")


def tidy(out: Path) -> None:
    """Put back an old export a crash left moved aside (if OUT is missing); remove the other
    staging and moved-aside folders of OUT. Called holding OUT's claim (:func:`claim`), before
    this run stages anything: every such folder is then a killed run's -- whatever pid its
    name holds (pids are reused, always in a container, where each run may be pid 2)."""
    rx = _debris(out)
    try:
        names = os.listdir(out.parent)
    except OSError:
        return
    for name in sorted(names):
        m = rx.match(name)
        if m is None:
            continue
        path = out.parent / name
        if m[1] == "old" and not os.path.lexists(out):
            with contextlib.suppress(OSError):
                os.rename(path, out)
                continue
        remove_tree(path)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(read_regular(path)).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Seen:
    """What OUT was when the export started: nothing to keep (absent or an empty folder:
    ``record_sha256`` None), or a previous export: its record's SHA-256 and what it made."""

    record_sha256: str | None = None
    made: frozenset[str] = frozenset()

    def differs(self, where: Path) -> str | None:
        """The first path under ``where`` (relative) showing it is not the export seen, or
        None when it is exactly that export."""
        if _digest(where / RECORD) != self.record_sha256:
            return RECORD
        extra = foreign(where, self.made)
        return extra[0] if extra else None


def _made_by(doc: dict[str, Any]) -> frozenset[str] | None:
    """The paths an export record lists (its files, texts and shards, and itself); None if
    malformed."""
    files, texts, shards = doc.get("files"), doc.get("texts", []), doc.get("shards", [])
    if not (isinstance(files, list) and isinstance(texts, list) and isinstance(shards, list)):
        return None
    entries = [*files, *texts, *shards]
    if not all(isinstance(e, dict) and isinstance(e.get("path"), str) for e in entries):
        return None
    return frozenset([RECORD, *(e["path"] for e in entries)])


#: A folder of nnU-Net's ``$nnUNet_raw`` (``Dataset004_Hippocampus``).
_NNUNET_DATASET = re.compile(r"Dataset\d+_")
NNUNET_HINT = (
    "For nnU-Net's $nnUNet_raw (it holds Dataset* folders): export to a folder of its own, "
    "then link its DatasetNNN_* folders into $nnUNet_raw (docs/export.md#nnunet)."
)


def _hint(out: Path, hint: str) -> str:
    """``hint``, and :data:`NNUNET_HINT` when OUT holds an nnU-Net dataset folder (OUT is
    likely ``$nnUNet_raw``, which an export may not own)."""
    try:
        with os.scandir(out) as entries:
            nnunet = any(_NNUNET_DATASET.match(e.name) for e in entries)
    except OSError:
        return hint
    return f"{hint} {NNUNET_HINT}" if nnunet else hint


def _not_an_export(out: Path, why: str) -> UsageError:
    return UsageError(
        f"OUT {out} is not empty and is not a lungsegdb export ({why}): "
        "--force replaces only a previous export",
        hint=_hint(out, "Remove it yourself if it should go, or choose another OUT."),
        path=str(out),
    )


def _previous_export(out: Path) -> Seen:
    """OUT as a previous export that ``--force`` may replace; anything else: exit 2."""

    if not os.path.lexists(out / RECORD):
        raise _not_an_export(out, f"no {RECORD}")
    try:
        doc = read_record(out)
    except LungSegDBError as exc:
        raise _not_an_export(out, f"its {RECORD} is not an intact record: {exc.message}") from None
    made = _made_by(doc)
    if made is None:
        raise _not_an_export(out, f"its {RECORD} is not an intact record")
    extra = foreign(out, made)
    if extra:
        raise UsageError(
            f"OUT {out} holds {counted(len(extra), 'path')} its export did not make, "
            f"e.g. {extra[0]}: "
            "--force replaces only what a previous export made",
            hint=_hint(
                out, "Move them out of OUT (or choose another OUT), then run the export again."
            ),
            path=str(out / extra[0]),
        )
    return Seen(_digest(out / RECORD), made)


def check_out(out: str | os.PathLike[str]) -> Path:
    """OUT as an absolute path, refused (exit 2) before anything is written when it is empty
    or blank (an unset variable: it would name the current folder), or is the current folder
    or one holding it: the export would replace the folder this process works in (its
    permissions and ACLs, and the files of a ``--force`` export, by the staged folder's),
    leaving the process -- and the caller's shell -- in a deleted folder."""
    text = os.fspath(out)
    if not text.strip():
        raise UsageError(
            f"OUT {text!r} is empty (an unset variable?): it would name the current folder",
            hint="Name the export folder, e.g. ./export.",
        )
    path = Path(os.path.abspath(text))
    real = Path(os.path.realpath(path))
    try:
        here = Path(os.path.realpath(os.getcwd()))
    except OSError:  # the current folder is gone: it cannot be OUT
        return path
    if here == real or here.is_relative_to(real):
        what = "the current folder" if here == real else "a folder holding the current folder"
        raise UsageError(
            f"OUT {text} is {what}: the export would replace the folder this process works in",
            hint="Export to a folder of its own, e.g. ./export.",
            path=str(path),
        )
    return path


def check_target(out: Path, force: bool, protect: list[Path]) -> Seen:
    """What OUT is (see :class:`Seen`). Refused (exit 2): an OUT that is a file or a link,
    holds or sits inside the data (``protect``), is ``$nnUNet_raw`` (even empty), a non-empty
    folder without ``force``, or with ``force`` anything but an intact previous export
    holding only what it made."""
    real = Path(os.path.realpath(out))
    for p in protect:
        rp = Path(os.path.realpath(p))
        if real == rp or rp.is_relative_to(real) or real.is_relative_to(rp):
            raise UsageError(
                f"OUT {out} overlaps the data tree {p}",
                hint="Export to a folder outside the data dir, e.g. ./export.",
                path=str(out),
            )
    raw = os.environ.get("nnUNet_raw", "").strip()  # noqa: SIM112 - nnU-Net spells it so
    if raw and real == Path(os.path.realpath(raw)):
        # empty or not: nnU-Net's one folder for every raw dataset is never an export's OUT
        raise UsageError(
            f"OUT {out} is $nnUNet_raw, nnU-Net's folder for all its raw datasets",
            hint=NNUNET_HINT,
            path=str(out),
        )
    if out.is_symlink():
        raise UsageError(
            f"OUT {out} is a symbolic link (to {real})",
            hint="Give the folder it points to, or choose another OUT.",
            path=str(out),
        )
    if os.path.lexists(out) and not out.is_dir():
        raise UsageError(
            f"OUT {out} exists and is not a folder", hint="Choose another OUT.", path=str(out)
        )
    if not out.is_dir() or not any(os.scandir(out)):
        return Seen()
    if not force:
        raise UsageError(
            f"OUT {out} is not empty",
            hint=_hint(
                out, "Give --force to replace a previous export there, or choose another OUT."
            ),
            path=str(out),
        )
    return _previous_export(out)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: the file system cannot
        return False
    raise OSError(err, os.strerror(err), str(b))


def _changed(out: Path, rel: str, where: Path | None = None) -> OutChanged:
    path = out / rel if rel else out
    if rel == RECORD:
        what = f"{path} is no longer the record of the export that was there"
    else:
        what = f"{path} appeared"
    kept = f"; what was in OUT is now at {where}" if where is not None else ""
    return OutChanged(
        f"OUT {out} changed while the export was made ({what}): the export was not put in "
        f"place and nothing in OUT was deleted{kept}",
        hint=f"Move {path} out of OUT (or choose another OUT), then export again."
        if rel != RECORD
        else "Check what replaced the export in OUT, then export again.",
        path=str(path),
    )


def _first_entry(out: Path) -> str:
    try:
        names = sorted(os.listdir(out)) if out.is_dir() and not out.is_symlink() else []
    except OSError:
        names = []
    return names[0] if names else ""


def _into_place(staged: Path, out: Path) -> None:
    """``rename(2)`` onto OUT, absent or an empty folder: the kernel itself refuses a folder
    that is not empty (or a file) by then, so nothing that appeared there is replaced."""
    try:
        os.rename(staged, out)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise _changed(out, _first_entry(out)) from None
        raise


def _still(seen: Seen, where: Path, out: Path) -> None:
    rel = seen.differs(where)
    if rel is not None:
        raise _changed(out, rel)


def _empty_or_absent(out: Path) -> bool:
    if not os.path.lexists(out):
        return True
    return out.is_dir() and not out.is_symlink() and not any(os.scandir(out))


def _put(staged: Path, out: Path, aside: Path, seen: Seen) -> None:
    if seen.record_sha256 is None or _empty_or_absent(out):
        _into_place(staged, out)
        return
    _still(seen, out, out)
    if _exchange(staged, out):  # staged now holds what was OUT: is it still the old export?
        try:
            _still(seen, staged, out)
        except OutChanged:
            _exchange(staged, out)
            raise
        os.rename(staged, aside)
        return
    os.rename(out, aside)
    rel = seen.differs(aside)
    if rel is not None:
        try:
            os.rename(aside, out)
        except OSError:  # OUT was made again meanwhile: keep both, under a name tidy leaves
            kept = aside.with_name(aside.name.replace(".old-", ".kept-", 1))
            os.rename(aside, kept)
            raise _changed(out, rel, kept) from None
        raise _changed(out, rel)
    try:
        os.rename(staged, out)
    except KeyboardInterrupt:  # pragma: no cover - a Ctrl-C between two renames
        os.rename(staged, out)
        raise
    except OSError:
        os.rename(aside, out)
        raise


@contextmanager
def staging(out: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh staging folder beside ``out`` and the moved-aside name for the old export;
    whatever is left of either when the block ends (an error, Ctrl-C) is removed. Used under
    the claim, which made OUT's parent."""
    txid = f"{os.getpid()}-{secrets.token_hex(4)}"
    staged = out.parent / f".{out.name}.staging-{txid}"
    aside = out.parent / f".{out.name}.old-{txid}"
    try:
        staged.mkdir()
    except OSError as exc:
        raise from_os_error(exc, f"create {staged}") from exc
    try:
        yield staged, aside
    finally:
        for path in (staged, aside):
            if os.path.lexists(path):
                remove_tree(path)


def commit(staged: Path, out: Path, aside: Path, seen: Seen) -> None:
    """Make ``staged`` the folder ``out`` if OUT is still what was ``seen`` (else
    :class:`OutChanged`, exit 5, OUT untouched); the old export goes."""
    try:
        _put(staged, out, aside, seen)
    except OSError as exc:
        raise from_os_error(exc, f"move the export into place at {out}") from exc
    if os.path.lexists(aside):
        remove_tree(aside)


@contextmanager
def claim(out: Path, what: str, *, force: bool, protect: list[Path]) -> Iterator[Seen]:
    """Hold the export folder ``out`` for this run (``what``: e.g. ``export nnunet``), put
    back or remove what killed runs left beside it (:func:`tidy`) and yield what OUT is
    (:func:`check_target`). Another export holding it: :class:`OutBusy` (exit 5). Anything
    named like its lock file but a marker or an empty file (a FIFO, a folder, a symbolic
    link, a file with other text) is the user's: refused, untouched (exit 2). The lock file
    is removed when the block ends."""
    lock = lock_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"create {out.parent}") from exc
    fd = _take(out, lock)
    try:
        _write_marker(fd, lock, what)
        tidy(out)
        yield check_target(out, force, protect)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # still held: the next run locks a new file
        os.close(fd)
