"""A fast path for the plainest TIFF: one page, uncompressed, contiguous strips.

Opening a file with :class:`tifffile.TiffFile` costs about 0.4 ms of Python (path resolution,
every tag parsed into objects, format sniffing), more than reading a 512x512 slice. For the
case that dominates datasets like LungSegDB (baseline TIFF written by tifffile, Pillow, OpenCV
or MATLAB without compression) the pixels are one contiguous byte range, so this module reads
the header and first IFD with :mod:`struct` and the pixels with one ``readinto``.

Anything else returns None and the caller decodes with tifffile + imagecodecs: compressed,
tiled, planar, multi-page, BigTIFF, bit depths other than 8/16/32/64, YCbCr, strips that are
not contiguous or run past the end of the file. ``tests/tiff/test_tiffinfo.py`` checks that this
path returns exactly what tifffile returns.

It also holds the decode limit both paths enforce (:class:`TooLarge`, :func:`check_declared`):
the size an image *declares* in its tags (height x width x samples, every page) is checked
before a single pixel is decoded, so a small file cannot make the decoder allocate gigabytes.
"""

from __future__ import annotations

import io
import os
import struct
from typing import Any

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 6: 1, 7: 1, 8: 2, 9: 4, 11: 4, 12: 8, 16: 8, 17: 8}
_TYPE_CODE = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q"}

T_WIDTH, T_LENGTH, T_BPS, T_COMPRESSION, T_PHOTOMETRIC = 256, 257, 258, 259, 262
T_FILLORDER, T_STRIPOFFSETS, T_SPP, T_ROWSPERSTRIP, T_STRIPBYTES = 266, 273, 277, 278, 279
T_PLANAR, T_TILEWIDTH, T_SAMPLEFORMAT, T_SUBIFDS = 284, 322, 339, 330
_NEEDED = {
    T_WIDTH,
    T_LENGTH,
    T_BPS,
    T_COMPRESSION,
    T_PHOTOMETRIC,
    T_FILLORDER,
    T_STRIPOFFSETS,
    T_SPP,
    T_STRIPBYTES,
    T_PLANAR,
    T_TILEWIDTH,
    T_SAMPLEFORMAT,
    T_SUBIFDS,
}
#: Photometric interpretations whose stored values are what tifffile returns as is.
_PLAIN_PHOTOMETRIC = {0, 1, 2, 3}
_KIND = {1: "u", 2: "i", 3: "f"}

ENV_MAX_PIXELS = "LUNGSEGDB_MAX_IMAGE_PIXELS"
#: Default decode limit, in pixel values (samples: an RGB pixel counts 3) summed over the pages
#: that would be decoded: 8192x8192 grey, 64 times the largest LungSegDB slice (1024x1024);
#: 64 MiB decoded for uint8, 128 MiB for uint16 (Pillow's MAX_IMAGE_PIXELS is 89,478,485).
DEFAULT_MAX_PIXELS = 1 << 26
#: Pages per file that are looked at (every page is decoded): more is ``too-large``.
MAX_PAGES = 4096
#: Strips or tiles per page: more is ``too-large`` (each costs a decoder call).
MAX_CHUNKS = 1 << 20


class TooLarge(ValueError):
    """A file whose tags declare more than the decode limit. Nothing of it was decoded; the
    message says what it declares and the limit."""


def _dims(h: int, w: int, spp: int, depth: int = 1) -> str:
    return f"{depth}x{h}x{w}x{spp}" if depth > 1 else f"{h}x{w}x{spp}"


def check_declared(
    pages: list[tuple[int, int, int, int, str, int]], chunks: int, limit: int, *, more: bool = False
) -> int:
    """Raise :class:`TooLarge` if what the tags declare is over ``limit``, else return the
    number of pixel values declared.

    ``pages``: per page ``(depth, height, width, samples, dtype name, bytes per sample)``;
    ``chunks``: the most strips or tiles of any page; ``more``: the file has more pages than
    :data:`MAX_PAGES` (only that many are listed). The pixel values of every page are summed:
    every page is decoded.
    """
    if more:
        raise TooLarge(
            f"declares more than {MAX_PAGES:,} pages; over the limit of {MAX_PAGES:,} pages; "
            "not decoded"
        )
    if chunks > MAX_CHUNKS:
        raise TooLarge(
            f"declares {chunks:,} strips or tiles in one page; over the limit of "
            f"{MAX_CHUNKS:,}; not decoded"
        )
    values = sum(d * h * w * s for d, h, w, s, _, _ in pages)
    if values <= limit:
        return values
    nbytes = sum(d * h * w * s * size for d, h, w, s, _, size in pages)
    d, h, w, s, name, _ = pages[0]
    what = f"{_dims(h, w, s, d)} {name}"
    if len(pages) > 1:
        what = f"{len(pages):,} pages (the first {what})"
    raise TooLarge(
        f"declares {what} = {values:,} pixel values, {nbytes:,} bytes decoded; over the limit "
        f"of {limit:,} pixel values ({ENV_MAX_PIXELS}); not decoded"
    )


#: What the fast path reads: a path, a descriptor open for reading, or the file's bytes.
Source = str | int | bytes | memoryview


class _File:
    """Positional reads on one file: ``os.pread``/``os.preadv`` on POSIX (no buffered file
    object, no seeks), a plain file object elsewhere. Given an open descriptor it reads that
    (and leaves it open); given a path it opens (and closes) the file itself; given the
    file's bytes (already read, e.g. by an export that copies them) it slices them."""

    def __init__(self, path: Source) -> None:
        self._fh: io.BufferedReader | None = None
        self._fd = -1
        self._buf: memoryview | None = None
        self._own = not isinstance(path, int)
        if isinstance(path, (bytes, memoryview)):
            self._buf = memoryview(path).cast("B")
        elif _POSITIONAL:
            self._fd = path if isinstance(path, int) else os.open(path, os.O_RDONLY)
        elif isinstance(path, int):
            self._fh = os.fdopen(path, "rb", closefd=False)
        else:
            self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()

    def pread(self, n: int, offset: int) -> bytes:
        if self._buf is not None:
            return bytes(self._buf[offset : offset + n])
        if self._fh is None:
            return os.pread(self._fd, n, offset)
        self._fh.seek(offset)
        return self._fh.read(n)

    def readinto(self, buf: memoryview, offset: int) -> int:
        if self._buf is not None:
            part = self._buf[offset : offset + len(buf)]
            buf[: len(part)] = part
            return len(part)
        if self._fh is None:
            return os.preadv(self._fd, [buf], offset)
        self._fh.seek(offset)
        return self._fh.readinto(buf) or 0

    def close(self) -> None:
        if self._buf is not None:
            self._buf = None
        elif self._fh is not None:
            self._fh.close()
        elif self._fd >= 0 and self._own:
            os.close(self._fd)


_POSITIONAL = hasattr(os, "pread") and hasattr(os, "preadv")

#: Parsed layouts keyed on the header + IFD bytes: files written by one tool at one size have
#: byte-identical IFDs, so each is parsed once. Only layouts read entirely from those bytes
#: (no out-of-line tag values) are kept; bounded.
_LAYOUTS: dict[bytes, tuple[Any, ...]] = {}
_MAX_LAYOUTS = 512


def _values(
    f: _File, bo: str, typ: int, count: int, raw: bytes, size: int
) -> tuple[Any, ...] | None:
    code = _TYPE_CODE.get(typ)
    if code is None:
        return None
    nbytes = _TYPE_SIZE[typ] * count
    if nbytes <= 4:
        data = raw[:nbytes]
    else:
        (offset,) = struct.unpack(bo + "I", raw)
        if offset + nbytes > size:
            return None  # a value past the end of the file: never allocate what it claims
        data = f.pread(nbytes, offset)
        if len(data) != nbytes:
            return None
    return struct.unpack(f"{bo}{count}{code}", data)


def _layout(
    f: _File, bo: str, n: int, block: bytes, size: int, limit: int
) -> tuple[tuple[Any, ...] | None, bool]:
    """((shape, dtype, start, end) or None, cacheable) from the IFD entries in ``block``.

    Raises :class:`TooLarge` when the declared size is over ``limit`` pixel values (checked
    before the strips are looked at)."""
    import numpy as np

    tags: dict[int, tuple[Any, ...]] = {}
    inline = True
    entries = struct.unpack_from(bo + "HHI4s" * n, block)
    for i in range(0, 4 * n, 4):
        tag = entries[i]
        if tag in _NEEDED:
            typ, count = entries[i + 1], entries[i + 2]
            inline = inline and _TYPE_SIZE.get(typ, 8) * count <= 4
            vals = _values(f, bo, typ, count, entries[i + 3], size)
            if vals is None:
                return None, inline
            tags[tag] = vals
    if T_TILEWIDTH in tags or T_SUBIFDS in tags:
        return None, inline
    if tags.get(T_COMPRESSION, (1,))[0] != 1 or tags.get(T_FILLORDER, (1,))[0] != 1:
        return None, inline
    if tags.get(T_PHOTOMETRIC, (1,))[0] not in _PLAIN_PHOTOMETRIC:
        return None, inline
    try:
        w, h = int(tags[T_WIDTH][0]), int(tags[T_LENGTH][0])
        offsets, counts = tags[T_STRIPOFFSETS], tags[T_STRIPBYTES]
    except KeyError:
        return None, inline
    spp = int(tags.get(T_SPP, (1,))[0])
    if spp > 1 and tags.get(T_PLANAR, (1,))[0] != 1:
        return None, inline
    bps = set(tags.get(T_BPS, (1,)))
    fmt = set(tags.get(T_SAMPLEFORMAT, (1,)))
    if len(bps) != 1 or len(fmt) != 1 or len(offsets) != len(counts) or not offsets:
        return None, inline
    bits, sf = bps.pop(), fmt.pop()
    if bits not in (8, 16, 32, 64) or sf not in _KIND or (sf == 3 and bits == 8):
        return None, inline
    dtype = np.dtype(f"{bo}{_KIND[sf]}{bits // 8}")
    shape = (h, w, spp) if spp > 1 else (h, w)
    _check_plain(shape, dtype, len(offsets), limit)
    expected = h * w * spp * dtype.itemsize
    start = pos = offsets[0]
    for o, c in zip(offsets, counts, strict=True):
        if o != pos:
            return None, inline  # strips not contiguous
        pos += c
    if pos - start != expected or w == 0 or h == 0:
        return None, inline
    return (shape, dtype, start, pos), inline


T_DESCRIPTION = 270
_IMAGEJ = b"ImageJ="


def _imagej(f: _File, bo: str, n: int, block: bytes) -> bool:
    """The IFD has an ImageDescription that starts ``ImageJ=``: ImageJ's stacks (``images=N``)
    may keep every frame after one page (``truncate``), which only its description tells.
    Read for every file (not cached with the layout: two files may share the IFD's bytes and
    not their descriptions)."""
    for tag, typ, count, value in struct.iter_unpack(bo + "HHI4s", block[: 12 * n]):
        if tag == T_DESCRIPTION and typ == 2:  # ASCII
            if count < len(_IMAGEJ):
                return False
            (offset,) = struct.unpack(bo + "I", value)
            return f.pread(len(_IMAGEJ), offset) == _IMAGEJ
    return False


def _check_plain(shape: tuple[int, ...], dtype: Any, strips: int, limit: int) -> None:
    h, w = shape[0], shape[1]
    spp = shape[2] if len(shape) > 2 else 1
    check_declared([(1, h, w, spp, dtype.name, dtype.itemsize)], strips, limit)


def _plain(f: _File, size: int, max_pixels: int) -> tuple[Any, ...] | None:
    """``(shape, dtype, start, end)`` of the pixels of a plain single-page uncompressed TIFF
    (see :func:`read_plain`), from its header and first IFD only; None for anything else."""
    head = f.pread(10, 0)
    if len(head) < 10:
        return None
    if head[:4] == b"II*\x00":
        bo = "<"
    elif head[:4] == b"MM\x00*":
        bo = ">"
    else:
        return None
    (ifd,) = struct.unpack(bo + "I", head[4:8])
    if ifd < 8 or ifd + 2 > size:
        return None
    (n,) = struct.unpack(bo + "H", head[8:10] if ifd == 8 else f.pread(2, ifd))
    block = f.pread(12 * n + 4, ifd + 2)
    if len(block) != 12 * n + 4:
        return None
    (next_ifd,) = struct.unpack_from(bo + "I", block, 12 * n)
    if next_ifd != 0:
        return None  # multi-page: tifffile counts and decodes every page
    if _imagej(f, bo, n, block):
        return None  # an ImageJ file may hold a stack after one page: tifffile counts it
    key = head[:8] + block
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout, inline = _layout(f, bo, n, block, size, max_pixels)
        if layout is None:
            return None
        if inline:
            if len(_LAYOUTS) >= _MAX_LAYOUTS:
                _LAYOUTS.clear()
            _LAYOUTS[key] = layout
    else:  # parsed under another limit maybe: check again (one strip: inline values)
        _check_plain(layout[0], layout[1], 1, max_pixels)
    if layout[3] > size:
        return None  # truncated: tifffile's path reports it
    return layout


def plain_shape(
    path: Source, size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[int, ...] | None:
    """The decoded shape of a plain TIFF (as :func:`read_plain` would return it) from its
    header alone, no pixel read; None for anything else. Raises :class:`TooLarge` likewise."""
    got = plain_layout(path, size, max_pixels)
    return None if got is None else got[0]


def plain_layout(
    path: Source, size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[tuple[int, ...], str] | None:
    """:func:`plain_shape` and the dtype :func:`read_plain` would decode to (``int16``,
    ``uint8``, ...: its name, whatever the file's byte order), from the header alone."""
    import numpy as np

    f = _File(path)
    try:
        layout = _plain(f, size, max_pixels)
    finally:
        f.close()
    return None if layout is None else (tuple(layout[0]), np.dtype(layout[1]).name)


def read_plain(
    path: Source, size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[Any, str] | None:
    """``(array, "none")`` for a plain single-page uncompressed TIFF, else None.

    ``path``: a path, a descriptor open for reading (left open), or the file's bytes (``size``
    their length; the array is a copy, never a view of them). The array is ``(H, W)`` or
    ``(H, W, S)``, in the file's byte order, as tifffile would decode it. Raises
    :class:`TooLarge` (before reading any pixel) when the image declares more than
    ``max_pixels`` pixel values.
    """
    import numpy as np

    f = _File(path)
    try:
        layout = _plain(f, size, max_pixels)
        if layout is None:
            return None
        shape, dtype, start, end = layout
        arr = np.empty(shape, dtype=dtype)
        if f.readinto(arr.data.cast("B"), start) != end - start:  # arr.data: its memoryview
            return None
    finally:
        f.close()
    return arr, "none"
