"""Archive formats: detect what a file is by its magic bytes, and read its members uniformly.

Two kinds of reader, because the formats differ in what they allow (``random_access``):

* Headers first. :class:`ZipReader` (zip and zip64) knows every member up front (the central
  directory) and reads any member at any time from any thread (``os.pread``, one zlib-ng
  decompressor per member), so members can be inflated in parallel. It checks each member's
  CRC-32 and size and never yields more bytes than the member's header declares (a lying
  header cannot fill the disk). :class:`SevenZipReader` (7z, with the optional ``py7zr``) also
  lists every member up front; py7zr then pushes the data into writers we give it.
* Streams. :class:`TarReader` (tar, tar.gz, tar.bz2, tar.xz) and :class:`RarReader` (RAR, with
  the optional ``rarfile``) are read front to back: :meth:`entries` yields each member with an
  iterator over its data.

All of them describe members as :class:`Member` records; nothing here decides what to extract
or where (that is :mod:`lungsegdb_cli.treemap` and :mod:`lungsegdb_cli.extract`). Every read
error of the archive becomes an :class:`~lungsegdb_cli.errors.ArchiveError` (exit 4).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import struct
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lungsegdb_cli.errors import ArchiveError, UnsafeArchiveError

try:  # zlib-ng: the same API as zlib, inflate about twice as fast; the stdlib is the fallback
    from zlib_ng import gzip_ng as _gzip
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - zlib-ng is a dependency, but optional in spirit
    _gzip = gzip  # type: ignore[assignment]
    _zlib = zlib  # type: ignore[assignment]


def _gzip_stream(raw: BinaryIO) -> BinaryIO:
    """A gzip reader over ``raw``; with zlib-ng, inflating runs in its own thread (GIL-free),
    so a tar.gz is inflated, parsed, hashed and written on three threads at once."""
    try:
        from zlib_ng import gzip_ng_threaded
    except ImportError:  # pragma: no cover - stdlib fallback
        return _gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return gzip_ng_threaded.open(raw, "rb", threads=1, block_size=CHUNK)  # type: ignore[no-any-return]


#: Errors a decompressor raises on corrupt data (stdlib zlib and zlib-ng).
ZLIB_ERRORS: tuple[type[Exception], ...] = tuple({zlib.error, _zlib.error})

#: Read/inflate chunk: memory stays flat whatever the member size.
CHUNK = 1 << 20

_HAS_PREAD = hasattr(os, "pread")
_O_BINARY = getattr(os, "O_BINARY", 0)

ZIP, TAR, TAR_GZ, TAR_BZ2, TAR_XZ, SEVEN_Z, RAR = (
    "zip",
    "tar",
    "tar.gz",
    "tar.bz2",
    "tar.xz",
    "7z",
    "rar",
)
FORMATS: tuple[str, ...] = (ZIP, TAR, TAR_GZ, TAR_BZ2, TAR_XZ, SEVEN_Z, RAR)

# Member kinds.
FILE, DIR, SYMLINK, HARDLINK, DEVICE = "file", "dir", "symlink", "hardlink", "device"

#: What to install for the formats the standard library cannot read.
EXTRAS: dict[str, str] = {
    SEVEN_Z: "pip install 'lungsegdb-cli[7z]'  (installs py7zr)",
    RAR: "pip install 'lungsegdb-cli[rar]'  (installs rarfile; it also needs the 'unrar', "
    "'unar' or 'bsdtar' program: e.g. apt-get install unar)",
}

# Things people download instead of an archive, named in the error message.
_NOT_ARCHIVES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file (not supported)"),
    (b"\x1f\x9d", "a Unix compress (.Z) file (not supported)"),
)


@dataclass(frozen=True)
class Member:
    """One entry of an archive, as its headers describe it."""

    name: str  # as stored in the archive
    kind: str  # FILE, DIR, SYMLINK, HARDLINK, DEVICE
    size: int  # declared uncompressed size; -1 if the format does not say up front
    compressed: int = -1  # declared compressed size; -1 if unknown
    ref: Any = None  # the format's own record (ZipInfo, TarInfo, ...)

    @property
    def is_file(self) -> bool:
        return self.kind == FILE


def checked_name(path: Path, name: str) -> str:
    """``name`` if it is valid Unicode; else :class:`ArchiveError` (exit 4) naming the member.

    A tar header holds raw bytes; ``tarfile`` decodes bytes that are not UTF-8 as lone
    surrogates, which no manifest, terminal or JSON document can carry. Such a name is refused
    (with its raw bytes shown) before anything is written.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
        raise ArchiveError(
            f"{path.name}: the name of member {raw!r} is not valid UTF-8; nothing was extracted",
            hint="Re-pack the archive with UTF-8 file names, then pass it with --archive.",
            path=str(path),
            member=raw.decode("utf-8", "backslashreplace"),
        ) from None
    return name


def _head(path: Path, n: int = 1024) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _is_tar_block(block: bytes) -> bool:
    """True if ``block`` starts with a tar header: ``ustar`` magic or a valid v7 checksum."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == computed and any(block[:100])


def _decompressed_head(path: Path, opener: Any, n: int = 512) -> bytes | None:
    try:
        with opener(path) as fh:
            return fh.read(n)
    except (OSError, EOFError, lzma.LZMAError, zlib.error):
        return None


def describe(head: bytes) -> str:
    """A short human description of what a non-archive file looks like."""
    if not head:
        return "an empty file"
    for magic, what in _NOT_ARCHIVES:
        if head.startswith(magic):
            return what
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in text:
        return "an HTML page (often a Google Drive warning or quota page, not the file itself)"
    if text.startswith((b"{", b"[")):
        return "a JSON document"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"an unknown binary file (starts with {head[:8].hex(' ')})"
    return "a text file"


def detect(path: Path) -> str:
    """The archive format of ``path`` from its magic bytes (the file name is not consulted).

    Raises :class:`ArchiveError` naming what the file actually is when it is no archive we
    know.
    """
    try:
        head = _head(path)
    except OSError as exc:
        from lungsegdb_cli.errors import from_os_error

        raise from_os_error(exc, f"reading {path}") from exc
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return ZIP
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return SEVEN_Z
    if head.startswith(b"Rar!\x1a\x07"):
        return RAR
    compressed = (
        (b"\x1f\x8b", TAR_GZ, gzip.open, "gzip"),
        (b"BZh", TAR_BZ2, bz2.open, "bzip2"),
        (b"\xfd7zXZ\x00", TAR_XZ, lzma.open, "xz"),
    )
    for magic, fmt, opener, label in compressed:
        if head.startswith(magic):
            inner = _decompressed_head(path, opener)
            if inner is None:
                raise ArchiveError(
                    f"{path.name} is a {label}-compressed file, but it is corrupt or truncated",
                    path=str(path),
                    format=fmt,
                )
            if _is_tar_block(inner):
                return fmt
            raise ArchiveError(
                f"{path.name} is a {label}-compressed file, but not a tar archive inside "
                f"(it holds {describe(inner)})",
                hint="Pass the dataset's archive (zip, tar, tar.gz, tar.bz2, tar.xz, 7z, rar).",
                path=str(path),
            )
    if _is_tar_block(head[:512]) if len(head) >= 512 else False:
        return TAR
    if zipfile.is_zipfile(path):  # a zip with something prepended (self-extracting, ...)
        return ZIP
    what = describe(head)
    raise ArchiveError(
        f"{path.name} is not an archive: it looks like {what}",
        hint=(
            "Download the archive again (lungsegdb download --force), or pass the right file "
            "with --archive. Supported: zip, tar, tar.gz, tar.bz2, tar.xz, 7z, rar."
        ),
        path=str(path),
        looks_like=what,
    )


def _corrupt(path: Path, fmt: str, detail: object) -> ArchiveError:
    return ArchiveError(
        f"The {fmt} archive {path.name} is corrupt or truncated: {detail}",
        path=str(path),
        format=fmt,
    )


# ---------------------------------------------------------------------------------------------
# zip: random access, parallel-safe
# ---------------------------------------------------------------------------------------------
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
            raise _corrupt(path, ZIP, exc) from exc
        except OSError as exc:
            from lungsegdb_cli.errors import from_os_error

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
        hdr = self._pread(30, info.header_offset)
        if len(hdr) < 30 or hdr[:4] != b"PK\x03\x04":
            raise _corrupt(self.path, ZIP, f"bad local header for {info.filename!r}")
        name_len, extra_len = struct.unpack("<HH", hdr[26:30])
        pos = info.header_offset + 30 + name_len + extra_len
        left = info.compress_size
        if pos + left > self.archive_size:
            raise _corrupt(self.path, ZIP, f"{info.filename!r} runs past the end of the file")
        inflate = (
            _zlib.decompressobj(-zlib.MAX_WBITS)
            if info.compress_type == zipfile.ZIP_DEFLATED
            else None
        )
        declared = info.file_size
        out = 0
        crc = 0
        try:
            while left > 0:
                raw = self._pread(min(CHUNK, left), pos)
                if not raw:
                    raise _corrupt(self.path, ZIP, f"{info.filename!r} is truncated")
                pos += len(raw)
                left -= len(raw)
                if inflate is None:
                    pieces: Iterator[bytes] = iter((raw,))
                else:
                    pieces = _inflate(inflate, raw)
                for data in pieces:
                    out += len(data)
                    if out > declared:
                        raise _lying(self.path, info.filename, declared)
                    crc = _zlib.crc32(data, crc)
                    yield data
            if inflate is not None:
                tail = inflate.flush()
                if tail:
                    out += len(tail)
                    if out > declared:
                        raise _lying(self.path, info.filename, declared)
                    crc = _zlib.crc32(tail, crc)
                    yield tail
                if not inflate.eof:
                    raise _corrupt(self.path, ZIP, f"{info.filename!r}: deflate stream ends early")
        except ZLIB_ERRORS as exc:
            raise _corrupt(self.path, ZIP, f"{info.filename!r}: {exc}") from exc
        if out != declared:
            raise _corrupt(
                self.path, ZIP, f"{info.filename!r}: {out} bytes, its header says {declared}"
            )
        if crc != info.CRC:
            raise _corrupt(self.path, ZIP, f"CRC-32 mismatch in {info.filename!r}")

    def _chunks_via_zipfile(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """bzip2/lzma members (rare): zipfile checks their CRC; we still bound the size."""
        out = 0
        try:
            with self._zf.open(info) as fh:
                while True:
                    data = fh.read(CHUNK)
                    if not data:
                        break
                    out += len(data)
                    if out > info.file_size:
                        raise _lying(self.path, info.filename, info.file_size)
                    yield data
        except NotImplementedError as exc:
            raise ArchiveError(
                f"{self.path.name}: member {info.filename!r} uses a compression method Python "
                f"cannot read ({exc})",
                hint="Re-pack the archive as a plain zip or tar.gz, then pass it with --archive.",
                path=str(self.path),
            ) from exc
        except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
            raise _corrupt(self.path, ZIP, f"{info.filename!r}: {exc}") from exc


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


def _lying(path: Path, name: str, declared: int) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{path.name}: member {name!r} inflates past the {declared:,} bytes its header "
        "declares (a lying header, as in a zip bomb)",
        path=str(path),
        member=name,
    )


# ---------------------------------------------------------------------------------------------
# tar family: front to back
# ---------------------------------------------------------------------------------------------
class CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read from it (the compressed position)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        n = n or 0
        self.count += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


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


_TAR_ERRORS = (tarfile.TarError, EOFError, *ZLIB_ERRORS, lzma.LZMAError, OSError, ValueError)


class TarReader:
    """A tar archive, plain or gzip/bzip2/xz-compressed, read as one stream front to back."""

    random_access = False

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        try:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            from lungsegdb_cli.errors import from_os_error

            raise from_os_error(exc, f"reading {path}") from exc
        self.archive_size = os.fstat(self._file.fileno()).st_size
        self._counter = CountingReader(self._file)
        raw = io.BufferedReader(self._counter, buffer_size=CHUNK)
        self._stream: BinaryIO
        if fmt == TAR_GZ:
            self._stream = _gzip_stream(raw)
        elif fmt == TAR_BZ2:
            self._stream = bz2.BZ2File(raw, mode="rb")  # type: ignore[assignment]
        elif fmt == TAR_XZ:
            self._stream = lzma.LZMAFile(raw, mode="rb")  # type: ignore[assignment]  # noqa: SIM115
        else:
            self._stream = raw  # type: ignore[assignment]

    @property
    def compressed_read(self) -> int:
        """Bytes of the archive file consumed so far."""
        return self._counter.count

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
            raise _corrupt(self.path, self.format, exc) from exc
        it = iter(tf)
        while True:
            try:
                info = next(it)
            except StopIteration:
                break
            except _TAR_ERRORS as exc:
                raise _corrupt(self.path, self.format, exc) from exc
            kind = _tar_kind(info)
            name = checked_name(self.path, info.name)
            member = Member(name, kind, info.size if kind == FILE else 0, -1, info)
            if kind != FILE:
                yield member, None
                continue
            yield member, self._file_chunks(tf, info)
        # Drain to the end of the stream so a truncated or corrupt tail is noticed.
        try:
            while self._stream.read(CHUNK):
                pass
        except _TAR_ERRORS as exc:
            raise _corrupt(self.path, self.format, exc) from exc

    def _file_chunks(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[bytes]:
        try:
            fh = tf.extractfile(info)
            if fh is None:
                return
            left = info.size
            while left > 0:
                data = fh.read(min(CHUNK, left))
                if not data:
                    raise _corrupt(self.path, self.format, f"{info.name!r} is truncated")
                left -= len(data)
                yield data
        except _TAR_ERRORS as exc:
            raise _corrupt(self.path, self.format, exc) from exc


# ---------------------------------------------------------------------------------------------
# 7z and RAR: optional extras
# ---------------------------------------------------------------------------------------------
def _missing_extra(path: Path, fmt: str, module: str) -> ArchiveError:
    return ArchiveError(
        f"{path.name} is a {fmt.upper() if fmt == RAR else fmt} archive, and reading it needs "
        f"the optional module '{module}', which is not installed",
        hint=f"Install it: {EXTRAS[fmt]}; or re-pack the archive as zip/tar.gz.",
        path=str(path),
        format=fmt,
        install=EXTRAS[fmt],
    )


class RarReader:
    """A RAR archive via the optional ``rarfile`` module (it runs an external unrar tool)."""

    format = RAR
    random_access = False

    def __init__(self, path: Path) -> None:
        try:
            import rarfile  # type: ignore[import-not-found]
        except ImportError as exc:
            raise _missing_extra(path, RAR, "rarfile") from exc
        self._mod = rarfile
        self.path = path
        self.archive_size = path.stat().st_size
        try:
            self._rf = rarfile.RarFile(str(path))
        except (rarfile.Error, OSError) as exc:
            raise _corrupt(path, RAR, exc) from exc
        self.compressed_read = 0

    def close(self) -> None:
        self._rf.close()

    def __enter__(self) -> RarReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entries(self) -> Iterator[tuple[Member, Iterator[bytes] | None]]:
        rf = self._rf
        for info in rf.infolist():
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
            member = Member(name, kind, info.file_size, info.compress_size, info)
            if kind != FILE:
                yield member, None
                continue
            self.compressed_read += max(0, info.compress_size)
            yield member, self._chunks(info)

    def _chunks(self, info: Any) -> Iterator[bytes]:
        out = 0
        try:
            with self._rf.open(info) as fh:
                while True:
                    data = fh.read(CHUNK)
                    if not data:
                        break
                    out += len(data)
                    if out > info.file_size:
                        raise _lying(self.path, info.filename, info.file_size)
                    yield data
        except (self._mod.Error, OSError, EOFError) as exc:
            if isinstance(exc, self._mod.RarCannotExec):
                raise ArchiveError(
                    f"Reading {self.path.name} needs an unrar program: {exc}",
                    hint=f"Install one: {EXTRAS[RAR]}",
                    path=str(self.path),
                ) from exc
            raise _corrupt(self.path, RAR, exc) from exc


class SevenZipReader:
    """A 7z archive via the optional ``py7zr`` module.

    Like zip, every member is known up front (the header). py7zr pushes the data: call
    :meth:`extract` with the members to write and a factory of writers (each gets ``write``
    calls, then ``close``).
    """

    format = SEVEN_Z
    random_access = True

    def __init__(self, path: Path) -> None:
        try:
            import py7zr  # type: ignore[import-not-found]
        except ImportError as exc:
            raise _missing_extra(path, SEVEN_Z, "py7zr") from exc
        self._mod = py7zr
        self.path = path
        self.archive_size = path.stat().st_size
        try:
            self._z = py7zr.SevenZipFile(path, mode="r")
        except (py7zr.exceptions.ArchiveError, OSError, EOFError, ValueError) as exc:
            raise _corrupt(path, SEVEN_Z, exc) from exc
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
            if f.is_symlink or getattr(f, "is_junction", False):
                kind = SYMLINK
            elif f.is_directory:
                kind = DIR
            elif getattr(f, "is_socket", False):
                kind = DEVICE
            else:
                kind = FILE
            size = int(f.uncompressed or 0) if kind == FILE else 0
            out.append(Member(checked_name(self.path, f.filename), kind, size, -1, f))
        return out

    def extract(self, members: list[Member], make_writer: Any) -> None:
        """Decode ``members``; py7zr writes each through ``make_writer(member)`` (an object
        with ``write(bytes)`` and ``close()``)."""
        py7zr = self._mod
        from py7zr.helpers import get_sanitized_output_path  # type: ignore[import-not-found]
        from py7zr.io import Py7zIO, WriterFactory  # type: ignore[import-not-found]

        by_name: dict[str, Member] = {}
        for m in members:
            by_name[m.name] = m
            by_name[get_sanitized_output_path(m.name, None).as_posix()] = m

        class _IO(Py7zIO):  # type: ignore[misc]
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

        class _Factory(WriterFactory):  # type: ignore[misc]
            def create(self, filename: str) -> Py7zIO:
                return _IO(by_name[filename])

        try:
            self._z.reset()
            self._z.extract(targets=[m.name for m in members], factory=_Factory())
        except (
            py7zr.exceptions.ArchiveError,
            py7zr.exceptions.CrcError,
            py7zr.exceptions.DecompressionError,
            py7zr.exceptions.UnsupportedCompressionMethodError,
            EOFError,
            ValueError,
            lzma.LZMAError,
            zlib.error,
        ) as exc:
            raise _corrupt(self.path, SEVEN_Z, exc) from exc


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
