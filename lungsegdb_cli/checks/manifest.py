"""The per-file manifest of an extracted tree.

Two files, written together by extraction:

* ``<root>/LungSegDB.sha256``: ``sha256sum -c`` format (``<hex>  <path>``), paths relative to
  the LungSegDB folder with ``/``, sorted. ``cd LungSegDB && sha256sum -c ../LungSegDB.sha256``
  checks it with coreutils alone.
* ``<root>/.lungsegdb/manifest-sizes.json``: ``{"version": 1, "files": {path: size}}`` for
  ``verify --quick``; also what the tree was made from: ``archive_sha256`` and, since the
  Croissant metadata needs it, where the tree sits in that archive (:class:`ArchiveLayout`:
  ``archive_format`` and ``archive_folders``, documented leaf folder -> the archive's folder).

Names with a newline, a carriage return or a backslash are written in coreutils' escaped form
(a leading ``\\``); every other character is written raw, as ``sha256sum`` does. Lines are
split on ``\\n`` only (a CRLF file is read too), so any name round-trips exactly.

Reading is defensive: a manifest that is not UTF-8 text, or not a regular file, is
:class:`ManifestCorrupt` (exit 1); a line whose path is absolute, has a ``..``, ``.`` or empty
component or a NUL, or leads outside the tree through a symlinked folder, is
:class:`ManifestPathOutsideTree` (exit 1), and nothing outside the tree is ever opened or
``stat``-ed. A sizes sidecar that is not exactly ``{"files": {path: non-negative int}}`` is
ignored (sizes unknown).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lungsegdb_cli.dataset.card import LEAF_DIRS
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.tree import Confined, LeavesTree
from lungsegdb_cli.dataset.walk import scan_tree
from lungsegdb_cli.errors import CheckFailed, from_os_error
from lungsegdb_cli.utils import hashing
from lungsegdb_cli.utils.fsutil import atomic_write_text
from lungsegdb_cli.utils.hashing import NotRegularFile, open_regular, read_regular
from lungsegdb_cli.utils.statejson import loads

_FIX = "Recreate it with 'lungsegdb extract --force'."


class ManifestCorrupt(CheckFailed):
    """The manifest is not a text file (binary, not UTF-8, a FIFO or a device)."""

    kind = "manifest-corrupt"
    default_hint = _FIX


class ManifestPathOutsideTree(CheckFailed):
    """A manifest line names a path outside the tree; nothing was opened for it."""

    kind = "manifest-path-outside-tree"
    default_hint = (
        "The manifest was not written by lungsegdb or was tampered with: do not trust it. " + _FIX
    )


def _outside(n: int, name: str, why: str) -> ManifestPathOutsideTree:
    return ManifestPathOutsideTree(
        f"Manifest line {n} names a path outside the tree ({why}): {name[:200]!r}; "
        "nothing was read",
        line=n,
        path=name,
    )


def check_path(name: str) -> str | None:
    """Why ``name`` (a manifest path) may not be used, or None if it is a plain relative path
    below the tree: not absolute, no ``..``, ``.`` or empty component, no NUL."""
    if not name:
        return "empty path"
    if "\0" in name:
        return "NUL in the path"
    if name[0] == "/":
        return "absolute path"
    s = "/" + name + "/"
    if "/../" in s:
        return "'..' component"
    if "//" in s or "/./" in s:
        return "empty or '.' component"
    return None


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


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """``(number, line)`` as ``sha256sum -c`` reads them: split on ``\\n`` only (a path may
    hold ``\\x0c``, ``\\x85``, ``\\u2028`` ..., written raw, which ``str.splitlines`` would
    also split on), one trailing ``\\r`` dropped (a CRLF file). Written paths never end in a
    raw ``\\r``: :func:`format_lines` escapes it."""
    for n, raw in enumerate(text.split("\n"), start=1):
        yield n, raw[:-1] if raw.endswith("\r") else raw


_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def _split(raw: str) -> tuple[str, str] | None:
    """``(digest, path)`` of one manifest line (``<hex>  <path>`` or ``<hex> *<path>``, with
    coreutils' leading ``\\`` when the path is escaped), or None if it is malformed."""
    escaped = raw.startswith("\\")
    line = raw[1:] if escaped else raw
    digest, sep, name = line[:64], line[64:66], line[66:]
    if sep not in ("  ", " *") or len(digest) != 64 or not _HEXDIGITS.issuperset(digest):
        return None
    return digest, _unescape(name) if escaped else name


#: One plain line as lungsegdb and ``sha256sum`` write it: a lower-case digest, a separator,
#: a path that starts with neither ``.`` nor ``/`` (``$`` and ``.`` stop at ``\n`` only).
_PLAIN_LINE = re.compile(r"^([0-9a-f]{64}) [ *]([^./\n][^\n]{0,254})$", re.MULTILINE)
#: The longest name of one path component, and of a whole path, any file system takes (bytes):
#: a line naming longer is not a file of the tree (its path is checked line by line).
NAME_MAX, PATH_MAX = 255, 4095
#: Text that sends a manifest to the line-by-line parse: an escaped or CRLF line, a NUL, and
#: whatever could be a ``.``/``..``/empty component or a path ending in ``/``.
_NOT_PLAIN = ("\\", "\r", "\0", "/.", "//", "/\n")


def _parse_plain(text: str) -> dict[str, str] | None:
    """:func:`parse` of a manifest whose every line is plain (see :data:`_PLAIN_LINE`), in one
    regular-expression pass; None when any line is not (the caller then parses line by line,
    which finds and names the bad line). A full tree's manifest (10,000 lines) is parsed
    here in a few milliseconds: this is on the path of every ``download`` that has nothing
    to do."""
    if not text.endswith("\n") or any(bad in text for bad in _NOT_PLAIN):
        return None
    found = _PLAIN_LINE.findall(text)
    if len(found) != text.count("\n"):  # a line did not match (or was blank)
        return None
    return {name: digest for digest, name in found}


def parse(text: str) -> dict[str, str]:
    """``{path: sha256}`` from ``sha256sum`` output (lines split as :func:`_lines` says);
    raises :class:`CheckFailed` on a malformed line (no 64-hex-digit digest, no separator)
    and :class:`ManifestPathOutsideTree` on a path that is not plainly inside the tree.
    ``parse(format_lines(entries))`` gives back every entry's path exactly."""
    plain = _parse_plain(text)
    return plain if plain is not None else _parse_lines(text)


def _parse_lines(text: str) -> dict[str, str]:
    """:func:`parse`, line by line: any manifest, and the error names the bad line."""
    out: dict[str, str] = {}
    for n, raw in _lines(text):
        if not raw.strip():
            continue
        split = _split(raw)
        if split is None:
            raise CheckFailed(
                f"Malformed manifest line {n}: {raw[:80]!r}",
                hint=_FIX,
            )
        digest, name = split
        if len(name) > NAME_MAX and _too_long(name):
            raise CheckFailed(
                f"Manifest line {n} names a path too long for any file system "
                f"({len(name.encode('utf-8', 'surrogateescape')):,} bytes): {name[:80]!r}...",
                hint=_FIX,
            )
        # cheap pre-filter (every path that check_path refuses matches it), then the check
        if (
            not name
            or name[0] in "./"
            or name[-1] == "/"
            or "/." in name
            or "//" in name
            or "\0" in name
        ):
            why = check_path(name)
            if why is not None:
                raise _outside(n, name, why)
        out[name] = digest.lower()
    return out


def _too_long(name: str) -> bool:
    encoded = name.encode("utf-8", "surrogateescape")
    return len(encoded) > PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/"))


def line_of(text: str, path: str) -> int:
    """The line number of ``path`` in manifest ``text`` (0 if not found): for messages."""
    for n, raw in _lines(text):
        split = _split(raw)
        if split is not None and split[1] == path:
            return n
    return 0


def leaves_tree(text: str, path: str) -> ManifestPathOutsideTree:
    """The error for manifest ``path`` that resolves outside the tree via a symlinked folder."""
    err = _outside(line_of(text, path), path, "a symlinked folder leads outside the tree")
    err.hint = (
        "A folder of the tree is a symlink to somewhere outside it: remove the symlink, or "
        "re-extract with 'lungsegdb extract --force'."
    )
    return err


def read_text(path: Path) -> str | None:
    """The text of a manifest file, or None if absent. Never blocks (a FIFO is refused) and
    raises :class:`ManifestCorrupt` for anything but a regular UTF-8 file."""
    try:
        fd, _size = open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (NotRegularFile, IsADirectoryError) as exc:
        raise _corrupt(path, f"it is not a regular file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _corrupt(path, f"it is not UTF-8 text (byte {exc.start})") from None


def _corrupt(path: Path, why: str) -> ManifestCorrupt:
    return ManifestCorrupt(f"The manifest {path} is corrupt: {why}", path=str(path))


def read(paths: DataPaths) -> list[Entry] | None:
    """The manifest's entries (sizes from the sidecar, -1 where unknown), or None if absent."""
    text = read_text(paths.manifest)
    if text is None:
        return None
    digests = parse(text)
    sizes = read_sizes(paths) or {}
    return [Entry(p, h, sizes.get(p, -1)) for p, h in digests.items()]


def read_sizes(paths: DataPaths) -> dict[str, int] | None:
    """``{path: size}`` from the sidecar; None if it is absent or not of the documented shape
    (``{"files": {str: int >= 0}}``, other keys ignored): sizes are then unknown."""
    return Sidecar.read(paths).sizes


@dataclass(frozen=True)
class Sidecar:
    """The sizes sidecar, read and parsed once: ``sizes`` (:func:`read_sizes`) and
    ``archive`` (:func:`tree_archive`). At full scale it is 450 KB of JSON, and ``verify``
    needs both halves."""

    sizes: dict[str, int] | None
    archive: str | None

    @classmethod
    def read(cls, paths: DataPaths, manifest_text: str | None = None) -> Sidecar:
        """The sidecar of ``paths`` (never blocks: a FIFO in its place is refused). Missing
        or corrupt: no sizes and no archive (None: not known); unreadable (permission
        denied): :class:`~lungsegdb_cli.errors.LocalError`. A sidecar that records the
        manifest it was written with (``manifest_sha256``) counts only beside that manifest:
        a manifest copied in from another tree, its sidecar left, gets neither.
        ``manifest_text``: the manifest as the caller read it (it is not read again)."""
        try:
            fd, _size = open_regular(paths.manifest_sizes)
            with os.fdopen(fd, "rb") as fh:
                data = loads(fh.read())
        except PermissionError as exc:
            raise from_os_error(exc, f"read {paths.manifest_sizes}") from exc
        except (OSError, ValueError):
            return cls(None, None)
        if not isinstance(data, dict):
            return cls(None, None)
        bound = data.get("manifest_sha256")
        if bound is not None and bound != _manifest_digest(paths, manifest_text):
            return cls(None, None)
        return cls(_sizes(data.get("files")), _archive(data))


def _manifest_digest(paths: DataPaths, text: str | None) -> str | None:
    if text is not None:  # read_text decodes strict UTF-8: encoding gives the bytes back
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        return manifest_sha256(paths)
    except CheckFailed:  # a manifest that is not a file: no sidecar is its
        return None


def _sizes(files: object) -> dict[str, int] | None:
    if not isinstance(files, dict):
        return None
    for v in files.values():
        if type(v) is not int or v < 0:  # bool is an int: refused too
            return None
    return files


def _archive(data: dict[str, object]) -> str | None:
    if "archive_sha256" not in data:
        return UNRECORDED
    value = data["archive_sha256"]
    if isinstance(value, str) and len(value) == 64:
        return value.lower()
    return None


def intact(paths: DataPaths) -> list[Entry] | None:
    """The entries if the tree is complete and intact (every listed file present, a regular
    file, not a symlink, with its recorded size), else None. Reads no file contents: one
    ``lstat`` per file. A manifest that is corrupt or names a path outside the tree, or a
    sizes sidecar that is absent, corrupt or incomplete, is None too (the caller then
    re-extracts rather than trusting it); nothing outside the tree is looked at."""
    found = _intact(paths)
    if found is None:
        return None
    digests, sizes = found
    return [Entry(p, h, sizes[p]) for p, h in digests.items()]


def intact_count(
    paths: DataPaths, *, sidecar: Sidecar | None = None, text: str | None = None
) -> int | None:
    """How many files the tree has if it is :func:`intact`, else None: the same check,
    without an :class:`Entry` per file (``download`` on an intact tree needs only the
    count). ``sidecar`` and ``text`` (the manifest's): what the caller has read already."""
    found = _intact(paths, sidecar, text)
    return None if found is None else len(found[0])


def _intact(
    paths: DataPaths, sidecar: Sidecar | None = None, text: str | None = None
) -> tuple[dict[str, str], dict[str, int]] | None:
    """``({path: sha256}, {path: size})`` if the tree is intact (see :func:`intact`)."""
    try:
        text = read_text(paths.manifest) if text is None else text
        digests = parse(text) if text is not None else None
    except CheckFailed:
        return None
    if not digests:
        return None
    sizes = (sidecar or Sidecar.read(paths, text)).sizes
    if sizes is None or not digests.keys() <= sizes.keys():
        return None
    confined = Confined(paths.dataset_dir)
    bases: dict[str, str] = {}  # folder as listed -> its real path and a "/"
    lstat, is_reg = os.lstat, stat.S_ISREG
    try:
        for rel in digests:
            parent, _, name = rel.rpartition("/")
            base = bases.get(parent)
            if base is None:
                folder = confined.folder(parent)
                if folder is None:
                    return None
                base = bases[parent] = folder + "/"
            st = lstat(base + name)
            if not is_reg(st.st_mode) or st.st_size != sizes[rel]:
                return None
    except (OSError, LeavesTree):
        return None
    return digests, sizes


def entries_of(
    dataset_dir: Path,
    *,
    workers: int | None = None,
    on_bytes: hashing.ByteCallback | None = None,
) -> list[Entry]:
    """The entries of an existing tree, by hashing every regular file in it (junk, symlinks,
    FIFOs, devices and sockets excluded: extraction makes none of them), in no set order
    (:func:`render` sorts). A file that cannot be read raises
    :class:`~lungsegdb_cli.errors.LocalError` (exit 5)."""
    jobs = [
        hashing.Job(rel, dataset_dir / rel, size, False)
        for rel, size in scan_tree(dataset_dir)
        if size >= 0
    ]
    out: list[Entry] = []
    with hashing.hash_many(jobs, workers=workers, on_bytes=on_bytes) as done:
        for h in done:
            if h.error is not None:
                raise from_os_error(h.error, f"hash {h.path}")
            out.append(Entry(str(h.key), h.digest or "", h.size))
    return out


# ---------------------------------------------------------------------------------------------
# What the tree was made from (recorded in the sizes sidecar, committed with the manifest)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchiveLayout:
    """Where the tree sits in the archive it was extracted from: the archive's format
    (``zip``, ``tar.gz``, ...) and, per documented leaf folder (``raw data/V1/CT_Images``), the
    folder that holds its files in the archive, as the archive spells it
    (``LungSegDB/Raw_Data/V1/ct images``)."""

    format: str | None
    folders: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        folders = dict(sorted(self.folders.items()))
        return {"archive_format": self.format, "archive_folders": folders}


def render(
    entries: Iterable[Entry],
    *,
    archive_sha256: str | None,
    layout: ArchiveLayout | None = None,
) -> tuple[bytes, bytes]:
    """The bytes of the two manifest files: ``(<root>/LungSegDB.sha256, manifest-sizes.json)``.

    The sidecar records ``archive_sha256``: the SHA-256 of the archive the tree was extracted
    from (None when it is not known, e.g. ``extract --archive FILE``), so "is the tree the one
    the pin names?" has an answer that changes only when the tree does; and ``layout``, where
    the tree's folders sit in that archive (left out when not known).
    """
    items = sorted(entries, key=lambda e: e.path)
    lines = format_lines(items).encode("utf-8")
    sizes: dict[str, object] = {
        "version": 1,
        "archive_sha256": archive_sha256,
        # the manifest it belongs to: a manifest copied in beside it is not vouched for
        "manifest_sha256": hashlib.sha256(lines).hexdigest(),
        "files": {e.path: e.size for e in items},
    }
    if layout is not None:
        sizes.update(layout.to_dict())
    return lines, json.dumps(sizes, sort_keys=True).encode("utf-8")


#: :func:`tree_archive` when the sidecar predates the ``archive_sha256`` field.
UNRECORDED = "unrecorded"


def tree_archive(paths: DataPaths) -> str | None:
    """The SHA-256 of the archive the tree was extracted from: a hex digest, None (not
    known), or :data:`UNRECORDED` (a sidecar written before this was recorded, or none)."""
    return Sidecar.read(paths).archive


def manifest_sha256(paths: DataPaths) -> str | None:
    """The SHA-256 of the manifest's bytes, None without one; a FIFO, device or folder in its
    place is :class:`ManifestCorrupt` (exit 1), as ``verify`` says. What splits and exports
    record as the tree they were made from."""

    try:
        data = read_regular(paths.manifest)
    except FileNotFoundError:
        return None
    except (NotRegularFile, IsADirectoryError) as exc:
        raise ManifestCorrupt(
            f"The manifest {paths.manifest} is corrupt: it is {exc.strerror}",
            path=str(paths.manifest),
        ) from None
    except OSError as exc:
        raise from_os_error(exc, f"reading {paths.manifest}") from exc
    return hashlib.sha256(data).hexdigest()


def archive_layout(paths: DataPaths) -> ArchiveLayout | None:
    """Where the tree sits in the archive it was extracted from, as recorded with the manifest
    (:class:`ArchiveLayout`); None when not recorded (a sidecar written before it was, or
    none) or not of the written shape (folders: documented leaf -> a relative archive path)."""
    try:
        data = loads(read_regular(paths.manifest_sizes))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    fmt, folders = data.get("archive_format"), data.get("archive_folders")
    if not isinstance(folders, dict) or not (fmt is None or isinstance(fmt, str)):
        return None
    for leaf, folder in folders.items():
        if leaf not in LEAF_DIRS or not isinstance(folder, str) or check_path(folder) is not None:
            return None
    return ArchiveLayout(fmt, dict(folders))
