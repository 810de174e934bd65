"""Claiming the export folder OUT for one run: a lock beside OUT and a marker naming the run.

``.<OUT>.lock`` beside OUT (in OUT's parent, where the staging folder goes too) is held
exclusive with the data dir's lock design (:mod:`lungsegdb_cli.state.locking`: ``flock``, dropped by
the kernel when its process dies) for the whole export, and never waited for: a second export
to the same OUT fails at once with :class:`~lungsegdb_cli.errors.OutBusy` (exit 5), naming OUT
and the run that holds it. The lock file holds the marker (the holder's pid, format and start
time) and is removed by its holder at the end, so nothing is left beside OUT; a run that finds
the file it locked removed under it takes the lock again on the file there now.

Anything of that name but a marker or an empty file is a user's -- a file holding other text,
a FIFO, a folder: the export is refused (exit 2) and it is left as it was. An empty file is
taken for what a run killed between creating the lock and writing its marker left, and is
removed at the end like a marker.

The claim keeps other exports out; what a commit may replace is checked at the commit itself
(:mod:`lungsegdb_cli.training.export.atomic`), so a file a user puts in OUT meanwhile is never
deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from lungsegdb_cli.errors import LockTimeout, OutBusy, UsageError, from_os_error
from lungsegdb_cli.state import locking

_MARKER_MAX = 4096
#: A marker, whole, as :func:`_write_marker` writes it: a file there holding anything else is
#: not an export's lock.
_MARKER = re.compile(
    rb"lungsegdb [^\n]{1,200} \(pid [0-9]+\), started [0-9]{4}-[0-9]{2}-[0-9]{2} "
    rb"[0-9]{2}:[0-9]{2}:[0-9]{2}\n"
)


def lock_path(out: Path) -> Path:
    """The lock file (and marker) of the export folder ``out``."""
    return out.parent / f".{out.name}.lock"


def _same_file(lock: Path) -> bool:
    held = locking.held_stat(lock)
    try:
        now = os.stat(lock, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return held is not None and (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _holder(lock: Path) -> str:
    """The marker of the run holding ``lock``, as text (best effort)."""
    from lungsegdb_cli.utils.hashing import read_regular

    try:
        text = read_regular(lock, _MARKER_MAX).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text.splitlines()[0] if text else "another lungsegdb export"


def _busy(out: Path, lock: Path) -> OutBusy:
    return OutBusy(
        f"OUT {out} is being written by another export: {_holder(lock)}",
        path=str(out),
        lock=str(lock),
    )


def _take(out: Path, lock: Path) -> ExitStack:
    """Hold ``lock`` (not waiting); the ExitStack releases it."""
    for _ in range(5):
        stack = ExitStack()
        try:
            stack.enter_context(locking.hold(lock, locking.EXCLUSIVE, timeout=0, what=str(out)))
        except LockTimeout:
            raise _busy(out, lock) from None
        if _same_file(lock):
            return stack
        stack.close()  # its holder removed it as we opened it: lock the one there now
    raise _busy(out, lock)


def _write_marker(lock: Path, what: str) -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    text = f"lungsegdb {what} (pid {os.getpid()}), started {started}\n"
    flags = os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(lock, flags)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise from_os_error(exc, f"write {lock}") from exc


def _found(out: Path, lock: Path) -> bytes | None:
    """What ``lock`` holds (None: there is none): a regular file's bytes (at most one more
    than a marker may have), read without following a link or waiting on a FIFO. Anything
    else there (a FIFO, a folder, a device) is the user's: :func:`_not_ours`."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
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


@contextmanager
def claim(out: Path, what: str) -> Iterator[Path]:
    """Hold the export folder ``out`` for this run (``what``: e.g. ``export nnunet``); yields
    the lock file. Another export holding it: :class:`OutBusy` (exit 5). Anything of that
    name but a marker or an empty file (a FIFO, a folder, a file with other text) is the
    user's: refused, untouched (exit 2)."""
    lock = lock_path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"create {out.parent}") from exc
    if not _ours(_found(out, lock)):
        raise _not_ours(out, lock)  # before the lock is taken: nothing of it is opened to write
    with _take(out, lock):
        # held: no export writes it now, so what is there is final
        if not _ours(_found(out, lock)):
            raise _not_ours(out, lock)
        try:
            _write_marker(lock, what)
            yield lock
        finally:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # still held: the next run locks a new file
