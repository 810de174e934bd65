"""tiffinfo/tiffraw: decode any TIFF once, summarise it exactly, say why a file is unreadable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from support.tiffs import hostile_tiff

# internals: exercises tiff/decode, tiff/raw, ... directly (not public API)
from lungsegdb_cli.tiff.decode import IMAGE, MASK, FileSummary, summarize
from lungsegdb_cli.tiff.raw import plain_shape, read_plain

RNG = np.random.default_rng(1234)
GREY = RNG.integers(0, 256, (37, 53), dtype=np.uint8)
HU = RNG.integers(-1024, 3000, (41, 29)).astype(np.int16)
U16 = RNG.integers(0, 65536, (23, 31)).astype(np.uint16)
F32 = RNG.standard_normal((19, 24)).astype(np.float32) * 100
RGB = RNG.integers(0, 256, (21, 34, 3), dtype=np.uint8)
BITS = RNG.random((40, 48)) > 0.6
MASK255 = np.where(RNG.random((33, 35)) > 0.7, 255, 0).astype(np.uint8)


def _tiff(**kw: Any) -> Callable[[Path, np.ndarray], None]:
    def write(path: Path, arr: np.ndarray) -> None:
        tifffile.imwrite(path, arr, **kw)

    return write


def _planar(path: Path, arr: np.ndarray) -> None:
    tifffile.imwrite(path, np.moveaxis(arr, -1, 0), photometric="rgb", planarconfig="separate")


def _pil(**kw: Any) -> Callable[[Path, np.ndarray], None]:
    def write(path: Path, arr: np.ndarray) -> None:
        from PIL import Image

        img = Image.fromarray(arr)
        if arr.dtype == np.bool_ or kw.get("compression") == "group4":
            img = Image.fromarray(np.asarray(arr, dtype=np.uint8) * 255).convert("1")
        img.save(path, format="TIFF", **kw)

    return write


def _cv2(path: Path, arr: np.ndarray) -> None:
    import cv2

    assert cv2.imwrite(str(path), arr)


# (name, writer, array, lossless)
WRITERS = [
    ("tifffile-plain-u8", _tiff(), GREY, True),
    ("tifffile-lzw", _tiff(compression="lzw"), GREY, True),
    ("tifffile-deflate", _tiff(compression="zlib"), HU, True),
    ("tifffile-packbits", _tiff(compression="packbits"), GREY, True),
    ("tifffile-tiled", _tiff(tile=(16, 16)), HU, True),
    ("tifffile-big-endian-i16", _tiff(byteorder=">"), HU, True),
    ("tifffile-big-endian-u16-lzw", _tiff(byteorder=">", compression="lzw"), U16, True),
    ("tifffile-float32", _tiff(), F32, True),
    ("tifffile-float32-predictor", _tiff(compression="zlib", predictor=True), F32, True),
    ("tifffile-int16-negative", _tiff(), HU, True),
    ("tifffile-1bit", _tiff(), BITS, True),
    ("tifffile-rgb", _tiff(photometric="rgb"), RGB, True),
    ("tifffile-rgb-planar", _planar, RGB, True),
    ("tifffile-jpeg", _tiff(compression="jpeg"), GREY, False),
    ("tifffile-strips", _tiff(rowsperstrip=5), GREY, True),
    ("pillow-raw", _pil(), GREY, True),
    ("pillow-lzw", _pil(compression="tiff_lzw"), GREY, True),
    ("pillow-deflate", _pil(compression="tiff_adobe_deflate"), RGB, True),
    ("pillow-group4", _pil(compression="group4"), BITS, True),
    ("pillow-jpeg", _pil(compression="jpeg"), RGB, False),
    ("pillow-u16", _pil(), U16, True),
    ("opencv-grey", _cv2, GREY, True),
    ("opencv-rgb", _cv2, RGB, True),
]


def _reference(path: Path) -> np.ndarray:
    """What tifffile decodes, samples last (planar files come as (S, H, W))."""
    with tifffile.TiffFile(path) as tf:
        page = tf.pages.first
        a = page.asarray()
        if page.axes.startswith("S"):
            a = np.moveaxis(a, 0, -1)
    return a


@pytest.mark.parametrize(("name", "write", "arr", "lossless"), WRITERS, ids=[w[0] for w in WRITERS])
def test_every_writer_decodes_and_summaries_are_exact(
    tmp_path: Path, name: str, write: Any, arr: np.ndarray, lossless: bool
) -> None:
    path = tmp_path / f"{name}.tif"
    write(path, arr)
    ref = _reference(path)
    if lossless:
        expect = np.asarray(arr)
        if name == "opencv-rgb":  # OpenCV arrays are BGR: it stores them as RGB
            expect = expect[:, :, ::-1]
        assert np.array_equal(np.asarray(ref, dtype=np.float64), expect.astype(np.float64))
    s = summarize(str(path), IMAGE)
    assert s.ok, s.error
    assert s.shape[:2] == arr.shape[:2]
    assert s.channels == (arr.shape[2] if arr.ndim == 3 else 1)
    f = np.asarray(ref, dtype=np.float64)
    assert s.n == f.size
    assert s.vmin == f.min() and s.vmax == f.max()
    assert s.mean == pytest.approx(f.mean(), rel=1e-12, abs=1e-12)
    assert s.std == pytest.approx(f.std(), rel=1e-9, abs=1e-9)
    assert s.pages == 1
    hist = s.histogram()
    assert hist is not None and hist.sum() > 0 and s.hist_lo <= s.vmin and s.vmax <= s.hist_hi


@pytest.mark.parametrize(
    ("arr", "distinct", "values", "fg"),
    [
        (MASK255, 2, (0, 255), int(np.count_nonzero(MASK255))),
        ((MASK255 > 0).astype(np.uint8), 2, (0, 1), int(np.count_nonzero(MASK255))),
        (MASK255 > 0, 2, (0, 1), int(np.count_nonzero(MASK255))),
        (np.zeros((9, 9), np.uint8), 1, (0,), 0),
        (np.full((9, 9), 255, np.uint8), 1, (255,), 81),
        (np.arange(100, dtype=np.uint8).reshape(10, 10), 100, None, 99),
        (np.repeat(MASK255[:, :, None], 3, axis=2), 2, (0, 255), int(np.count_nonzero(MASK255))),
        # negative values are foreground (tiff/foreground.py: != 0, as load_pair and exports)
        (np.array([[-1, 0], [2, 0]], np.int16), 3, (-1, 0, 2), 2),
        (np.array([[0.0, 0.5], [1.0, 0.0]], np.float32), 3, (0, 0.5, 1), 2),
    ],
)
def test_mask_summary(tmp_path: Path, arr: np.ndarray, distinct: int, values: Any, fg: int) -> None:
    path = tmp_path / "m.tif"
    tifffile.imwrite(path, arr, photometric="rgb" if arr.ndim == 3 else None)
    s = summarize(str(path), MASK)
    assert s.ok, s.error
    assert s.distinct == distinct
    assert s.values == values
    assert s.fg == fg
    assert s.pixels == arr.shape[0] * arr.shape[1]


def test_jpeg_mask_is_not_binary(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "m.tif"
    Image.fromarray(MASK255).save(path, compression="jpeg")
    s = summarize(str(path), MASK)
    assert s.ok and s.distinct > 2 and s.values is None


def test_multi_page_is_counted_and_every_page_decoded(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    with tifffile.TiffWriter(path) as w:
        w.write(GREY, compression="lzw")
        w.write(GREY[::-1], compression="lzw")
    s = summarize(str(path), IMAGE)
    assert s.ok and s.pages == 2 and s.shape == GREY.shape


def _png(path: Path) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", GREY)
    assert ok
    path.write_bytes(buf.tobytes())


def _truncated(path: Path) -> None:
    tifffile.imwrite(path, GREY)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_lzw(path: Path) -> None:
    tifffile.imwrite(path, RNG.integers(0, 256, (128, 128), dtype=np.uint8), compression="lzw")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_png, "PNG"),
        (lambda p: p.write_bytes(b""), "0 bytes"),
        (_truncated, "truncated"),
        (_truncated_lzw, "truncated"),
        (lambda p: p.write_bytes(b"II*\x00\x08"), "truncated"),
        (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100), "JPEG"),
        (lambda p: p.write_bytes(b"hello world, not an image"), "not a TIFF"),
        (lambda p: p.write_bytes(b"II*\x00\xff\xff\x00\x00" + b"\x00" * 64), "corrupt"),
    ],
    ids=["png", "empty", "truncated", "truncated-lzw", "header", "jpeg", "text", "bad-ifd"],
)
def test_unreadable_files_say_why(tmp_path: Path, make: Any, reason: str) -> None:
    path = tmp_path / "x.TIF"
    make(path)
    for kind in (IMAGE, MASK):
        s = summarize(str(path), kind)
        assert not s.ok
        assert reason.lower() in (s.error or "").lower()


@pytest.mark.parametrize(
    ("arr", "kw"),
    [
        (GREY, {}),
        (HU, {"byteorder": ">"}),
        (U16, {}),
        (F32, {}),
        (RGB, {"photometric": "rgb"}),
        (GREY, {"rowsperstrip": 3}),
        (np.zeros((5, 7), np.float64), {}),
    ],
)
def test_fast_path_matches_tifffile(tmp_path: Path, arr: np.ndarray, kw: dict[str, Any]) -> None:
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, arr, **kw)
    got = read_plain(str(path), os.path.getsize(path))
    assert got is not None
    assert got[0].shape == tifffile.imread(path).shape
    assert np.array_equal(got[0], tifffile.imread(path))
    # the header alone gives the same shape (export's "is it gray already" check)
    assert plain_shape(str(path), os.path.getsize(path)) == got[0].shape
    # and from the file's bytes, already read (the packed exports: never read twice)
    data = path.read_bytes()
    in_memory = read_plain(data, len(data))
    assert in_memory is not None and in_memory[0].dtype == got[0].dtype
    assert np.array_equal(in_memory[0], got[0]) and plain_shape(data, len(data)) == got[0].shape
    assert in_memory[0].base is not data  # a copy: the bytes may go


@pytest.mark.parametrize(
    "kw",
    [
        {"compression": "lzw"},
        {"tile": (16, 16)},
        {"photometric": "rgb", "planarconfig": "separate"},
    ],
)
def test_fast_path_declines_what_it_does_not_handle(tmp_path: Path, kw: dict[str, Any]) -> None:
    path = tmp_path / "p.tif"
    arr = RGB if "photometric" in kw else GREY
    tifffile.imwrite(path, arr, **kw)
    assert read_plain(str(path), os.path.getsize(path)) is None
    assert plain_shape(str(path), os.path.getsize(path)) is None
    assert read_plain(path.read_bytes(), os.path.getsize(path)) is None
    with tifffile.TiffWriter(tmp_path / "two.tif") as w:
        w.write(GREY)
        w.write(GREY)
    assert read_plain(str(tmp_path / "two.tif"), os.path.getsize(tmp_path / "two.tif")) is None
    tifffile.imwrite(tmp_path / "bits.tif", BITS)
    assert read_plain(str(tmp_path / "bits.tif"), os.path.getsize(tmp_path / "bits.tif")) is None


def test_summary_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, HU)
    s = summarize(str(path), IMAGE)
    back = FileSummary.from_json(s.to_json())
    assert back == s
    import json

    assert FileSummary.from_json(json.loads(json.dumps(s.to_json()))) == s


def test_fast_path_layout_memo_never_mixes_up_files(tmp_path: Path) -> None:
    """Files with byte-identical IFDs share a parsed layout; their pixels and sizes do not."""
    from lungsegdb_cli.tiff import raw as tiffraw

    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    tifffile.imwrite(a, GREY)
    tifffile.imwrite(b, GREY[::-1].copy())
    got_a = read_plain(str(a), os.path.getsize(a))
    got_b = read_plain(str(b), os.path.getsize(b))
    assert got_a is not None and got_b is not None
    assert np.array_equal(got_a[0], GREY) and np.array_equal(got_b[0], GREY[::-1])
    assert len(tiffraw._LAYOUTS) >= 1
    # same IFD, truncated data: declined (tifffile's path then reports the truncation)
    data = b.read_bytes()
    b.write_bytes(data[:-100])
    assert read_plain(str(b), os.path.getsize(b)) is None
    s = summarize(str(b), IMAGE)
    assert not s.ok and "truncated" in (s.error or "")


def test_fast_path_without_positional_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where os.pread/preadv do not exist (Windows) a plain file object is used."""
    from lungsegdb_cli.tiff import raw as tiffraw

    monkeypatch.setattr(tiffraw, "_POSITIONAL", False)
    monkeypatch.setattr(tiffraw, "_LAYOUTS", {})
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, RGB, photometric="rgb", byteorder=">")
    got = read_plain(str(path), os.path.getsize(path))
    assert got is not None and np.array_equal(got[0], RGB)


@pytest.mark.parametrize(
    "arr",
    [
        RNG.integers(0, 256, 1, dtype=np.uint8),
        RNG.integers(0, 256, 4097, dtype=np.uint8),
        RNG.integers(0, 256, 66_052, dtype=np.uint8),  # more than one row of partial sums
        RNG.integers(0, 256, 512 * 512 * 3 + 7, dtype=np.uint8),
        np.full(300_001, 255, np.uint8),
        RNG.integers(-128, 128, 5_001).astype(np.int8),
        RNG.integers(-1024, 3072, 262_147).astype(np.int16),  # CT: column sums
        RNG.integers(-32768, 32768, 100_003).astype(np.int16),
        np.full(70_001, -32768, np.int16),  # the one square that needs all 31 bits
        np.full(70_001, 32767, np.int16),
        RNG.integers(0, 65536, 100_003).astype(np.uint16),
        np.full(50_001, 65535, np.uint16),  # squares need all 32 bits: one value per sum
    ],
    ids=lambda a: f"{a.dtype}-{a.size}-{int(a.min())}..{int(a.max())}",
)
def test_exact_sums_are_exact(arr: np.ndarray) -> None:
    from lungsegdb_cli.tiff.decode import exact_sums

    wide = arr.astype(np.int64)
    assert exact_sums(arr, int(arr.min()), int(arr.max())) == (
        int(wide.sum()),
        int((wide * wide).sum()),
    )


def test_exact_sums_reuse_their_buffer_without_leftovers() -> None:
    """A big array, then smaller ones: nothing of the earlier values leaks into the padding."""
    from lungsegdb_cli.tiff.decode import exact_sums

    assert exact_sums(np.full(1_000_003, 255, np.uint8), 255, 255) == (
        255 * 1_000_003,
        255 * 255 * 1_000_003,
    )
    for n in (4_095, 4_097, 70_001, 1):
        small = np.ones(n, np.uint8)
        assert exact_sums(small, 1, 1) == (n, n)
    hu = np.full(5_003, -1024, np.int16)
    assert exact_sums(hu, -1024, -1024) == (-1024 * 5_003, 1024 * 1024 * 5_003)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint32, np.int64])
def test_exact_sums_decline_wide_and_float_dtypes(dtype: Any) -> None:
    from lungsegdb_cli.tiff.decode import exact_sums

    assert exact_sums(np.arange(10, dtype=dtype), 0, 9) is None


@pytest.mark.parametrize(
    "arr",
    [
        RNG.integers(-(2**31), 2**31 - 1, (17, 19)).astype(np.int32),
        RNG.integers(0, 2**32 - 1, (17, 19)).astype(np.uint32),
        RNG.integers(0, 70_000, (33, 31)).astype(np.int32),
    ],
    ids=["int32-full", "uint32-full", "int32-small"],
)
def test_32_bit_images_fall_back_and_stay_exact(tmp_path: Path, arr: np.ndarray) -> None:
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, arr)
    s = summarize(str(path), IMAGE)
    assert s.ok, s.error
    f = arr.astype(np.float64)
    assert s.vmin == arr.min() and s.vmax == arr.max() and s.n == arr.size
    assert s.mean == pytest.approx(f.mean(), rel=1e-12)
    assert s.std == pytest.approx(f.std(), rel=1e-9)
    if s.s1 is not None:
        wide = [int(v) for v in arr.reshape(-1)]
        assert s.s1 == sum(wide) and s.s2 == sum(v * v for v in wide)


# ---------------------------------------------------------------------------------------------
# Hostile files: the declared size is checked from the tags, before anything is decoded
# ---------------------------------------------------------------------------------------------
def test_hostile_helper_writes_what_tifffile_reads(tmp_path: Path) -> None:
    """The crafted files are what they claim: tifffile reads the small ones back."""
    for compression in (1, 5, 8):
        path = tmp_path / f"c{compression}.tif"
        path.write_bytes(hostile_tiff(7, 5, compression=compression, pages=2))
        with tifffile.TiffFile(path) as tf:
            assert len(tf.pages) == 2
            assert tf.pages[1].asarray().shape == (5, 7)


# (id, declared file, limit, what the message must say)
HOSTILE = [
    (
        "46341sq-deflate",
        lambda: hostile_tiff(46341, 46341),
        None,
        "declares 46341x46341x1 uint8 = 2,147,488,281 pixel values, 2,147,488,281 bytes",
    ),
    ("32768sq-deflate", lambda: hostile_tiff(32768, 32768), None, "32768x32768x1 uint8"),
    ("32768sq-lzw", lambda: hostile_tiff(32768, 32768, compression=5), None, "1,073,741,824"),
    (
        "uint16-rgb",
        lambda: hostile_tiff(8000, 9000, bits=16, spp=3),
        None,
        "9000x8000x3 uint16 = 216,000,000 pixel values, 432,000,000 bytes",
    ),
    # uncompressed: the fast path's own header parse refuses it too
    ("raw-fast-path", lambda: hostile_tiff(20000, 20000, compression=1), None, "20000x20000x1"),
    ("pages-sum", lambda: hostile_tiff(64, 64, pages=3), 10_000, "3 pages (the first 64x64x1"),
    ("absurd-pages", lambda: hostile_tiff(1, 1, pages=4097), None, "more than 4,096 pages"),
    ("over-a-small-limit", lambda: hostile_tiff(101, 100, compression=1), 10_099, "10,100"),
]


@pytest.mark.parametrize(("name", "make", "limit", "says"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_declared_size_over_the_limit_is_too_large_and_never_decoded(
    tmp_path: Path, name: str, make: Any, limit: int | None, says: str
) -> None:
    path = tmp_path / f"{name}.tif"
    path.write_bytes(make())
    assert path.stat().st_size < 2_000_000  # tiny in bytes, huge decoded
    for kind in (IMAGE, MASK) if name != "absurd-pages" else (MASK,):  # (4,096 IFDs: slow)
        s = summarize(str(path), kind, max_pixels=limit)
        assert s.too_large and not s.ok
        assert says in (s.error or ""), s.error
        assert "over the limit" in (s.error or "") and "not decoded" in (s.error or "")
        assert s.n == 0 and s.shape == () and s.hist is None  # nothing was decoded
        assert FileSummary.from_json(s.to_json()) == s
    if name == "raw-fast-path":
        from lungsegdb_cli.tiff.raw import TooLarge

        with pytest.raises(TooLarge, match="20000x20000x1"):
            read_plain(str(path), path.stat().st_size)


@pytest.mark.parametrize("compression", [1, 5, 8], ids=["raw", "lzw", "deflate"])
def test_limit_is_inclusive_on_both_paths(tmp_path: Path, compression: int) -> None:
    """Exactly the limit decodes; one pixel value more does not (fast path and tifffile)."""
    path = tmp_path / "x.tif"
    path.write_bytes(hostile_tiff(30, 20, compression=compression, spp=2))
    at = summarize(str(path), IMAGE, max_pixels=1200)
    assert at.ok, at.error
    assert at.shape == (20, 30, 2) and at.n == 1200 and not at.too_large
    over = summarize(str(path), IMAGE, max_pixels=1199)
    assert over.too_large and "20x30x2 uint8 = 1,200 pixel values" in (over.error or "")


def test_absurd_strip_count_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lungsegdb_cli.tiff import raw as tiffraw

    monkeypatch.setattr(tiffraw, "MAX_CHUNKS", 99)
    for compression in (1, 8):
        path = tmp_path / f"strips{compression}.tif"
        path.write_bytes(hostile_tiff(4, 100, compression=compression))
        s = summarize(str(path), IMAGE)
        assert s.too_large and "100 strips or tiles" in (s.error or ""), s.error


def test_default_limit_is_far_above_lungsegdb_slices(tmp_path: Path) -> None:
    from lungsegdb_cli.tiff.decode import max_image_pixels

    path = tmp_path / "big-slice.tif"
    tifffile.imwrite(path, np.zeros((2048, 2048), np.uint16), compression="zlib")
    s = summarize(str(path), IMAGE)
    assert s.ok and s.shape == (2048, 2048)
    assert max_image_pixels() >= 32 * 1024 * 1024  # 32x a 1024x1024 slice at least


def test_tag_value_past_the_end_is_never_allocated(tmp_path: Path) -> None:
    """A StripOffsets count of 2**29 in a 200-byte file: declined by the fast path's parse
    without reading (or allocating) 2 GiB, then reported by tifffile's path."""
    import struct

    data = bytearray(hostile_tiff(4, 2, compression=1))
    i = data.index(struct.pack("<HHI", 273, 4, 2))
    data[i + 4 : i + 8] = struct.pack("<I", 2**29)
    path = tmp_path / "count.tif"
    path.write_bytes(bytes(data))
    assert read_plain(str(path), len(data)) is None
    assert not summarize(str(path), IMAGE).ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("  ", None), ("1000", 1000), (" 268435456 ", 268435456), ("0001", 1)],
)
def test_max_pixels_env_good_values(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None
) -> None:
    from lungsegdb_cli.tiff.decode import max_image_pixels
    from lungsegdb_cli.tiff.raw import DEFAULT_MAX_PIXELS, ENV_MAX_PIXELS

    monkeypatch.setenv(ENV_MAX_PIXELS, value)
    assert max_image_pixels() == (DEFAULT_MAX_PIXELS if expected is None else expected)


@pytest.mark.parametrize(
    "value", ["inf", "nan", "-1", "0", "abc", "1e9", "1.5", "12 34", "+5", "\u0661\u0662", "9" * 40]
)
def test_max_pixels_env_bad_values_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from lungsegdb_cli.errors import ExitCode, UsageError
    from lungsegdb_cli.tiff.decode import max_image_pixels
    from lungsegdb_cli.tiff.raw import ENV_MAX_PIXELS

    monkeypatch.setenv(ENV_MAX_PIXELS, value)
    with pytest.raises(UsageError) as info:
        max_image_pixels()
    assert ENV_MAX_PIXELS in info.value.message and info.value.exit_code == ExitCode.USAGE


def _in_thread(fn: Any) -> Any:
    """Run ``fn`` in a daemon thread; a hang guard (the assert is that it returned)."""
    import threading

    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "blocked"
    return out[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_unreadable_and_never_blocks(tmp_path: Path) -> None:
    from lungsegdb_cli.tiff.decode import describe_bad_header

    fifo = tmp_path / "pipe.TIF"
    os.mkfifo(fifo)
    for size in (None, 4096):  # the size the tree scan saw may be stale
        s = _in_thread(lambda size=size: summarize(str(fifo), MASK, size))
        assert not s.ok and not s.too_large
        assert s.error == "not a regular file (a FIFO)"
    assert _in_thread(lambda: describe_bad_header(str(fifo))) == "not a regular file (a FIFO)"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device_is_unreadable(tmp_path: Path) -> None:
    s = _in_thread(lambda: summarize("/dev/zero", IMAGE, 1 << 30))
    assert not s.ok and s.error == "not a regular file (a character device)"


def test_missing_file_says_cannot_open(tmp_path: Path) -> None:
    s = summarize(str(tmp_path / "gone.TIF"), IMAGE, 10)
    assert not s.ok and (s.error or "").startswith("cannot open")


def test_folder_is_unreadable_by_name(tmp_path: Path) -> None:
    """A folder in a file's place: the one safe open (hashing.open_regular) refuses it, and
    tiffinfo words it like the other special files."""
    from lungsegdb_cli.tiff.decode import describe_bad_header

    folder = tmp_path / "dir.TIF"
    folder.mkdir()
    s = summarize(str(folder), IMAGE, 4096)
    assert not s.ok and s.error == "not a regular file (a folder)"
    assert describe_bad_header(str(folder)) == "not a regular file (a folder)"


@pytest.mark.parametrize(
    ("head", "said"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "not a TIFF: a PNG file with a TIFF name"),
        # a DICOM file (Part 10): 128 bytes of preamble, then DICM -- how CT slices arrive
        (
            bytes(128) + b"DICM" + bytes(200),
            "not a TIFF: a DICOM file with a TIFF name (convert it to a TIFF slice first)",
        ),
        (b"DICM" + bytes(200), "not a TIFF: a DICOM file with a TIFF name"),
        (b"hello world, this is text" + bytes(200), "not a TIFF (starts with b'hello wo')"),
        (b"II*\x00", "truncated: only 4 bytes"),
    ],
    ids=["png", "dicom", "dicom-without-preamble", "text", "truncated-tiff"],
)
def test_a_file_that_is_not_a_tiff_is_named_by_its_first_bytes(
    tmp_path: Path, head: bytes, said: str
) -> None:
    from lungsegdb_cli.tiff.decode import describe_bad_header

    path = tmp_path / "1.tif"
    path.write_bytes(head)
    assert describe_bad_header(str(path)) == said


# ---------------------------------------------------------------------------------------------
# An ImageJ stack kept after one page (ImageJ's or tifffile's ``truncate``): one IFD, every
# frame after it, ``images=N`` in the description. It was read as one slice, silently.
# ---------------------------------------------------------------------------------------------
def _imagej_stack(path: Path, frames: int = 3) -> np.ndarray:
    hu = np.full((3, 64, 64), -3024, np.int16)
    hu[:, 8:56, 8:56] = np.arange(frames * 48 * 48, dtype=np.int16).reshape(frames, 48, 48) - 1000
    tifffile.imwrite(path, hu[:frames], imagej=True, truncate=True)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1 and tif.imagej_metadata.get("images", 1) == frames
    return hu[:frames]


def test_an_imagej_stack_after_one_page_counts_its_frames(tmp_path: Path) -> None:
    stack = _imagej_stack(tmp_path / "s.tif")
    s = summarize(str(tmp_path / "s.tif"), IMAGE)
    assert (s.ok, s.pages, s.declared) == (True, 3, 3 * 64 * 64), s.error
    assert (s.vmin, s.vmax) == (int(stack[0].min()), int(stack[0].max()))  # the first is used
    assert read_plain(str(tmp_path / "s.tif"), os.path.getsize(tmp_path / "s.tif")) is None
    too_large = summarize(str(tmp_path / "s.tif"), IMAGE, max_pixels=2 * 64 * 64)
    assert too_large.too_large and "3 pages" in (too_large.error or "")


def test_an_imagej_stack_cut_short_of_its_frames_is_unreadable(tmp_path: Path) -> None:
    _imagej_stack(tmp_path / "s.tif")
    data = (tmp_path / "s.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[:-100])
    s = summarize(str(tmp_path / "cut.tif"), IMAGE)
    assert not s.ok and "truncated: its 3 ImageJ frames" in (s.error or ""), s.error


def test_a_one_frame_imagej_file_and_a_described_page_stay_plain(tmp_path: Path) -> None:
    one = _imagej_stack(tmp_path / "one.tif", frames=1)
    s = summarize(str(tmp_path / "one.tif"), IMAGE)
    assert (s.ok, s.pages) == (True, 1)
    assert (s.vmin, s.vmax) == (int(one.min()), int(one.max()))
    tifffile.imwrite(tmp_path / "d.tif", one[0], description="a scan, not ImageJ")
    assert read_plain(str(tmp_path / "d.tif"), os.path.getsize(tmp_path / "d.tif")) is not None
