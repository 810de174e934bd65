"""Where the documented tree sits inside an archive, and what each member becomes.

An archive may hold the tree at the top level, under ``LungSegDB/``, under any wrapper folder,
with its folders spelled ``Preprocessed_Data``, ``RAW DATA``, ``ct_images`` ... A file belongs
to the tree when its three parent folders are a variant, a version and a kind (as
:mod:`lungsegdb_cli.dataset.card` recognises them, in that order) and it is a TIFF; it is then
placed
at ``<variant>/<version>/<kind>/<name>`` under the documented names. Everything else is skipped:
OS junk silently (counted), other files with a reason.

If two archive folders map onto the same documented leaf (two copies of the tree), the first
one met wins and the other's files are skipped (reason ``duplicate-tree``).

Paths are also screened for safety here (:func:`unsafe_reason`): absolute paths and ``..``
are refused whatever folder they are in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lungsegdb_cli.dataset import card as dataset

_SEP = re.compile(r"[\\/]")
_DRIVE = re.compile(r"^[A-Za-z]:")

#: How many skipped files are listed by name (the count is always exact).
MAX_LISTED = 200

# Reasons a file is not extracted.
OUTSIDE_TREE = "outside-tree"
NOT_TIFF = "not-tiff"
DUPLICATE = "duplicate"
DUPLICATE_TREE = "duplicate-tree"


def split(name: str) -> list[str]:
    """The path components of an archive member name (``/`` or ``\\``; ``.`` and empty
    parts dropped)."""
    return [p for p in _SEP.split(name) if p not in ("", ".")]


def unsafe_reason(name: str) -> str | None:
    """Why extracting a member called ``name`` would be unsafe, or None."""
    if "\x00" in name:
        return "a NUL byte in its name"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "an absolute path"
    if any(p == ".." for p in _SEP.split(name)):
        return "a '..' component (path traversal)"
    return None


@dataclass
class TreeMapper:
    """Decides, member by member, where a file of the archive goes in the documented tree.

    Feed it every member with :meth:`decide`; afterwards read :attr:`mapped`,
    :attr:`skipped`, :attr:`junk`, :meth:`missing` and :meth:`top_level`.
    """

    #: archive leaf folder (as spelled in the archive) -> documented leaf folder
    mapped: dict[str, str] = field(default_factory=dict)
    #: up to MAX_LISTED ``{"path", "reason"}`` of skipped non-junk files
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    junk: int = 0
    _owner: dict[str, str] = field(default_factory=dict)  # documented leaf -> archive folder
    _dests: set[str] = field(default_factory=set)
    _top: dict[str, bool] = field(default_factory=dict)  # top-level name -> is a folder
    _leaf_of: dict[str, str | None] = field(default_factory=dict)  # folder -> leaf (a cache)

    def decide(self, name: str, *, is_dir: bool = False) -> str | None:
        """The destination (relative to the LungSegDB folder, with ``/``) of a file member,
        or None if it is not extracted. Directories only feed the top-level listing."""
        parts = split(name)
        if not parts:
            return None
        junk = dataset.is_junk(name)
        if not junk:
            top = parts[0]
            self._top[top] = self._top.get(top, False) or is_dir or len(parts) > 1
        if is_dir:
            return None
        if junk:
            self.junk += 1
            return None
        if len(parts) < 4:
            self._skip(name, OUTSIDE_TREE)
            return None
        folder = "/".join(parts[:-1])
        try:
            leaf = self._leaf_of[folder]
        except KeyError:
            leaf = self._leaf_of[folder] = dataset.canonical_leaf(parts[-4], parts[-3], parts[-2])
        if leaf is None:
            self._skip(name, OUTSIDE_TREE)
            return None
        if not dataset.is_tiff(parts[-1]):
            self._skip(name, NOT_TIFF)
            return None
        owner = self._owner.setdefault(leaf, folder)
        if owner != folder:
            self._skip(name, DUPLICATE_TREE)
            return None
        self.mapped.setdefault(folder, leaf)
        dest = f"{leaf}/{parts[-1]}"
        if dest in self._dests:
            self._skip(name, DUPLICATE)
            return None
        self._dests.add(dest)
        return dest

    def _skip(self, name: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED:
            self.skipped.append({"path": name, "reason": reason})
        return None

    @property
    def files(self) -> int:
        return len(self._dests)

    def leaves(self) -> list[str]:
        """Documented leaf folders that receive at least one file."""
        return [leaf for leaf in dataset.LEAF_DIRS if leaf in self._owner]

    def missing(self) -> list[str]:
        """Documented leaf folders that no file of the archive maps onto."""
        return [leaf for leaf in dataset.LEAF_DIRS if leaf not in self._owner]

    def top_level(self) -> list[str]:
        """The archive's top-level entries (OS junk left out), folders with a trailing ``/``."""
        return sorted(f"{name}/" if is_dir else name for name, is_dir in self._top.items())
