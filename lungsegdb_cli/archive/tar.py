"""The tar reader (plain, gzip, bzip2, xz): one stream read front to back; :meth:`entries`
yields each member with an iterator over its data. With zlib-ng a tar.gz is inflated on its
own thread, so inflating, parsing, hashing and writing overlap."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lungsegdb_cli.archive.base import (
    CHUNK,
    DEVICE,
    DIR,
    FILE,
    HARDLINK,
    SYMLINK,
    TAR_BZ2,
    TAR_GZ,
    TAR_XZ,
    ZLIB_ERRORS,
    Member,
    checked_name,
    corrupt,
)
from lungsegdb_cli.errors import from_os_error

try:  # zlib-ng's gzip: the same API as the stdlib's, inflating about twice as fast
    from zlib_ng import gzip_ng as _gzip
except ImportError:  # pragma: no cover - zlib-ng is a dependency, but optional in spirit
    _gzip = gzip  # type: ignore[misc]  # the stdlib module: the same API

_TAR_ERRORS: tuple[type[Exception], ...] = (
    tarfile.TarError,
    EOFError,
    *ZLIB_ERRORS,
    lzma.LZMAError,
    OSError,
    ValueError,
)


def _gzip_stream(raw: BinaryIO) -> BinaryIO:
    """A gzip reader over ``raw``; with zlib-ng, inflating runs in its own thread (GIL-free),
    so a tar.gz is inflated, parsed, hashed and written on three threads at once."""
    try:
        from zlib_ng import gzip_ng_threaded
    except ImportError:  # pragma: no cover - stdlib fallback
        return _gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return gzip_ng_threaded.open(raw, "rb", threads=1, block_size=CHUNK)


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return SYMLINK
    if info.islnk():
        return HARDLINK
    if info.ischr() or info.isblk() or info.isfifo():
        return DEVICE
    if info.isdir():
        return DIR
    if info.isreg():
        return FILE
    return DEVICE  # anything else (GNU volume headers, ...) is not a plain file


def _decompressing(raw: BinaryIO, fmt: str) -> BinaryIO:
    """``raw`` seen through the decompressor of ``fmt`` (itself for a plain tar)."""
    if fmt == TAR_GZ:
        return _gzip_stream(raw)
    if fmt == TAR_BZ2:
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if fmt == TAR_XZ:
        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    return raw


class TarReader:
    """A tar archive, plain or gzip/bzip2/xz-compressed, read as one stream front to back."""

    random_access = False

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        try:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise from_os_error(exc, f"reading {path}") from exc
        self.archive_size = os.fstat(self._file.fileno()).st_size
        raw = io.BufferedReader(self._file, buffer_size=CHUNK)
        self._stream: BinaryIO = _decompressing(raw, fmt)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._file.close()

    def __enter__(self) -> TarReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entries(self) -> Iterator[tuple[Member, Iterator[bytes] | None]]:
        """Each member in archive order, with an iterator over its data (files only)."""
        try:
            tf = tarfile.open(fileobj=self._stream, mode="r|", bufsize=CHUNK)  # noqa: SIM115
        except _TAR_ERRORS as exc:
            raise corrupt(self.path, self.format, exc) from exc
        for info in self._infos(tf):
            kind = _tar_kind(info)
            name = checked_name(self.path, info.name)
            member = Member(name, kind, info.size if kind == FILE else 0, -1, info)
            yield member, (self._file_chunks(tf, info) if kind == FILE else None)
        # Drain to the end of the stream so a truncated or corrupt tail is noticed.
        try:
            while self._stream.read(CHUNK):
                pass
        except _TAR_ERRORS as exc:
            raise corrupt(self.path, self.format, exc) from exc

    def _infos(self, tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        """``tf``'s headers in order; a read error is :class:`ArchiveError`."""
        it = iter(tf)
        while True:
            try:
                info = next(it)
            except StopIteration:
                return
            except _TAR_ERRORS as exc:
                raise corrupt(self.path, self.format, exc) from exc
            yield info

    def _file_chunks(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[bytes]:
        try:
            fh = tf.extractfile(info)
            if fh is None:
                return
            left = info.size
            while left > 0:
                data = fh.read(min(CHUNK, left))
                if not data:
                    raise corrupt(self.path, self.format, f"{info.name!r} is truncated")
                left -= len(data)
                yield data
        except _TAR_ERRORS as exc:
            raise corrupt(self.path, self.format, exc) from exc
