"""The sidecar that makes a ``.part`` file resumable: ``<part>.json`` as a typed object.

:class:`ResumeState` is what a download remembers about the bytes already in its ``.part``:
the source they came from (a resume is only allowed for the same source: its key and, when
recorded, the SHA-256 of its full URL), the validator (ETag or Last-Modified, sent back as
``If-Range``), the announced total, the server's file name and the final URL, redacted (a
signed URL's signature, user info: :mod:`lungsegdb_cli._redact`). A sidecar that is absent,
not a regular file, not JSON or holds a field of the wrong type loads as the empty state
(start afresh); it is never trusted blindly. The state only serialises itself
(:meth:`ResumeState.to_json`): the transfer that writes the ``.part`` writes its sidecar.

:func:`discard_other_parts` removes the partial downloads of other sources once a download
has committed (they would otherwise stay in ``downloads/`` forever).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from lungsegdb_cli._redact import redact, url_sha256
from lungsegdb_cli.state.parts import is_our_part  # the names of our parts, one place
from lungsegdb_cli.utils.statejson import loads

#: The largest sidecar read: anything bigger was not written by lungsegdb.
_LIMIT = 1 << 20

#: Fields whose wrong type makes the whole sidecar untrustworthy (``url`` is informative).
_CHECKED: dict[str, type] = {
    "source": str,
    "validator": str,
    "total": int,
    "filename": str,
    "source_sha256": str,
}
#: What a partial download and its sidecar are called.
PART_SUFFIX, STATE_SUFFIX = ".part", ".part.json"


def state_path(part: Path) -> Path:
    """The sidecar of ``part``: ``<part>.json`` beside it."""
    return part.with_name(part.name + ".json")


@dataclass(frozen=True)
class ResumeState:
    """What the bytes in a ``.part`` are; every field ``None`` when unknown."""

    source: str | None = None
    validator: str | None = None
    total: int | None = None
    filename: str | None = None
    url: str | None = None  # redacted
    #: the SHA-256 of the source's full URL (secrets included), never the URL itself
    source_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.url:
            object.__setattr__(self, "url", redact(self.url))

    def matches(self, source_key: str, source_sha256: str | None = None) -> bool:
        """The bytes are the source's: same key and, when both are known, the same hash of
        the full URL."""
        if self.source != source_key:
            return False
        return None in (self.source_sha256, source_sha256) or self.source_sha256 == source_sha256

    @classmethod
    def from_mapping(cls, data: object) -> ResumeState:
        """The state a decoded sidecar describes; the empty state if it is not an object or a
        checked field has the wrong type (``bool`` is no ``int`` here)."""
        if not isinstance(data, Mapping):
            return cls()
        for key, kind in _CHECKED.items():
            value = data.get(key)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                return cls()
        url = data.get("url")
        return cls(
            source=data.get("source"),
            validator=data.get("validator"),
            total=data.get("total"),
            filename=data.get("filename"),
            url=url if isinstance(url, str) else None,
            source_sha256=data.get("source_sha256"),
        )

    @classmethod
    def load(cls, part: Path) -> ResumeState:
        """The sidecar of ``part``; the empty state if it cannot be trusted (see module doc)."""
        from lungsegdb_cli.utils.hashing import read_regular

        try:
            data = loads(read_regular(state_path(part), limit=_LIMIT))
        except (OSError, ValueError):
            return cls()
        return cls.from_mapping(data)

    def to_json(self) -> str:
        """The sidecar's text (what :meth:`load` reads back); whoever writes the ``.part``
        writes it beside it, at :func:`state_path`, with the atomic writer
        (:func:`lungsegdb_cli.utils.fsutil.atomic_write_text`): a reader never sees half."""
        return json.dumps(asdict(self), sort_keys=True)


def discard_part(part: Path) -> None:
    """Remove ``part`` and its sidecar (either may be missing)."""
    part.unlink(missing_ok=True)
    state_path(part).unlink(missing_ok=True)


def resumable_offset(
    part: Path, source_key: str, state: ResumeState | None = None, url: str | None = None
) -> int:
    """Bytes of ``part`` that may be resumed for ``source_key`` (0 if none or another source;
    with ``url``, the full URL, its hash must match too when the sidecar records one).
    ``state`` is the sidecar if the caller has loaded it already."""
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        return 0
    state = ResumeState.load(part) if state is None else state
    digest = None if url is None else url_sha256(url)
    return size if state.matches(source_key, digest) else 0


def discard_other_parts(downloads: Path) -> list[str]:
    """Remove every partial download of ours in ``downloads`` (``<key>.part`` and their
    sidecars, also a sidecar left alone: :func:`is_our_part`; any other ``*.part`` is left);
    the names of the parts removed. Run once a download committed (its
    own part is the kept archive by then), under the writer lock: no other download of this
    data dir is running."""
    removed: list[str] = []
    try:
        names = sorted(p.name for p in downloads.iterdir())
    except OSError:
        return removed
    for name in names:
        if not is_our_part(name):
            continue
        try:
            (downloads / name).unlink()
        except OSError:  # gone meanwhile, a folder, not permitted: left as it is
            continue
        if name.endswith(PART_SUFFIX):
            removed.append(name)
    return removed
