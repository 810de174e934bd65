"""Train/val/test splits that do not leak and do not drift.

Each group key (``version/stem``, or ``version/<first capture of --group-by>``) is hashed with
a keyed BLAKE2b (the seed is the key), mapped to [0, 1) and compared with the cumulative
ratios. So: the same inputs give a byte-identical ``splits.json`` on every machine; adding or
removing pairs never moves the others; a group never straddles splits; the preprocessed and raw
copies of a slice land together (the variant is not in the key); V1 and V2 stems are never
taken for one patient (the version is in the key).

With ``stratify="version"`` the hash orders the groups of each version and the ratios cut that
order by pair count, so each version gets its ratios as closely as its group sizes allow. The
price: adding pairs can move the few groups next to a cut (the plain hash moves none).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.checks.manifest import manifest_sha256
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.state import commit
from lungsegdb_cli.training.pairs import (
    SPLITS,
    Pair,
    assigned_splits,
    group_key_fn,
    read_splits,
    scan_pairs,
    split_gaps,
    splits_path,
)
from lungsegdb_cli.utils.fsutil import atomic_write_text, check_output_file
from lungsegdb_cli.utils.units import counted

SCHEMA = 1
METHOD = "keyed-hash"
DEFAULT_RATIOS: tuple[float, float, float] = (0.7, 0.15, 0.15)
#: The regex suggested when many stems share a prefix before a trailing number.
SUGGESTED_GROUP_BY = r"^(.*\D)\d+$"
#: What ``--stratify`` accepts.
STRATA: tuple[str, ...] = ("version",)
_RATIO_HINT = "Give three positive numbers summing to 1, e.g. --ratios 0.7,0.15,0.15."


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` -> a checked ratio triple (see :func:`check_ratios`)."""
    try:
        values = tuple(float(t) for t in text.split(","))
    except ValueError:
        raise UsageError(f"--ratios {text!r} is not a list of numbers", hint=_RATIO_HINT) from None
    return check_ratios(values)


def check_ratios(ratios: Any) -> tuple[float, float, float]:
    """Three finite positive numbers summing to 1 (within 1e-6), else UsageError (exit 2)."""
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise UsageError(f"Ratios {ratios!r} are not numbers", hint=_RATIO_HINT) from None
    if len(values) != 3:
        raise UsageError(f"Ratios need 3 numbers (train, val, test), not {len(values)}",
                         hint=_RATIO_HINT)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise UsageError(f"Ratios must all be positive: {values}", hint=_RATIO_HINT)
    if abs(sum(values) - 1.0) > 1e-6:
        raise UsageError(f"Ratios must sum to 1, not {sum(values):g}", hint=_RATIO_HINT)
    return values  # type: ignore[return-value]


def unit(key: str, seed: int) -> float:
    """``key`` hashed with ``seed`` (keyed BLAKE2b) onto [0, 1): the same on every machine."""
    raw = key.encode("utf-8", "surrogateescape")  # a name that is not UTF-8: its own bytes
    h = hashlib.blake2b(raw, key=str(int(seed)).encode("ascii"), digest_size=8)
    return int.from_bytes(h.digest(), "big") / 2**64


def assign(key: str, seed: int, ratios: tuple[float, float, float]) -> str:
    """The split of group ``key``: the first whose cumulative ratio exceeds its hash."""
    u = unit(key, seed)
    edge = 0.0
    for name, r in zip(SPLITS[:-1], ratios[:-1], strict=True):
        edge += r
        if u < edge:
            return name
    return SPLITS[-1]


def check_stratify(stratify: str | None) -> str | None:
    """None or one of :data:`STRATA`, else UsageError (exit 2)."""
    if stratify is None or stratify in STRATA:
        return stratify
    raise UsageError(
        f"Cannot stratify by {stratify!r}",
        hint=f"Use --stratify {' or '.join(STRATA)} (variants always share a split).",
        stratify=stratify,
    )


def stratified(
    sizes: dict[str, int], seed: int, ratios: tuple[float, float, float]
) -> dict[str, str]:
    """Group key -> split for one stratum: groups in keyed-hash order, each placed by the
    midpoint of its pairs on the cumulative ratios, so the achieved ratios track the asked."""
    total = sum(sizes.values())
    out: dict[str, str] = {}
    done = 0
    for k in sorted(sizes, key=lambda k: (unit(k, seed), k)):
        mid = (done + sizes[k] / 2) / total
        done += sizes[k]
        edge = 0.0
        out[k] = SPLITS[-1]
        for name, r in zip(SPLITS[:-1], ratios[:-1], strict=True):
            edge += r
            if mid < edge:
                out[k] = name
                break
    return out


@dataclass(frozen=True)
class Suggestion:
    """``--group-by regex`` would put ``slices`` slices into ``groups`` groups."""

    regex: str
    groups: int
    slices: int


def suggest_group_by(slices: Iterable[str]) -> Suggestion | None:
    """:data:`SUGGESTED_GROUP_BY` when most slices share a prefix before a trailing number
    with other slices (``patient7_slice12``): slices of one scan would otherwise be split
    apart. ``slices`` names each slice once (``version/stem``: a stem present in both variants
    is one slice); the suggestion is made only when the regex would make at most half as many
    groups as there are slices, so names whose prefixes are all unique
    (``ID_0000_Z_0142``) get none. The regex is matched on the stem alone (what ``--group-by``
    is matched on), never on the ``version/`` before it: stems ``1``, ``2``, ... get none.

    Examples
    --------
    >>> suggest_group_by(["V1/1", "V1/2", "V2/1", "V2/2"]) is None
    True
    >>> suggest_group_by(["V1/p1_s1", "V1/p1_s2", "V1/p2_s1", "V1/p2_s2"]).groups
    2
    """
    unique = set(slices)
    if not unique:
        return None
    rx = re.compile(SUGGESTED_GROUP_BY)
    matches = ((s.rpartition("/")[0], rx.match(s.rpartition("/")[2])) for s in unique)
    prefixes = [(version, m.group(1)) for version, m in matches if m is not None]
    if len(prefixes) * 2 < len(unique):
        return None
    groups = len(set(prefixes))
    if groups * 2 > len(prefixes):
        return None
    return Suggestion(SUGGESTED_GROUP_BY, groups, len(unique))


@dataclass
class SplitResult:
    """What ``lungsegdb split`` wrote: the splits file, its settings, counts and ratios."""

    path: str
    seed: int
    ratios: tuple[float, float, float]
    group_by: str | None
    manifest_sha256: str | None
    #: split -> sorted ``variant/version/stem`` names (the file's ``splits``).
    splits: dict[str, list[str]]
    #: split -> version -> ``{"pairs", "groups"}``.
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    suggestion: str | None = None
    #: how many groups the suggested ``--group-by`` would make (None without a suggestion)
    suggestion_groups: int | None = None
    #: ``"version"`` when the ratios were met per version (:func:`stratified`), else None.
    stratify: str | None = None

    @property
    def ok(self) -> bool:
        return True

    @property
    def pairs(self) -> int:
        return sum(len(v) for v in self.splits.values())

    def achieved(self) -> dict[str, float]:
        """The fraction of the pairs in each split (0.0 each with no pairs)."""
        n = self.pairs
        return {s: (len(self.splits[s]) / n if n else 0.0) for s in SPLITS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "path": self.path,
            "method": METHOD,
            "seed": self.seed,
            "ratios": list(self.ratios),
            "group_by": self.group_by,
            "stratify": self.stratify,
            "manifest_sha256": self.manifest_sha256,
            "pairs": self.pairs,
            "counts": self.counts,
            "achieved": {k: round(v, 6) for k, v in self.achieved().items()},
            "suggestion": self.suggestion,
            "suggestion_groups": self.suggestion_groups,
        }


def stale_splits(paths: DataPaths, names: set[str]) -> str | None:
    """Why the splits in force no longer match the tree (``names``: its pairs as
    ``variant/version/stem``), or None when they match or there are none."""
    from lungsegdb_cli.errors import LungSegDBError

    try:
        doc = read_splits(splits_path(paths))
    except LungSegDBError as exc:  # broken, unreadable, a FIFO: say so, validate goes on
        return exc.message
    if doc is None:
        return None
    missing, gone = split_gaps(assigned_splits(doc), names)
    reasons = []
    if missing:
        one = len(missing) == 1
        reasons.append(
            f"{counted(len(missing), 'pair')} of the tree {'is' if one else 'are'} in no split"
        )
    if gone:
        one = len(gone) == 1
        reasons.append(
            f"{counted(len(gone), 'split entry', 'split entries')} "
            f"{'names a pair' if one else 'name pairs'} the tree no longer has"
        )
    made_from = doc.get("manifest_sha256")
    now = manifest_sha256(paths)
    if not reasons and made_from and now and made_from != now:
        reasons.append("the splits were made from another manifest")
    if not reasons:
        return None
    return "; ".join(reasons) + " (run 'lungsegdb split' again)"


def splits_check(paths: DataPaths) -> Callable[[set[str]], tuple[str, str] | None]:
    """What ``validate`` asks of the splits in force (its ``splits_check``): given the tree's
    pairs, None when the splits match, else the splits file relative to the tree and why not."""

    def check(names: set[str]) -> tuple[str, str] | None:
        why = stale_splits(paths, names)
        if why is None:
            return None
        rel = os.path.relpath(splits_path(paths), paths.dataset_dir).replace(os.sep, "/")
        return rel, why

    return check


def _keys(pairs: list[Pair], group_by: str | None) -> list[str]:
    """Each pair's hashed key, ``version/group``; a stem --group-by misses: UsageError."""
    key = group_key_fn(group_by)
    out: list[str] = []
    for p in pairs:
        k = key(p.stem)
        if k is None:
            missed = sum(key(q.stem) is None for q in pairs)
            raise UsageError(
                f"--group-by {group_by!r} does not match {counted(missed, 'stem')}, "
                f"e.g. {p.stem!r} ({p.variant}/{p.version})",
                hint="Make the regex match every stem; its first capture group is the key.",
                example=p.stem,
                missed=missed,
            )
        out.append(f"{p.version}/{k}")
    return out


def document(result: SplitResult) -> str:
    """The splits file's text: sorted keys, sorted names, one trailing newline."""
    doc = {
        "schema": SCHEMA,
        "method": METHOD,
        "seed": result.seed,
        "ratios": list(result.ratios),
        "group_by": result.group_by,
        "manifest_sha256": result.manifest_sha256,
        "splits": result.splits,
    }
    if result.stratify is not None:  # files without it stay byte-identical to earlier ones
        doc["stratify"] = result.stratify
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def compute_splits(
    paths: DataPaths,
    *,
    ratios: Any = DEFAULT_RATIOS,
    seed: int = 0,
    group_by: str | None = None,
    out: Path | None = None,
    stratify: str | None = None,
) -> SplitResult:
    """Assign every pair of the tree to train/val/test; writes nothing (``out``, default
    ``<state>/splits.json``, is only where the result says it belongs). Bad ratios or
    --group-by: UsageError (exit 2); no tree: CheckFailed (exit 1). ``stratify="version"``:
    see :func:`stratified`. The caller holds the tree steady (:func:`make_splits` does; an
    export reads it inside its own generation)."""
    checked = check_ratios(ratios)
    stratify = check_stratify(stratify)
    if isinstance(seed, bool) or not isinstance(seed, int) or len(str(seed)) > 64:
        raise UsageError(
            f"The seed must be a whole number of at most 64 digits, not {seed!r}",
            hint="E.g. --seed 0.",
        )
    group_key_fn(group_by)  # a bad regex fails before the tree is listed
    pairs = scan_pairs(paths)
    keys = _keys(pairs, group_by)
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    pair_counts: Counter[tuple[str, str]] = Counter()
    groups: dict[tuple[str, str], set[str]] = {}
    memo: dict[str, str] = {}
    if stratify is not None:
        for v in {p.version for p in pairs}:
            sizes = Counter(k for p, k in zip(pairs, keys, strict=True) if p.version == v)
            memo.update(stratified(sizes, seed, checked))
    for p, k in zip(pairs, keys, strict=True):
        s = memo.get(k)
        if s is None:
            s = memo[k] = assign(k, seed, checked)
        splits[s].append(p.key)
        pair_counts[s, p.version] += 1
        groups.setdefault((s, p.version), set()).add(k)
    for names in splits.values():
        names.sort()
    versions = sorted({p.version for p in pairs})
    counts = {
        s: {v: {"pairs": pair_counts[s, v], "groups": len(groups.get((s, v), ()))}
            for v in versions}
        for s in SPLITS
    }
    target = Path(out) if out is not None else splits_path(paths)
    slices = (f"{p.version}/{p.stem}" for p in pairs)  # both variants of a slice: one slice
    hint = None if group_by is not None else suggest_group_by(slices)
    result = SplitResult(
        path=str(target),
        seed=seed,
        ratios=checked,
        group_by=group_by,
        manifest_sha256=manifest_sha256(paths),
        splits=splits,
        counts=counts,
        suggestion=None if hint is None else hint.regex,
        suggestion_groups=None if hint is None else hint.groups,
        stratify=stratify,
    )
    return result


@commit.one_generation
def make_splits(
    paths: DataPaths,
    *,
    ratios: Any = DEFAULT_RATIOS,
    seed: int = 0,
    group_by: str | None = None,
    out: Path | None = None,
    stratify: str | None = None,
) -> SplitResult:
    """:func:`compute_splits`, then the splits file written atomically (default
    ``<state>/splits.json``), one generation of the tree from the first read to the write.
    An ``out`` among the data dir's own files (:attr:`DataPaths.own`), the default excepted:
    UsageError (exit 2), before the tree is read."""
    if out is not None and os.path.realpath(out) != os.path.realpath(splits_path(paths)):
        check_output_file(Path(out), "--out", "splits.json", protect=paths.own)
    result = compute_splits(
        paths, ratios=ratios, seed=seed, group_by=group_by, out=out, stratify=stratify
    )
    atomic_write_text(Path(result.path), document(result))
    return result
