"""Which archive format a file is, from its magic bytes (the file name is never consulted), and
what it looks like when it is no archive at all (named in the error message)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from lungsegdb_cli.archive.base import RAR, SEVEN_Z, TAR, TAR_BZ2, TAR_GZ, TAR_XZ, ZIP
from lungsegdb_cli.errors import ArchiveError, from_os_error

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

_Opener = Callable[[Path], io.BufferedIOBase]  # GzipFile, BZ2File, LZMAFile

#: Compressed single streams that may hold a tar: (magic, format, opener, label).
_COMPRESSED: tuple[tuple[bytes, str, _Opener, str], ...] = (
    (b"\x1f\x8b", TAR_GZ, gzip.open, "gzip"),
    (b"BZh", TAR_BZ2, bz2.open, "bzip2"),
    (b"\xfd7zXZ\x00", TAR_XZ, lzma.open, "xz"),
)

_SUPPORTED = "zip, tar, tar.gz, tar.bz2, tar.xz, 7z, rar"


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


def _decompressed_head(path: Path, opener: _Opener, n: int = 512) -> bytes | None:
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


def _compressed_tar(path: Path, head: bytes) -> str | None:
    """The tar format of a gzip/bzip2/xz file, None if ``head`` is none of them; a compressed
    file that is corrupt or holds no tar is an :class:`ArchiveError`."""
    for magic, fmt, opener, label in _COMPRESSED:
        if not head.startswith(magic):
            continue
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
            hint=f"Pass the dataset's archive ({_SUPPORTED}).",
            path=str(path),
        )
    return None


def detect(path: Path) -> str:
    """The archive format of ``path`` from its magic bytes (the file name is not consulted).

    Raises :class:`ArchiveError` naming what the file actually is when it is no archive we
    know.
    """
    try:
        head = _head(path)
    except OSError as exc:
        raise from_os_error(exc, f"reading {path}") from exc
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return ZIP
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return SEVEN_Z
    if head.startswith(b"Rar!\x1a\x07"):
        return RAR
    fmt = _compressed_tar(path, head)
    if fmt is not None:
        return fmt
    if _is_tar_block(head[:512]):
        return TAR
    if zipfile.is_zipfile(path):  # a zip with something prepended (self-extracting, ...)
        return ZIP
    what = describe(head)
    raise ArchiveError(
        f"{path.name} is not an archive: it looks like {what}",
        hint=(
            "Download the archive again (lungsegdb download --force), or pass the right file "
            f"with --archive. Supported: {_SUPPORTED}."
        ),
        path=str(path),
        looks_like=what,
    )
