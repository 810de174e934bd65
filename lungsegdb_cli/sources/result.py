"""What a ``download`` run did: :class:`DownloadResult` (the ``download --json`` document), the
archive it names (:class:`ArchiveRecord`), where it came from (:class:`SourceRecord`) and the
``action`` names. Values only: made by :mod:`lungsegdb_cli.sources.download`, read by the
command line's renderer and the training loop's :mod:`lungsegdb_cli.training.ensure`."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lungsegdb_cli._redact import redact
from lungsegdb_cli.state.provenance import Provenance

if TYPE_CHECKING:
    from lungsegdb_cli.archive.extract import ExtractResult
    from lungsegdb_cli.sources.drive.links import Source
    from lungsegdb_cli.sources.plan import Attempt

__all__ = [
    "ACTION_DOWNLOADED",
    "ACTION_KEPT",
    "ACTION_LOCAL",
    "ACTION_UP_TO_DATE",
    "ArchiveRecord",
    "DownloadResult",
    "SourceRecord",
]

ACTION_UP_TO_DATE = "up-to-date"
ACTION_DOWNLOADED = "downloaded"
ACTION_LOCAL = "local-archive"
ACTION_KEPT = "kept-archive"


@dataclass(frozen=True)
class ArchiveRecord:
    """The archive of a ``download`` run: where it is and what its provenance records."""

    path: Path
    sha256: str | None
    md5: str | None
    size: int | None

    @classmethod
    def of(cls, record: Provenance, path: Path) -> ArchiveRecord:
        return cls(path, record.sha256, record.md5, record.size)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "md5": self.md5, "size": self.size}

    def present(self) -> bool:
        """The archive is at :attr:`path`, a regular file of the recorded size (one ``stat``)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and self.size in (None, st.st_size)


@dataclass(frozen=True)
class SourceRecord:
    """Where the archive came from: the URL fetched, its Drive id and the link to open (both
    redacted, whatever they are made from)."""

    url: str | None
    drive_id: str | None
    link: str | None

    def __post_init__(self) -> None:
        for key in ("url", "link"):
            value = getattr(self, key)
            if value:
                object.__setattr__(self, key, redact(value))

    @classmethod
    def of(cls, record: Provenance) -> SourceRecord:
        return cls(record.source, record.drive_id, record.link)

    @classmethod
    def recorded(cls, record: Provenance | None, fallback: Source) -> SourceRecord:
        """The record's source, else (no record, or one without a source) ``fallback``."""
        if record is not None and (record.source or record.drive_id):
            return cls.of(record)
        return cls(fallback.url, fallback.drive_id, fallback.link)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "drive_id": self.drive_id, "link": self.link}


@dataclass
class DownloadResult:
    """What ``download`` did; :meth:`to_dict` is the contract's ``download --json`` shape."""

    dataset_dir: Path
    archive: ArchiveRecord | None
    files: int | None
    source: SourceRecord
    action: str
    extracted: bool
    pinned: bool
    manifest: str | None = None
    pin_hint: str | None = None
    waited_for_lock: bool = False
    resumed_from: int = 0
    restarts: int = 0
    retries: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    extract: ExtractResult | None = None
    #: which Drive client fetched the archive ("lungsegdb" or "gdown"; None: not fetched)
    client: str | None = None
    #: where the archive is read from during this run (a finished ``.part`` before the commit)
    read_from: Path | None = field(default=None, repr=False)
    #: whether the archive is still there after the run (None: not looked at; set by the
    #: public :func:`lungsegdb_cli.download`, False after ``--no-keep-archive``)
    archive_kept: bool | None = None
    #: every source tried this run, in order (:class:`lungsegdb_cli.sources.plan.Attempt`)
    sources: list[Attempt] = field(default_factory=list)
    #: the documented leaf folders the tree lacks (an archive holding part of the dataset);
    #: set by the public :func:`lungsegdb_cli.download` when the tree is there
    missing: list[str] = field(default_factory=list)

    @classmethod
    def of_record(
        cls,
        dataset_dir: Path,
        record: Provenance,
        action: str,
        *,
        at: Path,
        read_from: Path,
        pinned: bool,
        pin_hint: str | None,
    ) -> DownloadResult:
        """The result of a run that extracts (or keeps) the archive at ``at``, read from
        ``read_from`` during the run, that ``record`` describes (not extracted yet);
        ``pinned``: this run had a pin."""
        return cls(
            dataset_dir=dataset_dir,
            archive=ArchiveRecord.of(record, at),
            files=None,
            source=SourceRecord.of(record),
            action=action,
            extracted=False,
            pinned=pinned,
            manifest=None,
            pin_hint=pin_hint,
            read_from=read_from,
        )

    @property
    def ok(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset_dir": str(self.dataset_dir),
            "archive": self.archive.to_dict() if self.archive is not None else None,
            "files": self.files,
            "source": self.source.to_dict(),
            "action": self.action,
            "extracted": self.extracted,
            "pinned": self.pinned,
            "manifest": self.manifest,
            "pin_hint": self.pin_hint,
            "waited_for_lock": self.waited_for_lock,
            "resumed_from": self.resumed_from,
            "restarts": self.restarts,
            "retries": list(self.retries),
            "elapsed": round(self.elapsed, 3),
            "extract": self.extract.to_dict() if self.extract is not None else None,
            "client": self.client,
            "archive_kept": self.archive_kept,
            "sources": [a.to_dict() for a in self.sources],
            "missing": list(self.missing),
        }
