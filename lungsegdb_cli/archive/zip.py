"""The zip (and zip64) reader: every member known up front (the central directory), any member
readable at any time from any thread (``os.pread``, one zlib-ng decompressor per member), so
members can be inflated in parallel. It checks each member's CRC-32 and size and never yields
more bytes than the member's header declares (a lying header cannot fill the disk)."""

from __future__ import annotations

import lzma
import os
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lungsegdb_cli.archive.base import (
    CHUNK,
    DEVICE,
    DIR,
    FILE,
    SYMLINK,
    ZIP,
    ZLIB_ERRORS,
    Member,
    bounded_reads,
    checked_name,
    corrupt,
    lying,
)
from lungsegdb_cli.archive.base import FAST_ZLIB as _zlib
from lungsegdb_cli.errors import ArchiveError, from_os_error

_HAS_PREAD = hasattr(os, "pread")
_O_BINARY = getattr(os, "O_BINARY", 0)
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if mode and info.create_system == 3:  # unix attributes
        if stat.S_ISLNK(mode):
            return SYMLINK
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            return DEVICE
        if stat.S_ISDIR(mode):
            return DIR
    if info.is_dir():
        return DIR
    return FILE


def _local_name(raw: bytes, flag_bits: int) -> str | None:
    """A local header's name, decoded as ``zipfile`` does (UTF-8 if the central directory's
    flag bit 11 says so, else cp437); None if it does not decode."""
    try:
        return raw.decode("utf-8" if flag_bits & 0x800 else "cp437")
    except UnicodeDecodeError:
        return None


def _inflate(inflate: Any, raw: bytes) -> Iterator[bytes]:
    """Feed ``raw`` to the decompressor, yielding at most :data:`CHUNK` bytes at a time."""
    data = inflate.decompress(raw, CHUNK)
    while True:
        if data:
            yield data
        tail = inflate.unconsumed_tail
        if not tail:
            return
        data = inflate.decompress(tail, CHUNK)


class _Tally:
    """Counts and CRCs a member's bytes as they are yielded; refuses more than declared."""

    __slots__ = ("crc", "declared", "info", "out", "path")

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        self.path = path
        self.info = info
        self.declared = info.file_size
        self.out = 0
        self.crc = 0

    def add(self, data: bytes) -> None:
        self.out += len(data)
        if self.out > self.declared:
            raise lying(self.path, self.info.filename, self.declared)
        self.crc = _zlib.crc32(data, self.crc)

    def finish(self) -> None:
        """Raise :class:`ArchiveError` unless the size and CRC-32 match the header."""
        name = self.info.filename
        if self.out != self.declared:
            raise corrupt(
                self.path, ZIP, f"{name!r}: {self.out} bytes, its header says {self.declared}"
            )
        if self.crc != self.info.CRC:
            raise corrupt(self.path, ZIP, f"CRC-32 mismatch in {name!r}")


_EOCD = b"PK\x05\x06"  # end of central directory record: 22 bytes + a comment
_EOCD64_LOCATOR = b"PK\x06\x07"  # 20 bytes, just before the end record
_EOCD64 = b"PK\x06\x06"


def declared_members(path: Path) -> int | None:
    """The number of members a zip's end record declares, read from its last 64 KiB before
    the central directory is loaded (``zipfile`` loads every entry of it into memory: a small
    zip declaring millions is refused on this count first); None if ``path`` is not a zip or
    the record cannot be read (the full open then says why)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) not in (b"PK\x03\x04", _EOCD):
                return None
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - (22 + 0xFFFF))
            fh.seek(start)
            tail = fh.read()
            at = tail.rfind(_EOCD)
            if at < 0 or at + 22 > len(tail):
                return None
            count = struct.unpack_from("<H", tail, at + 10)[0]
            locator = at - 20
            if count != 0xFFFF or locator < 0 or tail[locator : locator + 4] != _EOCD64_LOCATOR:
                return int(count)
            offset = struct.unpack_from("<Q", tail, locator + 8)[0]
            fh.seek(offset)
            record = fh.read(56)
            if len(record) < 40 or record[:4] != _EOCD64:
                return None
            return int(struct.unpack_from("<Q", record, 32)[0])
    except (OSError, struct.error):
        return None


class ZipReader:
    """A zip (or zip64) archive: every member known up front, any member readable from any
    thread."""

    format = ZIP
    random_access = True

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            raise corrupt(path, ZIP, exc) from exc
        except OSError as exc:
            raise from_os_error(exc, f"reading {path}") from exc
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | _O_BINARY)
        self.archive_size = os.fstat(self._fd).st_size
        self._seek_lock = threading.Lock()  # only where os.pread is missing (Windows)

    def _pread(self, n: int, offset: int) -> bytes:
        if _HAS_PREAD:
            return os.pread(self._fd, n, offset)
        with self._seek_lock:  # pragma: no cover - Windows
            os.lseek(self._fd, offset, os.SEEK_SET)
            return os.read(self._fd, n)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._zf.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def members(self) -> list[Member]:
        out = []
        for info in self._zf.infolist():
            if info.flag_bits & 0x1:
                raise ArchiveError(
                    f"{self.path.name} is encrypted (member {info.filename!r})",
                    hint="Decrypt it with the tool it came with, then pass it with --archive.",
                    path=str(self.path),
                )
            name = checked_name(self.path, info.filename)
            out.append(Member(name, _zip_kind(info), info.file_size, info.compress_size, info))
        return out

    def chunks(self, member: Member) -> Iterator[bytes]:
        """The member's uncompressed bytes, in chunks of at most :data:`CHUNK`.

        Raises :class:`ArchiveError` on corrupt or truncated data or a CRC mismatch, and
        :class:`UnsafeArchiveError` as soon as the data grows past the declared size.
        """
        info: zipfile.ZipInfo = member.ref
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            yield from self._chunks_via_zipfile(info)
            return
        tally = _Tally(self.path, info)
        try:
            for data in self._decoded(info):
                tally.add(data)
                yield data
        except ZLIB_ERRORS as exc:
            raise corrupt(self.path, ZIP, f"{info.filename!r}: {exc}") from exc
        tally.finish()

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where ``info``'s compressed data starts (after its local header), checked to lie
        within the file, with the local header naming the member as the central directory
        does (as ``zipfile`` checks: else one tool would extract under another name)."""
        hdr = self._pread(_LOCAL_HEADER + 4 * len(info.orig_filename), info.header_offset)
        if len(hdr) < _LOCAL_HEADER or hdr[:4] != b"PK\x03\x04":
            raise corrupt(self.path, ZIP, f"bad local header for {info.filename!r}")
        name_len, extra_len = struct.unpack("<HH", hdr[26:30])
        name = hdr[_LOCAL_HEADER : _LOCAL_HEADER + name_len]
        if len(name) < name_len:  # longer than any encoding of the central name
            name += self._pread(name_len - len(name), info.header_offset + len(hdr))
        if _local_name(name, info.flag_bits) != info.orig_filename:
            raise corrupt(
                self.path,
                ZIP,
                f"the local header names member {info.orig_filename!r} {name!r} "
                "(the central directory and the local header disagree)",
            )
        pos = info.header_offset + _LOCAL_HEADER + name_len + extra_len
        if pos + info.compress_size > self.archive_size:
            raise corrupt(self.path, ZIP, f"{info.filename!r} runs past the end of the file")
        return pos

    def _raw(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's compressed bytes, read with ``pread`` in :data:`CHUNK` pieces."""
        pos = self._data_offset(info)
        left = info.compress_size
        while left > 0:
            raw = self._pread(min(CHUNK, left), pos)
            if not raw:
                raise corrupt(self.path, ZIP, f"{info.filename!r} is truncated")
            pos += len(raw)
            left -= len(raw)
            yield raw

    def _decoded(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's stored or inflated bytes (unchecked: :class:`_Tally` checks them)."""
        if info.compress_type != zipfile.ZIP_DEFLATED:
            yield from self._raw(info)
            return
        inflate = _zlib.decompressobj(-zlib.MAX_WBITS)
        for raw in self._raw(info):
            yield from _inflate(inflate, raw)
        tail = inflate.flush()
        if tail:
            yield tail
        if not inflate.eof:
            raise corrupt(self.path, ZIP, f"{info.filename!r}: deflate stream ends early")

    def _chunks_via_zipfile(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """bzip2/lzma members (rare): zipfile checks their CRC; we still bound the size."""
        try:
            with self._zf.open(info) as fh:
                yield from bounded_reads(fh, self.path, info.filename, info.file_size)
        except NotImplementedError as exc:
            raise ArchiveError(
                f"{self.path.name}: member {info.filename!r} uses a compression method Python "
                f"cannot read ({exc})",
                hint="Re-pack the archive as a plain zip or tar.gz, then pass it with --archive.",
                path=str(self.path),
            ) from exc
        except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            raise corrupt(self.path, ZIP, f"{info.filename!r}: {exc}") from exc
