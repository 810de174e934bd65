"""``download --no-keep-archive``: delete the kept archive once the tree is verified.

A CI cache of the data dir should hold the tree and its manifest, not also the ~1 GB archive
they were extracted from. :func:`discard_archive` deletes the archive ``download`` kept in
``<root>/downloads`` -- only when the tree is complete and intact (every manifest file at its
recorded size) and its manifest records that it was extracted from exactly this archive (the
recorded SHA-256) -- and records ``"kept": false`` in the provenance. Both happen at one commit
(:mod:`lungsegdb_cli.state.commit`), under the writer lock: a run killed half-way leaves either the
archive and the old record, or neither archive nor the old record.

Afterwards ``verify`` checks the tree against the manifest and reports the archive as
``discarded`` (gone by choice, not missing); ``download`` on the intact tree is still a no-op
without network, and ``info`` still shows the recorded SHA-256 (the pin).

Only an archive the tool fetched is deleted: ownership comes from the record
(:meth:`~lungsegdb_cli.state.provenance.Provenance.fetched`), not from where the file lies. An
archive given with ``download --archive FILE`` is the user's own file and is never deleted,
also when it lies in ``<root>/downloads/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli.checks import manifest
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.state import commit
from lungsegdb_cli.state.provenance import Provenance

__all__ = [
    "DELETED",
    "NOTHING",
    "NOT_OURS",
    "NOT_VERIFIED",
    "DiscardResult",
    "check_extracting",
    "discard_archive",
]

#: outcomes
DELETED = "deleted"
NOTHING = "nothing-kept"
NOT_OURS = "not-ours"
NOT_VERIFIED = "tree-not-verified"


@dataclass(frozen=True)
class DiscardResult:
    """What :func:`discard_archive` did: ``outcome`` (one of the module's constants), the
    archive's path (None: no record) and whether the record now says ``kept: false``."""

    outcome: str
    path: Path | None
    discarded: bool

    @property
    def deleted(self) -> bool:
        return self.outcome == DELETED

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "path": None if self.path is None else str(self.path),
            "discarded": self.discarded,
        }


def check_extracting(extract: bool) -> None:
    """``--no-keep-archive`` needs an extracted tree to keep: with ``--no-extract`` it would
    delete the only copy, so that combination is a :class:`UsageError` (exit 2)."""
    if not extract:
        raise UsageError(
            "--no-keep-archive with --no-extract would delete the only copy of the data",
            hint="Drop one of them: --no-extract keeps just the archive, --no-keep-archive "
            "just the tree.",
        )


def _verified(paths: DataPaths, record: Provenance) -> bool:
    """The tree is intact and was extracted from the archive ``record`` describes."""
    if manifest.intact(paths) is None:
        return False
    made_from = manifest.tree_archive(paths)
    return record.pin is not None and made_from == record.pin


def discard_archive(paths: DataPaths) -> DiscardResult:
    """Delete the kept archive of a verified tree and record that it was discarded.

    Never raises for a state it cannot act on; the result says why nothing was deleted
    (no archive kept, the user's own file or one not in ``<root>/downloads``, a tree that
    does not verify).
    Raises :class:`~lungsegdb_cli.errors.LocalError` (exit 5) when the data dir cannot be
    written.
    """
    with commit.writing(paths):
        record = Provenance.read(paths.provenance)
        if record is None:
            return DiscardResult(NOTHING, None, False)
        where = record.archive_path(paths.root)
        kept = record.kept_archive(paths.root)
        if kept is None:
            # Already gone (discarded before, or deleted by hand): nothing to delete.
            return DiscardResult(NOTHING, where, record.discarded)
        if record.owned_archive(paths.root, paths.downloads_dir) is None:
            # the user's file (--archive FILE), wherever it lies, or one outside downloads/
            return DiscardResult(NOT_OURS, kept, False)
        if not _verified(paths, record):
            return DiscardResult(NOT_VERIFIED, kept, False)
        new = dataclasses.replace(record, kept=False)
        with commit.Transaction(paths) as txn:
            txn.stage_bytes(paths.provenance, new.to_json().encode("utf-8"))
            txn.remove(kept)
            commit.checkpoint("discard staged")
            txn.commit()
        with contextlib.suppress(OSError):  # not empty (a .part, a .rejected): left as it is
            paths.downloads_dir.rmdir()
        return DiscardResult(DELETED, kept, True)
