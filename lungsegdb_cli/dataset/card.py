"""LungSegDB as data: the one place that knows the source, the documented tree and the counts.

Every other module asks this one: which folders make the tree, what counts as a TIFF, what is
OS junk, how an archive's folder names map onto the documented ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from lungsegdb_cli.errors import UsageError

NAME = "LungSegDB"
#: The folder, under the data root, that holds the documented tree.
DATASET_DIRNAME = "LungSegDB"

DRIVE_ID = "1EjzpPq0GhpmlMoSUqnJIdukg_QQDJtgq"
DRIVE_URL = f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=drive_link"

VARIANTS: tuple[str, ...] = ("preprocessed data", "raw data")
VERSIONS: tuple[str, ...] = ("V1", "V2")
IMAGES_DIR = "CT_Images"
MASKS_DIR = "CT_Masks"
KINDS: tuple[str, ...] = (IMAGES_DIR, MASKS_DIR)

#: The archive's size, roughly (no size is published with it): about 1 GB. A synthetic
#: archive of the published counts is 955,680,334 bytes. The default download cap
#: (``LUNGSEGDB_MAX_DOWNLOAD``, :mod:`lungsegdb_cli.sources.http.bounds`) is a few times this.
ARCHIVE_BYTES_ABOUT = 1_000_000_000

#: Published pair counts per version (each variant holds this many pairs).
PUBLISHED_PAIRS: dict[str, int] = {"V1": 1800, "V2": 700}

SOURCES: dict[str, str] = {
    "V1": "slices from LIDC-IDRI (The Cancer Imaging Archive)",
    "V2": "slices from a Kaggle chest CT collection",
}

DESCRIPTION = (
    "LungSegDB: lung CT slices (TIFF) with binary lung masks (TIFF), in a preprocessed and a "
    "raw variant. V1: 1,800 pairs from LIDC-IDRI; V2: 700 pairs from a Kaggle chest CT "
    "collection. Published as one archive on Google Drive."
)

CITATION = (
    "Cite LungSegDB as its authors ask on the dataset's Google Drive page "
    f"({DRIVE_URL}), and the sources it derives from: "
    "Armato SG III et al., 'The Lung Image Database Consortium (LIDC) and Image Database "
    "Resource Initiative (IDRI): a completed reference database of lung nodules on CT scans', "
    "Medical Physics 38(2):915-931, 2011, doi:10.1118/1.3528204; and the Kaggle chest CT "
    "collection named on the dataset's page."
)

LICENCE = (
    "No licence is stated with the archive. LIDC-IDRI, the source of V1, is published under "
    "CC BY 3.0 (TCIA data usage policy); V2 follows the terms of its Kaggle source. Check the "
    "dataset's page before redistributing."
)

TIFF_SUFFIXES: frozenset[str] = frozenset({".tif", ".tiff"})
JUNK_NAMES: frozenset[str] = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
JUNK_DIRS: frozenset[str] = frozenset({"__macosx"})


@dataclass(frozen=True)
class Group:
    """One variant x version folder pair of the documented tree."""

    variant: str
    version: str

    @property
    def images(self) -> str:
        """Relative path (with ``/``) of the image folder, from the LungSegDB folder."""
        return f"{self.variant}/{self.version}/{IMAGES_DIR}"

    @property
    def masks(self) -> str:
        return f"{self.variant}/{self.version}/{MASKS_DIR}"

    @property
    def label(self) -> str:
        return f"{self.variant}/{self.version}"

    @property
    def published_pairs(self) -> int:
        return PUBLISHED_PAIRS[self.version]


GROUPS: tuple[Group, ...] = tuple(Group(v, ver) for v in VARIANTS for ver in VERSIONS)

#: Every leaf folder of the documented tree, relative to the LungSegDB folder.
LEAF_DIRS: tuple[str, ...] = tuple(d for g in GROUPS for d in (g.images, g.masks))


def groups(variant: str | None = None, version: str | None = None) -> tuple[Group, ...]:
    """The groups, optionally filtered by variant and/or version (canonical names)."""
    return tuple(
        g
        for g in GROUPS
        if (variant is None or g.variant == variant) and (version is None or g.version == version)
    )


def is_tiff(name: str) -> bool:
    """True for ``.tif``/``.tiff`` in any case (``x.TIF``, ``y.Tiff``)."""
    return PurePosixPath(name).suffix.lower() in TIFF_SUFFIXES


def is_junk(path: str) -> bool:
    """True for OS junk: ``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``._*``, ``__MACOSX/``.

    ``path`` may be a bare name or a relative path with ``/`` or ``\\`` separators.
    """
    parts = [p for p in re.split(r"[\\/]", path) if p]
    if not parts:
        return False
    if any(p.lower() in JUNK_DIRS for p in parts):
        return True
    name = parts[-1]
    return name.lower() in JUNK_NAMES or name.startswith("._")


def is_junk_name(name: str) -> bool:
    """:func:`is_junk` for one bare file or folder name (no separators): the per-entry check
    of a tree walk, a set lookup instead of a split.

    >>> is_junk_name(".DS_Store"), is_junk_name("._1.tif"), is_junk_name("1.tif")
    (True, True, False)
    """
    if name.startswith("._"):
        return True
    lower = name.lower()
    return lower in JUNK_NAMES or lower in JUNK_DIRS


def stem(name: str) -> str:
    """The pairing key of a file: its name without the TIFF extension (case kept)."""
    return PurePosixPath(name).stem


def _norm(name: str) -> str:
    """Fold case, spacing, ``_`` and ``-`` so ``Preprocessed_Data`` == ``preprocessed data``."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


_CANONICAL_LEVELS: tuple[dict[str, str], ...] = (
    {_norm(v): v for v in VARIANTS} | {_norm(v.split()[0]): v for v in VARIANTS},
    {_norm(v): v for v in VERSIONS},
    {_norm(k): k for k in KINDS}
    | {"images": IMAGES_DIR, "image": IMAGES_DIR, "masks": MASKS_DIR, "mask": MASKS_DIR},
)


def canonical_variant(name: str) -> str | None:
    """Map a folder name onto a variant (``Preprocessed_Data`` -> ``preprocessed data``)."""
    return _CANONICAL_LEVELS[0].get(_norm(name))


def canonical_version(name: str) -> str | None:
    return _CANONICAL_LEVELS[1].get(_norm(name))


def canonical_kind(name: str) -> str | None:
    """Map ``ct_images``/``CT Masks``/``images`` onto ``CT_Images``/``CT_Masks``."""
    return _CANONICAL_LEVELS[2].get(_norm(name))


def canonical_leaf(variant: str, version: str, kind: str) -> str | None:
    """The documented leaf folder for three folder names as found in an archive, or None."""
    cv, cver, ck = canonical_variant(variant), canonical_version(version), canonical_kind(kind)
    if cv is None or cver is None or ck is None:
        return None
    return f"{cv}/{cver}/{ck}"


# ---------------------------------------------------------------------------------------------
# The names users type (--variant, --version)
# ---------------------------------------------------------------------------------------------
def _parse(
    value: str | None, canonical: Callable[[str], str | None], what: str, hint: str
) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"The {what} must be a string, not {type(value).__name__}", hint=hint)
    if value.strip() == "":
        return None
    v = canonical(value)
    if v is None:
        raise UsageError(f"Unknown {what} {value!r}", hint=hint)
    return v


def parse_variant(value: str | None) -> str | None:
    """``preprocessed``/``raw`` (or the folder names, any case) -> the folder name."""
    hint = "Use --variant preprocessed or --variant raw."
    return _parse(value, canonical_variant, "variant", hint)


def parse_version(value: str | None) -> str | None:
    """``V1``/``V2`` (any case) -> the folder name."""
    hint = f"Use --version {' or --version '.join(VERSIONS)}."
    return _parse(value, canonical_version, "version", hint)
