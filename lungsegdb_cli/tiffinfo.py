"""Decode one TIFF fully and reduce it to a small, picklable, JSON-able summary.

Whatever wrote the file (Pillow, OpenCV, ImageJ, MATLAB, tifffile; LZW, deflate, JPEG, PackBits,
CCITT G4; tiled, big-endian; 1/8/16/32-bit, float, signed) it is decoded with tifffile +
imagecodecs, every page. The summary holds what both ``validate`` and ``stats`` need, so one
decode serves both (and the decode cache, :mod:`lungsegdb_cli.scancache`):

- shape ``(H, W[, C])`` of the first page, dtype, page count;
- sample count, min, max; exact integer sums ``s1``/``s2`` for integer dtypes, and the mean and
  ``m2`` (sum of squared deviations) in float64 for every dtype, ready for a Chan merge;
- a fixed-range histogram (:data:`HIST_BINS` bins over ``[lo, hi)``, ranges are powers of two so
  histograms of one group can be re-binned onto a common range);
- for masks: the number of distinct values (exact), the values when few, and the foreground
  count (pixels with any channel > 0).

A file that cannot be decoded gets ``error`` set to a one-line reason instead; one whose tags
declare an image over the decode limit (:func:`max_image_pixels`) is never decoded and gets
``error`` and ``too_large``. Files are opened non-blocking and must be regular files (a FIFO or
a device is unreadable, never waited on).
"""

from __future__ import annotations

import base64
import logging
import math
import os
import re
import stat
import threading
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.tiffraw import (
    DEFAULT_MAX_PIXELS,
    ENV_MAX_PIXELS,
    MAX_PAGES,
    TooLarge,
    check_declared,
    read_plain,
)

IMAGE = "image"
MASK = "mask"

HIST_BINS = 128
#: The plot histogram samples every HIST_STRIDE-th row and column (1/256 of the pixels of a
#: 512x512 slice: ~1,000 per slice, millions per group).
HIST_STRIDE = 16
#: Masks with at most this many distinct values keep the values themselves.
MAX_VALUES = 8

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG file"),
    (b"\xff\xd8\xff", "a JPEG file"),
    (b"GIF8", "a GIF file"),
    (b"BM", "a BMP file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"%PDF", "a PDF file"),
    (b"DICM", "a DICOM file"),
)


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


def _num(x: Any) -> float | int:
    """A numpy scalar as a plain int when integral, else float."""
    f = float(x)
    if math.isfinite(f) and f == int(f) and abs(f) < 2**53:
        return int(f)
    return f


def max_image_pixels(value: str | None = None) -> int:
    """The decode limit in pixel values: ``value`` or ``$LUNGSEGDB_MAX_IMAGE_PIXELS``, else
    :data:`~lungsegdb_cli.tiffraw.DEFAULT_MAX_PIXELS`.

    Parsed strictly: a positive whole number, digits only (surrounding blanks ignored); unset
    or empty means the default. Anything else (``inf``, ``nan``, ``-1``, ``0``, ``1e9``,
    ``abc``) raises :class:`~lungsegdb_cli.errors.UsageError` naming the variable.
    """
    raw = os.environ.get(ENV_MAX_PIXELS, "") if value is None else value
    text = raw.strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    if re.fullmatch(r"[0-9]{1,30}", text, flags=re.ASCII) and int(text) > 0:
        return int(text)
    raise UsageError(
        f"{ENV_MAX_PIXELS} must be a positive whole number of pixel values, not {raw!r}",
        hint=(
            f"Unset it for the default ({DEFAULT_MAX_PIXELS:,}), or set e.g. "
            f"{ENV_MAX_PIXELS}=268435456."
        ),
        variable=ENV_MAX_PIXELS,
        value=raw,
    )


#: What a file that is not a regular file is, by its ``st_mode``.
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO or device opens at once instead of waiting
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class NotRegular(OSError):
    """The path opened is not a regular file (a FIFO, a device, a socket)."""


def open_regular(path: str) -> tuple[int, int]:
    """``(fd, size)`` of ``path`` opened for reading, never blocking.

    Opened with ``O_NONBLOCK`` (symlinks are followed: the tree scan decides about them) and
    checked with ``fstat``: raises :class:`NotRegular` (descriptor closed) for anything but a
    regular file, OSError if it cannot be opened. The caller closes the descriptor.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = next((w for test, w in _NOT_REGULAR if test(st.st_mode)), "a special file")
            raise NotRegular(f"not a regular file ({what})")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _head(fd: int, n: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, n, 0)
    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, n)  # pragma: no cover


def describe_bad_header(path: str | int) -> str | None:
    """What a file that is not a TIFF really is (by its first bytes), or None.

    ``path``: a path (opened as :func:`open_regular` does) or an open descriptor."""
    try:
        if isinstance(path, int):
            head = _head(path, 16)
        else:
            fd, _ = open_regular(path)
            try:
                head = _head(fd, 16)
            finally:
                os.close(fd)
    except NotRegular as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"
    if not head:
        return "empty file (0 bytes)"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return f"truncated: only {len(head)} bytes" if len(head) < 8 else None
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"not a TIFF: {what} with a TIFF name"
    if len(head) < 8:
        return f"truncated: only {len(head)} bytes"
    return f"not a TIFF (starts with {head[:8]!r})"


def hist_range(lo: float, hi: float, integer: bool) -> tuple[float, float]:
    """The histogram range for values in ``[lo, hi]``: ``[0, 2^k)`` or ``[-2^k, 2^k)``.

    Powers of two nest, so the histograms of a group can be re-binned onto the widest one.
    Integer ranges are at least :data:`HIST_BINS` wide (bins of width >= 1, exact for uint8).
    """
    span = max(abs(lo), abs(hi + 1 if integer else hi), 2.0**-20)
    k = math.ceil(math.log2(span))
    signed = lo < 0
    if integer:
        k = max(k, int(math.log2(HIST_BINS)) - (1 if signed else 0))
    top = 2.0**k
    return (-top, top) if signed else (0.0, top)


def _normalise(arr: Any, axes: str) -> Any:
    """A page as ``(H, W)`` or ``(H, W, C)``: samples last, other leading axes flattened."""
    import numpy as np

    if "S" in axes and axes.index("S") != len(axes) - 1:
        arr = np.moveaxis(arr, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    if arr.ndim > 3 or (arr.ndim == 3 and not axes.endswith("S")):
        # depth/other leading axes (e.g. tiled volumes): keep the plane, fold the rest into C
        h, w = arr.shape[axes.index("Y")], arr.shape[axes.index("X")]
        arr = np.moveaxis(arr, (axes.index("Y"), axes.index("X")), (0, 1)).reshape(h, w, -1)
    return arr


def exact_moments(n: int, s1: int, s2: int) -> tuple[float, float]:
    """(mean, m2) from exact integer sums, rounded once at the end."""
    if n == 0:
        return 0.0, 0.0
    return float(Fraction(s1, n)), float(Fraction(n * s2 - s1 * s1, n))


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
        if lo == 0 and flat.dtype.kind == "u":
            idx = flat >> shift if shift else flat
        else:
            idx = (flat.astype(np.int64) - int(lo)) >> shift
        h = np.bincount(idx, minlength=HIST_BINS)[:HIST_BINS]
    else:
        flat = flat[np.isfinite(flat)]
        lo, hi = hist_range(vmin, vmax, False)
        h, _ = np.histogram(flat, bins=HIST_BINS, range=(lo, hi))
    s.hist = h.astype("<u4").tobytes()
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


def _reduce_image(arr: Any, s: FileSummary) -> None:
    """min, max, exact sums (integers) or mean/M2 (floats); the histogram for images."""
    import numpy as np

    flat = arr.reshape(-1)
    s.n = int(flat.size)
    if s.n == 0:
        return
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
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
        else:  # pragma: no cover - 32/64-bit values too large for exact int64 sums
            f = flat.astype(np.float64)
            s.fmean = float(f.sum() / s.n)
            d = f - s.fmean
            s.fm2 = float(np.einsum("i,i->", d, d))
    else:
        f = flat.astype(np.float64, copy=False)
        finite = np.isfinite(f)
        if not finite.all():
            s.nonfinite = int(s.n - np.count_nonzero(finite))
            f = f[finite]
            s.n = int(f.size)
            if s.n == 0:
                return
        s.vmin, s.vmax = _num(f.min()), _num(f.max())
        s.fmean = float(f.sum() / s.n)
        d = f - s.fmean
        s.fm2 = float(np.einsum("i,i->", d, d))
        flat = f
    if s.kind == MASK:
        _distinct(flat, s)
    else:
        _histogram(arr, s)


def _reduce_mask(arr: Any, s: FileSummary) -> None:
    """Masks: distinct values, foreground; a fast path for the usual binary uint8 mask."""
    import numpy as np

    flat = arr.reshape(-1)
    s.n = int(flat.size)
    if s.n == 0:
        return
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
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
        _reduce_image(arr, s)
    # foreground: pixels with any channel > 0
    if arr.ndim == 3:
        s.fg = int(np.count_nonzero((arr > 0).any(axis=-1)))
    elif nonzero >= 0:
        s.fg = nonzero
    elif arr.dtype.kind in "ub":
        s.fg = int(np.count_nonzero(arr))
    else:
        s.fg = int(np.count_nonzero(arr > 0))


_quiet_done = False
_DTYPE_NAMES: dict[Any, str] = {}


def _dtype_name(dtype: Any) -> str:
    """``uint8``, ``int16``, ``bool`` ... (``dtype.name`` costs microseconds: cached)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = "bool" if dtype.kind == "b" else dtype.name
    return name


def _quiet_tifffile() -> None:
    """tifffile logs decoder warnings; the summary carries what matters, keep stderr clean."""
    global _quiet_done
    if not _quiet_done:
        logging.getLogger("tifffile").setLevel(logging.CRITICAL)
        _quiet_done = True


def _check_pages(tif: Any, limit: int) -> int:
    """The number of pages of ``tif``, once what every page declares (from its tags, nothing
    decoded) has passed :func:`~lungsegdb_cli.tiffraw.check_declared`; raises TooLarge."""
    declared: list[tuple[int, int, int, int, str, int]] = []
    chunks = 0
    more = False
    seen: set[int] = set()
    for i, page in enumerate(tif.pages):  # reads the IFDs one by one: stops at MAX_PAGES
        if i >= MAX_PAGES:
            more = True
            break
        offset = int(getattr(page, "offset", -1))
        if offset in seen:  # an IFD chain that loops would list the same page forever
            raise ValueError(f"its chain of pages loops back to offset {offset}")
        seen.add(offset)
        tags = page if hasattr(page, "imagelength") else page.keyframe  # a TiffFrame: its key
        dtype = getattr(tags, "dtype", None)
        declared.append(
            (
                max(1, int(getattr(tags, "imagedepth", 1) or 1)),
                int(tags.imagelength),
                int(tags.imagewidth),
                max(1, int(tags.samplesperpixel or 1)),
                _dtype_name(dtype) if dtype is not None else f"{tags.bitspersample}-bit",
                dtype.itemsize if dtype is not None else 1,
            )
        )
        chunks = max(chunks, len(page.dataoffsets))
    if declared or more:
        check_declared(declared, chunks, limit, more=more)
    return len(declared)


def _read_tifffile(fd: int, path: str, size: int, s: FileSummary, limit: int) -> tuple[Any, str]:
    """Decode with tifffile + imagecodecs: every page, first page returned with its axes.

    Reads the open descriptor ``fd`` (``path`` names it in messages). Every page's declared
    size is checked first (raises :class:`~lungsegdb_cli.tiffraw.TooLarge`, nothing decoded).
    Sets ``s.pages``/``s.compression``; sets ``s.error`` and returns ``(None, "")`` for data
    that runs past the end of the file (tifffile would pad it silently or fail vaguely).
    """
    import tifffile

    with os.fdopen(fd, "rb", closefd=False) as fh, tifffile.TiffFile(fh, name=path) as tif:
        pages = tif.pages
        s.pages = _check_pages(tif, limit)
        page = pages.first
        ends = [
            int(o) + int(c)
            for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)
            if c
        ]
        if ends and max(ends) > size:
            s.error = (
                f"truncated: image data runs to byte {max(ends):,} but the file has {size:,} bytes"
            )
            return None, ""
        arr = page.asarray()
        axes = page.axes
        for i in range(1, s.pages):
            tif.pages[i].asarray()  # decode every page: a broken one makes it unreadable
        try:
            s.compression = page.compression.name.lower()
        except AttributeError:
            s.compression = str(page.compression)
    return arr, axes


def summarize(
    path: str, kind: str, size: int | None = None, max_pixels: int | None = None
) -> FileSummary:
    """Decode ``path`` fully (every page) and summarise it as an ``image`` or a ``mask``.

    ``max_pixels``: the decode limit (default :func:`max_image_pixels`); a file whose tags
    declare more is not decoded (``too_large``). ``size`` is what the caller saw; the size of
    the file as opened is what counts. Never raises for a bad file, never blocks on a special
    one (see :func:`open_regular`)."""
    _quiet_tifffile()
    limit = max_image_pixels() if max_pixels is None else max_pixels
    s = FileSummary(kind=kind)
    try:
        fd, size = open_regular(path)
    except NotRegular as exc:
        s.error = str(exc)
        return s
    except OSError as exc:
        s.error = f"cannot open: {exc.strerror or exc}"
        return s
    try:
        if size == 0:
            s.error = "empty file (0 bytes)"
            return s
        _decode(fd, path, size, s, limit)
    finally:
        os.close(fd)
    return s


def _decode(fd: int, path: str, size: int, s: FileSummary, limit: int) -> None:
    """Decode the open file into ``s`` (errors recorded in ``s``, never raised)."""
    import numpy as np

    kind = s.kind
    try:
        plain = read_plain(fd, size, limit)
        if plain is not None:
            arr, s.compression = plain
            s.pages, axes = 1, "YXS" if arr.ndim == 3 else "YX"
        else:
            arr, axes = _read_tifffile(fd, path, size, s, limit)
            if arr is None:
                return
        arr = _normalise(np.asarray(arr), axes)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if arr.ndim < 2:
            s.error = f"not an image: decoded shape {tuple(arr.shape)}"
            return
        s.shape = tuple(int(d) for d in arr.shape)
        s.dtype = _dtype_name(arr.dtype)
        if kind == MASK:
            _reduce_mask(arr, s)
        else:
            _reduce_image(arr, s)
    except TooLarge as exc:
        s.error, s.too_large = str(exc), True
    except MemoryError:
        s.error = "too large to decode in memory"
    except Exception as exc:  # any decoder failure is a finding, not a crash
        what = describe_bad_header(fd)
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        s.error = what or f"corrupt TIFF, cannot decode ({detail})"


def summarize_many(
    tasks: list[tuple[str, str, int, int]],
) -> list[tuple[tuple[Any, ...], str]]:
    """Worker entry point: summarise a chunk of ``(path, kind, size, max_pixels)``.

    Returns, per file, the fields as a plain tuple (:meth:`FileSummary.from_tuple`; crosses
    the process boundary several times cheaper than a dataclass instance) and the summary's
    JSON for the decode cache (serialised here, in parallel, not in the main process)."""
    out = []
    for p, k, n, limit in tasks:
        s = summarize(p, k, n, limit)
        out.append((s.as_tuple(), _json_dumps(s.to_json())))
    return out


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))
