"""Archive formats: detect what a file is by its magic bytes, and read its members uniformly.

This module is the front door; the work is done in private modules, one per job:

* :mod:`lungsegdb_cli.archive.base`: names of formats and member kinds, :class:`Member`, the
  reader contract (:class:`ArchiveReader`, :class:`ChunkReader`, :class:`PushReader`,
  :class:`StreamReader`) and the shared errors.
* :mod:`lungsegdb_cli.archive.detect`: :func:`detect` (magic bytes) and :func:`describe`.
* :mod:`lungsegdb_cli.archive.zip`: :class:`ZipReader`. Headers first: every member known up
  front, any member readable from any thread, so members can be inflated in parallel; each
  member's CRC-32 and size are checked and no more bytes are yielded than its header declares.
* :mod:`lungsegdb_cli.archive.tar`: :class:`TarReader` (tar, tar.gz, tar.bz2, tar.xz), read as
  one stream front to back.
* :mod:`lungsegdb_cli.archive.optional`: :class:`SevenZipReader` (7z, optional ``py7zr``; headers
  first, py7zr pushes the data into writers we give it) and :class:`RarReader` (RAR, optional
  ``rarfile``; a stream).

All of them describe members as :class:`Member` records; nothing here decides what to extract
or where (that is :mod:`lungsegdb_cli.archive.treemap` and :mod:`lungsegdb_cli.archive.extract`).
Every read
error of the archive becomes an :class:`~lungsegdb_cli.errors.ArchiveError` (exit 4).
"""

from __future__ import annotations

from pathlib import Path

from lungsegdb_cli.archive.base import (
    CHUNK,
    DEVICE,
    DIR,
    EXTRAS,
    FILE,
    FORMATS,
    HARDLINK,
    RAR,
    SEVEN_Z,
    SYMLINK,
    TAR,
    TAR_BZ2,
    TAR_GZ,
    TAR_XZ,
    ZIP,
    ZLIB_ERRORS,
    ArchiveReader,
    ChunkReader,
    IndexedReader,
    Member,
    PushReader,
    Sink,
    StreamReader,
    checked_name,
)
from lungsegdb_cli.archive.detect import describe, detect
from lungsegdb_cli.archive.optional import RarReader, SevenZipReader
from lungsegdb_cli.archive.tar import TarReader
from lungsegdb_cli.archive.zip import ZipReader, declared_members
from lungsegdb_cli.errors import ArchiveError

__all__ = [
    "CHUNK",
    "DEVICE",
    "DIR",
    "EXTRAS",
    "FILE",
    "FORMATS",
    "HARDLINK",
    "RAR",
    "SEVEN_Z",
    "SYMLINK",
    "TAR",
    "TAR_BZ2",
    "TAR_GZ",
    "TAR_XZ",
    "ZIP",
    "ZLIB_ERRORS",
    "ArchiveReader",
    "ChunkReader",
    "IndexedReader",
    "Member",
    "PushReader",
    "RarReader",
    "Reader",
    "SevenZipReader",
    "Sink",
    "StreamReader",
    "TarReader",
    "ZipReader",
    "checked_name",
    "declared_members",
    "describe",
    "detect",
    "open_archive",
]

#: The concrete readers :func:`open_archive` returns.
Reader = ZipReader | TarReader | SevenZipReader | RarReader


def open_archive(path: Path, fmt: str | None = None) -> Reader:
    """Open ``path`` with the reader for its format (detected if not given)."""
    fmt = detect(path) if fmt is None else fmt
    if fmt == ZIP:
        return ZipReader(path)
    if fmt in (TAR, TAR_GZ, TAR_BZ2, TAR_XZ):
        return TarReader(path, fmt)
    if fmt == SEVEN_Z:
        return SevenZipReader(path)
    if fmt == RAR:
        return RarReader(path)
    raise ArchiveError(f"Unsupported archive format: {fmt}", path=str(path))  # pragma: no cover
