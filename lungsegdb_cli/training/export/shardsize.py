"""``--shard-size``: how much one shard of a packed export (``hf``, ``webdataset``) holds.

A whole number is a count of samples (pairs): ``--shard-size 1000``. A number with a unit is
a size in bytes: ``256MB`` (decimal: kB, MB, GB, TB = 10**3 ...), ``1GiB`` (binary: KiB, MiB,
GiB, TiB = 2**10 ...), ``B`` for bytes. A shard is closed before the sample that would take
it over the size (so it stays under it, counting the files' bytes as stored, before the
format's own compression), except that every shard holds at least one sample. The default is
:data:`DEFAULT`, 256 MB: a few hundred CT slices, small enough to stream and to spread over
data-loader workers, large enough that per-file overhead does not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lungsegdb_cli.errors import UsageError

_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_COUNT = re.compile(r"^\s*(\d+)\s*$")
#: The largest shard accepted (bytes): one file a loader still handles.
MAX_BYTES = 10**12


@dataclass(frozen=True)
class ShardSize:
    """A shard's limit: ``samples`` per shard, or ``bytes`` per shard (exactly one is set)."""

    samples: int | None = None
    bytes: int | None = None

    def full(self, samples: int, nbytes: int, adding: int) -> bool:
        """Whether a shard holding ``samples`` samples of ``nbytes`` bytes must be closed
        before a sample of ``adding`` bytes: never while it is empty.

        Examples
        --------
        >>> ShardSize(samples=2).full(2, 0, 10), ShardSize(bytes=100).full(1, 60, 50)
        (True, True)
        >>> ShardSize(bytes=100).full(0, 0, 500)
        False
        """
        if samples == 0:
            return False
        if self.samples is not None:
            return samples >= self.samples
        return self.bytes is not None and nbytes + adding > self.bytes

    def text(self) -> str:
        """As given on the command line: ``1000`` (samples) or ``256000000B``."""
        return str(self.samples) if self.samples is not None else f"{self.bytes}B"

    def to_dict(self) -> dict[str, int | None]:
        return {"samples": self.samples, "bytes": self.bytes}


#: The default: 256 MB per shard.
DEFAULT = ShardSize(bytes=256 * 10**6)


def _bad(value: object) -> UsageError:
    return UsageError(
        f"--shard-size must be a number of samples (e.g. 1000) or a size (e.g. 256MB, 1GiB), "
        f"not {value!r}",
        hint="Give a whole number of samples per shard, or a size with a unit: B, kB, MB, GB, "
        "KiB, MiB, GiB.",
    )


def parse(value: str | int | ShardSize | None) -> ShardSize:
    """``--shard-size`` as a :class:`ShardSize` (None: :data:`DEFAULT`); anything else than
    a positive count or size: :class:`UsageError` (exit 2).

    Examples
    --------
    >>> parse("1000"), parse("256MB").bytes, parse("1GiB").bytes, parse(None) == DEFAULT
    (ShardSize(samples=1000, bytes=None), 256000000, 1073741824, True)
    """
    if value is None:
        return DEFAULT
    if isinstance(value, ShardSize):
        if (value.samples is None) == (value.bytes is None):
            raise _bad(value)
        return value
    if isinstance(value, bool):
        raise _bad(value)
    if isinstance(value, int):
        if value < 1:
            raise _bad(value)
        return ShardSize(samples=value)
    if not isinstance(value, str):
        raise _bad(value)
    m = _COUNT.match(value)
    if m:
        count = int(m[1])
        if count < 1:
            raise _bad(value)
        return ShardSize(samples=count)
    m = _SIZE.match(value)
    unit = _UNITS.get(m[2].lower()) if m else None
    if m is None or unit is None:
        raise _bad(value)
    size = int(float(m[1]) * unit)
    if not 1 <= size <= MAX_BYTES:
        raise _bad(value)
    return ShardSize(bytes=size)
