"""A fast path for the plainest TIFF: one page, uncompressed, contiguous strips.

Opening a file with :class:`tifffile.TiffFile` costs about 0.4 ms of Python (path resolution,
every tag parsed into objects, format sniffing), more than reading a 512x512 slice. For the
case that dominates datasets like LungSegDB (baseline TIFF written by tifffile, Pillow, OpenCV
or MATLAB without compression) the pixels are one contiguous byte range, so this module reads
the header and first IFD with :mod:`struct` and the pixels with one ``readinto``.

Anything else returns None and the caller decodes with tifffile + imagecodecs: compressed,
tiled, planar, multi-page, BigTIFF, bit depths other than 8/16/32/64, YCbCr, strips that are
not contiguous or run past the end of the file. ``tests/test_tiffinfo.py`` checks that this
path returns exactly what tifffile returns.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

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


def _values(fh: BinaryIO, bo: str, typ: int, count: int, raw: bytes) -> tuple[Any, ...] | None:
    code = _TYPE_CODE.get(typ)
    if code is None:
        return None
    nbytes = _TYPE_SIZE[typ] * count
    if nbytes <= 4:
        data = raw[:nbytes]
    else:
        (offset,) = struct.unpack(bo + "I", raw)
        fh.seek(offset)
        data = fh.read(nbytes)
        if len(data) != nbytes:
            return None
    return struct.unpack(f"{bo}{count}{code}", data)


def read_plain(path: str, size: int) -> tuple[Any, str] | None:
    """``(array, "none")`` for a plain single-page uncompressed TIFF, else None.

    The array is ``(H, W)`` or ``(H, W, S)``, in the file's byte order, as tifffile would
    decode it.
    """
    import numpy as np

    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return None
        if head[:4] == b"II*\x00":
            bo = "<"
        elif head[:4] == b"MM\x00*":
            bo = ">"
        else:
            return None
        (ifd,) = struct.unpack(bo + "I", head[4:])
        if ifd < 8 or ifd + 2 > size:
            return None
        fh.seek(ifd)
        (n,) = struct.unpack(bo + "H", fh.read(2))
        block = fh.read(12 * n + 4)
        if len(block) != 12 * n + 4:
            return None
        (next_ifd,) = struct.unpack_from(bo + "I", block, 12 * n)
        if next_ifd != 0:
            return None  # multi-page: tifffile counts and decodes every page
        tags: dict[int, tuple[Any, ...]] = {}
        entries = struct.unpack_from(bo + "HHI4s" * n, block)
        for i in range(0, 4 * n, 4):
            tag = entries[i]
            if tag in _NEEDED:
                vals = _values(fh, bo, entries[i + 1], entries[i + 2], entries[i + 3])
                if vals is None:
                    return None
                tags[tag] = vals
        if T_TILEWIDTH in tags or T_SUBIFDS in tags:
            return None
        if tags.get(T_COMPRESSION, (1,))[0] != 1 or tags.get(T_FILLORDER, (1,))[0] != 1:
            return None
        if tags.get(T_PHOTOMETRIC, (1,))[0] not in _PLAIN_PHOTOMETRIC:
            return None
        try:
            w, h = int(tags[T_WIDTH][0]), int(tags[T_LENGTH][0])
            offsets, counts = tags[T_STRIPOFFSETS], tags[T_STRIPBYTES]
        except KeyError:
            return None
        spp = int(tags.get(T_SPP, (1,))[0])
        if spp > 1 and tags.get(T_PLANAR, (1,))[0] != 1:
            return None
        bps = set(tags.get(T_BPS, (1,)))
        fmt = set(tags.get(T_SAMPLEFORMAT, (1,)))
        if len(bps) != 1 or len(fmt) != 1 or len(offsets) != len(counts) or not offsets:
            return None
        bits, sf = bps.pop(), fmt.pop()
        if bits not in (8, 16, 32, 64) or sf not in _KIND or (sf == 3 and bits == 8):
            return None
        dtype = np.dtype(f"{bo}{_KIND[sf]}{bits // 8}")
        shape = (h, w, spp) if spp > 1 else (h, w)
        expected = h * w * spp * dtype.itemsize
        start = offsets[0]
        pos = start
        for o, c in zip(offsets, counts, strict=True):
            if o != pos:
                return None  # strips not contiguous
            pos += c
        if pos - start != expected or pos > size or w == 0 or h == 0:
            return None
        arr = np.empty(shape, dtype=dtype)
        fh.seek(start)
        if fh.readinto(memoryview(arr).cast("B")) != expected:
            return None
    return arr, "none"
