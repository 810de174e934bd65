"""Mask value conventions: which binary encoding a mask uses (``0/1``, ``0/255``, ...), and
what a group of masks agrees on. Shared by ``validate`` (its warnings and per-group summary) and
``stats`` (its per-group convention counts).

What counts as foreground (lung) in a mask is one rule, :func:`foreground` (defined in
:mod:`lungsegdb_cli.tiff.foreground`, where the decode counts it, and re-exported here): an
alpha channel (the last of 2 or 4 samples) is dropped, then a pixel is foreground when any
channel is non-zero -- so a ``0/-1`` mask has foreground, and an opaque RGBA mask is not all
lung. ``validate``, ``stats``, ``load_pair``/``PairDataset`` and every export apply it."""

from __future__ import annotations

from collections import Counter
from functools import lru_cache

from lungsegdb_cli.tiff.decode import FileSummary
from lungsegdb_cli.tiff.foreground import ALPHA_CHANNELS, foreground

__all__ = [
    "ALPHA_CHANNELS",
    "MIXED",
    "NONE",
    "OTHER",
    "fmt_value",
    "foreground",
    "group_convention",
    "mask_convention",
]

#: Group mask conventions: one binary convention, several, or no binary mask at all.
MIXED = "mixed"
NONE = "none"
OTHER = "other"


def fmt_value(v: float | int | None) -> str:
    """A mask value as text: integers without ``.0``, ``?`` when unknown."""
    if v is None:
        return "?"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def mask_convention(s: FileSummary) -> str | None:
    """``0/1``, ``0/255``, ``a/b`` for a binary mask; ``other`` if not binary; None if empty
    (an all-zero mask fits any convention) or unreadable."""
    if not s.ok or s.n == 0:
        return None
    if s.values is None or s.distinct > 2:
        return OTHER
    return _binary_convention(s.values)


@lru_cache(maxsize=256)
def _binary_convention(values: tuple[float, ...]) -> str | None:
    """The convention of one or two mask values (a few distinct tuples per tree: cached)."""
    vals = sorted(values, key=lambda v: (v != 0, v))  # 0 first: 0/v, also for 0/-1
    if vals == [0]:
        return None
    if len(vals) == 1:
        vals = [0, vals[0]]
    return "/".join(fmt_value(v) for v in vals)


def group_convention(conventions: Counter[str]) -> str:
    """The one binary convention of a group, ``mixed`` when several, ``none`` when none."""
    binary = [c for c in conventions if c != OTHER]
    if not binary:
        return NONE
    return binary[0] if len(binary) == 1 else MIXED
