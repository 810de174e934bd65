"""``lungsegdb info``: the dataset card and the local state, as one :class:`InfoResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.checks import manifest
from lungsegdb_cli.checks.localarchive import LocalArchive, local_archive
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.state import commit, parts
from lungsegdb_cli.state.provenance import Provenance

#: Local states, from nothing to a managed tree.
STATE_EMPTY = "empty"  # no tree, no archive
STATE_DOWNLOADED = "downloaded"  # archive present, no tree
STATE_EXTRACTED = "extracted"  # tree with its manifest
STATE_UNMANAGED = "unmanaged"  # a tree without a manifest (made by hand or by another tool)


def dataset_card() -> dict[str, Any]:
    return {
        "name": dataset.NAME,
        "description": dataset.DESCRIPTION,
        "sources": dict(dataset.SOURCES),
        "published_pairs": dict(dataset.PUBLISHED_PAIRS),
        "variants": list(dataset.VARIANTS),
        "versions": list(dataset.VERSIONS),
        "tree": list(dataset.LEAF_DIRS),
        "citation": dataset.CITATION,
        "licence": dataset.LICENCE,
    }


@dataclass(frozen=True)
class InfoResult:
    """What ``info`` reports; :meth:`to_dict` is the ``info --json`` document (the contract's
    keys plus ``pin``, ``tree_archive_sha256``, ``provenance``, ``space`` and ``dataset``)."""

    data_dir: Path
    dataset_dir: Path
    archive: LocalArchive | None
    manifest: Path | None
    state: str
    #: The archive's SHA-256 as recorded at download: paste it as the CI pin
    #: (LUNGSEGDB_SHA256) and use it as the cache key. Kept even if the archive is not.
    #: None when the tree's own record says it came from another file (``extract --archive``)
    pin: str | None
    #: The SHA-256 of the archive the tree was extracted from (None: not known).
    tree_archive_sha256: str | None
    provenance: Provenance | None
    #: bytes per part of the data dir (:func:`lungsegdb_cli.state.parts.space`) and ``total``
    space: dict[str, int] = field(default_factory=dict)
    #: the archive record ``<state>/provenance.json`` is there but corrupt: shown as such
    #: (``provenance_unreadable`` in JSON), never as "none kept"
    provenance_unreadable: bool = False
    #: an archive is recorded, but the tree was not extracted from it: no pin is shown
    pin_not_the_trees: bool = False

    @property
    def ok(self) -> bool:
        """True: info reports; it has nothing to fail."""
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "data_dir": str(self.data_dir),
            "dataset_dir": str(self.dataset_dir),
            "source": {"url": dataset.DRIVE_URL, "drive_id": dataset.DRIVE_ID},
            "archive": self.archive.to_dict() if self.archive is not None else None,
            "manifest": str(self.manifest) if self.manifest is not None else None,
            "state": self.state,
            "pin": self.pin,
            "tree_archive_sha256": self.tree_archive_sha256,
            "provenance": self.provenance.to_dict() if self.provenance is not None else None,
            "space": dict(self.space),
            "provenance_unreadable": self.provenance_unreadable,
            "dataset": dataset_card(),
        }


def collect(paths: DataPaths) -> InfoResult:
    """The local state of ``paths`` (``info --json`` is its :meth:`InfoResult.to_dict`).

    Read as one generation of the data dir (the generation lock, shared)."""
    if paths.state_dir.is_dir():
        with commit.reading(paths):
            return _collect(paths)
    return _collect(paths)


def _state(tree: bool, manifest_path: Path | None, archive: LocalArchive | None) -> str:
    if tree:
        return STATE_EXTRACTED if manifest_path is not None else STATE_UNMANAGED
    return STATE_DOWNLOADED if archive is not None else STATE_EMPTY


def _collect(paths: DataPaths) -> InfoResult:
    from lungsegdb_cli.errors import ProvenanceCorrupt

    unreadable = False
    try:
        archive, record = local_archive(paths)
    except ProvenanceCorrupt:  # info only displays: it says so instead of failing
        archive, record, unreadable = None, None, True
    manifest_path = paths.manifest if paths.manifest.is_file() else None
    made_from = manifest.tree_archive(paths) if manifest_path is not None else None
    pin = record.pin if record is not None else None
    # the pin vouches for the tree only if the tree's record names that archive: after
    # `extract --archive OTHER` (recorded as not known) or from another archive, it is no pin
    not_its_source = manifest_path is not None and made_from not in (manifest.UNRECORDED, pin)
    return InfoResult(
        data_dir=paths.root,
        dataset_dir=paths.dataset_dir,
        archive=archive,
        manifest=manifest_path,
        state=_state(paths.dataset_dir.is_dir(), manifest_path, archive),
        pin=None if not_its_source else pin,
        pin_not_the_trees=not_its_source and pin is not None,
        tree_archive_sha256=None if made_from == manifest.UNRECORDED else made_from,
        provenance=record,
        space=parts.space(paths),
        provenance_unreadable=unreadable,
    )
