"""``lungsegdb preview OUT.png``: a montage of slices with their mask outline, to eyeball.

Two modes, one layout (drawn by :mod:`lungsegdb_cli.training.montage`):

* **pairs** (default): a row per variant x version with pairs, up to ``n`` pairs each, chosen
  deterministically: evenly spaced over the group's pairs in natural order (the pairs of
  :func:`lungsegdb_cli.training.pairs.collect`, so ``split`` is the splits in force).
* **findings**: what :func:`lungsegdb_cli.checks.validate.validate` flagged (its result, not a
second
  copy of its checks), a row per group, each tile captioned with its finding codes. A finding
  on a pair's image or mask shows the pair; one on a lone image or mask (``missing-mask``,
  ``missing-image``, ``duplicate-stem``) shows that file alone. Findings about no single
  readable file (``count-mismatch``, ``unexpected-file``, ``symlink``, ``not-a-regular-file``)
  are listed in ``not_shown``, never opened. With nothing flagged, the PNG holds that note
  (a CI step that uploads OUT.png still finds it) and the exit code is still 0.

Each grey slice is drawn through a display window (:mod:`lungsegdb_cli.training.window`:
``window="auto"`` gives CT in Hounsfield units the lung window, 8-bit grey the 1st-99th
percentile of the frame, other images the 1st-99th percentile of the body); a legend in each
row's label column says which window its tiles used, and each tile's ``window`` records it.

Only the shown pairs are decoded (:func:`lungsegdb_cli.training.pairs.load_pair`, under the decode
limit), each scaled to a fixed tile, so it takes about as long on 10,000 files as on 10. A
file that does not decode gets a grey tile saying why. The tree is read under the shared
generation lock; OUT.png is written atomically (temp file beside it, then a rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed, UsageError
from lungsegdb_cli.state import commit
from lungsegdb_cli.training.window import Shown, WindowSpec, legend, parse
from lungsegdb_cli.utils.fsutil import check_output_file, write_output
from lungsegdb_cli.utils.install import extra_hint
from lungsegdb_cli.utils.progress import Progress, ensure

#: How to install what preview needs (from a checkout of the project, or its wheel).
EXTRA_HINT = extra_hint("plot", "pip install pillow")
#: ``--n`` bounds: tiles per row.
MAX_N = 64
#: Finding codes on a lone file (no pair to show): the file is shown alone.
LONE_CODES = ("missing-mask", "missing-image", "duplicate-stem")
NOTHING_FLAGGED = "validate flagged no pairs: nothing to preview"


def require() -> None:
    """Raise :class:`UsageError` (exit 2) before any work if Pillow is missing."""
    try:
        import PIL  # noqa: F401
        from PIL import Image, ImageDraw, ImageFont  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "preview needs Pillow (the [plot] extra), which is not installed", hint=EXTRA_HINT
        ) from exc


@dataclass(frozen=True)
class Tile:
    """One tile: the pair (or lone file) it shows, its finding codes, where it is in the PNG."""

    stem: str
    variant: str
    version: str
    #: Paths relative to the LungSegDB folder, with ``/``; None when the tile has no such file.
    image: str | None
    mask: str | None
    split: str | None = None
    codes: tuple[str, ...] = ()
    #: Why the slice is not shown (a file that does not decode); None when it is.
    note: str | None = None
    #: ``(x, y, w, h)`` of the slice inside the PNG.
    box: tuple[int, int, int, int] | None = None
    #: The display window the slice was drawn with; None when it is not shown.
    window: Shown | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem,
            "variant": self.variant,
            "version": self.version,
            "image": self.image,
            "mask": self.mask,
            "split": self.split,
            "codes": list(self.codes),
            "note": self.note,
            "box": None if self.box is None else list(self.box),
            "window": None if self.window is None else self.window.to_dict(),
        }


@dataclass
class PreviewRow:
    """One row: a variant x version group, how many candidates it had, the tiles shown."""

    variant: str
    version: str
    #: Pairs (or, with findings, flagged items) in the group; ``len(tiles)`` of them shown.
    candidates: int
    tiles: list[Tile] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.variant}/{self.version}"

    @property
    def windows(self) -> list[str]:
        """The legend of the windows the row's tiles were drawn with, one line each."""
        return legend([t.window for t in self.tiles if t.window is not None])

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "version": self.version,
            "candidates": self.candidates,
            "shown": len(self.tiles),
            "windows": self.windows,
            "tiles": [t.to_dict() for t in self.tiles],
        }


@dataclass
class PreviewResult:
    """The montage written: where, its size, its rows and tiles, and what was left out."""

    out: str
    dataset_dir: str
    mode: str
    n: int
    split: str | None
    rows: list[PreviewRow]
    #: What was asked for: ``auto``, ``lung``, ``mediastinum`` or ``LEVEL,WIDTH``.
    window: str
    width: int
    height: int
    note: str | None = None
    #: With ``findings``: validate's findings that no tile shows (as ``Finding.to_dict()``).
    not_shown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return True

    @property
    def tiles(self) -> int:
        return sum(len(r.tiles) for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "out": self.out,
            "dataset_dir": self.dataset_dir,
            "mode": self.mode,
            "n": self.n,
            "split": self.split,
            "window": self.window,
            "size": [self.width, self.height],
            "tiles": self.tiles,
            "note": self.note,
            "rows": [r.to_dict() for r in self.rows],
            "not_shown": list(self.not_shown),
        }


def pick(count: int, n: int) -> list[int]:
    """``min(n, count)`` indices evenly spaced over ``range(count)``: ``floor((i + 0.5) *
    count / n)``; all of them when ``count <= n``."""
    if count <= n:
        return list(range(count))
    return [int((i + 0.5) * count / n) for i in range(n)]


def check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise UsageError(
            f"--n must be a whole number from 1 to {MAX_N}, not {n!r}",
            hint="Give the number of pairs per row, e.g. --n 8.",
        )
    return n


# ---------------------------------------------------------------------------------------------
# What to show
# ---------------------------------------------------------------------------------------------
def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _group_order() -> dict[str, int]:
    return {g.label: i for i, g in enumerate(dataset.GROUPS)}


def sampled_rows(paths: DataPaths, n: int, split: str | None) -> list[PreviewRow]:
    """Up to ``n`` pairs per variant x version, evenly spaced in natural order."""
    from lungsegdb_cli.training.pairs import collect

    root = paths.dataset_dir
    by_group: dict[str, list[Any]] = {}
    for p in collect(paths, split=split).pairs:
        by_group.setdefault(f"{p.variant}/{p.version}", []).append(p)
    rows = []
    for found in by_group.values():
        first = found[0]
        row = PreviewRow(first.variant, first.version, candidates=len(found))
        for i in pick(len(found), n):
            p = found[i]
            row.tiles.append(
                Tile(p.stem, p.variant, p.version, _rel(p.image, root), _rel(p.mask, root), p.split)
            )
        rows.append(row)
    order = _group_order()
    rows.sort(key=lambda r: order.get(r.label, len(order)))
    return rows


def flagged_rows(
    paths: DataPaths, n: int, split: str | None, progress: Progress | None
) -> tuple[list[PreviewRow], list[dict[str, Any]]]:
    """What validate flagged, as rows of tiles (codes merged per pair), and the findings no
    tile shows. With ``split``, only pairs of that split (lone files have no split)."""
    from lungsegdb_cli.checks.validate import validate
    from lungsegdb_cli.dataset.tree import IMAGE, kind_of, natural_key
    from lungsegdb_cli.training.pairs import collect
    from lungsegdb_cli.training.split import splits_check

    if split is not None:
        collect(paths, split=split)  # no splits in force: the same UsageError as pairs
    report = validate(paths, progress=progress, splits_check=splits_check(paths))
    root = paths.dataset_dir
    owner: dict[str, Any] = {}
    for pair in collect(paths).pairs:
        owner[_rel(pair.image, root)] = pair
        owner[_rel(pair.mask, root)] = pair
    items: dict[str, dict[str, Any]] = {}  # pair key or lone path -> tile fields + codes
    not_shown: list[dict[str, Any]] = []
    for f in report.findings:
        p = owner.get(f.path)
        if p is not None and (split is None or p.split == split):
            key = p.key
            fields = {
                "stem": p.stem,
                "variant": p.variant,
                "version": p.version,
                "image": _rel(p.image, root),
                "mask": _rel(p.mask, root),
                "split": p.split,
            }
        elif p is None and f.code in LONE_CODES and split is None and f.group:
            key = f.path
            variant, _, version = f.group.rpartition("/")
            is_image = kind_of(f.path) == IMAGE
            fields = {
                "stem": dataset.stem(f.path.rsplit("/", 1)[-1]),
                "variant": variant,
                "version": version,
                "image": f.path if is_image else None,
                "mask": None if is_image else f.path,
                "split": None,
            }
        else:
            if p is None:
                not_shown.append(f.to_dict())
            continue
        entry = items.setdefault(key, {**fields, "codes": []})
        if f.code not in entry["codes"]:
            entry["codes"].append(f.code)
    by_group: dict[str, list[dict[str, Any]]] = {}
    for entry in items.values():
        by_group.setdefault(f"{entry['variant']}/{entry['version']}", []).append(entry)
    rows = []
    for label, entries in by_group.items():
        entries.sort(key=lambda e: (natural_key(e["stem"]), e["image"] or e["mask"]))
        first = entries[0]
        row = PreviewRow(first["variant"], first["version"], candidates=len(entries))
        for i in pick(len(entries), n):
            e = dict(entries[i])
            e["codes"] = tuple(e["codes"])
            row.tiles.append(Tile(**e))
        rows.append((label, row))
    order = _group_order()
    rows.sort(key=lambda lr: order.get(lr[0], len(order)))
    return [r for _, r in rows], not_shown


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------
def _art(
    tile: Tile, root: Path, limit: int, window: WindowSpec
) -> tuple[Any, Shown | None, str | None]:
    """``(rgb, window, note)`` for one tile: the slice with its outline and the window it was
    drawn with, or None, None and why not."""
    from lungsegdb_cli.training import montage
    from lungsegdb_cli.training.pairs import Pair, _decode, load_pair

    try:
        if tile.image and tile.mask:
            pair = Pair(
                tile.stem,
                root / tile.image,
                root / tile.mask,
                tile.variant,
                tile.version,
                tile.stem,
                tile.split,
            )
            image, mask = load_pair(pair, max_pixels=limit)
            return (*montage.slice_art(image, mask, window=window), None)
        # a lone image or mask (a finding): the file alone, no outline
        lone = _decode(root / (tile.image or tile.mask or ""), limit)
        return (*montage.slice_art(lone, window=window), None)
    except CheckFailed as exc:
        return None, None, exc.message.replace(f"{root}{os.sep}", "")
    except (OSError, ValueError) as exc:
        return None, None, f"cannot show: {exc}".replace(f"{root}{os.sep}", "")


def _caption(tile: Tile) -> str:
    head = tile.stem if tile.split is None else f"{tile.stem} [{tile.split}]"
    return f"{head}: {', '.join(tile.codes)}" if tile.codes else head


def draw(
    rows: list[PreviewRow],
    root: Path,
    title: str,
    note: str | None,
    progress: Progress,
    window: WindowSpec | None = None,
) -> tuple[bytes, list[PreviewRow], tuple[int, int]]:
    """Decode the tiles, compose the PNG; the rows with each tile's box, note and window
    filled in. Each row's label column ends with the legend of its windows."""
    import dataclasses

    from lungsegdb_cli.tiff.decode import max_image_pixels
    from lungsegdb_cli.training import montage

    limit = max_image_pixels()
    progress.start("Previewing", sum(len(r.tiles) for r in rows), "tiles")
    spec = parse(window)
    art_rows: list[montage.Row] = []
    notes: list[list[tuple[str | None, Shown | None]]] = []
    for row in rows:
        arts, mine = [], []
        for tile in row.tiles:
            rgb, shown, why = _art(tile, root, limit, spec)
            arts.append(montage.TileArt(rgb, _caption(tile), why))
            mine.append((why, shown))
            progress.advance(1)
        label = [row.label, f"{len(row.tiles):,} of {row.candidates:,}"]
        used = legend([s for _, s in mine if s is not None])
        if used:
            label += ["window:", *used]
        art_rows.append(montage.Row(label, arts))
        notes.append(mine)
    progress.done()
    png, boxes, size = montage.compose(title, art_rows, note=note)
    done = []
    for row, row_boxes, row_notes in zip(rows, boxes, notes, strict=True):
        tiles = [
            dataclasses.replace(t, box=b, note=w, window=s)
            for t, b, (w, s) in zip(row.tiles, row_boxes, row_notes, strict=True)
        ]
        done.append(dataclasses.replace(row, tiles=tiles))
    return png, done, size


def preview(
    paths: DataPaths,
    out: Path,
    *,
    n: int = 8,
    split: str | None = None,
    findings: bool = False,
    window: str | WindowSpec | None = None,
    progress: Progress | None = None,
) -> PreviewResult:
    """Write the montage to ``out`` (see the module docstring); ``window``: ``auto`` (None),
    ``lung``, ``mediastinum`` or ``LEVEL,WIDTH`` (:func:`lungsegdb_cli.training.window.parse`)."""
    from lungsegdb_cli.training.pairs import check_split_name

    require()
    spec = parse(window)
    n = check_n(n)
    split = check_split_name(split)
    out = check_output_file(Path(out), "OUT", "preview.png", protect=paths.own)
    prog = ensure(progress)
    with commit.reading(paths):
        if findings:
            rows, not_shown = flagged_rows(paths, n, split, prog)
        else:
            rows, not_shown = sampled_rows(paths, n, split), []
        what = "validate findings" if findings else "pairs"
        where = f", split {split}" if split else ""
        title = f"LungSegDB preview: {what}{where} ({paths.dataset_dir.name})"
        note = NOTHING_FLAGGED if findings and not rows else None
        png, rows, (width, height) = draw(rows, paths.dataset_dir, title, note, prog, spec)
    write_output(out, png)
    return PreviewResult(
        out=str(out),
        dataset_dir=str(paths.dataset_dir),
        mode="findings" if findings else "pairs",
        n=n,
        split=split,
        rows=rows,
        window=str(spec),
        width=width,
        height=height,
        note=note,
        not_shown=not_shown,
    )
