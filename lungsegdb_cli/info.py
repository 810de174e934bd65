"""``lungsegdb info``: the dataset card and the local state, as one dictionary."""

from __future__ import annotations

from typing import Any

from lungsegdb_cli import commit, dataset, manifest, provenance
from lungsegdb_cli.paths import DataPaths

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


def local_archive(paths: DataPaths) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(archive, provenance): the kept archive as recorded, if it still exists."""
    record = provenance.read(paths.provenance)
    path = provenance.archive_path(record, paths.root)
    if record is None or path is None or not path.is_file():  # any size: verify says "differs"
        return None, record
    archive = {"path": str(path), "sha256": record.get("sha256"), "size": path.stat().st_size}
    if record.get("md5"):
        archive["md5"] = record["md5"]
    return archive, record


def collect(paths: DataPaths) -> dict[str, Any]:
    """The ``info --json`` document (contract keys plus ``dataset`` and ``provenance``).

    Read as one generation of the data dir (the generation lock, shared)."""
    if paths.state_dir.is_dir():
        with commit.reading(paths):
            return _collect(paths)
    return _collect(paths)


def _collect(paths: DataPaths) -> dict[str, Any]:
    archive, record = local_archive(paths)
    manifest_path = paths.manifest if paths.manifest.is_file() else None
    tree = paths.dataset_dir.is_dir()
    if tree and manifest_path is not None:
        state = STATE_EXTRACTED
    elif tree:
        state = STATE_UNMANAGED
    elif archive is not None:
        state = STATE_DOWNLOADED
    else:
        state = STATE_EMPTY
    made_from = manifest.tree_archive(paths) if manifest_path is not None else None
    return {
        "data_dir": str(paths.root),
        "dataset_dir": str(paths.dataset_dir),
        "source": {"url": dataset.DRIVE_URL, "drive_id": dataset.DRIVE_ID},
        "archive": archive,
        "manifest": str(manifest_path) if manifest_path is not None else None,
        "state": state,
        # The archive's SHA-256 as recorded at download: paste it as the CI pin
        # (LUNGSEGDB_SHA256) and use it as the cache key. Kept even if the archive is not.
        "pin": str(record["sha256"]).lower() if record and record.get("sha256") else None,
        # The SHA-256 of the archive the tree was extracted from (None: not known).
        "tree_archive_sha256": None if made_from == manifest.UNRECORDED else made_from,
        "provenance": record,
        "dataset": dataset_card(),
    }
