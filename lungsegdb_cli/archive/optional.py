"""Readers for the formats the standard library cannot read, through optional extras:

* :class:`SevenZipReader` (7z, with ``py7zr``): every member known up front (the header);
  py7zr then pushes the data into writers we give it (a :class:`PushReader`).
* :class:`RarReader` (RAR, with ``rarfile``, which runs an external unrar tool): read front to
  back like a tar (a :class:`StreamReader`).

Without the extra, opening one is an :class:`ArchiveError` saying what to install.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lungsegdb_cli.archive.base import (
    DEVICE,
    DIR,
    FILE,
    RAR,
    SEVEN_Z,
    SYMLINK,
    Member,
    Sink,
    bounded_reads,
    checked_name,
    corrupt,
    missing_extra,
)
from lungsegdb_cli.errors import ArchiveError


def _load_extra(path: Path, fmt: str, module: str) -> Any:
    """The optional ``module`` that reads ``fmt``; :class:`ArchiveError` saying what to
    install when it is missing."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise missing_extra(path, fmt, module) from exc


class RarReader:
    """A RAR archive via the optional ``rarfile`` module (it runs an external unrar tool)."""

    format = RAR
    random_access = False

    def __init__(self, path: Path) -> None:
        self._mod = rarfile = _load_extra(path, RAR, "rarfile")
        self.path = path
        self.archive_size = path.stat().st_size
        try:
            self._rf = rarfile.RarFile(str(path))
        except (rarfile.Error, OSError) as exc:
            raise corrupt(path, RAR, exc) from exc

    def close(self) -> None:
        self._rf.close()

    def __enter__(self) -> RarReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _member(self, info: Any) -> Member:
        if info.needs_password():
            raise ArchiveError(f"{self.path.name} is encrypted", path=str(self.path))
        if info.is_symlink() or getattr(info, "file_redir", None):
            kind = SYMLINK  # symlinks, junctions, hard links and file copies (RAR5)
        elif info.is_dir():
            kind = DIR
        elif info.is_file():
            kind = FILE
        else:
            kind = DEVICE
        name = checked_name(self.path, info.filename)
        return Member(name, kind, info.file_size, info.compress_size, info)

    def entries(self) -> Iterator[tuple[Member, Iterator[bytes] | None]]:
        for info in self._rf.infolist():
            member = self._member(info)
            if member.kind != FILE:
                yield member, None
                continue
            yield member, self._chunks(info)

    def _chunks(self, info: Any) -> Iterator[bytes]:
        try:
            with self._rf.open(info) as fh:
                yield from bounded_reads(fh, self.path, info.filename, info.file_size)
        except (self._mod.Error, OSError, EOFError) as exc:
            if isinstance(exc, self._mod.RarCannotExec):
                raise ArchiveError(
                    f"Reading {self.path.name} needs an unrar program: {exc}",
                    hint="Install 'unrar', 'unar' or 'bsdtar' (e.g. apt-get install unar).",
                    path=str(self.path),
                ) from exc
            raise corrupt(self.path, RAR, exc) from exc


def _seven_zip_kind(f: Any) -> str:
    if f.is_symlink or getattr(f, "is_junction", False):
        return SYMLINK
    if f.is_directory:
        return DIR
    if getattr(f, "is_socket", False):
        return DEVICE
    return FILE


def _py7zr_factory(by_name: dict[str, Member], make_writer: Callable[[Member], Sink]) -> Any:
    """A py7zr ``WriterFactory`` whose files write through ``make_writer(member)``."""
    from py7zr.io import Py7zIO, WriterFactory

    class _IO(Py7zIO):
        def __init__(self, member: Member) -> None:
            self._w = make_writer(member)
            self._n = 0

        def write(self, s: bytes | bytearray) -> int:
            self._w.write(s)
            self._n += len(s)
            return len(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def seekable(self) -> bool:
            return False

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return self._n

        def close(self) -> None:
            self._w.close()

    class _Factory(WriterFactory):
        def create(self, filename: str) -> Py7zIO:
            return _IO(by_name[filename])

    return _Factory()


class SevenZipReader:
    """A 7z archive via the optional ``py7zr`` module.

    Like zip, every member is known up front (the header). py7zr pushes the data: call
    :meth:`extract` with the members to write and a factory of writers (each gets ``write``
    calls, then ``close``).
    """

    format = SEVEN_Z
    random_access = True

    def __init__(self, path: Path) -> None:
        self._mod = py7zr = _load_extra(path, SEVEN_Z, "py7zr")
        self.path = path
        self.archive_size = path.stat().st_size
        try:
            self._z = py7zr.SevenZipFile(path, mode="r")
        except (py7zr.exceptions.ArchiveError, OSError, EOFError, ValueError) as exc:
            raise corrupt(path, SEVEN_Z, exc) from exc
        if self._z.needs_password():
            self._z.close()
            raise ArchiveError(f"{path.name} is encrypted", path=str(path))

    def close(self) -> None:
        self._z.close()

    def __enter__(self) -> SevenZipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def members(self) -> list[Member]:
        out = []
        for f in self._z.files:
            kind = _seven_zip_kind(f)
            size = int(f.uncompressed or 0) if kind == FILE else 0
            out.append(Member(checked_name(self.path, f.filename), kind, size, -1, f))
        return out

    def _errors(self) -> tuple[type[BaseException], ...]:
        """What py7zr raises on a corrupt or unsupported archive."""
        exc = self._mod.exceptions
        return (
            exc.ArchiveError,
            exc.CrcError,
            exc.DecompressionError,
            exc.UnsupportedCompressionMethodError,
            EOFError,
            ValueError,
            lzma.LZMAError,
            zlib.error,
        )

    def extract(self, members: list[Member], make_writer: Callable[[Member], Sink]) -> None:
        """Decode ``members``; py7zr writes each through ``make_writer(member)`` (an object
        with ``write(bytes)`` and ``close()``)."""
        from py7zr.helpers import get_sanitized_output_path

        by_name: dict[str, Member] = {}
        for m in members:
            by_name[m.name] = m
            by_name[get_sanitized_output_path(m.name, None).as_posix()] = m
        try:
            self._z.reset()
            self._z.extract(
                targets=[m.name for m in members], factory=_py7zr_factory(by_name, make_writer)
            )
        except self._errors() as exc:
            raise corrupt(self.path, SEVEN_Z, exc) from exc
