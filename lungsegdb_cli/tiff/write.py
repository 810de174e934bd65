"""Write a 2D grayscale TIFF fast: one page, one strip (Deflate or raw), baseline tags.

``export`` rewrites thousands of masks (0/255 -> 0/1) and RGB slices (-> one channel). Through
:func:`tifffile.imwrite` each costs about 2.5 ms, nearly all of it Python overhead around a
256 KB write; the file itself is an 8-byte header, one strip and an IFD of nine tags. This
module writes exactly that (little-endian classic TIFF; with ``compress``, Adobe Deflate at
zlib level 1, which turns a 256 KB mask into ~8 KB in ~0.1 ms, where a CT slice would cost
~2 ms for little gain, so slices are written raw) in about 0.2 ms. Deflate is lossless, as
nnU-Net requires, and read by tifffile, Pillow/libtiff, OpenCV, scikit-image and ITK.

Only ``uint8``/``uint16`` 2D arrays take this path; anything else is written by tifffile.
``tests/tiff/test_tiffwrite.py`` checks that tifffile and Pillow read back exactly the array.
"""

from __future__ import annotations

import os
import struct
from typing import Any

try:  # zlib-ng: the stdlib's API, deflating several times faster at level 1
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - zlib-ng is a dependency
    import zlib as _zlib  # type: ignore[no-redef]

_SHORT, _LONG = 3, 4
_NONE, _DEFLATE, _MINISBLACK = 1, 8, 1
_FAST_DTYPES = {"uint8", "uint16"}


def tiff_bytes(array: Any, *, compress: bool = True) -> bytes | None:
    """The TIFF file of a 2D ``uint8``/``uint16`` array, or None for any other array."""
    import numpy as np

    if array.ndim != 2 or array.dtype.name not in _FAST_DTYPES:
        return None
    h, w = (int(n) for n in array.shape)
    if not (0 < h < 65536 and 0 < w < 65536):
        return None
    pixels = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    strip = _zlib.compress(pixels, 1) if compress else pixels
    pad = len(strip) & 1  # the IFD starts on a word boundary
    tags = (
        (256, _SHORT, w),  # ImageWidth
        (257, _SHORT, h),  # ImageLength
        (258, _SHORT, 8 * array.dtype.itemsize),  # BitsPerSample
        (259, _SHORT, _DEFLATE if compress else _NONE),  # Compression
        (262, _SHORT, _MINISBLACK),  # PhotometricInterpretation
        (273, _LONG, 8),  # StripOffsets: the strip follows the header
        (277, _SHORT, 1),  # SamplesPerPixel
        (278, _SHORT, h),  # RowsPerStrip
        (279, _LONG, len(strip)),  # StripByteCounts
    )
    out = bytearray(b"II*\x00")
    out += struct.pack("<I", 8 + len(strip) + pad)
    out += strip
    out += b"\x00" * pad
    out += struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        fmt = "<HHIHH" if kind == _SHORT else "<HHII"
        out += (
            struct.pack(fmt, tag, kind, 1, value, 0)
            if kind == _SHORT
            else struct.pack(fmt, tag, kind, 1, value)
        )
    out += struct.pack("<I", 0)  # no next IFD
    return bytes(out)


def write_gray(dest: str, array: Any, *, compress: bool = True) -> None:
    """Write ``array`` as a new TIFF at ``dest`` (which must not exist)."""
    data = tiff_bytes(array, compress=compress)
    if data is None:
        import tifffile

        tifffile.imwrite(dest, array, photometric="minisblack")
        return
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
