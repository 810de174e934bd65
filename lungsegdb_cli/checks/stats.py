"""``lungsegdb stats``: per group (variant x version) the numbers to know before training.

Pairs, shapes, dtypes, intensity min/max/mean/std **exact over every pixel** of the group's
images, mask foreground fractions, mask value conventions, bytes on disk. The per-file partial
sums come from the same decode pass (and cache) as ``validate``; they are merged exactly:
integer images through exact integer sums (Python ints, rounded once at the end), float images
through Chan et al.'s pairwise update of ``(n, mean, M2)``. The standard deviation is the
population one (ddof 0, as ``numpy.std``).

Only pairs count (an image without a mask is ``validate``'s business). A pair file that cannot
be decoded is skipped and counted in ``unreadable``; a readable image of a pair whose mask is
unreadable still counts towards the intensity. A FIFO, device or socket with the name of a pair
file (``not-a-regular-file`` for validate) is never opened, but its pair still counts, with that
file in ``unreadable``: the pair is not silently dropped. A pair file whose tags declare an
image over the decode limit is not decoded either, but it is not skipped: the numbers would
silently leave out what may be a genuine image, so :func:`compute` raises
:class:`TooLargeImages` (exit 1) naming it; raising ``LUNGSEGDB_MAX_IMAGE_PIXELS`` lets it
through.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from lungsegdb_cli.checks.conventions import OTHER, mask_convention
from lungsegdb_cli.checks.decodepass import decode_groups
from lungsegdb_cli.checks.scancache import ScanCache
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.tree import (
    IMAGE,
    MASK,
    FileEntry,
    GroupScan,
    Pair,
    irregular_pairs,
    iter_required,
    kind_of,
)
from lungsegdb_cli.state import commit
from lungsegdb_cli.tiff.decode import (
    HIST_BINS,
    FileSummary,
    TooLargeImages,
    max_image_pixels,
)
from lungsegdb_cli.utils import csvsafe
from lungsegdb_cli.utils.fsutil import check_output_file, write_output
from lungsegdb_cli.utils.progress import Progress

PERCENTILES: tuple[int, ...] = (5, 25, 50, 75, 95)
#: Pairs per group kept as samples for ``--plot``.
SAMPLES = 3
CSV_COLUMNS = (
    "variant",
    "version",
    "stem",
    "image",
    "mask",
    "shape",
    "dtype",
    "min",
    "max",
    "mean",
    "std",
    "foreground",
    "error",
)


#: Files named in the message of :class:`TooLargeImages` (all of them are in its context).
NAMED = 3


# ---------------------------------------------------------------------------------------------
# Exact moments
# ---------------------------------------------------------------------------------------------
@dataclass
class Moments:
    """Streaming min/max/mean/M2 over many files' pixels, merged exactly.

    Integer files add exact integer sums; float files are merged with Chan's parallel update.
    """

    n_int: int = 0
    s1: int = 0
    s2: int = 0
    n_f: int = 0
    mean_f: float = 0.0
    m2_f: float = 0.0
    vmin: float | None = None
    vmax: float | None = None

    def add(self, s: FileSummary) -> None:
        if s.n == 0 or s.vmin is None or s.vmax is None:
            return
        self.vmin = s.vmin if self.vmin is None else min(self.vmin, s.vmin)
        self.vmax = s.vmax if self.vmax is None else max(self.vmax, s.vmax)
        if s.s1 is not None and s.s2 is not None:
            self.n_int += s.n
            self.s1 += s.s1
            self.s2 += s.s2
        else:
            self.n_f, self.mean_f, self.m2_f = chan_merge(
                (self.n_f, self.mean_f, self.m2_f), (s.n, s.fmean, s.fm2)
            )

    @property
    def n(self) -> int:
        return self.n_int + self.n_f

    def result(self) -> tuple[int, float, float]:
        """(n, mean, M2) of everything added."""
        if self.n_int:
            mean_i = float(Fraction(self.s1, self.n_int))
            m2_i = float(Fraction(self.n_int * self.s2 - self.s1 * self.s1, self.n_int))
            ints = (self.n_int, mean_i, m2_i)
        else:
            ints = (0, 0.0, 0.0)
        return chan_merge(ints, (self.n_f, self.mean_f, self.m2_f))

    def to_dict(self) -> dict[str, Any]:
        n, mean, m2 = self.result()
        if n == 0:
            return {"min": None, "max": None, "mean": None, "std": None, "pixels": 0}
        if self.n_f == 0:  # integers only: the exact variance, its root rounded once
            n2 = self.n_int * self.n_int
            std = sqrt_ratio(self.n_int * self.s2 - self.s1 * self.s1, n2)
        else:
            std = math.sqrt(max(m2, 0.0) / n)
        return {"min": self.vmin, "max": self.vmax, "mean": mean, "std": std, "pixels": n}


def sqrt_ratio(p: int, q: int) -> float:
    """``sqrt(p / q)`` for integers ``p >= 0``, ``q > 0``, correctly rounded to a float (the
    nearest one, ties to even): an integer square root with at least 64 significant bits, its
    last bit set when the root is inexact, then one rounding to 53 bits.

    Examples
    --------
    >>> sqrt_ratio(2, 1) == 2 ** 0.5, sqrt_ratio(9, 4), sqrt_ratio(0, 7)
    (True, 1.5, 0.0)
    """
    if p <= 0:
        return 0.0
    e = max(0, (130 - p.bit_length() + q.bit_length()) // 2)  # the root has >= 64 bits
    num = p << (2 * e)
    r = math.isqrt(num // q)  # floor(sqrt(num / q))
    if r * r * q != num:
        r |= 1  # inexact: a sticky bit far below the 53 kept, above nothing that matters
    return math.ldexp(float(r), -e)


def chan_merge(
    a: tuple[int, float, float], b: tuple[int, float, float]
) -> tuple[int, float, float]:
    """Chan, Golub & LeVeque's pairwise merge of ``(n, mean, M2)``."""
    na, ma, qa = a
    nb, mb, qb = b
    if nb == 0:
        return a
    if na == 0:
        return b
    n = na + nb
    delta = mb - ma
    mean = ma + delta * nb / n
    if not math.isfinite(mean):  # means near the float64 limit: delta * nb overflowed
        mean = ma * (na / n) + mb * (nb / n)
    return n, mean, qa + qb + delta * delta * na * nb / n


# ---------------------------------------------------------------------------------------------
# Histograms (for --plot): power-of-two ranges re-binned onto the widest one
# ---------------------------------------------------------------------------------------------
def merge_histograms(parts: dict[tuple[float, float], Any]) -> tuple[float, float, Any] | None:
    """``{(lo, hi): counts}`` -> ``(lo, hi, counts)`` over the smallest range covering all."""
    import numpy as np

    if not parts:
        return None
    lo = min(k[0] for k in parts)
    hi = max(k[1] for k in parts)
    if lo < 0:
        top = max(hi, -lo)
        lo, hi = -top, top
    out = np.zeros(HIST_BINS, dtype=np.int64)
    width = (hi - lo) / HIST_BINS
    for (plo, phi), counts in parts.items():
        centers = plo + (np.arange(HIST_BINS) + 0.5) * ((phi - plo) / HIST_BINS)
        idx = np.clip(((centers - lo) / width).astype(np.int64), 0, HIST_BINS - 1)
        np.add.at(out, idx, counts)
    return lo, hi, out


# ---------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------
@dataclass
class GroupStats:
    variant: str
    version: str
    present: bool = False
    pairs: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    mask_shapes: Counter[str] = field(default_factory=Counter)
    dtypes: Counter[str] = field(default_factory=Counter)
    mask_dtypes: Counter[str] = field(default_factory=Counter)
    intensity: Moments = field(default_factory=Moments)
    by_dtype: dict[str, Moments] = field(default_factory=dict)
    foreground: list[float] = field(default_factory=list)
    conventions: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    unreadable: int = 0
    nonfinite: int = 0
    hist_parts: dict[tuple[float, float], Any] = field(default_factory=dict)
    samples: list[Pair] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.variant}/{self.version}"

    def histogram(self) -> tuple[float, float, Any] | None:
        return merge_histograms(self.hist_parts)

    def foreground_dict(self) -> dict[str, Any]:
        fg = self.foreground
        if not fg:
            out: dict[str, Any] = {"min": None, "max": None, "mean": None}
            out.update({f"p{p}": None for p in PERCENTILES})
            out.update(empty=0, masks=0)  # the same keys as below, in the same order
            return out
        import numpy as np

        arr = np.asarray(fg, dtype=np.float64)
        out = {"min": float(arr.min()), "max": float(arr.max()), "mean": float(arr.mean())}
        for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES), strict=True):
            out[f"p{p}"] = float(v)
        out["empty"] = int(np.count_nonzero(arr == 0))
        out["masks"] = len(fg)
        return out

    def to_dict(self) -> dict[str, Any]:
        hist = self.histogram()
        return {
            "variant": self.variant,
            "version": self.version,
            "present": self.present,
            "pairs": self.pairs,
            "shapes": dict(self.shapes.most_common()),
            "mask_shapes": dict(self.mask_shapes.most_common()),
            "dtypes": dict(self.dtypes.most_common()),
            "mask_dtypes": dict(self.mask_dtypes.most_common()),
            "mixed_dtypes": len(self.dtypes) > 1,
            "intensity": self.intensity.to_dict(),
            "intensity_by_dtype": (
                {k: m.to_dict() for k, m in sorted(self.by_dtype.items())}
                if len(self.by_dtype) > 1
                else {}
            ),
            "nonfinite": self.nonfinite,
            "foreground": self.foreground_dict(),
            "conventions": dict(self.conventions.most_common()),
            "bytes": self.bytes,
            "unreadable": self.unreadable,
            "histogram": (
                {"lo": hist[0], "hi": hist[1], "counts": [int(c) for c in hist[2]]}
                if hist
                else None
            ),
        }


@dataclass
class StatsResult:
    dataset_dir: str
    groups: list[GroupStats]
    csv: str | None = None
    decoded: int = 0
    cached: int = 0

    @property
    def ok(self) -> bool:
        """True: stats reports what it read (an unreadable file is counted, not a failure)."""
        return True

    @property
    def pairs(self) -> int:
        return sum(g.pairs for g in self.groups)

    @property
    def unreadable(self) -> int:
        return sum(g.unreadable for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset_dir": self.dataset_dir,
            "groups": [g.to_dict() for g in self.groups],
            "total": {
                "pairs": self.pairs,
                "bytes": sum(g.bytes for g in self.groups),
                "unreadable": self.unreadable,
            },
            "csv": self.csv,
            "decode": {"decoded": self.decoded, "cached": self.cached},
        }


# ---------------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------------
def _fmt_shape(s: FileSummary) -> str:
    return s.shape_key() if s.ok else ""


def _row(gs: GroupScan, p: Pair, si: FileSummary, sm: FileSummary) -> list[Any]:
    fg = sm.fg / sm.pixels if sm.ok and sm.pixels else ""
    err = "; ".join(f"{what}: {s.error}" for what, s in (("image", si), ("mask", sm)) if not s.ok)
    if si.ok and si.n:
        stats: list[Any] = [si.vmin, si.vmax, repr(si.mean), repr(si.std)]
    else:
        stats = ["", "", "", ""]
    return [
        gs.group.variant,
        gs.group.version,
        p.stem,
        p.image.rel,
        p.mask.rel,
        _fmt_shape(si),
        si.dtype if si.ok else "",
        *stats,
        repr(fg) if fg != "" else "",
        err,
    ]


#: Why a pair file that is not a regular file has no numbers.
NOT_READ = "not a regular file (a FIFO, device or socket): never read"


def pairs_of(gs: GroupScan) -> list[Pair]:
    """The pairs stats counts: the group's pairs, then those with a side that is not a
    regular file (:func:`~lungsegdb_cli.dataset.tree.irregular_pairs`; that side is never
    opened)."""
    return gs.pairs + irregular_pairs(gs) if gs.not_regular else gs.pairs


def _jobs(gs: GroupScan) -> Iterator[tuple[FileEntry, str]]:
    """The files to decode: both sides of every pair but the ones that are not regular."""
    special = {f.rel for f in gs.not_regular}
    for p in pairs_of(gs):
        for f, kind in ((p.image, IMAGE), (p.mask, MASK)):
            if f.rel not in special:
                yield f, kind


def _files(scans: list[GroupScan]) -> set[str]:
    """Every pair file of ``scans`` (the decode cache keeps the entries of the others)."""
    return {f.rel for gs in scans for p in pairs_of(gs) for f in (p.image, p.mask)}


def _not_read(scans: list[GroupScan], summaries: dict[str, FileSummary]) -> None:
    """An unreadable summary for each entry that is not a regular file (none was opened)."""
    for gs in scans:
        for f in gs.not_regular:
            summaries.setdefault(f.rel, FileSummary(kind=kind_of(f.rel), error=NOT_READ))


def _shape_key(s: FileSummary, keys: dict[tuple[int, ...], str]) -> str:
    """:meth:`FileSummary.shape_key`, made once per distinct shape."""
    key = keys.get(s.shape)
    if key is None:
        key = keys[s.shape] = s.shape_key()
    return key


def _accumulate(gs: GroupScan, summaries: dict[str, FileSummary], rows: list | None) -> GroupStats:
    """One group's numbers from its files' summaries. Runs on the main process while the
    workers decode the next groups, so it does per pair only what is cheap: the histograms
    are gathered as bytes and summed once per group (one numpy call, exact integers)."""
    g = gs.group
    pairs = pairs_of(gs)
    st = GroupStats(g.variant, g.version, present=gs.present, pairs=len(pairs))
    step = max(1, len(pairs) // SAMPLES)
    shape_keys: dict[tuple[int, ...], str] = {}
    hists: dict[tuple[float, float], list[bytes]] = {}
    by_dtype = st.by_dtype
    for i, p in enumerate(pairs):
        si, sm = summaries[p.image.rel], summaries[p.mask.rel]
        st.bytes += p.image.size + p.mask.size
        image_ok, mask_ok = si.error is None, sm.error is None
        st.unreadable += (not image_ok) + (not mask_ok)
        if image_ok:
            st.shapes[_shape_key(si, shape_keys)] += 1
            st.dtypes[si.dtype] += 1
            st.intensity.add(si)
            moments = by_dtype.get(si.dtype)
            if moments is None:
                moments = by_dtype[si.dtype] = Moments()
            moments.add(si)
            st.nonfinite += si.nonfinite
            if si.hist is not None:
                hists.setdefault((si.hist_lo, si.hist_hi), []).append(si.hist)
        if mask_ok:
            st.mask_shapes[_shape_key(sm, shape_keys)] += 1
            st.mask_dtypes[sm.dtype] += 1
            if sm.pixels:
                st.foreground.append(sm.fg / sm.pixels)
            c = mask_convention(sm)
            st.conventions["empty" if c is None else c] += 1
        if image_ok and mask_ok and i % step == 0 and len(st.samples) < SAMPLES:
            st.samples.append(p)
        if rows is not None:
            rows.append(_row(gs, p, si, sm))
    if hists:
        import numpy as np

        for key, parts in hists.items():
            counts = np.frombuffer(b"".join(parts), dtype="<u4").reshape(-1, HIST_BINS)
            st.hist_parts[key] = counts.sum(axis=0, dtype=np.int64)
    return st


def too_large(scans: list[GroupScan], summaries: dict[str, FileSummary]) -> list[tuple[str, str]]:
    """``(path, message)`` of every pair file over the decode limit, in tree order."""
    return [
        (f.rel, summaries[f.rel].error or "")
        for gs in scans
        for p in pairs_of(gs)
        for f in (p.image, p.mask)
        if summaries[f.rel].too_large
    ]


def _too_large_error(big: list[tuple[str, str]], limit: int) -> TooLargeImages:
    """One line naming the first file (its declared size) and a few of the others."""
    first, message = big[0]
    text = f"Image too large to decode: {first} {message}"
    if len(big) > 1:
        others = ", ".join(r for r, _ in big[1:NAMED])
        text += f"; and {len(big) - 1:,} more: {others}{', ...' if len(big) > NAMED else ''}"
    return TooLargeImages(text, files=[{"path": r, "message": m} for r, m in big], limit=limit)


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    """Write the per-pair CSV atomically (temp file in the same folder, then replace); cells
    that a spreadsheet would run as a formula are escaped (:mod:`lungsegdb_cli.utils.csvsafe`)."""
    write_output(path, csvsafe.encode(csvsafe.rows_text(CSV_COLUMNS, rows)))


@commit.one_generation
def compute(
    paths: DataPaths,
    *,
    variant: str | None = None,
    version: str | None = None,
    csv: Path | None = None,
    progress: Progress | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    max_pixels: int | None = None,
) -> StatsResult:
    """Statistics of the pairs of each (filtered) group of the tree at ``paths.dataset_dir``.

    ``variant``/``version`` accept the names
    :func:`~lungsegdb_cli.dataset.card.parse_variant` and ``parse_version`` accept.
    ``max_pixels``: the decode limit (default ``$LUNGSEGDB_MAX_IMAGE_PIXELS`` or 2**26 pixel
    values). Raises :class:`~lungsegdb_cli.errors.UsageError` for a bad filter or
    ``LUNGSEGDB_MAX_IMAGE_PIXELS``, :class:`~lungsegdb_cli.errors.CheckFailed` when there is
    no tree at all, and :class:`TooLargeImages` (nothing written) when a pair file declares an
    image over the limit.
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    groups = dataset.groups(dataset.parse_variant(variant), dataset.parse_version(version))
    if csv is not None:
        check_output_file(Path(csv), "--csv", "stats.csv", protect=paths.own)
    listing = iter_required(paths, groups)  # raises now if there is no tree
    cache = ScanCache.load(paths, enabled=use_cache)
    rows: list[list[Any]] | None = [] if csv is not None else None
    out: list[GroupStats] = []

    def reduce_group(gs: GroupScan, summaries: dict[str, FileSummary]) -> None:
        """A group's numbers, made as soon as its files are decoded (the workers go on with
        the next groups meanwhile)."""
        _not_read([gs], summaries)
        out.append(_accumulate(gs, summaries, rows))

    scans, passed, cache_saved = decode_groups(
        paths.dataset_dir,
        listing,
        _jobs,
        # keep entries of files this run did not look at (lone images, other groups)
        lambda scans: (_files(scans), []),
        cache=cache,
        progress=progress,
        workers=workers,
        description="Computing statistics",
        max_pixels=limit,
        on_group=reduce_group,
    )
    big = too_large(scans, passed.summaries)
    if big:
        cache_saved()
        raise _too_large_error(big, limit)
    assert len(out) == len(scans)
    cache_saved()
    if csv is not None and rows is not None:
        write_csv(Path(csv), rows)
    return StatsResult(
        dataset_dir=str(paths.dataset_dir),
        groups=out,
        csv=str(csv) if csv is not None else None,
        decoded=passed.decoded,
        cached=passed.cached,
    )


def conventions_summary(conventions: Counter[str] | dict[str, int]) -> str:
    """``0/255`` or ``mixed (0/1: 3, 0/255: 5)`` for the human table."""
    binary = {k: v for k, v in conventions.items() if k not in (OTHER, "empty")}
    if not binary:
        return "-"
    if len(binary) == 1:
        return next(iter(binary))
    return "mixed (" + ", ".join(f"{k}: {v}" for k, v in binary.items()) + ")"
