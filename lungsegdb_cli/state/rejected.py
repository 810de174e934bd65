"""The record of the files ``download`` moved aside as ``downloads/<name>.rejected``.

A rejected file is named after the archive (the server's file name, or ``LungSegDB.<ext>``),
so its name alone does not say that lungsegdb made it: a browser's or another tool's
``*.rejected`` in a folder that is also ``<data dir>/downloads`` would look the same. So every
file ``download`` moves aside (bytes that contradicted the pin, an archive that could not be
extracted) is recorded here, by name and size, in ``<state>/rejected.json``; ``clean`` removes a
``.rejected`` only when this record names it at its recorded size, and reports any other as left
(``kept``, with the reason). The record is written after the file was moved (a run killed in
between leaves an unrecorded file: left by ``clean``, never deleted by mistake), and an entry
whose file is gone is dropped on the next write.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.utils.fsutil import atomic_write_text
from lungsegdb_cli.utils.statejson import loads

__all__ = ["SUFFIX", "forget", "is_ours", "note", "recorded"]

SUFFIX = ".rejected"
_KEY = "rejected"  # {"rejected": {"<name>.rejected": <size in bytes>}}


def recorded(paths: DataPaths) -> dict[str, int]:
    """``{file name: size}`` of the rejected files the tool made (empty: none, or a record
    that cannot be read: then nothing is taken for the tool's)."""
    from lungsegdb_cli.utils.hashing import read_regular

    try:
        data = loads(read_regular(paths.rejected))
    except (OSError, ValueError):
        return {}
    names = data.get(_KEY) if isinstance(data, dict) else None
    if not isinstance(names, dict):
        return {}
    return {
        k: v
        for k, v in names.items()
        if isinstance(k, str) and type(v) is int and k.endswith(SUFFIX) and "/" not in k
    }


def _write(paths: DataPaths, names: dict[str, int]) -> None:
    live = {k: v for k, v in names.items() if (paths.downloads_dir / k).is_file()}
    if not live:
        with contextlib.suppress(OSError):
            paths.rejected.unlink()
        return
    paths.ensure_state_dir()
    atomic_write_text(
        paths.rejected, json.dumps({_KEY: dict(sorted(live.items()))}, indent=2) + "\n"
    )


def note(paths: DataPaths, moved: Path) -> None:
    """Record that the tool moved bytes aside to ``moved`` (in ``downloads/``). Best effort:
    a record that cannot be written leaves the file unrecorded, so ``clean`` leaves it."""
    try:
        size = os.lstat(moved).st_size
        _write(paths, {**recorded(paths), moved.name: size})
    except OSError:
        return


def forget(paths: DataPaths, names: list[str]) -> None:
    """Drop ``names`` (and any entry whose file is gone) from the record."""
    with contextlib.suppress(OSError):
        _write(paths, {k: v for k, v in recorded(paths).items() if k not in names})


def is_ours(paths: DataPaths, path: Path, known: dict[str, int] | None = None) -> bool:
    """``path`` is a rejected file the tool made: named in the record, at the recorded size,
    a regular file in ``downloads/``."""
    known = recorded(paths) if known is None else known
    if path.parent != paths.downloads_dir or path.name not in known:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    import stat

    return stat.S_ISREG(st.st_mode) and st.st_size == known[path.name]
