"""Making an export appear at one step: staged beside OUT, then renamed into place.

The export is built in ``.<OUT>.staging-<pid>-<hex>`` beside OUT (same folder, so the final
rename never crosses a file system). Then:

* OUT absent or an empty folder: one ``rename`` (atomic).
* OUT a previous export and ``force``: on Linux one ``renameat2(RENAME_EXCHANGE)`` swaps the
  two folders atomically, then the old one is removed; elsewhere OUT is first renamed to
  ``.<OUT>.old-<txid>`` and the staging folder renamed to OUT (a Ctrl-C between the two is held
  back until both are done). A crash in that short window leaves the old export in the
  ``.old-`` folder, which the next export to OUT puts back before it starts.

Leftover staging folders of dead processes beside OUT are removed by :func:`tidy`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lungsegdb_cli.errors import UsageError, from_os_error

RECORD = "lungsegdb-export.json"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _debris(out: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(out.name)}\.(staging|old)-(\d+)-[0-9a-f]+$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tidy(out: Path) -> None:
    """Put back an old export a crash left moved aside (if OUT is missing); remove staging
    and moved-aside folders of processes that are gone."""
    rx = _debris(out)
    try:
        names = os.listdir(out.parent)
    except OSError:
        return
    for name in sorted(names):
        m = rx.match(name)
        if m is None or _alive(int(m[2])):
            continue
        path = out.parent / name
        if m[1] == "old" and not os.path.lexists(out):
            with contextlib.suppress(OSError):
                os.rename(path, out)
                continue
        shutil.rmtree(path, ignore_errors=True)


def check_target(out: Path, force: bool, protect: list[Path]) -> None:
    """Refuse an OUT that is a file, holds or sits inside the data (``protect``), or is a
    non-empty folder without ``force``, or with ``force`` is not an export (exit 2)."""
    real = Path(os.path.realpath(out))
    for p in protect:
        rp = Path(os.path.realpath(p))
        if real == rp or rp.is_relative_to(real) or real.is_relative_to(rp):
            raise UsageError(
                f"OUT {out} overlaps the data tree {p}",
                hint="Export to a folder outside the data dir, e.g. ./export.",
                path=str(out),
            )
    if os.path.lexists(out) and not out.is_dir():
        raise UsageError(f"OUT {out} exists and is not a folder", hint="Choose another OUT.",
                         path=str(out))
    if not out.is_dir() or not any(os.scandir(out)):
        return
    if not force:
        raise UsageError(
            f"OUT {out} is not empty",
            hint="Give --force to replace a previous export there, or choose another OUT.",
            path=str(out),
        )
    if not (out / RECORD).is_file():
        raise UsageError(
            f"OUT {out} is not empty and is not a lungsegdb export (no {RECORD}): "
            "--force replaces only a previous export",
            hint="Remove it yourself if it should go, or choose another OUT.",
            path=str(out),
        )


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


def _put(staged: Path, out: Path, aside: Path) -> None:
    if os.path.lexists(out) and not any(os.scandir(out)):
        os.rmdir(out)
    if not os.path.lexists(out):
        os.rename(staged, out)
        return
    if _exchange(staged, out):  # staged now holds the old export
        os.rename(staged, aside)
        return
    os.rename(out, aside)
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
    whatever is left of either when the block ends (an error, Ctrl-C) is removed."""
    txid = f"{os.getpid()}-{secrets.token_hex(4)}"
    staged = out.parent / f".{out.name}.staging-{txid}"
    aside = out.parent / f".{out.name}.old-{txid}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staged.mkdir()
    except OSError as exc:
        raise from_os_error(exc, f"create {staged}") from exc
    try:
        yield staged, aside
    finally:
        for path in (staged, aside):
            if os.path.lexists(path):
                shutil.rmtree(path, ignore_errors=True)


def commit(staged: Path, out: Path, aside: Path) -> None:
    """Make ``staged`` the folder ``out`` (see the module docstring); the old export goes."""
    try:
        _put(staged, out, aside)
    except OSError as exc:
        raise from_os_error(exc, f"move the export into place at {out}") from exc
    if os.path.lexists(aside):
        shutil.rmtree(aside, ignore_errors=True)
