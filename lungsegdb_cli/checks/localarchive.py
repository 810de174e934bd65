"""The archive the provenance names, as it is on disk now: what ``verify`` checks and ``info``
shows (its own module, so that ``verify --quick``, the CI hot path, does not import ``info``'s
report and the space accounting behind it)."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.state.provenance import Provenance

__all__ = ["LocalArchive", "local_archive"]


@dataclass(frozen=True)
class LocalArchive:
    """The archive the provenance names, as it is on disk now: ``size`` is the file's size,
    ``recorded_size`` the record's (when they differ the file is not the recorded archive and
    ``sha256`` is not its checksum: :attr:`changed`; ``verify`` says what it is)."""

    path: Path
    sha256: str | None
    size: int
    md5: str | None = None
    recorded_size: int | None = None

    @property
    def changed(self) -> bool:
        """The file is not of the recorded size: not the archive the record describes."""
        return self.recorded_size is not None and self.size != self.recorded_size

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "recorded_size": self.recorded_size,
        }
        if self.md5:
            doc["md5"] = self.md5
        return doc


def local_archive(paths: DataPaths) -> tuple[LocalArchive | None, Provenance | None]:
    """(archive, provenance): the kept archive as recorded, if it still exists as a regular
    file (of any size), and the record (None: none recorded). A record that is there but
    corrupt raises :class:`~lungsegdb_cli.errors.ProvenanceCorrupt` (exit 1): ``verify`` never
    reports OK over it (``info`` shows it as unreadable instead:
    :func:`lungsegdb_cli.checks.info.collect`)."""
    record = Provenance.load(paths.provenance)
    path = record.archive_path(paths.root) if record is not None else None
    if record is None or path is None:
        return None, record
    try:
        st = path.stat()
    except OSError:
        return None, record
    if not stat.S_ISREG(st.st_mode):
        return None, record
    return LocalArchive(path, record.sha256, st.st_size, record.md5, record.size), record
