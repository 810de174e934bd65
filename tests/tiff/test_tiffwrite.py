"""The fast TIFF writer of export (``_tiffwrite``): what it writes reads back exactly, with
tifffile and with Pillow (libtiff), and what it cannot write goes to tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

# internals: exercises tiff/write directly: behaviour the public API does not expose on its own
from lungsegdb_cli.tiff.write import tiff_bytes, write_gray

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "array",
    [
        (RNG.random((512, 512)) > 0.5).astype(np.uint8),  # a 0/1 mask
        np.zeros((7, 3), np.uint8),  # tiny, odd strip length
        RNG.integers(0, 256, (33, 65), dtype=np.uint8),
        RNG.integers(0, 65536, (40, 17), dtype=np.uint16),
        RNG.integers(0, 65536, (40, 17), dtype=np.uint16).astype(">u2"),  # big-endian input
        np.asfortranarray(RNG.integers(0, 256, (20, 30), dtype=np.uint8)),  # not C-contiguous
    ],
    ids=["mask", "tiny", "uint8", "uint16", "uint16-be", "fortran"],
)
@pytest.mark.parametrize("compress", [True, False], ids=["deflate", "raw"])
def test_round_trip(tmp_path: Path, array: np.ndarray, compress: bool) -> None:
    dest = tmp_path / "x.tif"
    write_gray(str(dest), array, compress=compress)
    with tifffile.TiffFile(dest) as tif:
        page = tif.pages[0]
        assert page.compression.name == ("ADOBE_DEFLATE" if compress else "NONE")
        assert len(tif.pages) == 1
        back = page.asarray()
    assert back.dtype == array.dtype.newbyteorder("=") and np.array_equal(back, array)
    with Image.open(dest) as im:
        assert np.array_equal(np.asarray(im), array)


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32), np.zeros((4, 4), np.int16)],
    ids=["rgb", "float32", "int16"],
)
def test_other_arrays_go_to_tifffile(tmp_path: Path, array: np.ndarray) -> None:
    assert tiff_bytes(array) is None
    dest = tmp_path / "x.tif"
    write_gray(str(dest), array)
    assert np.array_equal(tifffile.imread(dest), array)


def test_never_overwrites(tmp_path: Path) -> None:
    dest = tmp_path / "x.tif"
    dest.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        write_gray(str(dest), np.zeros((2, 2), np.uint8))
    assert dest.read_bytes() == b"mine"
