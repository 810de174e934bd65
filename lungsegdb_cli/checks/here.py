"""What a data dir holds, looked at once per lock held (``download``'s reader's look, then its
writer's): the provenance record, the archive it names if still there, and whether the tree is
intact against its manifest (the sidecar read once: sizes and origin). Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.checks import manifest
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.state.provenance import Provenance

__all__ = ["Here", "tree_intact"]


def tree_intact(
    paths: DataPaths, sidecar: manifest.Sidecar | None = None, text: str | None = None
) -> int | None:
    """Number of files if the manifest exists and every file in it has its recorded size
    (``sidecar`` and ``text``, the manifest's: if already read)."""
    return manifest.intact_count(paths, sidecar=sidecar, text=text)


@dataclass(frozen=True)
class Here:
    """What the data dir holds, looked at once per lock held (the reader's, then the
    writer's): the record, the archive it names if still there at its recorded size, the
    files of the intact tree (None: not intact, or not asked because nothing is extracted)
    and the manifest's sidecar they were checked against (read once: sizes and origin)."""

    record: Provenance | None
    kept: Path | None
    files: int | None
    sidecar: manifest.Sidecar | None = None

    @classmethod
    def look(cls, paths: DataPaths, extract: bool, *, force: bool = False) -> Here:
        """A corrupt record is never taken for "nothing recorded" (the up-to-date check would
        vouch over it): :class:`~lungsegdb_cli.errors.ProvenanceCorrupt`, exit 1, unless
        ``force`` (``download --force`` writes the record afresh, so it is the repair)."""
        record = (Provenance.read if force else Provenance.load)(paths.provenance)
        kept = record.kept_archive(paths.root) if record is not None else None
        if not extract:
            return cls(record, kept, None)
        try:  # read once: the sidecar's binding to it and the intact check both need it
            text = manifest.read_text(paths.manifest)
        except CheckFailed:
            text = None  # corrupt: the intact check says so
        sidecar = manifest.Sidecar.read(paths, text)
        return cls(record, kept, tree_intact(paths, sidecar, text), sidecar)

    def kept_matches(self, pin: str | None, md5: str | None = None) -> bool:
        """The kept archive is here and is the pinned one (any, without a pin); with an MD5
        pin its record must name that MD5 (a record without one does not match)."""
        if self.kept is None or self.record is None:
            return False
        if md5 and (self.record.md5 or "").lower() != md5:
            return False
        return not pin or self.record.pin == pin
