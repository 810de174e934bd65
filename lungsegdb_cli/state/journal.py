"""The commit journal: what a commit will rename, written durably at the commit point.

``<state>/journal.json`` (version 1): ``{"version", "txid", "state": "committed"|"applied",
"ops": [{"op": "put"|"remove", "final", "staged", "aside"}]}``, paths relative to the data
root. The commit writes :meth:`Journal.to_json` with the one atomic writer
(:func:`lungsegdb_cli.utils.fsutil.write_atomically`, ``durable``: temp file, ``fsync``,
``rename``, ``fsync`` of the folder; mode 0o644 less the umask), and it is read without
blocking; one that does not parse (nested too deep or holding a lone surrogate included,
see :mod:`lungsegdb_cli.utils.statejson`), or names a path outside the data root, is
:class:`~lungsegdb_cli.errors.CheckFailed` and never acted on. See
:mod:`lungsegdb_cli.state.commit`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.utils.statejson import loads

ENV_SYNC = "LUNGSEGDB_SYNC"
JOURNAL_VERSION = 1
COMMITTED = "committed"
APPLIED = "applied"


@dataclass(frozen=True)
class Op:
    """One step of a commit. ``put``: ``staged`` replaces ``final``; ``remove``: ``final``
    goes. Paths are relative to the data root, with ``/``."""

    kind: str
    final: str
    staged: str | None
    aside: str

    def to_dict(self) -> dict[str, str | None]:
        return {"op": self.kind, "final": self.final, "staged": self.staged, "aside": self.aside}


@dataclass
class Journal:
    txid: str
    state: str
    ops: list[Op] = field(default_factory=list)

    def to_json(self) -> str:
        doc = {
            "version": JOURNAL_VERSION,
            "txid": self.txid,
            "state": self.state,
            "ops": [op.to_dict() for op in self.ops],
        }
        return json.dumps(doc, indent=1) + "\n"


def _safe_rel(value: object) -> str:
    if not isinstance(value, str) or not value or value.startswith("/") or "\\" in value:
        raise ValueError(value)
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\0" in value:
        raise ValueError(value)
    return value


def parse_journal(text: str) -> Journal:
    doc = loads(text)
    if not isinstance(doc, dict) or doc.get("version") != JOURNAL_VERSION:
        raise ValueError("not a version-1 journal")
    state = doc.get("state")
    txid = doc.get("txid")
    if state not in (COMMITTED, APPLIED) or not isinstance(txid, str):
        raise ValueError("bad state")
    ops = []
    for raw in doc.get("ops") or []:
        if not isinstance(raw, dict) or raw.get("op") not in ("put", "remove"):
            raise ValueError("bad op")
        staged = raw.get("staged")
        ops.append(
            Op(
                kind=raw["op"],
                final=_safe_rel(raw.get("final")),
                staged=None if staged is None else _safe_rel(staged),
                aside=_safe_rel(raw.get("aside")),
            )
        )
        if ops[-1].kind == "put" and staged is None:
            raise ValueError("put without staged")
    return Journal(txid=txid, state=state, ops=ops)


def read_journal(paths: DataPaths) -> Journal | None:
    """The journal, or None if there is none. A corrupt one is :class:`CheckFailed` (exit 1):
    it is written atomically, so it was changed by hand and the data dir cannot be trusted."""
    from lungsegdb_cli.utils.hashing import read_regular

    try:
        text = read_regular(paths.journal).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:  # a FIFO, a folder, binary: never trusted
        raise _corrupt_journal(paths, exc) from exc
    try:
        return parse_journal(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise _corrupt_journal(paths, exc) from exc


def _corrupt_journal(paths: DataPaths, exc: BaseException) -> CheckFailed:
    return CheckFailed(
        f"The commit journal {paths.journal} is corrupt ({exc}); the data dir may be half-updated",
        hint=(
            f"Delete {paths.journal}, then run 'lungsegdb download --force' "
            "(or 'lungsegdb extract --force') to rebuild the tree."
        ),
        path=str(paths.journal),
    )


def sync_enabled() -> bool:
    """False when ``LUNGSEGDB_SYNC`` turns durability off (``0``, ``false``, ``no``, ``off``)."""
    return os.environ.get(ENV_SYNC, "").strip().lower() not in ("0", "false", "no", "off")


def sync_filesystem(folder: Path) -> None:
    """Flush the staged files of ``folder``'s file system to disk (``syncfs``; else ``sync``)."""
    if not sync_enabled():
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                if libc.syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            pass
    if hasattr(os, "sync"):
        os.sync()
