"""The provenance record of a downloaded archive: where it came from and its checksums.

Written by ``download`` (hashed as the bytes stream in, or from ``--archive FILE``) to
``<state>/provenance.json``, always inside a commit (:mod:`lungsegdb_cli.commit`) together with
the archive it describes; read by ``info``, ``verify`` and ``extract``. Keys: ``path``,
``size``, ``sha256``, ``md5``, ``source``, ``drive_id``, ``link``, ``tool_version``, ``time``
(UTC, ISO 8601), ``pinned`` (bool).

``path`` is relative to the data root when the archive lives in it (``downloads/...``), so a
copied or moved data dir names its own archive; an archive outside it (``--archive FILE``) is
recorded by its absolute path. A record whose fields have the wrong types is treated as absent
(corrupt state is ignored, never trusted).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lungsegdb_cli.fsutil import atomic_write_text

_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "size": (int,),
    "sha256": (str,),
    "md5": (str,),
    "source": (str,),
    "final_url": (str,),
    "drive_id": (str,),
    "link": (str,),
    "tool_version": (str,),
    "time": (str,),
    "pinned": (bool,),
}


def _valid(record: dict[str, Any]) -> bool:
    for key, types in _TYPES.items():
        value = record.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or (key == "size" and isinstance(value, bool)):
            return False
    sha = record.get("sha256")
    return sha is None or (len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha))


def parse(text: str | bytes) -> dict[str, Any] | None:
    """The record in ``text``, or None if it is not a valid record."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not _valid(data):
        return None
    return data


def read(path: Path) -> dict[str, Any] | None:
    """The record, or None if there is none (or it is not a valid record)."""
    from lungsegdb_cli.hashing import read_regular

    try:
        raw = read_regular(path)  # never blocks on a FIFO put in its place
    except OSError:
        return None
    return parse(raw)


def render(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write(path: Path, record: dict[str, Any]) -> None:
    """Write the record directly (tests and tools; ``download`` stages it in a commit)."""
    atomic_write_text(path, render(record).decode("utf-8"))


def record_path(archive: Path, root: Path) -> str:
    """How ``archive`` is recorded: relative to ``root`` when inside it, else absolute."""
    archive = Path(os.path.abspath(archive))
    try:
        return archive.relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        return str(archive)


def archive_path(record: dict[str, Any] | None, root: Path) -> Path | None:
    """Where the record says the archive is (resolved against ``root``), or None."""
    if not record or not isinstance(record.get("path"), str) or not record["path"]:
        return None
    path = Path(record["path"])
    return path if path.is_absolute() else Path(root) / path


def kept_archive(record: dict[str, Any] | None, root: Path) -> Path | None:
    """The archive the record names, if it is still there as a regular file of the recorded
    size (a cheap check: no bytes read)."""
    path = archive_path(record, root)
    if path is None or record is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    import stat

    if not stat.S_ISREG(st.st_mode):
        return None
    return path if record.get("size") in (None, st.st_size) else None
