"""Walk a LungSegDB folder: the image and mask files of each group, paired by stem.

Folder names are matched through :mod:`lungsegdb_cli.dataset` (``Preprocessed_Data``,
``ct_images`` and friends are accepted), OS junk is skipped, anything else that is not a TIFF
in an image or mask folder is reported. Images and masks are paired by stem, never by sort
order: ``0001.TIF`` pairs with ``0001.tif`` or ``0001.tiff``.

Nothing here opens a file; :mod:`lungsegdb_cli.tiffinfo` decodes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from lungsegdb_cli import dataset
from lungsegdb_cli.dataset import Group
from lungsegdb_cli.errors import CheckFailed
from lungsegdb_cli.paths import DataPaths

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


def _subdirs(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(
                (e for e in it if e.is_dir() and not dataset.is_junk(e.name)),
                key=lambda e: e.name,
            )
    except (FileNotFoundError, NotADirectoryError):
        return []


def _leaf_folders(dataset_dir: Path) -> dict[tuple[str, str, str], list[str]]:
    """(variant, version, kind) -> relative folder paths found, canonical names matched."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for v in _subdirs(dataset_dir):
        variant = dataset.canonical_variant(v.name)
        if variant is None:
            continue
        for ver in _subdirs(Path(v.path)):
            version = dataset.canonical_version(ver.name)
            if version is None:
                continue
            for k in _subdirs(Path(ver.path)):
                kind = dataset.canonical_kind(k.name)
                if kind is None:
                    continue
                rel = f"{v.name}/{ver.name}/{k.name}"
                found.setdefault((variant, version, kind), []).append(rel)
    return found


def _is_junk_name(name: str) -> bool:
    """:func:`dataset.is_junk` for a bare name, without its regex (called for every file)."""
    low = name.lower()
    return name.startswith("._") or low in dataset.JUNK_NAMES or low in dataset.JUNK_DIRS


def _is_tiff_name(name: str) -> bool:
    """:func:`dataset.is_tiff` for a bare name, without pathlib (called for every file)."""
    i = name.rfind(".")
    return 0 < i < len(name) - 1 and name[i:].lower() in dataset.TIFF_SUFFIXES


def _stem(name: str) -> str:
    """:func:`dataset.stem` for a bare name (``x.TIF`` -> ``x``), without pathlib."""
    i = name.rfind(".")
    return name[:i] if 0 < i < len(name) - 1 else name


def _list_folder(dataset_dir: Path, rel_dir: str, unexpected: list[FileEntry]) -> list[FileEntry]:
    """The TIFF files of one folder (natural order); other entries go to ``unexpected``."""
    tiffs: list[FileEntry] = []
    with os.scandir(os.path.join(dataset_dir, rel_dir)) as it:
        entries = sorted(it, key=lambda e: natural_key(e.name))
    for e in entries:
        name = e.name
        if _is_junk_name(name):
            continue
        rel = f"{rel_dir}/{name}"
        try:
            is_file = e.is_file()
            st = e.stat()
        except OSError:
            is_file, st = False, None
        if is_file and st is not None and _is_tiff_name(name):
            tiffs.append(FileEntry(rel, st.st_size, st.st_mtime_ns))
        else:
            suffix = "/" if e.is_dir() else ""
            size = st.st_size if st is not None and is_file else 0
            mtime = st.st_mtime_ns if st is not None else 0
            unexpected.append(FileEntry(rel + suffix, size, mtime))
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
    dataset_dir: Path, group: Group, image_dirs: list[str], mask_dirs: list[str]
) -> GroupScan:
    gs = GroupScan(group, image_dirs=list(image_dirs), mask_dirs=list(mask_dirs))
    images: list[FileEntry] = []
    masks: list[FileEntry] = []
    for d in image_dirs:
        images += _list_folder(dataset_dir, d, gs.unexpected)
    for d in mask_dirs:
        masks += _list_folder(dataset_dir, d, gs.unexpected)
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


def _group_scans(dataset_dir: Path, groups: tuple[Group, ...] | None) -> Iterator[GroupScan]:
    found = _leaf_folders(dataset_dir)
    for g in dataset.GROUPS if groups is None else groups:
        yield scan_group(
            dataset_dir,
            g,
            found.get((g.variant, g.version, dataset.IMAGES_DIR), []),
            found.get((g.variant, g.version, dataset.MASKS_DIR), []),
        )


def scan(dataset_dir: Path, groups: tuple[Group, ...] | None = None) -> TreeScan:
    """List the tree under ``dataset_dir`` (the LungSegDB folder) for ``groups`` (default all)."""
    dataset_dir = Path(dataset_dir)
    return TreeScan(dataset_dir, list(_group_scans(dataset_dir, groups)))


def _require(paths: DataPaths) -> Path:
    where = paths.dataset_dir
    if not where.is_dir() or not _leaf_folders(where):
        raise CheckFailed(
            f"No LungSegDB tree at {where}",
            hint=(
                "Run 'lungsegdb download' first, or pass --data-dir pointing at a folder laid "
                "out like LungSegDB (preprocessed data/V1/CT_Images, ...)."
            ),
            path=str(where),
        )
    return where


def scan_required(paths: DataPaths, groups: tuple[Group, ...] | None = None) -> TreeScan:
    """:func:`scan`, or :class:`CheckFailed` (exit 1) when there is no LungSegDB tree at all."""
    return scan(_require(paths), groups)


def iter_required(paths: DataPaths, groups: tuple[Group, ...] | None = None) -> Iterator[GroupScan]:
    """Like :func:`scan_required`, one group at a time: the caller can start decoding the
    first group's files while the next is listed. Raises before yielding anything."""
    return _group_scans(_require(paths), groups)
