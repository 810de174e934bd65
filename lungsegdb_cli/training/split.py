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
from typing import TYPE_CHECKING, Any, NamedTuple

from lungsegdb_cli.checks.manifest import manifest_sha256
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed, UsageError
from lungsegdb_cli.state import commit
from lungsegdb_cli.utils.fsutil import atomic_write_text, check_output_file, write_output
from lungsegdb_cli.utils.statejson import loads
from lungsegdb_cli.utils.units import counted

if TYPE_CHECKING:
    from lungsegdb_cli.dataset import card as dataset

#: The split names, in order.
SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLITS_FILENAME = "splits.json"
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
        raise UsageError(
            f"Ratios need 3 numbers (train, val, test), not {len(values)}", hint=_RATIO_HINT
        )
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise UsageError(f"Ratios must all be positive: {values}", hint=_RATIO_HINT)
    if abs(sum(values) - 1.0) > 1e-6:
        raise UsageError(f"Ratios must sum to 1, not {sum(values):g}", hint=_RATIO_HINT)
    return values


# ---------------------------------------------------------------------------------------------
# The splits file: where it lives, how it is read, how its names group (pairs.py re-exports)
# ---------------------------------------------------------------------------------------------
def splits_path(paths: DataPaths) -> Path:
    """Where the splits in force live: ``<state>/splits.json``."""
    return paths.state_dir / SPLITS_FILENAME


def load_splits(path: Path) -> tuple[bytes, dict[str, Any]] | None:
    """The bytes of the splits file at ``path`` and its document (one read, regular files
    only: a FIFO there never blocks); None if there is none; a broken one: CheckFailed."""
    from lungsegdb_cli.utils.hashing import read_regular

    try:
        data = read_regular(path)
    except (FileNotFoundError, NotADirectoryError):  # no state folder: no splits either
        return None
    except OSError as exc:
        from lungsegdb_cli.errors import from_os_error

        raise from_os_error(exc, f"reading {path}") from exc
    try:
        doc = loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("splits"), dict):
            raise ValueError("no 'splits' object")
        for name in SPLITS:
            names = doc["splits"].get(name, [])
            if not isinstance(names, list) or not all(isinstance(k, str) for k in names):
                raise ValueError(f"'{name}' is not a list of names")
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, StateJSONError included
        raise CheckFailed(
            f"The splits file {path} cannot be read: {exc}",
            hint="Write it again with 'lungsegdb split'.",
            path=str(path),
        ) from exc
    return data, doc


def read_splits(path: Path) -> dict[str, Any] | None:
    """The splits document at ``path`` (see :func:`load_splits`), None if there is none."""
    loaded = load_splits(path)
    return None if loaded is None else loaded[1]


def assigned_splits(doc: dict[str, Any]) -> dict[str, str]:
    """``variant/version/stem`` -> split, from a splits document."""
    return {n: s for s in SPLITS for n in doc["splits"].get(s, [])}


def split_gaps(listed: Iterable[str], names: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(names in no split, listed names not among names)``, each sorted: how a splits file
    and a tree's pairs (both as ``variant/version/stem``) disagree."""
    listed, names = set(listed), set(names)
    return sorted(names - listed), sorted(listed - names)


def group_key_fn(group_by: str | None) -> Callable[[str], str | None]:
    """stem -> group key: the stem itself, or the first capture group of ``group_by``
    (searched in the stem; None when it does not match). A bad regex: UsageError."""
    if group_by is None:
        return lambda stem: stem
    try:
        rx = re.compile(group_by)
    except re.error as exc:
        raise UsageError(
            f"--group-by '{group_by}' is not a regular expression: {exc}",
            hint=r"Give a regex with one capture group, e.g. --group-by '^(.*\D)\d+$'.",
        ) from exc
    if rx.groups < 1:
        raise UsageError(
            f"--group-by '{group_by}' has no capture group",
            hint=r"Put the group key in parentheses, e.g. --group-by '^(.*\D)\d+$'.",
        )

    def key(stem: str) -> str | None:
        m = rx.search(stem)
        return None if m is None or m.group(1) is None else m.group(1)

    return key


class Named(NamedTuple):
    """A pair of the tree as a splits file names it (what :func:`compute_splits` needs)."""

    variant: str
    version: str
    stem: str

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.version}/{self.stem}"


def scan_names(paths: DataPaths, groups: tuple[dataset.Group, ...] | None = None) -> list[Named]:
    """Every pair of ``groups`` (default all) in tree order, as the tree pairs them (the
    pairs :func:`lungsegdb_cli.training.pairs.scan_pairs` makes records of)."""
    from lungsegdb_cli.dataset.tree import iter_required

    return [
        Named(gs.group.variant, gs.group.version, p.stem)
        for gs in iter_required(paths, groups)
        for p in gs.pairs
    ]


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
    """:data:`SUGGESTED_GROUP_BY` when every slice's stem has a prefix before a trailing
    number and many share theirs with other slices (``patient7_slice12``): slices of one scan
    would otherwise be split apart. Only a regex that matches every stem is suggested, since
    ``split`` refuses one that leaves a stem out. ``slices`` names each slice once
    (``version/stem``: a stem present in both variants is one slice); the suggestion is made
    only when the regex would make at most half as many groups as there are slices, so names
    whose prefixes are all unique (``ID_0000_Z_0142``) get none. The regex is matched on the
    stem alone (what ``--group-by`` is matched on), never on the ``version/`` before it: stems
    ``1``, ``2``, ... get none.

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
    if len(prefixes) < len(unique):
        return None  # a stem it does not match: split would refuse it (exit 2)
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


#: The hint of every refused splits file (:func:`check_splits`).
AGAIN_HINT = "Run 'lungsegdb split' again (or pass a --split-file made for this tree)."


def doc_group_by(doc: dict[str, Any], where: str) -> str | None:
    """The ``group_by`` a splits document records, checked: a value that is not a regex with
    a capture group makes the file unusable, CheckFailed (exit 1) as for any broken file."""
    group_by = doc.get("group_by")
    if group_by is None:
        return None
    try:
        if not isinstance(group_by, str):
            raise UsageError(f"group_by {group_by!r} is not a string")
        group_key_fn(group_by)
    except UsageError as exc:
        raise CheckFailed(
            f"The splits file {where} has a group_by it cannot have been made with: {exc.message}",
            hint=AGAIN_HINT,
            path=where,
        ) from None
    return group_by


def straddling(doc: dict[str, Any], where: str) -> tuple[str, str, str] | None:
    """The first leak of a splits document (no tree needed) as ``(what, key, why)``, else
    None: the preprocessed and raw copies of one slice (``what`` ``slice``, ``key``
    ``version/stem``) in different splits, or, with ``group_by``, one group (``group``,
    ``version/`` + the pattern's first capture of the stem: the key :func:`compute_splits`
    hashes) in more than one split. Slices first, then groups, each in sorted order. A
    broken ``group_by``: CheckFailed (:func:`doc_group_by`)."""
    group_by = doc_group_by(doc, where)
    key = group_key_fn(group_by)
    slices: dict[str, dict[str, str]] = {}  # version/stem -> name -> split
    groups: dict[str, dict[str, str]] = {}  # version/group -> name -> split
    for name, s in assigned_splits(doc).items():
        parts = name.split("/", 2)
        if len(parts) != 3:  # not variant/version/stem: the coverage check names it
            continue
        _, version, stem = parts
        slices.setdefault(f"{version}/{stem}", {})[name] = s
        k = key(stem)  # an empty capture is a key (the one compute_splits hashed); no match:
        groups.setdefault(f"{version}/{stem if k is None else k}", {})[name] = s  # the stem
    for what, found in (("slice", slices), ("group", groups)):
        for k in sorted(found):
            members = found[k]
            if len(set(members.values())) < 2:
                continue
            by_split = {
                s: min(n for n, t in members.items() if t == s)
                for s in SPLITS
                if s in members.values()
            }
            shown = ", ".join(f"{n!r} in {s}" for s, n in by_split.items())
            if what == "slice":
                why = (
                    f"puts the copies of slice {k!r} in different splits ({shown}); the "
                    "preprocessed and raw copies of a slice share a split"
                )
            else:
                n = counted(len(by_split), "split")
                why = (
                    f"puts group {k!r} (group_by {group_by!r}) in {n} ({shown}); a group "
                    "never straddles splits"
                )
            return what, k, why
    return None


def check_splits(
    paths: DataPaths,
    doc: dict[str, Any],
    where: str,
    names: Iterable[str],
    variants: Iterable[str] | None = None,
) -> None:
    """The one check of a splits document before its splits are used (``export``, ``pairs
    --split``, ``PairDataset(split=)``, ``preview --split``, ``croissant``): CheckFailed (exit
    1) naming the first problem, hint :data:`AGAIN_HINT`, when it was made from another
    manifest, records a broken ``group_by``, puts a pair in two splits, misses pairs of the
    tree or names pairs it no longer has (``names``: the tree's pairs of ``variants``, default
    all, as ``variant/version/stem``), puts the copies of one slice in different splits, or
    (with ``group_by``) lets a group straddle splits. :func:`compute_splits` never writes a
    file this refuses (the variant is not in its key; a group is one key)."""
    from lungsegdb_cli.dataset.card import VARIANTS

    recorded = doc.get("manifest_sha256")
    current = manifest_sha256(paths)
    if recorded is not None and recorded != current:
        raise CheckFailed(
            f"The splits file {where} was made from another manifest "
            f"({str(recorded)[:12]}..., the tree's is {str(current)[:12] if current else 'none'})",
            hint=AGAIN_HINT,
            path=where,
        )
    doc_group_by(doc, where)
    listed = [n for s in SPLITS for n in doc["splits"].get(s, [])]
    twice = sorted(n for n, c in Counter(listed).items() if c > 1)
    if twice:
        raise CheckFailed(
            f"The splits file {where} puts {twice[0]!r} in two splits",
            hint=AGAIN_HINT,
            path=where,
            pair=twice[0],
        )
    chosen = set(VARIANTS if variants is None else variants)
    missing, gone = split_gaps([n for n in listed if n.split("/", 1)[0] in chosen], names)
    if missing:
        raise CheckFailed(
            f"The splits file {where} does not cover {counted(len(missing), 'pair')} of the "
            f"tree, e.g. {missing[0]!r} (the tree changed since, or the file was made for "
            "another tree)",
            hint=AGAIN_HINT,
            path=where,
            missing=len(missing),
        )
    if gone:
        raise CheckFailed(
            f"The splits file {where} names {counted(len(gone), 'pair')} the tree no longer "
            f"has, e.g. {gone[0]!r} (the tree changed since, or the file was made for another "
            "tree)",
            hint=AGAIN_HINT,
            path=where,
            gone=len(gone),
        )
    leak = straddling(doc, where)
    if leak is not None:
        what, k, why = leak
        raise CheckFailed(
            f"The splits file {where} {why}", hint=AGAIN_HINT, path=where, **{what: k}
        )


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
    listed = [n for s in SPLITS for n in doc["splits"].get(s, [])]
    missing, gone = split_gaps(listed, names)
    reasons = []
    twice = sorted(n for n, c in Counter(listed).items() if c > 1)
    if twice:
        reasons.append(f"{twice[0]!r} is in two splits")
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
        try:
            leak = straddling(doc, str(splits_path(paths)))
        except CheckFailed as exc:  # a broken group_by
            reasons.append(exc.message)
        else:
            if leak is not None:
                reasons.append(f"the splits file {leak[2]}")
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


def _keys(pairs: list[Named], group_by: str | None) -> list[str]:
    """Each pair's hashed key, ``version/group``; a stem --group-by misses: UsageError."""
    key = group_key_fn(group_by)
    out: list[str] = []
    for p in pairs:
        k = key(p.stem)
        if k is None:
            missed = sum(key(q.stem) is None for q in pairs)
            raise UsageError(
                f"--group-by '{group_by}' does not match {counted(missed, 'stem')}, "
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
    pairs = scan_names(paths)
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
        s: {
            v: {"pairs": pair_counts[s, v], "groups": len(groups.get((s, v), ()))} for v in versions
        }
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
    if out is None:
        atomic_write_text(Path(result.path), document(result))
    else:  # the user's file: a FIFO or /dev/stdout is written into
        write_output(Path(result.path), document(result).encode("utf-8"))
    return result
