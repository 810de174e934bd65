"""What a data dir holds, part by part, and how much space each part takes.

The parts (``what``):

* ``tree``: the LungSegDB folder; ``manifest``: ``LungSegDB.sha256`` and its sidecar;
* ``kept-archive``: the archive ``download`` kept (``downloads/<name>``, as the provenance
  records it; else the one file in ``downloads/`` that ``extract`` takes when none is
  recorded, :func:`unrecorded_archive`);
* ``partial-download``: the tool's partial downloads ``downloads/<key>.part`` (``key``:
  ``drive-<id>`` or ``url-<12 hex digits>``) and their resume sidecars ``<key>.part.json`` (also
  one left alone);
* ``rejected-download``: ``downloads/<name>.rejected``, bytes that contradicted the pin or
  could not be extracted, moved aside -- those the tool recorded moving there
  (:mod:`lungsegdb_cli.state.rejected`);
* ``stale-staging``: what a killed run staged or moved aside (``.<name>.staging-<txid>``,
  ``.<name>.old-<txid>``) and temp files of the state folder, as recovery would delete them
  (:func:`lungsegdb_cli.state.commit.debris`);
* ``decode-cache``: ``.lungsegdb/cache/``, the summaries ``validate`` and ``stats`` reuse;
* ``state``: the rest of ``.lungsegdb/`` (provenance, locks, splits).

:func:`leftovers` lists the parts that are only ever leftovers (partial and rejected downloads,
stale staging, the decode cache): what ``lungsegdb clean`` removes, with the kept archive once
the tree verifies. A ``*.part`` or ``*.rejected`` of any other name or origin (a browser's
partial download, say, when the data dir is ``~``) is not lungsegdb's: :func:`foreign` lists
it, for ``clean`` to report as left; it is never removed nor counted. :func:`space` sums every
part, for ``lungsegdb info`` (taken without the writer lock: a run in progress has its own
``.part`` and staging there). Sizes are the files' lengths (``lstat``), symbolic links not
followed; nothing is read or written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.state import commit
from lungsegdb_cli.state.provenance import Provenance
from lungsegdb_cli.utils.fsutil import tree_size

__all__ = [
    "ARCHIVE",
    "CACHE",
    "PARTIAL",
    "REJECTED",
    "STAGING",
    "Part",
    "kept_archive",
    "leftovers",
    "space",
    "unrecorded_archive",
]

ARCHIVE = "kept-archive"
PARTIAL = "partial-download"
REJECTED = "rejected-download"
STAGING = "stale-staging"
CACHE = "decode-cache"

_PART_SUFFIXES = (".part", ".part.json")
_REJECTED_SUFFIX = ".rejected"


#: The names of the partial downloads the tool writes (``downloads/<key>.part``, the key of
#: :func:`lungsegdb_cli.sources.drive.links.resolve_source`: ``drive-<Drive file id>`` or
#: ``url-<first 12 hex digits of the URL's SHA-256>``) and of their resume sidecars
#: (``<key>.part.json``). A ``*.part`` of any other name (a browser's, another tool's) is not
#: ours: never resumed over, never removed.
_OUR_PART = re.compile(r"(?:drive-[-A-Za-z0-9_]+|url-[0-9a-f]{12})\.part(?:\.json)?", re.ASCII)


def is_our_part(name: str) -> bool:
    """``name`` is one lungsegdb gives a partial download or its resume sidecar."""
    return _OUR_PART.fullmatch(name) is not None


@dataclass(frozen=True)
class Part:
    """One removable thing in the data dir: its path, its size in bytes, what it is."""

    path: Path
    bytes: int
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "what": self.what}


def _downloads(paths: DataPaths) -> list[Path]:
    try:
        return sorted(p for p in paths.downloads_dir.iterdir() if not p.is_symlink())
    except OSError:
        return []


def leftovers(paths: DataPaths) -> list[Part]:
    """Partial and rejected downloads, stale staging and the decode cache, in that order
    (each sorted by path). Call under the writer lock, so no live writer's files are listed."""
    from lungsegdb_cli.state import rejected

    found: list[Part] = []
    downloads = _downloads(paths)
    for p in downloads:
        if is_our_part(p.name) and p.is_file():
            found.append(Part(p, tree_size(p), PARTIAL))
    known = rejected.recorded(paths)
    for p in downloads:
        if p.name.endswith(_REJECTED_SUFFIX) and rejected.is_ours(paths, p, known):
            found.append(Part(p, tree_size(p), REJECTED))
    found += [Part(p, tree_size(p), STAGING) for p in sorted(commit.debris(paths))]
    if paths.cache_dir.is_dir() and not paths.cache_dir.is_symlink():
        found.append(Part(paths.cache_dir, tree_size(paths.cache_dir), CACHE))
    return found


#: why a ``*.part`` / ``*.rejected`` that is not the tool's is left (``clean``'s ``kept``)
NOT_OURS_PART = (
    "not a partial download lungsegdb wrote (its own are named drive-<id>.part "
    "or url-<hash>.part); left as it is"
)
NOT_OURS_REJECTED = "not recorded as moved aside by lungsegdb; left as it is"


def foreign(paths: DataPaths) -> list[tuple[Part, str]]:
    """Files in ``downloads/`` that look like leftovers (``*.part``, ``*.part.json``,
    ``*.rejected``) but that lungsegdb did not write, each with why it is left."""
    from lungsegdb_cli.state import rejected

    out: list[tuple[Part, str]] = []
    known = rejected.recorded(paths)
    for p in _downloads(paths):
        if not p.is_file():
            continue
        if p.name.endswith(_PART_SUFFIXES) and not is_our_part(p.name):
            out.append((Part(p, tree_size(p), PARTIAL), NOT_OURS_PART))
        elif p.name.endswith(_REJECTED_SUFFIX) and not rejected.is_ours(paths, p, known):
            out.append((Part(p, tree_size(p), REJECTED), NOT_OURS_REJECTED))
    return out


def kept_archive(paths: DataPaths) -> Path | None:
    """The archive ``download`` fetched and kept in this data dir (``downloads/``, as the
    provenance records it), if it is there; None otherwise (none kept, a record that cannot be
    read, or the user's own file given with ``--archive FILE``, wherever it lies)."""
    record = Provenance.read(paths.provenance)
    if record is None:
        return None
    return record.owned_archive(paths.root, paths.downloads_dir)


def users_archive(paths: DataPaths) -> Path | None:
    """The user's own archive (``--archive FILE``) when it lies in the data dir: counted as
    the kept archive by :func:`space`, never removed."""
    record = Provenance.read(paths.provenance)
    if record is None or record.fetched:
        return None
    kept = record.kept_archive(paths.root)
    if kept is None:
        return None
    try:
        Path(os.path.abspath(kept)).relative_to(os.path.abspath(paths.root))
    except ValueError:
        return None
    return kept


#: why an archive in ``downloads/`` no record names is left (``clean``'s ``kept``)
NOT_RECORDED_ARCHIVE = (
    "not recorded as an archive lungsegdb downloaded (the one file in downloads/, which "
    "'extract' takes when none is recorded): left as it is"
)


def unrecorded_archive(paths: DataPaths) -> Path | None:
    """The archive ``extract`` took from ``downloads/`` when the provenance records none there
    (docs/extract.md step 1: the single file, hidden files and ``*.part``, ``*.part.json``,
    ``*.rejected`` aside: :func:`archive_candidates`), or None: none, several, the provenance
    names the kept archive (:func:`kept_archive`, :func:`users_archive`), or nothing was
    extracted here (no manifest: a file in a folder lungsegdb never used is just a file).
    Counted as the kept archive by :func:`space`; ``clean`` never removes it."""
    if kept_archive(paths) is not None or users_archive(paths) is not None:
        return None
    if not paths.manifest.is_file():  # nothing was extracted here: a file is just a file
        return None
    found = archive_candidates(paths)
    return found[0] if len(found) == 1 else None


def archive_candidates(paths: DataPaths) -> list[Path]:
    """The files in ``downloads/`` that may be an archive to extract, sorted: hidden files and
    partial (``*.part``, ``*.part.json``) or rejected (``*.rejected``) downloads aside; none
    if the folder cannot be listed. ``extract`` without ``--archive`` takes the one there is
    (:func:`lungsegdb_cli.archive.extract.archive_to_extract`)."""
    try:
        return sorted(
            p
            for p in paths.downloads_dir.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and not p.name.endswith((*_PART_SUFFIXES, _REJECTED_SUFFIX))
        )
    except OSError:
        return []


def space(paths: DataPaths) -> dict[str, int]:
    """Bytes per part of the data dir (see the module docstring), and ``total``: ``tree``,
    ``manifest``, ``kept-archive``, ``partial-download``, ``rejected-download``,
    ``stale-staging``, ``decode-cache``, ``state``. Counts what lies inside the data dir
    only: an archive given with ``--archive FILE`` from elsewhere is not. The archive in
    ``downloads/`` that ``extract`` takes when none is recorded counts as the kept archive."""
    out = {
        "tree": tree_size(paths.dataset_dir),
        "manifest": tree_size(paths.manifest) + tree_size(paths.manifest_sizes),
    }
    kept = kept_archive(paths) or users_archive(paths) or unrecorded_archive(paths)
    out[ARCHIVE] = tree_size(kept) if kept is not None else 0
    for what in (PARTIAL, REJECTED, STAGING, CACHE):
        out[what] = 0
    in_state = 0  # leftovers inside the state folder, counted above already
    for part in leftovers(paths):
        out[part.what] += part.bytes
        if paths.state_dir in part.path.parents:
            in_state += part.bytes
    state = tree_size(paths.state_dir) - in_state - tree_size(paths.manifest_sizes)
    out["state"] = max(0, state)
    out["total"] = sum(out.values())
    return out
