"""Planning an extraction: screening members for safety, the caps (:class:`Limits`), and mapping
members onto the documented tree.

Indexed archives (zip, 7z) are planned whole from their headers before anything is written
(:func:`open_plan` gives the jobs); streams (tar family, RAR) are screened member by member as
their headers arrive (:class:`StreamScreen`). The same checks run either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.archive import formats as af
from lungsegdb_cli.archive import treemap
from lungsegdb_cli.errors import ArchiveError, UnsafeArchiveError
from lungsegdb_cli.utils.units import counted

ENV_MAX_BYTES = "LUNGSEGDB_MAX_BYTES"
ENV_MAX_FILES = "LUNGSEGDB_MAX_FILES"
ENV_MAX_RATIO = "LUNGSEGDB_MAX_RATIO"

#: A file to write: the archive member and its destination relative to the LungSegDB folder.
Job = tuple[af.Member, str]


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile archive from filling the disk or the inode table."""

    #: total uncompressed bytes of all files in the archive
    max_bytes: int = 64 << 30
    #: number of members (files, folders, anything)
    max_members: int = 500_000
    #: total uncompressed bytes / archive size; only enforced past ``ratio_floor`` bytes
    max_ratio: float = 100.0
    ratio_floor: int = 64 << 20

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``LUNGSEGDB_MAX_BYTES`` / ``_MAX_FILES`` / ``_MAX_RATIO``.

        A value that is not a finite positive number of the right type (``nan``, ``inf``,
        ``0``, ``-1``, ``abc``) is a :class:`UsageError` naming the variable: a cap is never
        silently switched off.
        """
        from lungsegdb_cli.utils import envvars

        base = cls()
        return cls(
            max_bytes=envvars.positive_int(ENV_MAX_BYTES, base.max_bytes, env),
            max_members=envvars.positive_int(ENV_MAX_FILES, base.max_members, env),
            max_ratio=envvars.positive_float(ENV_MAX_RATIO, base.max_ratio, env),
            ratio_floor=base.ratio_floor,
        )


def screen(member: af.Member, archive: Path) -> None:
    """Refuse a member whose extraction would be unsafe, wherever it sits in the archive."""
    reason = treemap.unsafe_reason(member.name)
    if reason is None and member.kind in (af.SYMLINK, af.HARDLINK):
        reason = f"is a {'symbolic' if member.kind == af.SYMLINK else 'hard'} link"
    elif reason is None and member.kind == af.DEVICE:
        reason = "is a device, FIFO or other special file"
    elif reason is not None:
        reason = f"has {reason}"
    if reason is not None:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: member {member.name!r} {reason}; nothing was extracted",
            path=str(archive),
            member=member.name,
        )


def check_caps(archive: Path, members: int, total: int, packed: int, limits: Limits) -> None:
    """Refuse an archive of more than ``limits`` allow: members, bytes, compression ratio."""
    if members > limits.max_members:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: more than {counted(limits.max_members, 'member')}",
            hint=f"If this archive is genuine, raise {ENV_MAX_FILES}.",
            path=str(archive),
            members=members,
        )
    if total > limits.max_bytes:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: it unpacks to over {total:,} bytes "
            f"(cap {limits.max_bytes:,})",
            hint=f"If this archive is genuine, raise {ENV_MAX_BYTES}.",
            path=str(archive),
            bytes=total,
        )
    if total > limits.ratio_floor and total > limits.max_ratio * max(packed, 1):
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: {total:,} bytes from {packed:,} compressed "
            f"(ratio {total / max(packed, 1):.0f}, cap {limits.max_ratio:g}): a zip bomb?",
            hint=f"If this archive is genuine, raise {ENV_MAX_RATIO}.",
            path=str(archive),
            bytes=total,
            compressed=packed,
        )


def require_tree(mapper: treemap.TreeMapper, archive: Path) -> None:
    """Refuse an archive in which no file maps onto the documented tree."""
    if mapper.files:
        return
    listing = mapper.top_level()
    shown = ", ".join(listing[:30]) + (" ..." if len(listing) > 30 else "")
    raise ArchiveError(
        f"No LungSegDB tree (preprocessed data|raw data / V1|V2 / CT_Images|CT_Masks / *.TIF) "
        f"found in {archive.name}; its top level holds: {shown or '(nothing)'}",
        hint="Check that this is the LungSegDB archive; re-download it if unsure.",
        path=str(archive),
        top_level=listing,
    )


def plan(reader: af.IndexedReader, mapper: treemap.TreeMapper, limits: Limits) -> list[Job]:
    """Screen, cap and map every member from the headers: ``[(member, destination)]``."""
    archive = reader.path
    members = reader.members()
    for m in members:
        screen(m, archive)
    total = sum(m.size for m in members if m.is_file)
    check_caps(archive, len(members), total, reader.archive_size, limits)
    jobs: list[Job] = []
    for m in members:
        dest = mapper.decide(m.name, is_dir=m.kind == af.DIR)
        if dest is not None:
            jobs.append((m, dest))
    require_tree(mapper, archive)
    return jobs


class StreamScreen:
    """The checks of :func:`plan`, for a stream: one member at a time, as its header arrives.

    The caps count members and declared bytes so far; the ratio is theirs to the archive's
    size, as for an indexed archive (to the compressed bytes read so far, an archive whose
    first members compress well -- empty masks -- would look like a bomb).
    """

    def __init__(self, reader: af.StreamReader, mapper: treemap.TreeMapper, limits: Limits) -> None:
        self._reader = reader
        self.mapper = mapper
        self._limits = limits
        self._count = 0
        self._declared = 0

    def admit(self, member: af.Member) -> str | None:
        """``member``'s destination, or None if it is not extracted; raises as :func:`plan`."""
        archive = self._reader.path
        screen(member, archive)
        self._count += 1
        if member.is_file:
            self._declared += max(0, member.size)
        check_caps(archive, self._count, self._declared, self._reader.archive_size, self._limits)
        return self.mapper.decide(member.name, is_dir=member.kind == af.DIR)


@dataclass
class Plan:
    """An open archive and, for indexed formats, every member already screened, capped and
    mapped (``jobs``); streams are screened as they are read (``jobs`` is None)."""

    archive: Path
    fmt: str | None
    reader: af.ArchiveReader
    mapper: treemap.TreeMapper
    limits: Limits
    jobs: list[Job] | None


@contextlib.contextmanager
def open_plan(archive: Path, fmt: str | None, limits: Limits) -> Iterator[Plan]:
    """Open ``archive`` and plan it (indexed formats: all of it, before anything is written)."""
    mapper = treemap.TreeMapper()
    declared = af.declared_members(archive)  # a zip: its count, before its directory is read
    if declared is not None:
        check_caps(archive, declared, 0, 0, limits)
    with af.open_archive(archive, fmt) as reader:
        jobs = plan(reader, mapper, limits) if isinstance(reader, af.IndexedReader) else None
        yield Plan(archive, fmt, reader, mapper, limits, jobs)
