"""The provenance record of a downloaded archive: where it came from and its checksums.

Written by ``download`` (hashed as the bytes stream in, or from ``--archive FILE``) to
``<state>/provenance.json``, always inside a commit (:mod:`lungsegdb_cli.state.commit`) together
with
the archive it describes; read by ``info``, ``verify`` and ``extract``. Keys: ``path``,
``size``, ``sha256``, ``md5``, ``source``, ``final_url``, ``drive_id``, ``link``,
``tool_version``, ``time`` (UTC, ISO 8601), ``pinned`` (bool), ``client`` (which Drive client
fetched it: ``lungsegdb``, or ``gdown`` when our parser could not follow Drive's page),
``source_sha256`` (the SHA-256 of the full source URL, secrets included: the URL is recognised
by it, never stored; ``source``, ``final_url`` and ``link`` are always redacted, also when read
from a record an older version wrote, :mod:`lungsegdb_cli._redact`); and,
only once ``download --no-keep-archive`` deleted the archive after a verified extract, ``kept``
(``false``: the archive is gone by choice, ``path`` still says where it was).

``path`` is relative to the data root when the archive lives in it (``downloads/...``), so a
copied or moved data dir names its own archive; an archive outside it (``--archive FILE``) is
recorded by its absolute path. A record whose fields have the wrong types, or that is nested too
deep or holds a lone surrogate (:mod:`lungsegdb_cli.utils.statejson`), is corrupt: never trusted,
and never taken for "nothing recorded" where the record is vouched for -- :meth:`Provenance.load`
raises :class:`~lungsegdb_cli.errors.ProvenanceCorrupt` for it (``verify``, ``download``'s
up-to-date check, ``publish``, ``croissant``); :meth:`Provenance.read` (what only displays or
never deletes: ``info``, ``clean``, ``extract``) reads it as None, and
:func:`state_of` tells ``info`` it is unreadable.

Who owns the archive (:meth:`Provenance.fetched`): one the tool fetched (``link`` or ``client``
recorded: Drive, a mirror, a bucket, ``--url file://``) is the tool's, to delete with
``--no-keep-archive`` or ``clean`` when it lies in ``downloads/``; one given with ``--archive FILE``
(recorded with neither) is the user's wherever it lies, never deleted.

:class:`Provenance` is the typed record (:meth:`Provenance.read` the one reader,
:meth:`Provenance.to_json` the one writer's form); the module functions taking dictionaries
are kept for tests and tools.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli._redact import redact
from lungsegdb_cli.utils.fsutil import atomic_write_text
from lungsegdb_cli.utils.statejson import loads

#: The record's fields and the JSON types each may have (``null`` is always allowed).
_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "size": (int,),
    "sha256": (str,),
    "md5": (str,),
    "source": (str,),
    "source_sha256": (str,),
    "final_url": (str,),
    "drive_id": (str,),
    "link": (str,),
    "tool_version": (str,),
    "time": (str,),
    "pinned": (bool,),
    "client": (str,),
    "kept": (bool,),
    "name": (str,),
}

#: Fields written only when set (never as ``null``): ``kept`` exists once an archive was
#: discarded by choice (:mod:`lungsegdb_cli.sources.discard`); ``name``, the archive's own
#: name, when it is kept under another (its name was taken in ``downloads/`` by a file that is
#: not lungsegdb's: :func:`lungsegdb_cli.sources.ownership.free_name`).
OPTIONAL_FIELDS: tuple[str, ...] = ("kept", "name")

#: Every field every record has, in the order of the schema.
FIELDS: tuple[str, ...] = tuple(k for k in _TYPES if k not in OPTIONAL_FIELDS)

#: The fields holding a URL: redacted whatever a record is made from.
_URL_FIELDS: tuple[str, ...] = ("source", "final_url", "link")


def _valid(record: Mapping[str, Any]) -> bool:
    for key, types in _TYPES.items():
        value = record.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or (key == "size" and isinstance(value, bool)):
            return False
    sha = record.get("sha256")
    return sha is None or (len(sha) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha))


@dataclass(frozen=True)
class Provenance:
    """One provenance record. A field that is None is left out of the document unless it is
    in ``nulls`` (written as ``null``, as a local archive's ``drive_id`` and ``link`` are);
    keys this version does not know are kept in ``extra``, so a record reads back as written."""

    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    source: str | None = None
    source_sha256: str | None = None
    final_url: str | None = None
    drive_id: str | None = None
    link: str | None = None
    tool_version: str | None = None
    time: str | None = None
    pinned: bool | None = None
    client: str | None = None
    #: False once the archive was deleted by choice after a verified extract (None: kept)
    kept: bool | None = None
    #: the archive's own name when it is kept under another (None: ``path``'s name is it)
    name: str | None = None
    nulls: frozenset[str] = field(default=frozenset(), repr=False)
    extra: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in _URL_FIELDS:
            value = getattr(self, key)
            if value:
                object.__setattr__(self, key, redact(value))

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: object) -> Provenance | None:
        """The record ``data`` (a parsed JSON document) holds, or None if it is not one."""
        if not isinstance(data, dict) or not _valid(data):
            return None
        known = {k: data[k] for k in _TYPES if k in data}
        return cls(
            **known,
            nulls=frozenset(k for k, v in known.items() if v is None),
            extra={k: v for k, v in data.items() if k not in _TYPES},
        )

    @classmethod
    def parse(cls, text: str | bytes) -> Provenance | None:
        """The record in ``text``, or None if it is not a valid record."""
        try:
            data = loads(text)
        except ValueError:
            return None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: Path) -> Provenance | None:
        """The record at ``path``; None only if there is none (no file). A file that is there
        but is not a valid record (not JSON, wrong types, a FIFO or folder in its place, a
        state folder that is a file) raises :class:`~lungsegdb_cli.errors.ProvenanceCorrupt`
        (exit 1); any other error reading it is a :class:`~lungsegdb_cli.errors.LocalError`
        (exit 5). Never blocks."""
        from lungsegdb_cli.errors import ProvenanceCorrupt, from_os_error
        from lungsegdb_cli.utils.hashing import NotRegularFile, read_regular

        why: str
        try:
            raw = read_regular(path)
        except FileNotFoundError:
            return None
        except NotRegularFile as exc:
            why = str(exc.strerror)
        except IsADirectoryError:
            why = "a folder in its place"
        except NotADirectoryError:
            why = "the state folder is not a folder"
        except OSError as exc:
            if exc.errno == errno.EFBIG:
                why = "far larger than any record lungsegdb writes"
            else:
                raise from_os_error(exc, f"read {path}") from exc
        else:
            record = cls.parse(raw)
            if record is not None:
                return record
            why = "not a valid record (not JSON, or a field of the wrong type)"
        raise ProvenanceCorrupt(
            f"The archive record {path} is corrupt: {why}; the archive and the tree cannot be "
            "vouched for",
            path=str(path),
        )

    @classmethod
    def read(cls, path: Path) -> Provenance | None:
        """The record at ``path``, or None if there is none (or it is not a valid record:
        :meth:`load` tells the two apart). For what only displays, or never deletes on it.
        Never blocks (a FIFO put in its place is not opened for reading)."""
        from lungsegdb_cli.utils.hashing import read_regular

        try:
            raw = read_regular(path)
        except OSError:
            return None
        return cls.parse(raw)

    # -- writing ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        """The JSON document (keys sorted, as written)."""
        doc: dict[str, object] = dict(self.extra)
        for key in _TYPES:
            value = getattr(self, key)
            if value is not None or key in self.nulls:
                doc[key] = value
        return dict(sorted(doc.items()))

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    # -- what it says -----------------------------------------------------------------------
    @property
    def discarded(self) -> bool:
        """The archive was deleted by choice (``download --no-keep-archive``)."""
        return self.kept is False

    @property
    def fetched(self) -> bool:
        """The tool fetched the archive (Drive, a mirror, a bucket, ``--url``): a network
        download records its ``link`` and Drive ``client``; an archive given with ``--archive
        FILE`` records neither (written as ``null``), and is the user's wherever it lies."""
        return bool(self.link) or bool(self.client)

    def owned_archive(self, root: Path, downloads: Path) -> Path | None:
        """The kept archive if it is the tool's to delete: fetched by the tool (:attr:`fetched`)
        and lying in ``downloads``; None for the user's own file (``--archive FILE``) wherever
        it lies, and when no archive is kept."""
        kept = self.kept_archive(root)
        if kept is None or not self.fetched:
            return None
        try:
            Path(os.path.abspath(kept)).relative_to(os.path.abspath(downloads))
        except ValueError:
            return None
        return kept

    @property
    def pin(self) -> str | None:
        """The recorded SHA-256 in lower case (what a pin is compared with), or None."""
        return self.sha256.lower() if self.sha256 else None

    def archive_path(self, root: Path) -> Path | None:
        """Where the record says the archive is (resolved against ``root``), or None."""
        if not self.path:
            return None
        path = Path(self.path)
        return path if path.is_absolute() else Path(root) / path

    def kept_archive(self, root: Path) -> Path | None:
        """The archive the record names, if it is still there as a regular file of the
        recorded size (a cheap check: one ``stat``, no bytes read)."""
        path = self.archive_path(root)
        if path is None:
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return path if self.size in (None, st.st_size) else None


def state_of(path: Path) -> str:
    """``"absent"``, ``"ok"`` or ``"unreadable"`` (there but not a valid record, or it cannot
    be read): what ``info`` shows instead of failing."""
    from lungsegdb_cli.errors import LungSegDBError

    try:
        return "absent" if Provenance.load(path) is None else "ok"
    except LungSegDBError:
        return "unreadable"


def record_path(archive: Path, root: Path) -> str:
    """How ``archive`` is recorded: relative to ``root`` when inside it, else absolute."""
    archive = Path(os.path.abspath(archive))
    try:
        return archive.relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        return str(archive)


# ---------------------------------------------------------------------------------------------
# The dictionary forms (tests and tools)
# ---------------------------------------------------------------------------------------------
_Record = Provenance | Mapping[str, Any] | None


def _typed(record: _Record) -> Provenance | None:
    if record is None or isinstance(record, Provenance):
        return record
    return Provenance.from_dict(dict(record))


def read(path: Path) -> dict[str, Any] | None:
    """The record as a dictionary, or None (see :meth:`Provenance.read`)."""
    record = Provenance.read(path)
    return None if record is None else record.to_dict()


def render(record: Provenance | Mapping[str, Any]) -> bytes:
    """The file's bytes for ``record``."""
    if isinstance(record, Provenance):
        return record.to_json().encode("utf-8")
    doc = {
        k: redact(v) if k in _URL_FIELDS and isinstance(v, str) else v for k, v in record.items()
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write(path: Path, record: Provenance | Mapping[str, Any]) -> None:
    """Write the record directly (tests and tools; ``download`` stages it in a commit)."""
    atomic_write_text(path, render(record).decode("utf-8"))


def archive_path(record: _Record, root: Path) -> Path | None:
    """:meth:`Provenance.archive_path` of ``record`` (None for no record or an invalid one)."""
    typed = _typed(record)
    return None if typed is None else typed.archive_path(root)


def kept_archive(record: _Record, root: Path) -> Path | None:
    """:meth:`Provenance.kept_archive` of ``record`` (None for no record or an invalid one)."""
    typed = _typed(record)
    return None if typed is None else typed.kept_archive(root)
