"""Walk a LungSegDB folder: the image and mask files of each group, paired by stem.

Folder names are matched through :mod:`lungsegdb_cli.dataset.card` (``Preprocessed_Data``,
``ct_images`` and friends are accepted), OS junk is skipped, anything else that is not a TIFF
in an image or mask folder is reported. Images and masks are paired by stem, never by sort
order: ``0001.TIF`` pairs with ``0001.tif`` or ``0001.tiff``.

Nothing here opens a file; :mod:`lungsegdb_cli.tiff.decode` decodes them. Only regular files
become images or masks:

* a FIFO, device or socket is listed in :attr:`GroupScan.not_regular` (never decoded);
* a symlink is listed in :attr:`GroupScan.symlinks` with where it leads. One that stays inside
  the tree is followed (its target is paired and decoded like a file of that folder); one that
  leaves the tree, dangles or loops is never followed, so nothing outside the tree is read.
  A symlinked folder above the leaf files obeys the same rule.

:class:`Confined` resolves paths inside a tree without touching anything outside it (one
``lstat`` per component, symlinks resolved by reading the link, never by following it);
verify and the manifest use it too.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.card import Group
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed

IMAGE = "image"
MASK = "mask"


class FileEntry(NamedTuple):
    """One file of the tree: path relative to the LungSegDB folder (with ``/``), size, mtime.

    A named tuple: the scan makes one per file, and tuples are the cheapest to create."""

    rel: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]


INSIDE = "inside"
OUTSIDE = "outside"
DANGLING = "dangling"


class Link(NamedTuple):
    """A symlink met in the tree: ``rel`` (with ``/``, a folder ends in ``/``), ``where`` it
    leads (:data:`INSIDE`, :data:`OUTSIDE` or :data:`DANGLING`, a loop included) and its
    ``target`` as written in the link."""

    rel: str
    where: str
    target: str

    @property
    def leaves(self) -> bool:
        """True if the link was not followed (it leaves the tree or leads nowhere)."""
        return self.where != INSIDE


class LeavesTree(Exception):
    """A path resolves (through a symlink) outside the tree. ``rel`` is the path asked for."""

    def __init__(self, rel: str) -> None:
        super().__init__(rel)
        self.rel = rel


#: Symlinks followed while resolving one path before it counts as a loop (as in Linux).
MAX_LINKS = 40


class Confined:
    """Resolve paths relative to a tree without ever touching anything outside it.

    The root is ``realpath(dataset_dir)`` (the tree folder itself may be a symlink). Each
    component is ``lstat``-ed below the real root; a symlink is resolved by reading it
    (``readlink``) and continuing from its target *as text*, so a target outside the tree is
    recognised without being looked at: :class:`LeavesTree`. Whether a file outside exists
    therefore never changes an outcome. Folder results are cached (a tree has few folders).
    """

    def __init__(self, dataset_dir: str | os.PathLike[str]) -> None:
        self.root = os.path.realpath(dataset_dir)
        self._prefix = self.root.rstrip("/") + "/"
        self._folders: dict[str, str | None] = {"": self.root if os.path.isdir(self.root) else None}

    def _inside(self, target: str) -> list[str] | None:
        """The components of absolute ``target`` below the root, or None if outside."""
        if target == self.root:
            return []
        if target.startswith(self._prefix):
            return target[len(self._prefix) :].split("/")
        return None

    def resolve(self, rel: str) -> tuple[str, os.stat_result] | None:
        """``(real absolute path, lstat)`` of ``rel`` with every symlink (the last one too)
        followed inside the tree; None if nothing is there (absent, dangling, a loop, or a
        file where a folder should be). Raises :class:`LeavesTree` if it leads outside."""
        todo = list(reversed(rel.split("/")))
        real: list[str] = []
        st: os.stat_result | None = None
        links = 0
        while todo:
            c = todo.pop()
            if c in ("", "."):
                continue
            if c == "..":
                if not real:
                    raise LeavesTree(rel)
                real.pop()
                st = None
                continue
            if st is not None and not stat.S_ISDIR(st.st_mode):
                return None  # a file where a folder should be
            path = self._prefix + "/".join([*real, c])
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    return None
                target = os.readlink(path)
                if target.startswith("/"):
                    below = self._inside(target)
                    if below is None:
                        raise LeavesTree(rel)
                    real = []
                    todo.extend(reversed(below))
                else:
                    todo.extend(reversed(target.split("/")))
                st = None
                continue
            real.append(c)
        if st is None:  # the root itself, or a path ending in ".."
            try:
                st = os.lstat(self._prefix + "/".join(real))
            except OSError:
                return None
        return self._prefix + "/".join(real), st

    def folder(self, rel_dir: str) -> str | None:
        """Real absolute path of folder ``rel_dir`` (``""`` is the root), following symlinks
        inside the tree; None if absent or not a folder. Raises :class:`LeavesTree`."""
        try:
            return self._folders[rel_dir]
        except KeyError:
            pass
        found = self.resolve(rel_dir)
        out = found[0] if found is not None and stat.S_ISDIR(found[1].st_mode) else None
        self._folders[rel_dir] = out
        return out

    def file(self, rel: str) -> str | None:
        """Real absolute path of file ``rel``: its folder as :meth:`folder` resolves it, the
        last component not looked at (not followed, not ``lstat``-ed); None if the folder is
        absent. Raises :class:`LeavesTree` if the folder leads outside the tree."""
        parent, _, name = rel.rpartition("/")
        folder = self.folder(parent)
        return None if folder is None else f"{folder}/{name}"

    def link(self, rel: str) -> tuple[str, os.stat_result | None]:
        """Where the symlink at ``rel`` leads: ``(INSIDE, lstat of the target)``,
        ``(OUTSIDE, None)`` or ``(DANGLING, None)``; nothing outside is touched."""
        try:
            found = self.resolve(rel)
        except LeavesTree:
            return OUTSIDE, None
        return (DANGLING, None) if found is None else (INSIDE, found[1])


class Pair(NamedTuple):
    stem: str
    image: FileEntry
    mask: FileEntry


@dataclass
class GroupScan:
    """What one variant x version holds."""

    group: Group
    #: Folders found (relative paths) for the images and the masks; empty if absent.
    image_dirs: list[str] = field(default_factory=list)
    mask_dirs: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    #: Images without a mask, masks without an image.
    lone_images: list[FileEntry] = field(default_factory=list)
    lone_masks: list[FileEntry] = field(default_factory=list)
    #: Second and later files with a stem already taken in the same folder kind.
    duplicates: list[tuple[FileEntry, FileEntry]] = field(default_factory=list)
    #: Non-TIFF, non-junk entries in an image or mask folder.
    unexpected: list[FileEntry] = field(default_factory=list)
    #: FIFOs, devices and sockets (or in-tree symlinks to one) in an image or mask folder.
    not_regular: list[FileEntry] = field(default_factory=list)
    #: Every symlink met in the group's folders (and symlinked folders leading to them).
    symlinks: list[Link] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.image_dirs or self.mask_dirs)

    def jobs(self) -> list[tuple[FileEntry, str]]:
        """Every TIFF of the group once, with its kind (``image``/``mask``), pairs first."""
        out = [(f, k) for p in self.pairs for f, k in ((p.image, IMAGE), (p.mask, MASK))]
        out += [(f, IMAGE) for f in self.lone_images] + [(f, MASK) for f in self.lone_masks]
        out += [(d, kind_of(d.rel)) for d, _ in self.duplicates]
        return out

    @property
    def label(self) -> str:
        """The group's folder as found (``Preprocessed_Data/V1``), else its documented name."""
        for d in self.image_dirs + self.mask_dirs:
            return d.rsplit("/", 1)[0]
        return self.group.label


@dataclass
class TreeScan:
    dataset_dir: Path
    groups: list[GroupScan]

    @property
    def present(self) -> bool:
        return any(g.present for g in self.groups)


def natural_key(name: str) -> list[tuple[int, int, str]]:
    """Sort key: numbers compared as numbers (``2.TIF`` before ``10.TIF``), then by name."""
    head, dot, ext = name.partition(".")
    if head.isdigit():  # the usual "123.TIF": no regex
        return [(0, int(head), head), (1, 0, dot + ext)]
    return [(0, int(t), t) if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def kind_of(rel: str) -> str:
    """``image`` or ``mask`` from the folder a file sits in."""
    parts = rel.split("/")
    folder = parts[-2] if len(parts) >= 2 else ""
    return MASK if dataset.canonical_kind(folder) == dataset.MASKS_DIR else IMAGE


#: The groups a symlinked folder belongs to: (variant, version or None for all versions).
_Key = tuple[str, str | None]


class _Folders(NamedTuple):
    """What :func:`_leaf_folders` found: the leaf folders, and the symlinked folders met on
    the way (with the groups they belong to)."""

    leaves: dict[tuple[str, str, str], list[str]]
    links: list[tuple[_Key, Link]]


def _subdirs(confined: Confined, rel: str, links: dict[str, Link]) -> list[tuple[str, str]]:
    """``(name, rel path)`` of the sub-folders of folder ``rel`` (junk excluded), by name.

    A symlinked folder is followed only if it stays inside the tree; every symlink that is
    (or pretends to be) a folder is recorded in ``links`` by name."""
    try:
        where = confined.folder(rel)
        if where is None:
            return []
        with os.scandir(where) as it:
            entries = sorted((e for e in it if not dataset.is_junk(e.name)), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError, LeavesTree):
        return []
    out: list[tuple[str, str]] = []
    for e in entries:
        child = f"{rel}/{e.name}" if rel else e.name
        try:
            if e.is_symlink():
                where_to, st = confined.link(child)
                is_dir = st is not None and stat.S_ISDIR(st.st_mode)
                if is_dir or where_to != INSIDE:
                    links[e.name] = Link(child + "/", where_to, _readlink(e.path))
                if not is_dir:
                    continue
            elif not e.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        out.append((e.name, child))
    return out


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _leaf_folders(dataset_dir: Path, confined: Confined | None = None) -> _Folders:
    """(variant, version, kind) -> relative folder paths found, canonical names matched."""
    confined = confined or Confined(dataset_dir)
    found: dict[tuple[str, str, str], list[str]] = {}
    links: list[tuple[_Key, Link]] = []
    met: dict[str, Link] = {}
    for v_name, v_rel in _subdirs(confined, "", met):
        variant = dataset.canonical_variant(v_name)
        if variant is None:
            continue
        met_v: dict[str, Link] = {}
        for ver_name, ver_rel in _subdirs(confined, v_rel, met_v):
            version = dataset.canonical_version(ver_name)
            if version is None:
                continue
            met_k: dict[str, Link] = {}
            for k_name, k_rel in _subdirs(confined, ver_rel, met_k):
                kind = dataset.canonical_kind(k_name)
                if kind is None:
                    continue
                found.setdefault((variant, version, kind), []).append(k_rel)
            links += [((variant, version), lk) for n, lk in met_k.items() if _is_kind(n)]
        links += [
            ((variant, dataset.canonical_version(n)), lk)
            for n, lk in met_v.items()
            if dataset.canonical_version(n) is not None
        ]
    links += [
        ((str(dataset.canonical_variant(n)), None), lk)
        for n, lk in met.items()
        if dataset.canonical_variant(n) is not None
    ]
    return _Folders(found, links)


def _is_kind(name: str) -> bool:
    return dataset.canonical_kind(name) is not None


def _is_tiff_name(name: str) -> bool:
    """:func:`dataset.is_tiff` for a bare name, without pathlib (called for every file)."""
    i = name.rfind(".")
    return 0 < i < len(name) - 1 and name[i:].lower() in dataset.TIFF_SUFFIXES


def _stem(name: str) -> str:
    """:func:`dataset.stem` for a bare name (``x.TIF`` -> ``x``), without pathlib."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def _list_folder(confined: Confined, rel_dir: str, gs: GroupScan) -> list[FileEntry]:
    """The TIFF files of one folder (natural order); other entries go to ``gs.unexpected``,
    FIFOs/devices/sockets to ``gs.not_regular``, symlinks (also) to ``gs.symlinks``."""
    tiffs: list[FileEntry] = []
    try:
        where = confined.folder(rel_dir)
    except LeavesTree:  # pragma: no cover - leaf folders are found through Confined
        where = None
    if where is None:
        return tiffs
    with os.scandir(where) as it:
        entries = sorted(it, key=lambda e: natural_key(e.name))
    for e in entries:
        name = e.name
        if dataset.is_junk_name(name):
            continue
        rel = f"{rel_dir}/{name}"
        try:
            if e.is_symlink():
                where_to, st = confined.link(rel)
                slash = "/" if st is not None and stat.S_ISDIR(st.st_mode) else ""
                gs.symlinks.append(Link(rel + slash, where_to, _readlink(e.path)))
                if st is None:
                    continue  # leaves the tree or leads nowhere: never followed
            else:
                st = e.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished while we looked
        mode = st.st_mode
        if stat.S_ISREG(mode):
            entry = FileEntry(rel, st.st_size, st.st_mtime_ns)
            (tiffs if _is_tiff_name(name) else gs.unexpected).append(entry)
        elif stat.S_ISDIR(mode):
            gs.unexpected.append(FileEntry(rel + "/", 0, st.st_mtime_ns))
        else:
            gs.not_regular.append(FileEntry(rel, 0, st.st_mtime_ns))
    return tiffs


def _by_stem(
    files: list[FileEntry], duplicates: list[tuple[FileEntry, FileEntry]]
) -> dict[str, FileEntry]:
    """stem -> first file (by name); later files with a taken stem go to ``duplicates``."""
    out: dict[str, FileEntry] = {}
    for f in files:
        s = _stem(f.name)
        if s in out:
            duplicates.append((f, out[s]))
        else:
            out[s] = f
    return out


def scan_group(
    dataset_dir: Path,
    group: Group,
    image_dirs: list[str],
    mask_dirs: list[str],
    *,
    confined: Confined | None = None,
) -> GroupScan:
    confined = confined or Confined(dataset_dir)
    gs = GroupScan(group, image_dirs=list(image_dirs), mask_dirs=list(mask_dirs))
    images: list[FileEntry] = []
    masks: list[FileEntry] = []
    for d in image_dirs:
        images += _list_folder(confined, d, gs)
    for d in mask_dirs:
        masks += _list_folder(confined, d, gs)
    img = _by_stem(images, gs.duplicates)
    msk = _by_stem(masks, gs.duplicates)
    for s, f in img.items():
        m = msk.get(s)
        if m is None:
            gs.lone_images.append(f)
        else:
            gs.pairs.append(Pair(s, f, m))
    gs.lone_masks = [f for s, f in msk.items() if s not in img]
    return gs


def irregular_pairs(gs: GroupScan) -> list[Pair]:
    """The pairs the scan could not make because a side is in ``gs.not_regular``: a FIFO,
    device or socket with a TIFF name, matched by stem with a lone image or mask (or another
    such entry) of the other kind. Each is a pair that would be there if that entry were a
    file; its not-regular side must never be opened. In natural order of the stems."""
    images = {_stem(f.name): f for f in gs.lone_images}
    masks = {_stem(f.name): f for f in gs.lone_masks}
    odd = [f for f in gs.not_regular if _is_tiff_name(f.name)]
    for f in odd:
        side = masks if kind_of(f.rel) == MASK else images
        side.setdefault(_stem(f.name), f)  # a regular file with that stem is kept
    special = {f.rel for f in odd}
    pairs = [
        Pair(s, f, masks[s])
        for s, f in images.items()
        if s in masks and (f.rel in special or masks[s].rel in special)
    ]
    return sorted(pairs, key=lambda p: natural_key(p.stem))


def _group_scans(dataset_dir: Path, groups: tuple[Group, ...] | None) -> Iterator[GroupScan]:
    confined = Confined(dataset_dir)
    found = _leaf_folders(dataset_dir, confined)
    links = list(found.links)
    for g in dataset.GROUPS if groups is None else groups:
        gs = scan_group(
            dataset_dir,
            g,
            found.leaves.get((g.variant, g.version, dataset.IMAGES_DIR), []),
            found.leaves.get((g.variant, g.version, dataset.MASKS_DIR), []),
            confined=confined,
        )
        # a symlinked folder is reported once, by the first group it belongs to
        mine = [lk for lk in links if lk[0][0] == g.variant and lk[0][1] in (None, g.version)]
        gs.symlinks[:0] = [lk for _, lk in mine]
        links = [lk for lk in links if lk not in mine]
        yield gs


def scan(dataset_dir: Path, groups: tuple[Group, ...] | None = None) -> TreeScan:
    """List the tree under ``dataset_dir`` (the LungSegDB folder) for ``groups`` (default all)."""
    dataset_dir = Path(dataset_dir)
    return TreeScan(dataset_dir, list(_group_scans(dataset_dir, groups)))


def require(paths: DataPaths) -> Path:
    """The dataset folder of ``paths`` if it holds a LungSegDB tree (at least one leaf
    folder), else :class:`CheckFailed` naming it."""
    where = paths.dataset_dir
    if not where.is_dir() or not _leaf_folders(where).leaves:
        raise CheckFailed(
            f"No LungSegDB tree at {where}",
            hint=(
                "Run 'lungsegdb download' first, or pass --data-dir pointing at a folder laid "
                "out like LungSegDB (preprocessed data/V1/CT_Images, ...)."
            ),
            path=str(where),
        )
    return where


def missing_leaves(dataset_dir: Path) -> list[str]:
    """The documented leaf folders (``preprocessed data/V1/CT_Images``, ...) not present as
    folders under ``dataset_dir``: what an archive holding part of the dataset left out."""
    return [leaf for leaf in dataset.LEAF_DIRS if not (dataset_dir / leaf).is_dir()]


def iter_required(paths: DataPaths, groups: tuple[Group, ...] | None = None) -> Iterator[GroupScan]:
    """:func:`scan`, one group at a time (the caller can start decoding the first group's
    files while the next is listed); raises :class:`CheckFailed` (exit 1), before yielding
    anything, when there is no LungSegDB tree at all."""
    return _group_scans(require(paths), groups)
