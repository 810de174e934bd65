"""The reductions of one decoded page into its :class:`~lungsegdb_cli.tiff.summary.FileSummary`.

min, max, exact integer sums (:func:`exact_sums`), float mean/M2, the plot histogram over a
power-of-two range (:func:`hist_range`), and for masks the distinct values and the foreground.
Pure numpy on an array already decoded; :mod:`lungsegdb_cli.tiff.decode` does the decoding.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from lungsegdb_cli.tiff import foreground
from lungsegdb_cli.tiff.summary import MASK, FileSummary

HIST_BINS = 128
#: The plot histogram samples every HIST_STRIDE-th row and column (1/256 of the pixels of a
#: 512x512 slice: ~1,000 per slice, millions per group).
HIST_STRIDE = 16
#: Masks with at most this many distinct values keep the values themselves.
MAX_VALUES = 8


def _num(x: Any) -> float | int:
    """A numpy scalar as a plain int when integral, else float."""
    f = float(x)
    if math.isfinite(f) and f == int(f) and abs(f) < 2**53:
        return int(f)
    return f


def hist_range(lo: float, hi: float, integer: bool) -> tuple[float, float]:
    """The histogram range for values in ``[lo, hi]``: ``[0, 2^k)`` or ``[-2^k, 2^k)``.

    Powers of two nest, so the histograms of a group can be re-binned onto the widest one.
    Integer ranges are at least :data:`HIST_BINS` wide (bins of width >= 1, exact for uint8).
    """
    span = max(abs(lo), abs(hi + 1 if integer else hi), 2.0**-20)
    k = min(math.ceil(math.log2(span)), 1022)  # [-2^k, 2^k) stays finite; the edge bins take more
    signed = lo < 0
    if integer:
        k = max(k, int(math.log2(HIST_BINS)) - (1 if signed else 0))
    top = 2.0**k
    return (-top, top) if signed else (0.0, top)


def _histogram(arr: Any, s: FileSummary) -> None:
    """The intensity histogram for ``--plot``, from every HIST_STRIDE-th row and column.

    A plot needs the shape of the distribution, not every pixel: a 1/256 sample costs almost
    nothing. (min, max, mean and std are exact over every pixel.) Bins: HIST_BINS over
    :func:`hist_range`; for integers each bin is a power-of-two run of whole values.
    """
    import numpy as np

    h, w = s.hw
    step = HIST_STRIDE if min(h, w) >= 16 * HIST_STRIDE else max(1, min(h, w) // 32)
    sub = arr[::step, ::step] if step > 1 else arr
    flat = sub.reshape(-1)
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
    vmin, vmax = float(s.vmin or 0), float(s.vmax or 0)
    if flat.dtype.kind in "ui":
        lo, hi = hist_range(min(vmin, -1.0) if flat.dtype.kind == "i" else vmin, vmax, True)
        shift = round(math.log2((hi - lo) / HIST_BINS))
        if flat.dtype.itemsize == 8 and not (lo == 0 and flat.dtype.kind == "u"):
            # 64-bit values: v - lo may not fit int64; the plot's bins placed in floats
            counts, _ = np.histogram(flat.astype(np.float64), bins=HIST_BINS, range=(lo, hi))
        else:
            if lo == 0 and flat.dtype.kind == "u":
                idx = flat >> shift if shift else flat
            else:
                idx = (flat.astype(np.int64) - int(lo)) >> shift
            counts = np.bincount(idx, minlength=HIST_BINS)[:HIST_BINS]
    else:  # in float64 (a float32 range of +-2^128 is past float32), clipped to the range
        flat = flat.astype(np.float64)
        flat = flat[np.isfinite(flat)]
        lo, hi = hist_range(vmin, vmax, False)
        counts, _ = np.histogram(np.clip(flat, lo, hi), bins=HIST_BINS, range=(lo, hi))
    s.hist = counts.astype("<u4").tobytes()
    s.hist_lo, s.hist_hi = float(lo), float(hi)


def _distinct(flat: Any, s: FileSummary) -> None:
    """Number of distinct values (and the values when few), for masks."""
    import numpy as np

    if flat.dtype.kind in "ui" and flat.dtype.itemsize <= 2:
        if flat.dtype.kind == "u":
            counts, offset = np.bincount(flat), 0
        else:
            counts = np.bincount(
                flat.view(f"u{flat.dtype.itemsize}") ^ (1 << (8 * flat.dtype.itemsize - 1))
            )
            offset = -(1 << (8 * flat.dtype.itemsize - 1))
        nz = np.flatnonzero(counts)
        s.distinct = int(nz.size)
        if nz.size <= MAX_VALUES:
            s.values = tuple(int(v) + offset for v in nz)
        return
    u = np.unique(flat)
    s.distinct = int(u.size)
    if u.size <= MAX_VALUES:
        s.values = tuple(_num(v) for v in u)


#: Exact sums of 8/16-bit integers run in 32-bit lanes of a reused buffer, as partial sums
#: short enough that none can overflow: row sums of an (R, C) view when a row may be at least
#: this long (one SIMD pass per row), else column sums with C at least this wide.
SUM_SPAN = 4096
#: The reused buffer is kept between files up to this many elements (16 MB), else freed.
_KEEP_ELEMENTS = 1 << 22
_local = threading.local()


def exact_sums(flat: Any, vmin: int, vmax: int) -> tuple[int, int] | None:
    """Exact ``(sum, sum of squares)`` of a 1-D integer array of at most 16 bits whose values
    lie in ``[vmin, vmax]``; None for other dtypes (the caller widens to 64 bits).

    About twice as fast as widening to int64: the values are copied once into 32-bit lanes
    (half the bytes), summed in int32, squared in place in uint32 (the square of a 16-bit
    value fits; for a negative value the uint32 square of its two's complement is the same
    number) and summed in uint32. Each partial sum covers at most ``limit`` values, so that
    ``limit * max|v|`` fits 31 bits and ``limit * max|v|^2`` 32 bits; the partial sums are
    then added in 64 bits. (``np.bincount`` would give both sums too, but costs more than the
    int64 path: it converts its input to intp first.)
    """
    import numpy as np

    if flat.dtype.kind not in "ui" or flat.dtype.itemsize > 2 or flat.ndim != 1:
        return None
    n = int(flat.size)
    if n == 0:
        return 0, 0
    big = max(-int(vmin), int(vmax), 1)
    limit = min((2**31 - 1) // big, (2**32 - 1) // (big * big))  # values per partial sum
    if limit >= min(n, SUM_SPAN):  # rows of at most `limit` values, summed along axis 1
        rows = -(-n // limit)
        cols = -(-n // rows)
        axis = 1
    else:  # at most `limit` rows, summed along axis 0
        cols = max(SUM_SPAN, -(-n // limit))
        rows = -(-n // cols)
        axis = 0
    size = rows * cols
    buf = getattr(_local, "buf", None)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=np.int32)
        if size <= _KEEP_ELEMENTS:
            _local.buf = buf
    w = buf[:size]
    np.copyto(w[:n], flat, casting="unsafe")  # widening: exact
    w[n:] = 0
    s1 = int(w.reshape(rows, cols).sum(axis=axis, dtype=np.int32).sum(dtype=np.int64))
    u = w.view(np.uint32)
    np.multiply(u, u, out=u)
    s2 = int(u.reshape(rows, cols).sum(axis=axis, dtype=np.uint32).sum(dtype=np.uint64))
    return s1, s2


def _flat(arr: Any, s: FileSummary) -> Any:
    """``arr`` as one dimension (bool viewed as uint8), its size set as ``s.n``; None if
    it is empty (nothing more to reduce)."""
    import numpy as np

    flat = arr.reshape(-1)
    s.n = int(flat.size)
    if s.n == 0:
        return None
    return flat.view(np.uint8) if flat.dtype.kind == "b" else flat


def limb_sums(flat: Any) -> tuple[int, int]:
    """Exact ``(sum, sum of squares)`` of a 1-D integer array of any width, values however
    large (int32/uint32 near 2**31, 64-bit): each value is split into 16-bit limbs (the top
    one signed for a signed dtype), every limb sum and limb-product sum fits int64 (products
    under 2**32, fewer than 2**31 values), and they are combined in Python integers.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([-2**31, 2**31 - 1, 123456789], dtype=np.int32)
    >>> limb_sums(v) == (sum(map(int, v)), sum(int(x) ** 2 for x in v))
    True
    """
    import numpy as np

    k = flat.dtype.itemsize // 2
    signed = flat.dtype.kind == "i"
    limbs = [((flat >> (16 * i)) & 0xFFFF).astype(np.int64) for i in range(k)]
    if signed:
        limbs[-1] = (flat >> (16 * (k - 1))).astype(np.int64)
    s1 = sum(int(limb.sum()) << (16 * i) for i, limb in enumerate(limbs))
    s2 = 0
    for i, a in enumerate(limbs):
        for j in range(i, k):
            term = int(np.multiply(a, limbs[j]).sum()) << (16 * (i + j))
            s2 += term if i == j else 2 * term
    return s1, s2


#: Float values past this magnitude are summed scaled by a power of two (exact), so that
#: neither the sum nor a squared deviation overflows float64 before it has to.
_SCALE_ABOVE = 2.0**500


def _float_moments(f: Any, big: float) -> tuple[float, float]:
    """(mean, M2) of the finite float64 values ``f`` whose largest magnitude is ``big``. M2
    past the float64 range is infinity (its standard deviation is then reported as none)."""
    import numpy as np

    if big <= _SCALE_ABOVE:
        mean = float(f.sum() / f.size)
        d = f - mean
        return mean, float(np.einsum("i,i->", d, d))
    k = math.frexp(big)[1]
    g = np.ldexp(f, -k)  # |g| < 1
    mean_g = float(g.sum() / g.size)
    d = g - mean_g
    m2_g = float(np.einsum("i,i->", d, d))
    return math.ldexp(mean_g, k), _ldexp_or_inf(m2_g, 2 * k)


def _ldexp_or_inf(x: float, k: int) -> float:
    try:
        return math.ldexp(x, k)
    except OverflowError:
        return math.inf


def reduce_image(arr: Any, s: FileSummary) -> None:
    """min, max, exact sums (integers) or mean/M2 (floats); the histogram for images."""
    import numpy as np

    flat = _flat(arr, s)
    if flat is None:
        return
    if flat.dtype.kind in "ui":
        s.vmin, s.vmax = int(flat.min()), int(flat.max())
        big = max(abs(s.vmin), abs(s.vmax))
        sums = exact_sums(flat, s.vmin, s.vmax)
        if sums is not None:
            s.s1, s.s2 = sums
        elif s.n * big * big < 2**62:
            # exact in int64: one widening copy, squared in place; plain sums vectorise well
            # (no einsum/dot: slower here, and dot would start BLAS threads on busy cores)
            wide = flat.astype(np.int64)
            s.s1 = int(wide.sum())
            np.multiply(wide, wide, out=wide)
            s.s2 = int(wide.sum())
        else:  # 32/64-bit values too large for one int64 sum: exact over 16-bit limbs
            s.s1, s.s2 = limb_sums(flat)
    else:
        f = flat.astype(np.float64, copy=False)
        finite = np.isfinite(f)
        if not finite.all():
            s.nonfinite = int(s.n - np.count_nonzero(finite))
            f = f[finite]
            s.n = int(f.size)
        if s.n:
            s.vmin, s.vmax = _num(f.min()), _num(f.max())
            s.fmean, s.fm2 = _float_moments(f, max(abs(s.vmin), abs(s.vmax)))
        flat = f
    if s.kind == MASK:
        if s.n:
            _distinct(flat, s)
        if s.nonfinite:  # NaN or infinity in a mask: more values than a binary mask holds
            odd = np.unique(np.asarray(arr, dtype=np.float64)[~np.isfinite(arr)].astype(str))
            s.distinct += int(odd.size)  # NaN, inf and -inf: one value each
            s.values = None
    elif s.n:
        _histogram(arr, s)


def reduce_mask(arr: Any, s: FileSummary) -> None:
    """Masks: distinct values, foreground; a fast path for the usual binary uint8 mask."""
    import numpy as np

    flat = _flat(arr, s)
    if flat is None:
        return
    fast = flat.dtype.kind == "u"
    nonzero = -1
    if fast:
        mn, mx = int(flat.min()), int(flat.max())
        if mn == mx:
            s.distinct, s.values = 1, (mn,)
            s.s1 = mn * s.n
            s.s2 = mn * mn * s.n
            nonzero = s.n if mn else 0
        else:
            nonzero = int(np.count_nonzero(flat))
            c_mn = s.n - nonzero if mn == 0 else int(np.count_nonzero(flat == mn))
            c_mx = int(np.count_nonzero(flat == mx))
            if c_mn + c_mx != s.n:
                fast = False
            else:
                s.distinct, s.values = 2, (mn, mx)
                s.s1 = mn * c_mn + mx * c_mx
                s.s2 = mn * mn * c_mn + mx * mx * c_mx
        if fast:
            s.vmin, s.vmax = mn, mx
    if not fast:
        reduce_image(arr, s)
    # foreground: the one rule (tiff/foreground.py): alpha dropped, any channel != 0
    if arr.ndim == 3:
        s.fg = foreground.count(arr)
    elif nonzero >= 0:
        s.fg = nonzero
    else:
        s.fg = foreground.count(arr)
