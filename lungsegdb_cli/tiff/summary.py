"""The summary of one decoded TIFF: :class:`FileSummary`, small, picklable, JSON-able.

Made by :func:`lungsegdb_cli.tiff.decode.summarize` (the reductions are in
:mod:`lungsegdb_cli.tiff.stats`), kept by the decode cache (:mod:`lungsegdb_cli.checks.scancache`),
read by ``validate`` and ``stats``. Public names are re-exported by
:mod:`lungsegdb_cli.tiff.decode`.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

IMAGE = "image"
MASK = "mask"


@dataclass(slots=True)
class FileSummary:
    """What one decode of one file tells us. ``error`` set means unreadable."""

    kind: str
    error: str | None = None
    shape: tuple[int, ...] = ()
    dtype: str = ""
    pages: int = 0
    compression: str = ""
    n: int = 0
    vmin: float | None = None
    vmax: float | None = None
    s1: int | None = None
    s2: int | None = None
    #: float files only: mean and sum of squared deviations (integer files keep s1/s2)
    fmean: float = 0.0
    fm2: float = 0.0
    nonfinite: int = 0
    distinct: int = 0
    values: tuple[float, ...] | None = None
    fg: int = 0
    hist: bytes | None = field(default=None, repr=False)
    hist_lo: float = 0.0
    hist_hi: float = 0.0
    #: the tags declare more than the decode limit (``error`` says what): nothing was decoded
    too_large: bool = False
    #: the pixel values the tags declare (every page): checked against the decode limit of
    #: each run, also when the summary comes from the decode cache
    declared: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def hw(self) -> tuple[int, int]:
        return (self.shape[0], self.shape[1]) if len(self.shape) >= 2 else (0, 0)

    @property
    def channels(self) -> int:
        return self.shape[2] if len(self.shape) >= 3 else 1

    @property
    def pixels(self) -> int:
        h, w = self.hw
        return h * w

    def moments(self) -> tuple[float, float]:
        """(mean, M2): from the exact sums for integer files, else as computed."""
        if self.s1 is not None and self.s2 is not None:
            return exact_moments(self.n, self.s1, self.s2)
        return self.fmean, self.fm2

    @property
    def mean(self) -> float:
        return self.moments()[0]

    @property
    def std(self) -> float:
        return math.sqrt(max(self.moments()[1], 0.0) / self.n) if self.n else 0.0

    def shape_key(self) -> str:
        return "x".join(str(d) for d in self.shape)

    def histogram(self) -> Any:
        """The histogram counts as a numpy array (or None)."""
        if self.hist is None:
            return None
        import numpy as np

        return np.frombuffer(self.hist, dtype="<u4").astype(np.int64)

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    @classmethod
    def from_tuple(cls, t: tuple[Any, ...]) -> FileSummary:
        return cls(*t)

    def to_json(self) -> list[Any]:
        """A compact JSON value: the fields in declaration order (see :func:`from_json`)."""
        d = [getattr(self, f) for f in _FIELDS]
        d[_SHAPE] = list(self.shape)
        d[_VALUES] = list(self.values) if self.values is not None else None
        d[_HIST] = base64.b64encode(self.hist).decode("ascii") if self.hist else None
        return d

    @classmethod
    def from_json(cls, d: list[Any]) -> FileSummary:
        if not isinstance(d, list) or len(d) != len(_FIELDS):
            raise ValueError("not a FileSummary record")
        d = list(d)
        d[_SHAPE] = tuple(d[_SHAPE] or ())
        if d[_VALUES] is not None:
            d[_VALUES] = tuple(d[_VALUES])
        if d[_HIST]:
            d[_HIST] = base64.b64decode(d[_HIST])
        return cls(*d)


_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FileSummary))
_SHAPE, _VALUES, _HIST = (_FIELDS.index(n) for n in ("shape", "values", "hist"))


def exact_moments(n: int, s1: int, s2: int) -> tuple[float, float]:
    """(mean, m2) from exact integer sums, rounded once at the end."""
    if n == 0:
        return 0.0, 0.0
    return float(Fraction(s1, n)), float(Fraction(n * s2 - s1 * s1, n))
