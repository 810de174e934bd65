"""The archive caps as docs/extract.md defines them, applied before the work they guard:

* a zip's member count is read from its end record before ``zipfile`` loads the central
  directory (a 490 MB zip declaring 3,000,000 members took 1.9 GB and 68 s to be refused,
  or died of MemoryError under a memory limit);
* a compressed tar's ratio is its declared bytes to the archive's size, not to the compressed
  bytes read so far (a genuine archive whose first members compress well -- empty masks --
  was refused as a bomb)."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: the end-record reader at its unit, beside the behaviour through L.extract
from lungsegdb_cli.archive.zip import declared_members

TREE = "LungSegDB/raw data/V1"


def _small_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{TREE}/CT_Images/1.TIF", b"x")
        zf.writestr(f"{TREE}/CT_Masks/1.TIF", b"y")
    return path


def _declaring(path: Path, count: int, zip64: bool) -> Path:
    """``path``'s end record rewritten to declare ``count`` members (with a zip64 end record
    and its locator when ``zip64``); the central directory itself still holds two."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    eocd = bytearray(data[at:])
    if not zip64:
        struct.pack_into("<HH", eocd, 8, count, count)
        path.write_bytes(bytes(data[:at]) + bytes(eocd))
        return path
    cd_size, cd_offset = struct.unpack_from("<II", eocd, 12)
    record = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, cd_size, cd_offset
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    struct.pack_into("<HH", eocd, 8, 0xFFFF, 0xFFFF)
    path.write_bytes(bytes(data[:at]) + record + locator + bytes(eocd))
    return path


@pytest.mark.parametrize("zip64", [False, True], ids=["zip", "zip64"])
def test_a_zip_declaring_too_many_members_is_refused_from_its_end_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zip64: bool
) -> None:
    archive = _declaring(_small_zip(tmp_path / "a.zip"), 60_000, zip64)
    assert declared_members(archive) == 60_000
    monkeypatch.setenv("LUNGSEGDB_MAX_FILES", "1000")
    with pytest.raises(L.UnsafeArchiveError, match="more than 1,000 members") as info:
        L.extract(tmp_path / "d", archive=archive)
    assert info.value.exit_code == 4
    assert not (tmp_path / "d" / "LungSegDB").exists()


def test_a_zip_within_the_cap_extracts(tmp_path: Path) -> None:
    archive = _small_zip(tmp_path / "a.zip")
    result = L.extract(tmp_path / "d", archive=archive)
    assert result.ok
    assert (tmp_path / "d" / "LungSegDB" / "raw data" / "V1" / "CT_Masks" / "1.TIF").exists()


def _tif(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array)
    return buf.getvalue()


def test_a_tar_gz_whose_first_members_compress_well_is_not_a_bomb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty masks first (ratio ~1000, past the 64 MiB the ratio waits for), then noisy
    slices: the archive as a whole is well under the cap."""
    monkeypatch.setenv("LUNGSEGDB_MAX_RATIO", "3")
    rng = np.random.default_rng(0)
    empty = _tif(np.zeros((1024, 1024), np.uint8))
    members = [(f"{TREE}/CT_Masks/{i}.TIF", empty) for i in range(70)]
    members += [
        (f"{TREE}/CT_Images/{i}.TIF", _tif(rng.integers(-32768, 32767, (1024, 1024), np.int16)))
        for i in range(24)
    ]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    total = sum(len(d) for _, d in members)
    assert total / os.path.getsize(archive) < 3  # the archive as a whole is no bomb
    result = L.extract(tmp_path / "d", archive=archive)
    assert result.ok
