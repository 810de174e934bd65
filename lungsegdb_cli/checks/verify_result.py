"""What ``verify`` found: :class:`VerifyResult` and its :class:`ArchiveCheck`.

Plain typed records with their JSON shape (``to_dict``); :mod:`lungsegdb_cli.checks.verify` fills
them and re-exports both names.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ArchiveCheck:
    """The archive's check. ``sha256`` is what we computed (None with ``quick`` or when the
    file is gone); ``expected`` the pin or the recorded checksum; ``source`` says which."""

    path: str
    sha256: str | None
    expected: str | None
    ok: bool
    source: str | None  # "pin" | "provenance" | None (nothing to compare with)
    size: int | None
    expected_size: int | None
    present: bool = True
    problem: str | None = None
    #: the archive was deleted by choice after a verified extract (download
    #: --no-keep-archive): not present, and that is not a problem
    discarded: bool = False
    #: why an archive that is not ``present`` was not checked, when that is not a problem
    #: by itself (deleted or moved by hand since it was recorded)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: every field, in declaration order."""
        return asdict(self)


@dataclass
class VerifyResult:
    dataset_dir: str
    manifest: str | None
    archive: ArchiveCheck | None
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    #: Why some of ``modified`` / ``extra`` are there: symlinks (not followed) and FIFOs,
    #: devices or sockets (not read). Every path here is also in one of the lists above.
    symlinks: list[str] = field(default_factory=list)
    not_regular: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    quick: bool = False
    #: ``--quick`` compared sizes (False: no usable sizes record, only presence and extras)
    sizes_checked: bool = True
    #: the SHA-256 of the archive the tree was extracted from, as its manifest records it
    tree_archive_sha256: str | None = None
    #: set when a pin names another archive than the one the tree was extracted from
    tree_problem: str | None = None
    #: what to run then (the command that re-extracts the tree from the pinned archive)
    tree_hint: str | None = None

    @property
    def files_ok(self) -> bool:
        return not (self.missing or self.modified or self.extra)

    @property
    def ok(self) -> bool:
        archive_ok = self.archive is None or self.archive.ok
        return self.files_ok and archive_ok and self.tree_problem is None

    def problems(self) -> Iterator[tuple[str, str]]:
        """``(kind, path)`` for every problem: archive first, then missing, modified, extra.
        A modified file that is a symlink or not a regular file has kind ``symlink`` or
        ``not-a-regular-file`` instead of ``modified``."""
        if self.archive is not None and not self.archive.ok:
            yield "archive", self.archive.path
        if self.tree_problem is not None:
            yield "tree-record", self.tree_problem
        links, special = set(self.symlinks), set(self.not_regular)
        for p in self.missing:
            yield "missing", p
        for p in self.modified:
            kind = "symlink" if p in links else "not-a-regular-file" if p in special else "modified"
            yield kind, p
        for p in self.extra:
            yield "extra", p

    @property
    def problem_count(self) -> int:
        bad_archive = self.archive is not None and not self.archive.ok
        bad_record = self.tree_problem is not None
        files = len(self.missing) + len(self.modified) + len(self.extra)
        return files + int(bad_archive) + int(bad_record)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "quick": self.quick,
            "sizes_checked": self.sizes_checked,
            "dataset_dir": self.dataset_dir,
            "manifest": self.manifest,
            "archive": self.archive.to_dict() if self.archive is not None else None,
            "files": {
                "checked": self.checked,
                "ok": self.files_ok,
                "missing": self.missing,
                "modified": self.modified,
                "extra": self.extra,
                "symlinks": self.symlinks,
                "not_regular": self.not_regular,
            },
            "tree": {
                "archive_sha256": self.tree_archive_sha256,
                "problem": self.tree_problem,
                "hint": self.tree_hint,
            },
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }
