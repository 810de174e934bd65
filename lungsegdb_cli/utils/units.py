"""Sizes and counts as people read them, one convention everywhere the tool prints one: binary
multiples with their IEC names (``KiB``, ``MiB``, ``GiB``, ``TiB``), since the numbers are
divided by 1024 (140,110,386 bytes is ``133.6 MiB``, not "133.6 MB"); a count with its noun in
the right number (``1 pair``, ``2 pairs``, ``1 entry``), never "1 pairs" or "pair(s)"."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    """``n`` bytes as ``123 B``, ``4.5 KiB``, ``133.6 MiB``, ...

    Examples
    --------
    >>> human_bytes(512), human_bytes(140_110_386), human_bytes(3 * 1024**3)
    ('512 B', '133.6 MiB', '3.0 GiB')
    """
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` with ``noun`` in the right number: ``1 pair``, ``2 pairs``, ``1,800 pairs``;
    ``plural`` for a noun that is not made plural by an ``s`` (``entry``, ``entries``).

    Examples
    --------
    >>> counted(1, "pair"), counted(0, "pair"), counted(1800, "pair")
    ('1 pair', '0 pairs', '1,800 pairs')
    >>> counted(1, "entry", "entries"), counted(2, "entry", "entries")
    ('1 entry', '2 entries')
    """
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {plural or noun + 's'}"
