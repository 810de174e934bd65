"""Small file-system helpers: atomic writes, output-file checks and free-space checks."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from lungsegdb_cli.errors import DiskFullError, UsageError, from_os_error


def write_atomically(path: Path, data: bytes, *, durable: bool = False, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder (``O_EXCL``, ``fsync``)
    and ``os.replace``: the one atomic writer; an ``OSError`` is raised as it is (the caller
    says what it was doing: :func:`atomic_write_bytes` for most, the commit's journal).

    A reader sees the old file or the new one, never a half-written one. A new file is
    created with ``mode`` less the umask (as ``open`` would); a file replaced keeps its own
    permissions. ``durable``: the folder is ``fsync``'ed after the rename too, so the new
    name survives a power cut (the commit journal: its rename is the commit point).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        old = None
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, mode)  # the umask applies
    try:
        if old is not None and stat.S_ISREG(old.st_mode):
            os.fchmod(fd, stat.S_IMODE(old.st_mode))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (:func:`write_atomically`); an ``OSError`` is
    the error the command gives for it (:func:`~lungsegdb_cli.errors.from_os_error`)."""
    try:
        write_atomically(path, data, durable=durable)
    except OSError as exc:
        raise from_os_error(exc, f"writing {path}") from exc


def fsync_dir(folder: Path) -> None:
    """``fsync`` a folder, so the names just made or renamed in it are durable (best effort:
    a folder that cannot be opened or synced is left as it is)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_output(path: Path, data: bytes) -> None:
    """Write a file the user named (``--csv``, ``--out``, ``OUT``) atomically
    (:func:`atomic_write_bytes`), through any symlink (the link stays, its target is
    replaced) -- except what is not a file to replace: this process's own descriptor
    (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``: written through it, at its offset),
    a FIFO or a character device (a named pipe, ``/dev/null``) or what resolves into
    ``/proc`` (a pipe's ``pipe:[N]``) is written into, as a shell's ``>`` does, never replaced.
    (:func:`check_output_file` refused the other kinds of special file.) A reader that left
    such a pipe: :class:`BrokenPipeError`, as it is (the command line's quiet 141)."""
    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except OSError:
        mode = 0
    own = _OWN_FD.match(os.path.abspath(path))
    special = stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or real.startswith("/proc/")
    if own is None and not special:  # a file (in /dev/shm too): replaced atomically
        atomic_write_bytes(Path(real), data)
        return
    try:
        if own is not None:  # this process's own descriptor: written there, at its offset
            name = own[1] or own[2] or own[3]
            fd = {"stdout": 1, "stderr": 2}.get(name) or int(name)
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            return
        with open(path, "wb") as fh:
            fh.write(data)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise from_os_error(exc, f"writing {path}") from exc


#: Names of this process's own descriptors (``/dev/stdout``, ``/dev/fd/3``, ...): opening
#: them anew would start at offset 0 of a redirected file, under what the process writes to
#: it next (``--csv /dev/stdout > out``): they are written through the descriptor itself.
_OWN_FD = re.compile(r"^/(?:dev/(stdout|stderr)|dev/fd/(\d+)|proc/self/fd/(\d+))$")


def atomic_write_text(path: Path, text: str, *, durable: bool = False) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def remove_tree(path: Path) -> None:
    """Delete the folder tree at ``path`` (a file or link there: just it), ignoring errors, as
    ``shutil.rmtree(path, ignore_errors=True)`` -- also when the tree nests deeper than
    Python's recursion limit (about 1,000 folders, a path of only ~2,000 characters, which an
    archive or a user can make), where rmtree raises RecursionError."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
        return
    except RecursionError:
        pass
    except OSError:
        return
    folders: list[str] = []
    stack = [os.fspath(path)]
    while stack:  # depth first, without recursion: files removed, folders listed
        folder = stack.pop()
        folders.append(folder)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            os.unlink(entry.path)
                    except OSError:
                        continue
        except OSError:
            continue
    for folder in reversed(folders):  # every folder after the ones inside it
        try:
            os.rmdir(folder)
        except OSError:
            continue


def tree_size(path: Path) -> int:
    """Bytes of the regular files at or under ``path`` (0 if it is gone); links not
    followed; no recursion (see :func:`remove_tree`)."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size if stat.S_ISREG(st.st_mode) else 0
    total = 0
    stack = [os.fspath(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_free_space(path: Path, needed: int, what: str, *, at_least: bool = False) -> None:
    """Raise :class:`DiskFullError` (exit 5) if fewer than ``needed`` bytes are free;
    ``at_least``: ``needed`` is a lower bound (an estimate made before the real size is
    known), and the message says so."""
    free = free_bytes(path)
    if free < needed:
        need = f"need at least {needed:,}" if at_least else f"need {needed:,}"
        raise DiskFullError(
            f"Not enough free space for {what}: {need} bytes, {free:,} free on {path}",
            hint="Free some space, or choose another --data-dir.",
            needed=needed,
            free=free,
            path=str(path),
        )


def _special_kind(path: Path) -> str:
    """What ``path`` is if it is a special file an output must not go to (a block device,
    a socket); "" otherwise. FIFOs and character devices are written into
    (:func:`write_output`)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return ""


def check_output_file(
    path: Path, label: str, example: str, *, protect: Mapping[str, Path] | None = None
) -> Path:
    """``path`` if a file can be written there; a folder in its place, or a file in place of
    one of its folders, is a :class:`UsageError` (exit 2) naming ``label`` (e.g. ``--csv
    FILE`` or ``OUT``). ``example``: the file name the hint suggests inside such a folder.
    ``protect``: paths by name (a data dir's :attr:`~lungsegdb_cli.dataset.paths.DataPaths.own`)
    the file may be neither nor inside, symlinks resolved: it would overwrite the user's data
    or the tool's own records, or be an unexpected file among them."""
    where = Path(os.path.realpath(path.absolute()))
    for name, own in (protect or {}).items():
        real = Path(os.path.realpath(own))
        if where == real or real in where.parents:
            raise UsageError(
                f"{label} {path} is {'' if where == real else 'inside '}the {name} {own}",
                hint="Write it outside the data dir's tree, manifest, state and downloads "
                f"(e.g. ./{example}).",
                path=str(path),
            )
    if path.is_dir():
        raise UsageError(
            f"{label} {path} is a folder; it needs a file name",
            hint=f"Give a file name, e.g. {path / example}.",
            path=str(path),
        )
    kind = _special_kind(path)
    if kind:
        raise UsageError(
            f"{label} {path} is {kind}, not a file",
            hint=f"Give a file name, e.g. ./{example} (a FIFO or /dev/stdout is fine).",
            path=str(path),
        )
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(
                    f"{label} {path}: {parent} is a file, not a folder",
                    hint="Check the path.",
                    path=str(path),
                )
            break
    return path
