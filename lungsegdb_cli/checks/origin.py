"""Which archive the tree was extracted from, and whether a pin names it.

One rule, shared by ``download`` (is the tree already the pinned one?) and ``verify`` (may a
pin vouch for this tree?): a pin means the *tree*, not only an archive lying beside it. The
tree's own record is the ``archive_sha256`` its manifest's sidecar was written with, in the
same commit as the tree. A sidecar written before that field existed falls back to the
provenance of the kept archive (then both were written together by ``download``).
``extract --archive FILE`` of a file that is not the kept archive records ``null``: such a
tree matches no pin.
"""

from __future__ import annotations

from dataclasses import dataclass

from lungsegdb_cli.checks import manifest
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.state.provenance import Provenance

__all__ = ["TreeOrigin", "fix_hint", "tree_origin"]


@dataclass(frozen=True)
class TreeOrigin:
    """The SHA-256 of the archive the tree came from (None: not recorded) and where that
    was read: ``manifest`` (the sidecar) or ``provenance`` (a sidecar that predates it)."""

    sha256: str | None
    recorded_in: str

    def matches(self, pin: str) -> bool:
        """The record says the tree was extracted from the archive ``pin`` names."""
        return self.sha256 is not None and self.sha256 == pin.lower()

    def mismatch(self, pin: str) -> str:
        """Why ``pin`` does not vouch for the tree (for a problem line)."""
        if self.sha256 is None:
            return (
                "the tree's record names no archive (it was extracted from another file, or "
                "its sizes record is missing or corrupt), so the pin cannot vouch for it"
            )
        return f"the tree was extracted from another archive ({self.sha256}), not the pinned one"


def tree_origin(
    paths: DataPaths, record: Provenance | None, *, sidecar: manifest.Sidecar | None = None
) -> TreeOrigin:
    """What ``paths``' tree records it was extracted from (``record``: the provenance;
    ``sidecar``: the manifest's sidecar if the caller has read it already)."""
    made_from = (sidecar or manifest.Sidecar.read(paths)).archive
    if made_from == manifest.UNRECORDED:
        return TreeOrigin(record.pin if record is not None else None, "provenance")
    return TreeOrigin(made_from, "manifest")


def fix_hint(pin: str) -> str:
    """The command that makes the tree the pinned archive's (kept archive or a download)."""
    return (
        f"Re-extract the tree from the pinned archive: 'lungsegdb download --sha256 {pin}' "
        "(with the same --data-dir)."
    )
