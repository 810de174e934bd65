"""Display windows: how a slice's values become grey levels in ``preview`` and ``stats --plot``.

A CT slice stored as signed Hounsfield units (HU) has its corners, outside the round scan
field, padded far below air (-2000 .. -3024 is common). Scaling such a slice by the 1st-99th
percentile of the whole frame makes the padding the black point and the lungs (about -850 HU)
light grey, barely darker than soft tissue. So the window is chosen per image (``auto``):

* an RGB(A) ``uint8`` image is shown as stored (``rgb``);
* an 8-bit grey image (``uint8``, ``int8``, ``bool``: already windowed when it was stored) is
  scaled by the 1st-99th percentile of the whole frame (``percentile-frame``), as before;
* a signed integer image of 16 bits or more whose values look like HU (:func:`looks_like_hu`:
  its darkest value at or below :data:`HU_AIR` -- air, or padding below it) gets the lung
  window, level -600, width 1500 (``lung``);
* anything else (``uint16``, floats, signed images that do not look like HU) is scaled by the
  1st-99th percentile of the body: the pixels above the frame's minimum, i.e. without the
  padding (``percentile-body``; the whole frame when every pixel holds the minimum).

An explicit window (``lung``, ``mediastinum`` or ``LEVEL,WIDTH``, see :func:`parse`) replaces
the last two rules: it applies to every grey image that is not 8-bit, in that image's units.
8-bit grey and RGB images keep their rule. :class:`Shown` records the window a slice was drawn
with, for the legend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lungsegdb_cli.errors import UsageError

#: Named windows: ``name -> (level, width)`` in HU.
PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
}
#: The window ``auto`` gives images in HU.
HU_DEFAULT = "lung"
#: A signed image whose darkest value is at or below this (air is -1000 HU; scanners pad the
#: corners outside the scan field lower still) is taken to be in HU.
HU_AIR = -900
#: The percentiles of the percentile rules.
PERCENTILES = (1.0, 99.0)
#: What ``--window`` accepts, for messages.
CHOICES = "lung, mediastinum, auto or LEVEL,WIDTH"


@dataclass(frozen=True)
class WindowSpec:
    """What the user asked for: ``auto`` (the default rules), a preset or a custom window."""

    name: str
    level: float | None = None
    width: float | None = None

    @property
    def fixed(self) -> bool:
        """True for a preset or custom window, False for ``auto``."""
        return self.level is not None

    def __str__(self) -> str:
        if self.name in ("auto", *PRESETS):
            return self.name
        return f"{_num(self.level)},{_num(self.width)}"


AUTO = WindowSpec("auto")


@dataclass(frozen=True)
class Shown:
    """The window one slice was drawn with: its ``rule`` and the values mapped to black
    (``lo``) and white (``hi``); None for ``rgb`` (shown as stored)."""

    rule: str
    lo: float | None = None
    hi: float | None = None

    @property
    def legend(self) -> str:
        """One short line for the picture: ``lung L-600 W1500``, ``1-99% of body``, ..."""
        if self.rule == "rgb":
            return "RGB as stored"
        if self.rule == "percentile-frame":
            return "1-99% of frame"
        if self.rule == "percentile-body":
            return "1-99% of body"
        assert self.lo is not None and self.hi is not None
        level, width = (self.lo + self.hi) / 2, self.hi - self.lo
        head = "" if self.rule == "custom" else f"{self.rule} "
        return f"{head}L{_num(level)} W{_num(width)}"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "lo": self.lo, "hi": self.hi, "legend": self.legend}


def _num(v: float | None) -> str:
    """``-600.0`` as ``-600``, ``12.5`` as ``12.5``."""
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def parse(value: str | WindowSpec | None) -> WindowSpec:
    """``--window``'s value as a :class:`WindowSpec`.

    Parameters
    ----------
    value : str, WindowSpec or None
        ``auto`` (or None), ``lung``, ``mediastinum`` (any case), or ``LEVEL,WIDTH``: two
        finite numbers, the width > 0, e.g. ``-600,1500``.

    Returns
    -------
    WindowSpec

    Raises
    ------
    UsageError
        Anything else (exit 2).

    Examples
    --------
    >>> parse("lung")
    WindowSpec(name='lung', level=-600.0, width=1500.0)
    >>> parse("40,400")
    WindowSpec(name='custom', level=40.0, width=400.0)
    >>> parse(None).name
    'auto'
    """
    if isinstance(value, WindowSpec):
        return value
    if value is None:
        return AUTO
    if not isinstance(value, str):
        raise _bad(value)
    text = value.strip().lower()
    if text == "auto":
        return AUTO
    if text in PRESETS:
        return WindowSpec(text, *PRESETS[text])
    parts = text.split(",")
    if len(parts) != 2:
        raise _bad(value)
    try:
        level, width = (float(p) for p in parts)
    except ValueError:
        raise _bad(value) from None
    if not (math.isfinite(level) and math.isfinite(width)) or width <= 0:
        raise _bad(value)
    return WindowSpec("custom", level, width)


def _bad(value: object) -> UsageError:
    return UsageError(
        f"--window must be {CHOICES}, not {value!r}",
        hint="For example --window lung, --window mediastinum or --window=-600,1500 "
        "(LEVEL,WIDTH in the image's units, the width > 0).",
    )


def looks_like_hu(plane: Any) -> bool:
    """True for a signed integer image of 16 bits or more whose darkest value is at or below
    :data:`HU_AIR` (air, or the padding outside the scan field)."""
    a = np.asarray(plane)
    if a.dtype.kind != "i" or a.dtype.itemsize < 2 or a.size == 0:
        return False
    return int(a.min()) <= HU_AIR


def _eight_bit(a: Any) -> bool:
    return a.dtype.itemsize == 1 or a.dtype.kind == "b"


def _finite(values: Any) -> Any:
    """``values`` as float64 without NaN and infinities (a float slice may hold them)."""
    f = np.asarray(values).astype(np.float64).reshape(-1)
    return f if f.dtype.kind != "f" or np.isfinite(f).all() else f[np.isfinite(f)]


def _percentiles(values: Any) -> tuple[float, float]:
    f = _finite(values)
    if not f.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(f, PERCENTILES))
    if hi > lo:
        return lo, hi
    return lo, lo + max(1.0, abs(lo) * 2.0**-20)  # one value: a window around it, never empty


def choose(plane: Any, spec: WindowSpec = AUTO, sample: Any | None = None) -> Shown:
    """The window for the 2D grey ``plane`` under ``spec`` (see the module docstring).

    ``sample``: the pixels the percentile rules look at (default: ``plane``; ``preview``
    passes the tile it draws, so the work does not grow with the slice).

    Examples
    --------
    >>> import numpy as np
    >>> ct = np.full((4, 4), -2600, dtype=np.int16); ct[1:3, 1:3] = [[-850, 40], [40, 700]]
    >>> choose(ct).legend
    'lung L-600 W1500'
    >>> choose(ct, parse("mediastinum")).legend
    'mediastinum L40 W400'
    >>> choose(np.arange(16, dtype=np.uint8).reshape(4, 4)).rule
    'percentile-frame'
    """
    a = np.asarray(plane)
    values = a if sample is None else np.asarray(sample)
    if _eight_bit(a):
        return Shown("percentile-frame", *_percentiles(values))
    if spec.fixed or looks_like_hu(a):
        if not spec.fixed:
            spec = WindowSpec(HU_DEFAULT, *PRESETS[HU_DEFAULT])
        assert spec.level is not None and spec.width is not None
        return Shown(spec.name, spec.level - spec.width / 2, spec.level + spec.width / 2)
    values = _finite(values)
    if values.size:
        floor = values.min()
        body = values[values > floor]
        if body.size:
            values = body
    return Shown("percentile-body", *_percentiles(values))


def to_grey(plane: Any, shown: Shown) -> Any:
    """``plane`` mapped through ``shown``: ``lo`` and below black, ``hi`` and above white,
    linear between, as ``uint8``; NaN black."""
    assert shown.lo is not None and shown.hi is not None
    f = np.asarray(plane).astype(np.float64)
    lo, hi = shown.lo, shown.hi
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.clip((f - lo) * (255.0 / (hi - lo)), 0, 255)
    return np.nan_to_num(g, nan=0.0).astype(np.uint8)


def legend(shown: list[Shown]) -> list[str]:
    """The distinct legends of ``shown``, in order of first use: one line each."""
    return list(dict.fromkeys(s.legend for s in shown))
