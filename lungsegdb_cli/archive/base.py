"""What every archive reader shares: format and member-kind names, :class:`Member`, the reader
contract (:class:`ArchiveReader` and the three ways of reading data), and the errors.

The contract is what :mod:`lungsegdb_cli.archive.extract` relies on, and nothing more:

* :class:`ChunkReader` (zip): every member known up front (:meth:`~IndexedReader.members`),
  any member's data readable from any thread (:meth:`~ChunkReader.chunks`).
* :class:`PushReader` (7z): every member known up front; the reader pushes the data into
  writers it asks for (:meth:`~PushReader.extract`).
* :class:`StreamReader` (tar family, RAR): front to back; :meth:`~StreamReader.entries` yields
  each member with an iterator over its data.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar, runtime_checkable

from lungsegdb_cli.errors import ArchiveError, UnsafeArchiveError
from lungsegdb_cli.utils.install import extra_hint

try:  # zlib-ng: the same API as zlib, inflate about twice as fast; the stdlib is the fallback
    from zlib_ng import zlib_ng as FAST_ZLIB
except ImportError:  # pragma: no cover - zlib-ng is a dependency, but optional in spirit
    FAST_ZLIB = zlib  # type: ignore[misc]  # the stdlib module: the same API

#: Errors a decompressor raises on corrupt data (stdlib zlib and zlib-ng).
ZLIB_ERRORS: tuple[type[Exception], ...] = tuple({zlib.error, FAST_ZLIB.error})  # type: ignore[arg-type]  # zlib_ng.pyi declares error an instance

#: Read/inflate chunk: memory stays flat whatever the member size.
CHUNK = 1 << 20

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
    SEVEN_Z: extra_hint("7z", "pip install py7zr"),
    RAR: extra_hint("rar", "pip install rarfile")
    + " RAR also needs the 'unrar', 'unar' or 'bsdtar' program: e.g. apt-get install unar.",
}


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


# ---------------------------------------------------------------------------------------------
# The reader contract
# ---------------------------------------------------------------------------------------------
_R = TypeVar("_R", bound="ArchiveReader")


@runtime_checkable
class ArchiveReader(Protocol):
    """An open archive. A context manager; ``close`` releases its files."""

    path: Path
    #: the archive file's size in bytes
    archive_size: int

    @property
    def format(self) -> str:
        """One of :data:`FORMATS`."""

    @property
    def random_access(self) -> bool:
        """True if every member is known before any data is read (:class:`IndexedReader`)."""

    def close(self) -> None: ...

    def __enter__(self: _R) -> _R: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class IndexedReader(ArchiveReader, Protocol):
    """A reader that lists every member from the headers, before any data is read."""

    def members(self) -> list[Member]:
        """Every member, in archive order. Raises :class:`ArchiveError` (e.g. encrypted)."""


@runtime_checkable
class ChunkReader(IndexedReader, Protocol):
    """An indexed reader whose members can be read in any order, from any thread."""

    def chunks(self, member: Member) -> Iterator[bytes]:
        """``member``'s bytes in chunks of at most :data:`CHUNK`, checked against its header
        (size, CRC). Raises :class:`ArchiveError` / :class:`UnsafeArchiveError`."""


class Sink(Protocol):
    """Where a :class:`PushReader` writes one member: ``write`` calls, then ``close``."""

    def write(self, data: bytes | bytearray) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class PushReader(IndexedReader, Protocol):
    """An indexed reader that decodes members itself and pushes their bytes into sinks."""

    def extract(self, members: list[Member], make_writer: Callable[[Member], Sink]) -> None:
        """Decode ``members``, writing each through ``make_writer(member)``."""


@runtime_checkable
class StreamReader(ArchiveReader, Protocol):
    """A reader that goes front to back; members are only known as they arrive."""

    def entries(self) -> Iterator[tuple[Member, Iterator[bytes] | None]]:
        """Each member in archive order, with an iterator over its data (files only; else
        None). The data must be consumed before the next member is asked for."""


# ---------------------------------------------------------------------------------------------
# Shared helpers and errors
# ---------------------------------------------------------------------------------------------
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


def bounded_reads(fh: IO[bytes], path: Path, name: str, declared: int) -> Iterator[bytes]:
    """``fh`` read to its end in :data:`CHUNK` pieces; :class:`UnsafeArchiveError` as soon as
    more than ``declared`` bytes arrive (a lying header cannot fill the disk)."""
    out = 0
    while True:
        data = fh.read(CHUNK)
        if not data:
            return
        out += len(data)
        if out > declared:
            raise lying(path, name, declared)
        yield data


def corrupt(path: Path, fmt: str, detail: object) -> ArchiveError:
    """The archive's data cannot be read: exit 4."""
    return ArchiveError(
        f"The {fmt} archive {path.name} is corrupt or truncated: {detail}",
        path=str(path),
        format=fmt,
    )


def lying(path: Path, name: str, declared: int) -> UnsafeArchiveError:
    """A member grows past the size its header declares."""
    return UnsafeArchiveError(
        f"{path.name}: member {name!r} inflates past the {declared:,} bytes its header "
        "declares (a lying header, as in a zip bomb)",
        path=str(path),
        member=name,
    )


def missing_extra(path: Path, fmt: str, module: str) -> ArchiveError:
    """Reading ``fmt`` needs an optional module that is not installed."""
    return ArchiveError(
        f"{path.name} is a {fmt.upper() if fmt == RAR else fmt} archive, and reading it needs "
        f"the optional module '{module}', which is not installed",
        hint=f"{EXTRAS[fmt]} Or re-pack the archive as zip/tar.gz.",
        path=str(path),
        format=fmt,
        install=EXTRAS[fmt],
    )
