"""``lungsegdb validate``: every image has its mask, both decode, shapes agree, masks are sane.

The tree is listed by :mod:`lungsegdb_cli.dataset.tree` (pairing by stem), every TIFF is decoded
once
by :mod:`lungsegdb_cli.checks.decodepass` (cache, both cores), and the summaries are turned into
findings here. Codes and severities are the contract's; with ``strict`` every warning is
reported with severity ``error`` (so ``ok`` means "no finding at all").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lungsegdb_cli.checks.conventions import (
    ALPHA_CHANNELS,
    NONE,
    fmt_value,
    group_convention,
    mask_convention,
)
from lungsegdb_cli.checks.decodepass import decode_groups
from lungsegdb_cli.checks.scancache import ScanCache
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.dataset.tree import GroupScan, iter_required, natural_key
from lungsegdb_cli.state import commit
from lungsegdb_cli.tiff.decode import FileSummary, max_image_pixels
from lungsegdb_cli.utils.progress import Progress
from lungsegdb_cli.utils.units import counted

ERROR = "error"
WARNING = "warning"

#: Every code validate reports, in the order findings are listed, with its default severity.
CODES: dict[str, str] = {
    "missing-mask": ERROR,
    "missing-image": ERROR,
    "duplicate-stem": ERROR,
    "unreadable": ERROR,
    "too-large": ERROR,
    "shape-mismatch": ERROR,
    "non-binary-mask": WARNING,
    "empty-mask": WARNING,
    "multi-channel-mask": WARNING,
    "multi-page": WARNING,
    "count-mismatch": WARNING,
    "unexpected-file": WARNING,
    # hostile trees: never read (a symlink leaving the tree or dangling is an error)
    "not-a-regular-file": ERROR,
    "symlink": WARNING,
    # the splits in force (<state>/splits.json) no longer match the tree
    "stale-splits": WARNING,
}
_ORDER = {c: i for i, c in enumerate(CODES)}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    path: str
    message: str
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "group": self.group,
        }


@dataclass
class GroupReport:
    variant: str
    version: str
    present: bool
    pairs: int
    published: int
    images: int
    masks: int
    errors: int = 0
    warnings: int = 0
    convention: str = NONE
    conventions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "version": self.version,
            "present": self.present,
            "pairs": self.pairs,
            "published": self.published,
            "images": self.images,
            "masks": self.masks,
            "errors": self.errors,
            "warnings": self.warnings,
            "convention": self.convention,
            "conventions": dict(self.conventions),
        }


@dataclass
class ValidateResult:
    dataset_dir: str
    strict: bool
    pairs: int
    findings: list[Finding]
    groups: list[GroupReport]
    decoded: int = 0
    cached: int = 0

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == WARNING for f in self.findings)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def by_code(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.code, []).append(f)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "strict": self.strict,
            "dataset_dir": self.dataset_dir,
            "pairs": self.pairs,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.to_dict() for f in self.findings],
            "groups": [g.to_dict() for g in self.groups],
            "decode": {"decoded": self.decoded, "cached": self.cached},
        }


def _hw(s: FileSummary) -> str:
    return "x".join(str(d) for d in s.hw)


def _file_findings(rel: str, kind: str, s: FileSummary, add: Any) -> None:
    if not s.ok:
        add("too-large" if s.too_large else "unreadable", rel, s.error or "cannot decode")
        return
    if s.pages > 1:
        add("multi-page", rel, f"{s.pages} pages; every page is decoded, only the first is used")
    if kind != "mask":
        return
    if s.channels > 1:
        alpha = ALPHA_CHANNELS.get(s.channels)
        used = f"{alpha}: the alpha channel is ignored, " if alpha else ""
        add(
            "multi-channel-mask",
            rel,
            f"mask has {s.channels} channels ({s.shape_key()}); {used}a pixel is lung "
            "where any channel is non-zero",
        )
    if s.distinct > 2 or s.nonfinite:
        odd = f" ({s.nonfinite} NaN or infinite pixels)" if s.nonfinite else ""
        finite = f" in [{fmt_value(s.vmin)}, {fmt_value(s.vmax)}]" if s.n else ""
        add(
            "non-binary-mask",
            rel,
            f"{s.distinct} distinct values{finite}{odd}; a binary mask has two",
        )
    if s.fg == 0:
        where = " (alpha ignored)" if ALPHA_CHANNELS.get(s.channels) else ""
        what = "0 or NaN" if s.nonfinite else "0"
        add("empty-mask", rel, f"no foreground: every pixel is {what}{where}")


_LINK_MESSAGES = {
    "inside": "symlink to {t} inside the tree (extraction makes none); followed",
    "outside": "symlink to {t}, whose path leaves the tree: not followed, never read",
    "dangling": "symlink to {t}, which does not exist (or loops): not followed",
}


def _hostile_findings(gs: GroupScan, add: Any) -> None:
    """``not-a-regular-file`` and ``symlink`` findings from what the tree scan set aside."""
    for f in gs.not_regular:
        add("not-a-regular-file", f.rel, "a FIFO, device or socket, not a file: never read")
    for link in gs.symlinks:
        msg = _LINK_MESSAGES[link.where].format(t=link.target)
        add("symlink", link.rel, msg, ERROR if link.leaves else None)


def _check_group(gs: GroupScan, summaries: dict[str, FileSummary], add_finding: Any) -> GroupReport:
    g = gs.group
    label = gs.label

    def add(code: str, path: str, message: str, severity: str | None = None) -> None:
        add_finding(code, path, message, g.label, severity)

    for f in gs.lone_images:
        # the stem as it is, not its repr: the output escapes names (a byte not UTF-8: \xff)
        add("missing-mask", f.rel, f"no mask with stem '{dataset.stem(f.name)}' in {g.masks}")
    for f in gs.lone_masks:
        add("missing-image", f.rel, f"no image with stem '{dataset.stem(f.name)}' in {g.images}")
    for dup, first in gs.duplicates:
        add("duplicate-stem", dup.rel, f"same stem as {first.name}; cannot tell which to pair")
    for f in gs.unexpected:
        what = "a folder" if f.rel.endswith("/") else "not a TIFF"
        add("unexpected-file", f.rel, f"{what} in an image/mask folder")
    _hostile_findings(gs, add)

    conventions: Counter[str] = Counter()
    for entry, kind in gs.jobs():
        s = summaries[entry.rel]
        _file_findings(entry.rel, kind, s, add)
        if kind == "mask":
            c = mask_convention(s)
            if c is not None:
                conventions[c] += 1
    for p in gs.pairs:
        si, sm = summaries[p.image.rel], summaries[p.mask.rel]
        if si.ok and sm.ok and si.hw != sm.hw:
            add(
                "shape-mismatch",
                p.mask.rel,
                f"mask {_hw(sm)}, image {_hw(si)} ({p.image.name})",
            )
    n_pairs = len(gs.pairs)
    if n_pairs != g.published_pairs:
        note = "" if gs.present else " (folder not found)"
        add(
            "count-mismatch",
            label,
            f"{counted(n_pairs, 'pair')}, published {g.published_pairs:,}{note}",
        )
    return GroupReport(
        variant=g.variant,
        version=g.version,
        present=gs.present,
        pairs=n_pairs,
        published=g.published_pairs,
        images=len(gs.pairs) + len(gs.lone_images),
        masks=len(gs.pairs) + len(gs.lone_masks),
        convention=group_convention(conventions),
        conventions=dict(sorted(conventions.items())),
    )


#: What validate asks of the splits in force, given the tree's pairs as ``variant/version/stem``:
#: None when they match (or there are none), else the splits file's path relative to the tree and
#: why it no longer matches. The facade passes it in (the splits belong to the training hand-off,
#: which sits above the checks).
SplitsCheck = Callable[[set[str]], tuple[str, str] | None]


def _splits_findings(
    groups: list[GroupScan], strict: bool, check: SplitsCheck | None
) -> list[Finding]:
    """A ``stale-splits`` finding when the splits in force no longer match the tree."""
    if check is None:
        return []
    names = {f"{gs.group.variant}/{gs.group.version}/{p.stem}" for gs in groups for p in gs.pairs}
    stale = check(names)
    if stale is None:
        return []
    rel, why = stale
    sev = ERROR if strict else CODES["stale-splits"]
    return [Finding("stale-splits", sev, rel, f"The splits file no longer matches: {why}")]


@commit.one_generation
def validate(
    paths: DataPaths,
    *,
    strict: bool = False,
    progress: Progress | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    max_pixels: int | None = None,
    splits_check: SplitsCheck | None = None,
) -> ValidateResult:
    """Check the whole tree at ``paths.dataset_dir``.

    ``max_pixels``: the decode limit (default ``$LUNGSEGDB_MAX_IMAGE_PIXELS`` or 2**26 pixel
    values); a file that declares more is a ``too-large`` finding and is not decoded.
    ``splits_check``: how to tell whether the splits in force still match (a ``stale-splits``
    finding when not); the facade passes :func:`lungsegdb_cli.training.split.splits_check`.
    Raises :class:`~lungsegdb_cli.errors.UsageError` for a bad ``LUNGSEGDB_MAX_IMAGE_PIXELS``
    and :class:`~lungsegdb_cli.errors.CheckFailed` when there is no tree at all.
    """
    limit = max_image_pixels() if max_pixels is None else max_pixels
    listing = iter_required(paths)  # raises now if there is no tree
    cache = ScanCache.load(paths, enabled=use_cache)
    groups, passed, cache_saved = decode_groups(
        paths.dataset_dir,
        listing,
        lambda gs: gs.jobs(),
        lambda groups: (
            {e.rel for gs in groups for e, _ in gs.jobs()},
            [d for gs in groups for d in gs.image_dirs + gs.mask_dirs],
        ),
        cache=cache,
        progress=progress,
        workers=workers,
        description="Validating",
        max_pixels=limit,
    )

    findings: list[Finding] = []
    reports: list[GroupReport] = []
    for gs in groups:
        mine: list[Finding] = []

        def add_finding(
            code: str, path: str, message: str, group: str, sev: str | None = None, mine=mine
        ) -> None:
            sev = ERROR if strict else (sev or CODES[code])
            mine.append(Finding(code, sev, path, message, group))

        report = _check_group(gs, passed.summaries, add_finding)
        report.errors = sum(f.severity == ERROR for f in mine)
        report.warnings = sum(f.severity == WARNING for f in mine)
        reports.append(report)
        findings += mine
    findings += _splits_findings(groups, strict, splits_check)
    findings.sort(key=lambda f: (_ORDER[f.code], natural_key(f.path)))
    cache_saved()
    return ValidateResult(
        dataset_dir=str(paths.dataset_dir),
        strict=strict,
        pairs=sum(r.pairs for r in reports),
        findings=findings,
        groups=reports,
        decoded=passed.decoded,
        cached=passed.cached,
    )
