"""The decode cache shared by ``validate`` and ``stats``.

One file per tree under ``paths.cache_dir`` (``decode-<tree folder name>.json.gz``) maps each
file's relative path to ``(size, mtime_ns, summary)``. A summary is reused only when size and
mtime are unchanged, so ``stats`` after ``validate`` on an unchanged tree decodes nothing. A
cache that cannot be read (missing, corrupt, another schema) is ignored; one that cannot be
written (read-only folder) is skipped silently: the cache only ever saves time.

The file is JSON (gzip level 1, by zlib-ng when present), never pickle: a data dir may be
shared, and loading it must not run code. It is replaced atomically (temp file +
``os.replace``), written in a thread while the caller builds its report.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import tempfile
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.tree import FileEntry
from lungsegdb_cli.tiff.decode import HIST_BINS, FileSummary
from lungsegdb_cli.utils.statejson import loads

try:  # zlib-ng: gzip-compatible; deflate ~2.5x and inflate ~1.5x as fast as the stdlib here
    from zlib_ng import gzip_ng as _gzip
    from zlib_ng import zlib_ng as _zlib

    _ZLIB_ERRORS: tuple[type[Exception], ...] = (zlib.error, _zlib.error)  # type: ignore[assignment]  # zlib_ng.pyi declares error an instance
except ImportError:  # pragma: no cover - zlib-ng is a dependency
    _gzip = gzip  # type: ignore[misc]  # the stdlib module: the same API
    _ZLIB_ERRORS = (zlib.error,)
_LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, ValueError, *_ZLIB_ERRORS)

#: Bump when :class:`FileSummary` or the way it is computed changes.
SCHEMA = 6  # 4: a mask's foreground is tiff/foreground.py's (alpha dropped, != 0); 5: NaN in a
# float mask is not lung and is a value (non-binary), float moments and histograms past 2^500;
# 6: an ImageJ stack kept after one page counts its frames as pages
ENV_DISABLE = "LUNGSEGDB_NO_CACHE"


def cache_file(paths: DataPaths) -> Path:
    return paths.cache_dir / f"decode-{paths.dataset_dir.name}.json.gz"


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _is_num(v: Any) -> bool:
    return type(v) in (int, float)


#: A check per field annotation of :class:`FileSummary`; a field whose annotation is not here
#: makes every record fail the check (the cache is then only ever a miss, never wrong).
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: type(v) is str,
    "str | None": lambda v: v is None or type(v) is str,
    "int": _is_count,
    "int | None": lambda v: v is None or _is_int(v),
    "float": _is_num,
    "float | None": lambda v: v is None or _is_num(v),
    "tuple[int, ...]": lambda v: type(v) is tuple and all(_is_count(x) for x in v),
    "tuple[float, ...] | None": lambda v: (
        v is None or (type(v) is tuple and all(_is_num(x) for x in v))
    ),
    "bytes | None": lambda v: v is None or type(v) is bytes,
    "bool": lambda v: type(v) is bool,
}
_SUMMARY_FIELDS = tuple((f.name, str(f.type)) for f in dataclasses.fields(FileSummary))


def well_typed(summary: FileSummary) -> bool:
    """True if every field of a summary read from the cache has its declared type (JSON that
    parses is not enough: a cache file may be damaged or written by something else)."""
    for name, annotation in _SUMMARY_FIELDS:
        check = _CHECKS.get(annotation)
        if check is None or not check(getattr(summary, name)):
            return False
    return summary.hist is None or len(summary.hist) == 4 * HIST_BINS


class ScanCache:
    """In-memory view of one tree's cache: look up, record, save."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old: dict[str, list[Any]] = {}
        self._new: dict[str, tuple[int, int, str]] = {}
        self.hits = 0
        self.dirty = False

    @classmethod
    def load(cls, paths: DataPaths, *, enabled: bool = True) -> ScanCache:
        """The cache of ``paths``' tree; empty if disabled, missing or unreadable (not gzip,
        not JSON, nested too deep or holding a lone surrogate: :mod:`._statejson`)."""
        if not enabled or os.environ.get(ENV_DISABLE, "") not in ("", "0"):
            return cls(None)
        path = cache_file(paths)
        cache = cls(path)
        try:
            with open(path, "rb") as fh:
                doc = loads(_gzip.decompress(fh.read()))
        except _LOAD_ERRORS:
            return cache
        if isinstance(doc, dict) and doc.get("schema") == SCHEMA:
            entries = doc.get("entries")
            if isinstance(entries, dict):
                cache._old = entries
        return cache

    @property
    def empty(self) -> bool:
        """True when nothing was loaded: every file will have to be decoded."""
        return not self._old

    def get(self, entry: FileEntry, kind: str) -> FileSummary | None:
        rec = self._old.get(entry.rel)
        if (
            not isinstance(rec, list)
            or len(rec) != 3
            or rec[0] != entry.size
            or rec[1] != entry.mtime_ns
            or not isinstance(rec[2], list)
            or not rec[2]
            or rec[2][0] != kind
        ):
            return None
        try:
            summary = FileSummary.from_json(rec[2])
        except (TypeError, ValueError):
            return None
        if not well_typed(summary):  # valid gzip + JSON, wrong types: decode the file again
            return None
        self.hits += 1
        return summary

    def put(self, entry: FileEntry, summary: FileSummary, raw: str | None = None) -> None:
        """Record ``summary``; ``raw`` is its JSON already serialised (by a worker)."""
        if self.path is None:
            return
        if raw is None:
            raw = json.dumps(summary.to_json(), separators=(",", ":"))
        self._new[entry.rel] = (entry.size, entry.mtime_ns, raw)
        self.dirty = True

    def save_in_background(self, seen: set[str], scanned_dirs: list[str]) -> Callable[[], bool]:
        """Start :meth:`save` in a thread; returns a function that waits for it (call it before
        returning to the user) and gives its result.

        Compressing and writing the cache (~45 ms for 10,000 files) then overlaps what the
        caller does next (the decode processes exiting, the report being built): zlib releases
        the GIL while it compresses.
        """
        result: list[bool] = []

        def work() -> None:
            result.append(self.save(seen, scanned_dirs))

        thread = threading.Thread(target=work, name="lungsegdb-cache-save")
        thread.start()

        def wait() -> bool:
            thread.join()
            return bool(result and result[0])

        return wait

    def save(self, seen: set[str], scanned_dirs: list[str]) -> bool:
        """Write new entries; drop old ones under ``scanned_dirs`` not in ``seen``.

        Entries of folders this run did not scan (``stats --version V1``) are kept. Returns
        False (and writes nothing) when the cache is disabled or the folder is not writable.
        """
        if self.path is None:
            return False
        prefixes = tuple(d.rstrip("/") + "/" for d in scanned_dirs)
        stale = [r for r in self._old if r.startswith(prefixes) and r not in seen]
        if not self.dirty and not stale:
            return False
        dump = json.JSONEncoder(separators=(",", ":")).encode
        drop = set(stale)
        parts = [
            f"{dump(r)}:{dump(v)}"
            for r, v in self._old.items()
            if r not in self._new and r not in drop
        ]
        parts += [
            f"{dump(r)}:[{size},{mtime},{raw}]" for r, (size, mtime, raw) in self._new.items()
        ]
        text = f'{{"schema":{SCHEMA},"entries":{{{",".join(parts)}}}}}'
        data = _gzip.compress(text.encode("utf-8"), 1, mtime=0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o644)  # mkstemp makes 0600; others sharing the dir may read
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return False
        return True
