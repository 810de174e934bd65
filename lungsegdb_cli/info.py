"""``lungsegdb info``: the dataset card and the local state, as one dictionary."""

from __future__ import annotations

from typing import Any

from lungsegdb_cli import dataset, provenance
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
    if not record or not record.get("path"):
        return None, record
    from pathlib import Path

    path = Path(record["path"])
    if not path.is_file():
        return None, record
    archive = {"path": str(path), "sha256": record.get("sha256"), "size": path.stat().st_size}
    if record.get("md5"):
        archive["md5"] = record["md5"]
    return archive, record


def collect(paths: DataPaths) -> dict[str, Any]:
    """The ``info --json`` document (contract keys plus ``dataset`` and ``provenance``)."""
    archive, record = local_archive(paths)
    manifest = paths.manifest if paths.manifest.is_file() else None
    tree = paths.dataset_dir.is_dir()
    if tree and manifest is not None:
        state = STATE_EXTRACTED
    elif tree:
        state = STATE_UNMANAGED
    elif archive is not None:
        state = STATE_DOWNLOADED
    else:
        state = STATE_EMPTY
    return {
        "data_dir": str(paths.root),
        "dataset_dir": str(paths.dataset_dir),
        "source": {"url": dataset.DRIVE_URL, "drive_id": dataset.DRIVE_ID},
        "archive": archive,
        "manifest": str(manifest) if manifest is not None else None,
        "state": state,
        # The archive's SHA-256 as recorded at download: paste it as the CI pin
        # (LUNGSEGDB_SHA256) and use it as the cache key. Kept even if the archive is not.
        "pin": str(record["sha256"]).lower() if record and record.get("sha256") else None,
        "provenance": record,
        "dataset": dataset_card(),
    }
