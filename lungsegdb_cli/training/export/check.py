"""``lungsegdb verify-export OUT``: does an export still match what it was made from?

It reads ``OUT/lungsegdb-export.json`` and checks, holding the data dir's generation lock
shared: the tree's manifest SHA-256 is the recorded one; the splits file it was made with
(``--split-file`` or the splits in force) still has the recorded SHA-256, and so does the copy
in OUT; every exported file exists with its recorded size (a hard link: still the same inode
as its tree file), every tree file it came from still has its recorded size and mtime, the
text files (``dataset.json``, ...) and the shards of a packed format (``hf``, ``webdataset``)
their SHA-256; nothing else was added under OUT.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.errors import CheckFailed, UsageError, from_os_error
from lungsegdb_cli.state import commit
from lungsegdb_cli.utils.hashing import read_regular
from lungsegdb_cli.utils.statejson import loads

#: Problem paths listed per kind in the result (all are counted).
SHOWN = 50

#: The record an export writes in OUT (what verify-export and --force check against).
RECORD = "lungsegdb-export.json"


@dataclass
class ExportCheckResult:
    """What ``verify-export`` found: the record's format, and every difference."""

    out: str
    format: str
    dataset_dir: str
    manifest: dict[str, Any]
    splits: dict[str, Any]
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    source_changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.manifest["ok"]
            and self.splits["ok"]
            and not (self.missing or self.changed or self.source_changed or self.extra)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "out": self.out,
            "format": self.format,
            "dataset_dir": self.dataset_dir,
            "manifest": self.manifest,
            "splits": self.splits,
            "files": {
                "checked": self.checked,
                "missing": self.missing[:SHOWN],
                "changed": self.changed[:SHOWN],
                "source_changed": self.source_changed[:SHOWN],
                "extra": self.extra[:SHOWN],
                "counts": {
                    "missing": len(self.missing),
                    "changed": len(self.changed),
                    "source_changed": len(self.source_changed),
                    "extra": len(self.extra),
                },
            },
        }


def read_record(out: Path) -> dict[str, Any]:
    """The record of the export at ``out``; none there: UsageError (exit 2); broken: exit 1."""
    where = out / RECORD
    if not out.is_dir():
        raise UsageError(
            f"No export at {out} (not a folder)", hint="Give an export's folder.", path=str(out)
        )
    try:
        raw = read_regular(where)
    except FileNotFoundError:
        raise UsageError(
            f"{out} is not a lungsegdb export (no {RECORD})",
            hint="Make one with 'lungsegdb export FORMAT OUT'.",
            path=str(out),
        ) from None
    except OSError as exc:
        raise from_os_error(exc, f"reading {where}") from exc
    try:
        doc = loads(raw)
        if not isinstance(doc, dict) or doc.get("kind") != "lungsegdb-export":
            raise ValueError("not an export record")
        if not isinstance(doc.get("files"), list) or not isinstance(doc.get("splits"), dict):
            raise ValueError("no 'files' or 'splits'")
        _check_entries(doc)
    except ValueError as exc:
        raise CheckFailed(
            f"The export record {where} cannot be read: {exc}",
            hint="Export again with --force.",
            path=str(where),
        ) from exc
    return doc


#: The fields of an entry of the record's lists, with their JSON types (as ``record_doc``
#: writes them): a record that differs was not written by lungsegdb.
_FILE_ENTRY: dict[str, type] = {
    "path": str,
    "size": int,
    "how": str,
    "ino": int,
    "mtime_ns": int,
    "source": str,
    "source_size": int,
    "source_mtime_ns": int,
}
_ENTRY_FIELDS: dict[str, dict[str, type]] = {
    "files": _FILE_ENTRY,
    "sources": _FILE_ENTRY,
    "texts": {"path": str, "sha256": str},
    "shards": {"path": str, "size": int, "sha256": str, "samples": int},
}


def _check_entries(doc: dict[str, Any]) -> None:
    """ValueError naming the first list or entry of ``doc`` not of the written shape."""
    for key, fields in _ENTRY_FIELDS.items():
        entries = doc.get(key, [])
        if not isinstance(entries, list):
            raise ValueError(f"'{key}' is not a list")
        for entry in entries:
            if not isinstance(entry, dict) or any(
                type(entry.get(name)) is not kind for name, kind in fields.items()
            ):
                raise ValueError(f"an entry of '{key}' is not of the written shape")
    path = doc["splits"].get("path")
    if path is not None and not isinstance(path, str):
        raise ValueError("'splits.path' is not a string")


def _sha256(path: Path) -> str | None:
    """The file's SHA-256; None when it is not there (or not a regular file). A file that is
    there and cannot be read is the machine's refusal: LocalError (exit 5), not "missing"."""
    try:
        return hashlib.sha256(read_regular(path)).hexdigest()
    except PermissionError as exc:
        raise from_os_error(exc, f"read {path}") from exc
    except OSError:
        return None


def _stat(path: Path, *, follow: bool = True) -> os.stat_result | None:
    try:
        return os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None


def _check_file(res: ExportCheckResult, out: Path, tree: Path, entry: dict[str, Any]) -> None:
    rel = str(entry["path"])
    src = _stat(tree / str(entry["source"]))
    if src is None or (src.st_size, src.st_mtime_ns) != (
        entry["source_size"],
        entry["source_mtime_ns"],
    ):
        res.source_changed.append(str(entry["source"]))
    if entry.get("how") == "probed":
        return
    # never followed: a file the record lists as written, copied or hard-linked must still be
    # that regular file, not a link to one somewhere else (as verify treats the tree's files)
    st = _stat(out / rel, follow=False)
    if st is None:
        res.missing.append(rel)
        return
    linked = entry.get("how") == "symlink"
    kind_ok = stat.S_ISLNK(st.st_mode) if linked else stat.S_ISREG(st.st_mode)
    same = kind_ok and st.st_size == entry["size"]
    if entry.get("how") == "hardlink":
        same = same and st.st_ino == entry["ino"] and src is not None and src.st_ino == st.st_ino
    elif linked:
        target = os.readlink(out / rel)
        same = same and os.path.exists(target) and src is not None
    else:
        same = same and st.st_mtime_ns == entry["mtime_ns"]
    if not same:
        res.changed.append(rel)


def _check_texts(res: ExportCheckResult, out: Path, doc: dict[str, Any]) -> set[str]:
    """The text files and shards against their recorded SHA-256 (shards of any size are
    hashed in blocks; one whose size already differs is not read)."""
    from lungsegdb_cli.utils.hashing import hash_file

    known = {RECORD}
    for entry in doc.get("texts", []):
        rel = str(entry["path"])
        known.add(rel)
        res.checked += 1
        digest = _sha256(out / rel)
        if digest is None:
            res.missing.append(rel)
        elif digest != entry["sha256"]:
            res.changed.append(rel)
    for entry in doc.get("shards", []):
        rel = str(entry["path"])
        known.add(rel)
        res.checked += 1
        st = _stat(out / rel, follow=False)
        if st is None or not stat.S_ISREG(st.st_mode):
            res.missing.append(rel)
            continue
        try:
            same = st.st_size == entry["size"] and (
                hash_file(out / rel, follow_symlinks=False)[0] == entry["sha256"]
            )
        except PermissionError as exc:
            raise from_os_error(exc, f"read {out / rel}") from exc
        except OSError:
            same = False
        if not same:
            res.changed.append(rel)
    return known


def foreign(folder: Path, made: Iterable[str]) -> list[str]:
    """What is under ``folder`` (relative, with ``/``, sorted) that is neither one of the paths
    ``made`` nor a folder holding one: what someone else put there. Links are not followed."""
    made = set(made)
    holders = {
        "/".join(parts[:i]) for p in made for parts in [p.split("/")] for i in range(1, len(parts))
    }
    found: list[str] = []
    todo = [""]
    while todo:
        base = todo.pop()
        try:
            entries = list(os.scandir(folder / base))
        except OSError:
            continue
        for entry in entries:
            rel = f"{base}/{entry.name}" if base else entry.name
            if rel in holders and entry.is_dir(follow_symlinks=False):
                todo.append(rel)
            elif rel not in made:
                found.append(rel)
    return sorted(found)


def _splits_now(doc: dict[str, Any]) -> dict[str, Any]:
    rec = doc["splits"]
    current = _sha256(Path(rec["path"])) if rec.get("path") else rec.get("sha256")
    return {
        "source": rec.get("source"),
        "path": rec.get("path"),
        "recorded": rec.get("sha256"),
        "current": current,
        "ok": current == rec.get("sha256"),
    }


def check(out: Path) -> ExportCheckResult:
    """Check the export at ``out`` against its record (see the module docstring)."""
    from lungsegdb_cli.checks.manifest import manifest_sha256
    from lungsegdb_cli.state.datadir import open_data_dir

    out = Path(os.path.abspath(out))
    doc = read_record(out)
    tree = Path(str(doc.get("dataset_dir", "")))
    paths = open_data_dir(tree)
    res = ExportCheckResult(
        out=str(out),
        format=str(doc.get("format")),
        dataset_dir=str(tree),
        manifest={"recorded": doc.get("manifest_sha256"), "current": None, "ok": False},
        splits=_splits_now(doc),
    )
    with commit.reading(paths):
        current = manifest_sha256(paths) if tree.is_dir() else "no tree"
        res.manifest["current"] = current
        res.manifest["ok"] = tree.is_dir() and current == doc.get("manifest_sha256")
        for entry in [*doc["files"], *doc.get("sources", [])]:
            res.checked += 1
            _check_file(res, out, tree, entry)
    known = _check_texts(res, out, doc) | {str(e["path"]) for e in doc["files"]}
    # what was added: the rule export --force applies (a file, a folder, a link to one)
    res.extra = foreign(out, known)
    return res
