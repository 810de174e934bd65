"""Pairs as data: every image/mask pair of the tree as a frozen record, loadable as arrays.

The pairing is :mod:`lungsegdb_cli.dataset.tree`'s (the one ``validate`` checks): nothing here pairs
files itself. A pair's ``split`` comes from the splits file in force (``<state>/splits.json``,
written by :mod:`lungsegdb_cli.training.split`, which owns the file's rules); without one it
is None. Selecting by split first checks the file
(:func:`~lungsegdb_cli.training.split.check_splits`). :func:`load_pair` decodes with
tifffile under the decode limit (``LUNGSEGDB_MAX_IMAGE_PIXELS``) and returns the mask as 0/1
``uint8`` ``(H, W)`` whatever its stored convention (the foreground rule of
:mod:`lungsegdb_cli.tiff.foreground`). :class:`PairDataset` is a map-style dataset (what a
torch ``DataLoader`` takes) that imports no torch.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsIndex, overload

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.tree import iter_required
from lungsegdb_cli.errors import CheckFailed, UsageError
from lungsegdb_cli.state import commit
from lungsegdb_cli.training.split import (
    SPLITS,
    assigned_splits,
    check_splits,
    doc_group_by,
    group_key_fn,
    read_splits,
    splits_path,
)
from lungsegdb_cli.utils import csvsafe
from lungsegdb_cli.utils.arguments import PathLike, checked, is_whole
from lungsegdb_cli.utils.fsutil import check_output_file, write_output
from lungsegdb_cli.utils.progress import Progress

CSV_COLUMNS = ("variant", "version", "stem", "group", "split", "image", "mask")
#: Pairs listed by the human rendering of ``lungsegdb pairs``.
SHOWN = 5


@dataclass(frozen=True)
class Pair:
    """One image/mask pair: its stem, the two files, where it sits, its group and split."""

    stem: str
    image: Path
    mask: Path
    variant: str
    version: str
    #: The group key (the stem, or the ``group_by`` capture of the splits file in force).
    group: str
    #: ``train``/``val``/``test`` from the splits file in force; None without one.
    split: str | None = None
    #: ``variant/version/stem``: how a splits file names the pair (computed once, when the
    #: pair is made: the export's stages read it without calling back into this module)
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.variant}/{self.version}/{self.stem}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem,
            "image": str(self.image),
            "mask": str(self.mask),
            "variant": self.variant,
            "version": self.version,
            "group": self.group,
            "split": self.split,
        }


@dataclass
class PairsResult:
    """What ``lungsegdb pairs`` shows: the pairs, and the splits file they were read with."""

    dataset_dir: str
    pairs: list[Pair]
    splits_file: str | None = None
    csv: str | None = None

    @property
    def ok(self) -> bool:
        return True

    def counts(self) -> dict[str, int]:
        """Pairs per group label (``variant/version``), in tree order."""
        return dict(Counter(f"{p.variant}/{p.version}" for p in self.pairs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "dataset_dir": self.dataset_dir,
            "splits_file": self.splits_file,
            "count": len(self.pairs),
            "groups": self.counts(),
            "csv": self.csv,
            "pairs": [p.to_dict() for p in self.pairs],
        }


def check_split_name(split: str | None) -> str | None:
    if split is None or split in SPLITS:
        return split
    raise UsageError(
        f"Unknown split {split!r}", hint=f"Use one of: {', '.join(SPLITS)}.", split=split
    )


def _no_splits(split: str, where: Path) -> UsageError:
    return UsageError(
        f"--split {split}: there are no splits (no {where})",
        hint="Write them first with 'lungsegdb split'.",
        path=str(where),
    )


def _both_variants(names: Iterable[str]) -> UsageError:
    listed = " and ".join(repr(v) for v in sorted(names))
    return UsageError(
        f"The tree holds both variants ({listed}): a dataset of both would yield each "
        "slice twice, once per variant",
        hint="Pass variant='raw data' or variant='preprocessed data' (or 'raw', "
        "'preprocessed'); variant='all' if you do want both in one dataset.",
    )


def _group(key: str | None, stem: str) -> str:
    """A pair's group: its ``--group-by`` capture (an empty one included: the key the split
    hashed), the stem where the pattern does not match (or there is none)."""
    return stem if key is None else key


def require_pairs(paths: DataPaths, variant: str | None = None) -> None:
    """Raise unless the tree holds at least one pair of ``variant`` (canonical; None: of
    any): what a consumer that must produce something (``export``) checks before it writes
    anything. A variant the tree holds no pair of: :class:`UsageError` (exit 2) naming it and
    what the tree holds; a tree that holds no pair at all: :class:`CheckFailed` (exit 1); no
    tree: CheckFailed as :func:`scan_pairs`. Listing stops at the first pair found. Call with
    the generation lock held."""
    where = paths.dataset_dir
    if any(gs.pairs for gs in iter_required(paths, dataset.groups(variant))):
        return
    held = sorted({gs.group.variant for gs in iter_required(paths) if gs.pairs})
    if not held:
        raise CheckFailed(
            f"The tree at {where} holds no image/mask pair",
            hint="See what it holds with 'lungsegdb validate'.",
            path=str(where),
        )
    others = " or ".join(f"--variant {v.split()[0]}" for v in held)
    raise UsageError(
        f"The tree at {where} has no {variant!r}: it holds only "
        f"{' and '.join(repr(v) for v in held)}",
        hint=f"Pass {others}, or leave --variant out.",
        path=str(where),
        variant=variant,
    )


def _parse_filters(variant: str | None, version: str | None) -> tuple[dataset.Group, ...]:
    from lungsegdb_cli.dataset.card import parse_variant, parse_version

    return dataset.groups(parse_variant(variant), parse_version(version))


def scan_pairs(
    paths: DataPaths,
    groups: tuple[dataset.Group, ...] | None = None,
    group_by: str | None = None,
    assigned: dict[str, str] | None = None,
) -> list[Pair]:
    """Every pair of ``groups`` (default all) in tree order, as :mod:`._tree` pairs them.
    Call with the generation lock held. ``assigned``: ``variant/version/stem`` -> split."""
    key = group_key_fn(group_by)
    root = paths.dataset_dir
    out: list[Pair] = []
    for gs in iter_required(paths, groups):
        g = gs.group
        for p in gs.pairs:
            name = f"{g.variant}/{g.version}/{p.stem}"
            out.append(
                Pair(
                    stem=p.stem,
                    image=root / p.image.rel,
                    mask=root / p.mask.rel,
                    variant=g.variant,
                    version=g.version,
                    group=_group(key(p.stem), p.stem),
                    split=None if assigned is None else assigned.get(name),
                )
            )
    return out


@commit.one_generation
def collect(
    paths: DataPaths,
    *,
    variant: str | None = None,
    version: str | None = None,
    split: str | None = None,
    csv_path: Path | None = None,
) -> PairsResult:
    """The pairs of the tree (filtered by variant, version and split), with their split from
    the splits file in force. ``split`` without a splits file: UsageError (exit 2). With
    ``split``, the splits in force must pass
    :func:`~lungsegdb_cli.training.split.check_splits` (made for this tree, covering its pairs,
    leak-free), else CheckFailed (exit 1). No tree: CheckFailed (exit 1)."""
    split = check_split_name(split)
    groups = _parse_filters(variant, version)
    if csv_path is not None:
        check_output_file(csv_path, "--csv", "pairs.csv", protect=paths.own)
    where = splits_path(paths)
    doc = read_splits(where)
    assigned = None
    group_by = None
    if doc is not None:
        assigned = assigned_splits(doc)
        group_by = doc.get("group_by")
    if split is not None:  # splits used: first the check every consumer of splits makes
        if doc is None:
            raise _no_splits(split, where)
        group_by = doc_group_by(doc, str(where))
        found = scan_pairs(paths, None, group_by, assigned)  # the check needs every pair
        check_splits(paths, doc, str(where), [p.key for p in found])
        wanted = {(g.variant, g.version) for g in groups}
        found = [p for p in found if p.split == split and (p.variant, p.version) in wanted]
    else:
        found = scan_pairs(paths, groups, group_by, assigned)
    if csv_path is not None:
        write_csv(csv_path, found)
    return PairsResult(
        dataset_dir=str(paths.dataset_dir),
        pairs=found,
        splits_file=str(where) if doc is not None else None,
        csv=None if csv_path is None else str(csv_path),
    )


def write_csv(path: Path, pairs: list[Pair]) -> None:
    """One row per pair (:data:`CSV_COLUMNS`), written atomically; cells that a spreadsheet
    would run as a formula are escaped (:mod:`lungsegdb_cli.utils.csvsafe`)."""
    rows = ([p.to_dict()[c] for c in CSV_COLUMNS] for p in pairs)
    write_output(Path(path), csvsafe.encode(csvsafe.rows_text(CSV_COLUMNS, rows)))


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def _decode(path: Path, limit: int) -> Any:
    """The first page of the TIFF at ``path``, once what its tags declare passed the limit."""
    import struct

    import tifffile

    from lungsegdb_cli.tiff.decode import TooLargeImages, check_pages, page_array, quiet_tifffile
    from lungsegdb_cli.tiff.raw import TooLarge

    quiet_tifffile()
    try:
        with tifffile.TiffFile(os.fspath(path)) as tif:
            check_pages(tif, limit)
            return page_array(tif.pages.first)  # samples last, as validate sees the page
    except TooLarge as exc:
        raise TooLargeImages(
            f"Image too large to decode: {path} {exc}",
            files=[{"path": str(path), "message": str(exc)}],
            limit=limit,
        ) from exc
    except FileNotFoundError as exc:
        raise CheckFailed(
            f"Pair file missing: {path}",
            hint="The tree changed since it was listed; list the pairs again.",
            path=str(path),
        ) from exc
    except (ValueError, IndexError, KeyError, TypeError, EOFError, struct.error) as exc:
        # struct.error: a header cut short (tifffile unpacks what is not there)
        raise CheckFailed(
            f"Cannot decode {path}: {exc}",
            hint="See it with 'lungsegdb validate'.",
            path=str(path),
        ) from exc


def load_pair(pair: Pair, *, max_pixels: int | None = None) -> tuple[Any, Any]:
    """``(image, mask)`` as numpy arrays; the mask as 0/1 ``uint8`` of shape ``(H, W)``:
    the foreground rule of :mod:`lungsegdb_cli.tiff.foreground` (an alpha channel dropped,
    then any channel non-zero -> 1; ``0/-1`` masks included), the one ``validate``, ``stats``
    and every export apply. The image is as stored (int16 Hounsfield units stay int16).

    Parameters
    ----------
    pair : Pair
        One record of :func:`lungsegdb_cli.pairs` (or a ``PairDataset``'s ``.pairs``).
    max_pixels : int, optional
        The decode limit in pixel values (default ``$LUNGSEGDB_MAX_IMAGE_PIXELS``, else
        2**26): a file whose tags declare more is not decoded.

    Returns
    -------
    tuple of numpy.ndarray
        ``(image, mask)``.

    Raises
    ------
    UsageError
        ``pair`` is not a ``Pair``, or ``max_pixels`` is not a whole number >= 1 (exit 2).
    TooLargeImages
        A file over the decode limit, named, nothing decoded (exit 1).
    CheckFailed
        A file cannot be decoded, or the mask's height x width is not its image's
        (validate's ``shape-mismatch``, which every export refuses too): a loader never
        hands out a mask that does not cover its image (exit 1).

    Examples
    --------
    >>> import tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> made = L.synth(work.name + "/s", pairs=1, fmt="none", like_kaggle=True)
    >>> pair = L.pairs(made.tree, variant="raw")[0]
    >>> image, mask = L.load_pair(pair)
    >>> image.dtype.name, mask.dtype.name, sorted(int(v) for v in set(mask.ravel()))
    ('int16', 'uint8', [0, 1])
    >>> work.cleanup()
    """
    from lungsegdb_cli.tiff.decode import max_image_pixels
    from lungsegdb_cli.tiff.foreground import binary

    if not isinstance(pair, Pair):
        raise UsageError(
            f"load_pair wants a Pair, not {type(pair).__name__}",
            hint="Take one from lungsegdb_cli.pairs(...) or a PairDataset's .pairs.",
            argument="pair",
        )
    if max_pixels is not None and not is_whole(max_pixels, 1):
        raise UsageError(
            f"max_pixels must be a whole number >= 1, not {max_pixels!r}",
            hint="Give the decode limit in pixel values, or None for the default.",
            argument="max_pixels",
        )
    limit = max_image_pixels() if max_pixels is None else int(max_pixels)
    image = _decode(pair.image, limit)
    mask = binary(_decode(pair.mask, limit))
    if tuple(mask.shape[:2]) != tuple(image.shape[:2]):
        (mh, mw), (ih, iw) = mask.shape[:2], image.shape[:2]
        raise CheckFailed(
            f"{pair.mask}: shape-mismatch: mask {mh}x{mw}, image {ih}x{iw} ({pair.image.name})",
            hint="See it with 'lungsegdb validate'; fix or remove the pair.",
            path=str(pair.mask),
        )
    return image, mask


class PairDataset:
    """A map-style dataset of the pairs (``len``, ``[i]``), for a torch ``DataLoader`` or any
    loop; imports no torch. ``dataset[i]`` is ``{"image", "mask", "stem", "variant",
    "version", "group"}`` (mask 0/1 ``uint8``), passed through ``transform`` when given.

    ``variant`` and ``version`` filter as :func:`lungsegdb_cli.pairs` does. A training loop
    almost never wants the windowed ``preprocessed`` slices and the raw Hounsfield units of the
    same slice in one dataset: with both variants in the tree, ``variant`` must be given (one
    of them, or ``"all"`` for the mixed dataset), else a :class:`UsageError` (exit 2) names them.

    Without a tree at ``data_dir`` it raises :class:`~lungsegdb_cli.errors.NotDownloaded`
    (exit 1) naming the command to run; with ``download=True`` a missing or not intact tree
    is downloaded first, as ``lungsegdb download`` does (``sha256`` pins it; ``urls`` and
    ``drive`` are ``--url`` and ``--no-drive``; the same environment variables), and
    ``progress`` hears about it (:mod:`lungsegdb_cli.training.ensure`).

    The tree is indexed once, when the dataset is built: after a new download, build it
    again. ``dataset[i]`` takes a negative ``i`` (from the end) and a slice (a list).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        The data root (default: ``$LUNGSEGDB_HOME``, else the user cache dir).
    split : str, optional
        ``train``, ``val`` or ``test``: the pairs of that split in the splits file in force
        (made by :func:`lungsegdb_cli.split`).
    transform : callable, optional
        Called with each sample dict; what it returns is the sample.
    variant, version : str, optional
        As :func:`lungsegdb_cli.pairs` filters (``variant="all"``: both variants).
    download : bool
        Download a missing or not intact tree first.
    sha256 : str, optional
        The pin of that download.
    urls : str, os.PathLike or list of them, optional
        Its sources, before the dataset's Drive file unless ``drive`` is False.
    drive : bool
        False leaves the dataset's Drive file out.
    progress : Progress, optional
        Hears about the download.

    Raises
    ------
    UsageError
        An argument of the wrong type or value, both variants in the tree and no
        ``variant``, a ``variant`` the tree has no pair of, a ``split`` without a splits file
        (exit 2).
    NotDownloaded
        No tree at ``data_dir`` and ``download`` False (exit 1).
    DownloadError, ChecksumMismatch, ArchiveError, LocalError
        What :func:`lungsegdb_cli.download` raises, with ``download=True``.

    Examples
    --------
    >>> import pathlib, tempfile, lungsegdb_cli as L
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = work.name
    >>> made = L.synth(tmp + "/s", pairs=2)
    >>> mirror = pathlib.Path(made.archive.path).as_uri()  # file://...; or an https:// mirror
    >>> ds = L.PairDataset(tmp + "/data", download=True, sha256=made.archive.sha256,
    ...                    urls=[mirror], drive=False, variant="raw")
    >>> len(ds), int(ds[0]["mask"].max()), ds.downloaded.action
    (4, 1, 'downloaded')
    >>> work.cleanup()
    """

    @checked
    def __init__(
        self,
        data_dir: PathLike | None = None,
        split: str | None = None,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        *,
        variant: str | None = None,
        version: str | None = None,
        download: bool = False,
        sha256: str | None = None,
        urls: str | os.PathLike[str] | list[str | os.PathLike[str]] | None = None,
        drive: bool = True,
        progress: Progress | None = None,
    ) -> None:
        from lungsegdb_cli.state.datadir import open_data_dir
        from lungsegdb_cli.training.ensure import ensure_tree

        if transform is not None and not callable(transform):
            raise UsageError(
                f"transform must be callable, not {type(transform).__name__}",
                hint="Give a function of the sample dict, or None.",
                argument="transform",
            )
        try:
            paths = open_data_dir(data_dir)
        except OSError as exc:  # a name too long, ...: the LocalError the command gives
            from lungsegdb_cli.errors import from_unmapped_os_error

            raise from_unmapped_os_error(exc) from exc
        mixed = isinstance(variant, str) and variant.strip().lower() == "all"
        chosen = None if mixed else variant
        # The arguments are checked before anything is fetched: a download is ~1 GB.
        _parse_filters(chosen, version)
        split = check_split_name(split)
        if split is not None and not splits_path(paths).exists():
            raise _no_splits(split, splits_path(paths))  # a fresh download has none either
        # no variant for a tree still to be fetched: the published tree holds both
        unless = (
            (lambda: _both_variants(dataset.VARIANTS)) if chosen is None and not mixed else None
        )
        self.downloaded = ensure_tree(
            paths,
            download=download,
            sha256=sha256,
            urls=urls,
            drive=drive,
            progress=progress,
            unless=unless,
        )
        self.pairs: list[Pair] = collect(paths, variant=chosen, version=version, split=split).pairs
        variants = {p.variant for p in self.pairs}
        if chosen is None and not mixed and len(variants) > 1:
            raise _both_variants(variants)
        if not self.pairs and chosen is not None:
            # a variant the tree has no pair of: said, as export says it, not an empty dataset
            from lungsegdb_cli.dataset.card import parse_variant
            from lungsegdb_cli.state import commit

            with commit.reading(paths):
                require_pairs(paths, parse_variant(chosen))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        """The sample at ``index`` (negative counts from the end; past either end is
        ``IndexError``, so a plain loop stops); a slice gives the list of its samples."""
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self.pairs)))]
        pair = self.pairs[index]
        image, mask = load_pair(pair)
        sample = {
            "image": image,
            "mask": mask,
            "stem": pair.stem,
            "variant": pair.variant,
            "version": pair.version,
            "group": pair.group,
        }
        return sample if self.transform is None else self.transform(sample)
