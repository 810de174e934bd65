"""Decode one TIFF fully and reduce it to a small, picklable, JSON-able summary.

Whatever wrote the file (Pillow, OpenCV, ImageJ, MATLAB, tifffile; LZW, deflate, JPEG, PackBits,
CCITT G4; tiled, big-endian; 1/8/16/32-bit, float, signed) it is decoded with tifffile +
imagecodecs, every page. The summary holds what both ``validate`` and ``stats`` need, so one
decode serves both (and the decode cache, :mod:`lungsegdb_cli.checks.scancache`):

- shape ``(H, W[, C])`` of the first page, dtype, page count;
- sample count, min, max; exact integer sums ``s1``/``s2`` for integer dtypes, and the mean and
  ``m2`` (sum of squared deviations) in float64 for every dtype, ready for a Chan merge;
- a fixed-range histogram (:data:`HIST_BINS` bins over ``[lo, hi)``, ranges are powers of two so
  histograms of one group can be re-binned onto a common range);
- for masks: the number of distinct values (exact), the values when few, and the foreground
  count (:mod:`lungsegdb_cli.tiff.foreground`: alpha dropped, any channel non-zero).

A file that cannot be decoded gets ``error`` set to a one-line reason instead; one whose tags
declare an image over the decode limit (:func:`max_image_pixels`) is never decoded and gets
``error`` and ``too_large``. Files are opened non-blocking and must be regular files (a FIFO or
a device is unreadable, never waited on).
"""

from __future__ import annotations

import logging
import os
import re
import stat
from typing import Any

from lungsegdb_cli.errors import CheckFailed, UsageError
from lungsegdb_cli.tiff.raw import (
    DEFAULT_MAX_PIXELS,
    ENV_MAX_PIXELS,
    MAX_PAGES,
    TooLarge,
    check_declared,
    read_plain,
)
from lungsegdb_cli.tiff.stats import (
    HIST_BINS,
    HIST_STRIDE,
    MAX_VALUES,
    SUM_SPAN,
    exact_sums,
    hist_range,
    reduce_image,
    reduce_mask,
)
from lungsegdb_cli.tiff.summary import IMAGE, MASK, FileSummary, exact_moments
from lungsegdb_cli.utils import hashing

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG file"),
    (b"\xff\xd8\xff", "a JPEG file"),
    (b"GIF8", "a GIF file"),
    (b"BM", "a BMP file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
    (b"%PDF", "a PDF file"),
    (b"DICM", "a DICOM file"),  # without its preamble
)
#: A DICOM file (Part 10) starts with a 128-byte preamble, then ``DICM``: CT arrives so.
_DICOM_AT = 128

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ENV_MAX_PIXELS",
    "HIST_BINS",
    "HIST_STRIDE",
    "IMAGE",
    "MASK",
    "MAX_VALUES",
    "SUM_SPAN",
    "FileSummary",
    "NotRegular",
    "check_pages",
    "describe_bad_header",
    "exact_moments",
    "exact_sums",
    "hist_range",
    "max_image_pixels",
    "open_regular",
    "page_array",
    "quiet_tifffile",
    "summarize",
    "summarize_many",
]


def max_image_pixels(value: str | None = None) -> int:
    """The decode limit in pixel values: ``value`` or ``$LUNGSEGDB_MAX_IMAGE_PIXELS``, else
    :data:`~lungsegdb_cli.tiff.raw.DEFAULT_MAX_PIXELS`.

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


class NotRegular(OSError):
    """The path opened is not a regular file (a FIFO, a device, a socket, a folder)."""


def open_regular(path: str) -> tuple[int, int]:
    """``(fd, size)`` of ``path`` opened for reading, never blocking: the package's one safe
    open, :func:`lungsegdb_cli.utils.hashing.open_regular` (``O_NONBLOCK``, then ``fstat``;
    symlinks are followed: the tree scan decides about them).

    Raises :class:`NotRegular` (nothing left open) for anything but a regular file, its
    message naming what it is (``not a regular file (a FIFO)``), OSError if it cannot be
    opened. The caller closes the descriptor.
    """
    try:
        return hashing.open_regular(path)
    except hashing.NotRegularFile as exc:
        what = next((w for test, w in _NOT_REGULAR if test(exc.mode)), "a special file")
    except IsADirectoryError:
        what = "a folder"
    raise NotRegular(f"not a regular file ({what})")


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
            head = _head(path, _DICOM_AT + 4)
        else:
            fd, _ = open_regular(path)
            try:
                head = _head(fd, _DICOM_AT + 4)
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
    if head[_DICOM_AT:] == b"DICM":
        return "not a TIFF: a DICOM file with a TIFF name (convert it to a TIFF slice first)"
    if len(head) < 8:
        return f"truncated: only {len(head)} bytes"
    return f"not a TIFF (starts with {head[:8]!r})"


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


def page_array(page: Any) -> Any:
    """A tifffile page decoded, samples last (``(H, W)`` or ``(H, W, C)``: a planar
    ``(C, H, W)`` page too, as :func:`summarize` sees it), in native byte order."""
    import numpy as np

    arr = _normalise(np.asarray(page.asarray()), str(getattr(page, "axes", "YX")))
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


_quiet_done = False
_DTYPE_NAMES: dict[Any, str] = {}


def _dtype_name(dtype: Any) -> str:
    """``uint8``, ``int16``, ``bool`` ... (``dtype.name`` costs microseconds: cached)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = "bool" if dtype.kind == "b" else dtype.name
    return name


def quiet_tifffile() -> None:
    """tifffile logs decoder warnings; the summary carries what matters, keep stderr clean."""
    global _quiet_done
    if not _quiet_done:
        logging.getLogger("tifffile").setLevel(logging.CRITICAL)
        _quiet_done = True


def check_pages(tif: Any, limit: int) -> int:
    """The number of pages of ``tif``, once what every page declares (from its tags, nothing
    decoded) has passed :func:`~lungsegdb_cli.tiff.raw.check_declared`; raises TooLarge."""
    return declared_pages(tif, limit)[0]


def declared_pages(tif: Any, limit: int) -> tuple[int, int]:
    """:func:`check_pages`, and the number of pixel values the pages declare."""
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
    frames = imagej_frames(tif)
    if frames > len(declared) == 1:  # an ImageJ stack kept after its one page: each frame
        more = frames > MAX_PAGES
        declared *= min(frames, MAX_PAGES)
    values = check_declared(declared, chunks, limit, more=more) if declared or more else 0
    return len(declared), values


def imagej_frames(tif: Any) -> int:
    """The images an ImageJ file's description declares (``images=N``; 0: not ImageJ). A
    stack ImageJ saves with ``truncate`` (or tifffile for a file over 4 GB) keeps every frame
    after one page, which only this says."""
    if not getattr(tif, "is_imagej", False):
        return 0
    meta = tif.imagej_metadata or {}
    try:
        return max(0, int(meta.get("images", 1)))
    except (TypeError, ValueError):
        return 0


def _read_tifffile(fd: int, path: str, size: int, s: FileSummary, limit: int) -> tuple[Any, str]:
    """Decode with tifffile + imagecodecs: every page, first page returned with its axes.

    Reads the open descriptor ``fd`` (``path`` names it in messages). Every page's declared
    size is checked first (raises :class:`~lungsegdb_cli.tiff.raw.TooLarge`, nothing decoded).
    Sets ``s.pages``/``s.compression``; sets ``s.error`` and returns ``(None, "")`` for data
    that runs past the end of the file (tifffile would pad it silently or fail vaguely).
    """
    import tifffile

    with os.fdopen(fd, "rb", closefd=False) as fh, tifffile.TiffFile(fh, name=path) as tif:
        pages = tif.pages
        s.pages, s.declared = declared_pages(tif, limit)
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
        for i in range(1, len(pages)):
            tif.pages[i].asarray()  # decode every page: a broken one makes it unreadable
        if s.pages > len(pages):  # an ImageJ stack after one page: its frames, contiguous
            end = int(page.dataoffsets[0]) + s.pages * int(page.nbytes)
            if end > size:
                s.error = (
                    f"truncated: its {s.pages} ImageJ frames run to byte {end:,} but the file "
                    f"has {size:,} bytes"
                )
                return None, ""
            tif.series[0].asarray()
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
    quiet_tifffile()
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
            s.declared = int(arr.size)
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
            reduce_mask(arr, s)
        else:
            reduce_image(arr, s)
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


class TooLargeImages(CheckFailed):
    """Pair files declare images over the decode limit: they were not decoded, and statistics
    that leave them out would be wrong without saying so. Exit 1."""

    kind = "too-large"
    default_hint = (
        f"See them with 'lungsegdb validate'; if they are genuine images, raise the limit "
        f"({ENV_MAX_PIXELS}=N pixel values) and run again."
    )
