"""The per-file manifest of an extracted tree.

Two files, written together by extraction:

* ``<root>/LungSegDB.sha256``: ``sha256sum -c`` format (``<hex>  <path>``), paths relative to
  the LungSegDB folder with ``/``, sorted. ``cd LungSegDB && sha256sum -c ../LungSegDB.sha256``
  checks it with coreutils alone.
* ``<root>/.lungsegdb/manifest-sizes.json``: ``{"version": 1, "files": {path: size}}`` for
  ``verify --quick``.

Names with a newline or a backslash are written in coreutils' escaped form (a leading ``\\``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.fsutil import atomic_write_text
from lungsegdb_cli.paths import DataPaths


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the LungSegDB folder, with "/"
    sha256: str
    size: int


def _escape(path: str) -> tuple[str, str]:
    if "\\" in path or "\n" in path or "\r" in path:
        return "\\", path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "", path


def _unescape(path: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(path):
        c = path[i]
        if c == "\\" and i + 1 < len(path):
            nxt = path[i + 1]
            out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def format_lines(entries: Iterable[Entry]) -> str:
    lines = []
    for e in sorted(entries, key=lambda e: e.path):
        prefix, name = _escape(e.path)
        lines.append(f"{prefix}{e.sha256}  {name}\n")
    return "".join(lines)


def write(paths: DataPaths, entries: Iterable[Entry]) -> Path:
    """Write both manifest files atomically (sizes first); return the ``.sha256`` path."""
    items = sorted(entries, key=lambda e: e.path)
    paths.ensure_state_dir()
    atomic_write_text(
        paths.manifest_sizes,
        json.dumps({"version": 1, "files": {e.path: e.size for e in items}}, sort_keys=True),
    )
    atomic_write_text(paths.manifest, format_lines(items))
    return paths.manifest


def parse(text: str) -> dict[str, str]:
    """``{path: sha256}`` from ``sha256sum`` output; raises :class:`CheckFailed` on bad lines."""
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        escaped = raw.startswith("\\")
        line = raw[1:] if escaped else raw
        digest, sep, name = line.partition("  ")
        if not sep:
            digest, sep, name = line.partition(" *")
        if not sep or len(digest) != 64:
            raise CheckFailed(
                f"Malformed manifest line {n}: {raw[:80]!r}",
                hint="Recreate it with 'lungsegdb extract --force'.",
            )
        out[_unescape(name) if escaped else name] = digest.lower()
    return out


def read(paths: DataPaths) -> list[Entry] | None:
    """The manifest's entries (sizes from the sidecar, -1 where unknown), or None if absent."""
    try:
        text = paths.manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    digests = parse(text)
    sizes = read_sizes(paths) or {}
    return [Entry(p, h, int(sizes.get(p, -1))) for p, h in digests.items()]


def read_sizes(paths: DataPaths) -> dict[str, int] | None:
    try:
        data = json.loads(paths.manifest_sizes.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): int(v) for k, v in files.items()} if isinstance(files, dict) else None


def intact(paths: DataPaths) -> list[Entry] | None:
    """The entries if the tree is complete and intact (every listed file present with its
    recorded size), else None. Reads no file contents: one ``stat`` per file."""
    try:
        entries = read(paths)
    except CheckFailed:
        return None
    if not entries:
        return None
    base = str(paths.dataset_dir)
    for e in entries:
        try:
            st = os.stat(os.path.join(base, e.path))
        except OSError:
            return None
        if e.size >= 0 and st.st_size != e.size:
            return None
    return entries


# ---------------------------------------------------------------------------------------------
# What the tree was made from (recorded in the sizes sidecar, committed with the manifest)
# ---------------------------------------------------------------------------------------------
def render(entries: Iterable[Entry], *, archive_sha256: str | None) -> tuple[bytes, bytes]:
    """The bytes of the two manifest files: ``(<root>/LungSegDB.sha256, manifest-sizes.json)``.

    The sidecar records ``archive_sha256``: the SHA-256 of the archive the tree was extracted
    from (None when it is not known, e.g. ``extract --archive FILE``), so "is the tree the one
    the pin names?" has an answer that changes only when the tree does.
    """
    items = sorted(entries, key=lambda e: e.path)
    sizes = {
        "version": 1,
        "archive_sha256": archive_sha256,
        "files": {e.path: e.size for e in items},
    }
    return (
        format_lines(items).encode("utf-8"),
        json.dumps(sizes, sort_keys=True).encode("utf-8"),
    )


#: :func:`tree_archive` when the sidecar predates the ``archive_sha256`` field.
UNRECORDED = "unrecorded"


def tree_archive(paths: DataPaths) -> str | None:
    """The SHA-256 of the archive the tree was extracted from: a hex digest, None (not
    known), or :data:`UNRECORDED` (a sidecar written before this was recorded, or none)."""
    try:
        data = json.loads(paths.manifest_sizes.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return UNRECORDED
    if not isinstance(data, dict) or "archive_sha256" not in data:
        return UNRECORDED
    value = data["archive_sha256"]
    if isinstance(value, str) and len(value) == 64:
        return value.lower()
    return None
