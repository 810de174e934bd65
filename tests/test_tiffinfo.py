"""tiffinfo/tiffraw: decode any TIFF once, summarise it exactly, say why a file is unreadable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from lungsegdb_cli.tiffinfo import IMAGE, MASK, FileSummary, summarize
from lungsegdb_cli.tiffraw import read_plain

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
        (np.array([[-1, 0], [2, 0]], np.int16), 3, (-1, 0, 2), 1),
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
    from lungsegdb_cli import tiffraw

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
    from lungsegdb_cli import tiffraw

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
    from lungsegdb_cli.tiffinfo import exact_sums

    wide = arr.astype(np.int64)
    assert exact_sums(arr, int(arr.min()), int(arr.max())) == (
        int(wide.sum()),
        int((wide * wide).sum()),
    )


def test_exact_sums_reuse_their_buffer_without_leftovers() -> None:
    """A big array, then smaller ones: nothing of the earlier values leaks into the padding."""
    from lungsegdb_cli.tiffinfo import exact_sums

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
    from lungsegdb_cli.tiffinfo import exact_sums

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
