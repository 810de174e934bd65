"""Hostile TIFFs for the decode-limit tests: :func:`hostile_tiff` declares a huge image in a
few bytes (tests/tiff, tests/checks)."""

from __future__ import annotations


def hostile_tiff(
    width: int,
    height: int,
    *,
    compression: int = 8,
    bits: int = 8,
    spp: int = 1,
    pages: int = 1,
    rows_per_strip: int = 1,
) -> bytes:
    """A little-endian TIFF, tiny in bytes, declaring ``pages`` pages of ``height x width x
    spp``: every StripOffsets entry points at the same strip (deflate, LZW or raw), every
    page shares the strip arrays, each page has its own IFD (chained)."""
    import struct
    import zlib

    row = bytes(width * spp * bits // 8 * rows_per_strip)
    if compression == 8:
        strip = zlib.compress(row, 9)
    elif compression == 5:
        import imagecodecs

        strip = imagecodecs.lzw_encode(row)
    else:
        strip = row
    n = -(-height // rows_per_strip)
    data_at = 8
    offsets_at = data_at + len(strip)
    counts_at = offsets_at + 4 * n
    ifd_at = counts_at + 4 * n
    tags = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, bits),
        (259, 3, 1, compression),
        (262, 3, 1, 1),
        (273, 4, n, offsets_at if n > 1 else data_at),
        (277, 3, 1, spp),
        (278, 4, 1, rows_per_strip),
        (279, 4, n, counts_at if n > 1 else len(strip)),
    ]
    ifd_size = 2 + 12 * len(tags) + 4
    out = [
        b"II*\x00" + struct.pack("<I", ifd_at),
        strip,
        struct.pack(f"<{n}I", *([data_at] * n)),
        struct.pack(f"<{n}I", *([len(strip)] * n)),
    ]
    for page in range(pages):
        ifd = struct.pack("<H", len(tags))
        for tag, typ, count, value in tags:
            fmt = "<HHIHH" if typ == 3 else "<HHII"
            ifd += struct.pack(fmt, tag, typ, count, value, *((0,) if typ == 3 else ()))
        nxt = ifd_at + (page + 1) * ifd_size if page + 1 < pages else 0
        out.append(ifd + struct.pack("<I", nxt))
    return b"".join(out)
