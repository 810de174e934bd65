"""What the packed exports (hf, webdataset) read from the tree: masks made 0/1 exactly as
``load_pair`` sees them, images checked by their header only, broken files failing the
export (exit 1, two lines, nothing left)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from support.hu_tree import write_hu_tree

# internals: cli/app run; samples (header check, mask rewrite, hashing sink), hf.pack
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training.export import hf
from lungsegdb_cli.training.export.samples import HashingSink, check_header, mask_tiff

LIMIT = 1 << 26


def _tiff(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("arr", "kw", "kept"),
    [
        (np.array([[0, 255], [255, 0]], np.uint8), {}, False),
        (np.array([[0, 1], [1, 1]], np.uint8), {}, True),
        (np.array([[0, 1], [1, 1]], np.uint8), {"compression": "zlib"}, True),
        (np.array([[0, 7], [3, 0]], ">u2"), {}, False),
        (np.array([[0.0, 0.5], [1.0, 0.0]], np.float32), {}, False),
        (np.dstack([np.eye(3, dtype=np.uint8) * 255] * 3), {"photometric": "rgb"}, False),
    ],
)
def test_mask_tiff_decodes_to_what_load_pair_returns(
    arr: np.ndarray, kw: dict[str, object], kept: bool
) -> None:
    data = _tiff(arr, **kw)
    out = mask_tiff(data, LIMIT)
    got = tifffile.imread(io.BytesIO(out), key=0)
    # load_pair's mask: (H, W), alpha (the last of 2 or 4 channels) dropped, any channel != 0
    raw = tifffile.imread(io.BytesIO(data), key=0)
    if raw.ndim == 3:
        raw = raw[..., :-1] if raw.shape[-1] in (2, 4) else raw
        want = (raw != 0).any(axis=-1).astype(np.uint8)
    else:
        want = (raw != 0).astype(np.uint8)
    assert got.dtype == np.uint8 and got.shape == want.shape and np.array_equal(got, want)
    assert (out == data) == kept


def test_a_multi_page_0_1_mask_keeps_only_its_first_page() -> None:
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as w:
        w.write(np.array([[0, 1]], np.uint8))
        w.write(np.array([[1, 1]], np.uint8))
    out = mask_tiff(buf.getvalue(), LIMIT)
    with tifffile.TiffFile(io.BytesIO(out)) as tif:
        assert len(tif.pages) == 1 and tif.pages[0].asarray().tolist() == [[0, 1]]


def test_check_header_reads_no_pixels_but_refuses_what_load_pair_would() -> None:
    check_header(_tiff(np.zeros((4, 5), np.int16)), LIMIT)
    check_header(_tiff(np.zeros((4, 5), np.int16), compression="zlib"), LIMIT)
    with pytest.raises(Exception, match="not a TIFF"):
        check_header(b"XXXX not a tiff", LIMIT)
    with pytest.raises(ValueError, match="limit"):
        check_header(_tiff(np.zeros((40, 50), np.int16)), 100)


def test_hashing_sink_writes_and_hashes_every_part(tmp_path: Path) -> None:
    import hashlib

    sink = HashingSink(tmp_path / "x")
    sink.write(b"abc")
    sink.writev([b"", b"de", bytes(100_000), memoryview(b"fg")])
    assert sink.tell() == 100_007
    sink.close()
    data = (tmp_path / "x").read_bytes()
    assert data == b"abcde" + bytes(100_000) + b"fg"
    assert sink.shard("x", 1).sha256 == hashlib.sha256(data).hexdigest()
    with pytest.raises(FileExistsError):
        HashingSink(tmp_path / "x")  # never over an existing file


@pytest.mark.parametrize("fmt", ["hf", "webdataset"])
@pytest.mark.parametrize("broken", ["mask", "image", "too-large"])
def test_a_broken_pair_fails_the_export(
    tmp_path: Path,
    fmt: str,
    broken: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    tree = write_hu_tree(tmp_path / "data")
    kind = "CT_Masks" if broken == "mask" else "CT_Images"
    victim = tree / "raw data" / "V2" / kind / "2.TIF"
    if broken == "too-large":
        monkeypatch.setenv("LUNGSEGDB_MAX_IMAGE_PIXELS", "1000")  # V1/V2 slices: ~1,900 values
    else:
        victim.write_bytes(b"II*\x00 not really a TIFF")
    out = tmp_path / "out"
    assert run(["export", fmt, str(out), "--data-dir", str(tree), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 1
    assert "Cannot export" in err and (broken == "too-large" or str(victim) in err)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["data"]  # no staging, no lock left beside OUT


def test_a_stem_that_is_not_utf8_is_escaped_in_the_parquet(tmp_path: Path) -> None:
    """Parquet strings must be UTF-8: such a stem's bytes become \\xNN escapes (the image
    bytes and the pairing are unaffected). The split file names pairs by key, so this builds
    the pairs by hand through the packer, as run.py would."""
    import pyarrow.parquet as pq

    from lungsegdb_cli.training.export.hf import pack
    from lungsegdb_cli.training.export.shardsize import DEFAULT
    from lungsegdb_cli.training.pairs import Pair
    from lungsegdb_cli.utils.progress import NullProgress

    tree = write_hu_tree(tmp_path / "data", pairs=1)
    src = tree / "raw data" / "V1"
    name = os.fsdecode(b"caf\xe9")
    shutil.copy(src / "CT_Images" / "1.TIF", src / "CT_Images" / f"{name}.TIF")
    shutil.copy(src / "CT_Masks" / "1.TIF", src / "CT_Masks" / f"{name}.TIF")
    pair = Pair(
        name,
        src / "CT_Images" / f"{name}.TIF",
        src / "CT_Masks" / f"{name}.TIF",
        "raw data",
        "V1",
        name,
        "train",
    )
    staged = tmp_path / "staged"
    staged.mkdir()
    packed = pack([pair], DEFAULT, staged, NullProgress(), 1, LIMIT)
    table = pq.read_table(staged / packed.shards[0].path)
    assert table.column("stem").to_pylist() == ["caf\\xe9"]
    assert table.column("image").to_pylist()[0] == pair.image.read_bytes()
    assert hf.utf8(name) == b"caf\\xe9"
