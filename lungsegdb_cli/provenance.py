"""The provenance record of a downloaded archive: where it came from and its checksums.

Written by ``download`` (hashed as the bytes stream in, or from ``--archive FILE``) to
``<state>/provenance.json``; read by ``info`` and ``verify``. Keys: ``path``, ``size``,
``sha256``, ``md5``, ``source``, ``drive_id``, ``tool_version``, ``time`` (UTC, ISO 8601),
``pinned`` (bool).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lungsegdb_cli.fsutil import atomic_write_text


def read(path: Path) -> dict[str, Any] | None:
    """The record, or None if there is none (or it is not valid JSON, or nested too deeply
    to decode)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def write(path: Path, record: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
