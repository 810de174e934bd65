"""archive_formats: detection by magic bytes, and the zip/tar readers."""

from __future__ import annotations

import builtins
import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pytest

# internals: exercises archive directly: behaviour the public API does not expose on its own
from lungsegdb_cli.archive import formats as af
from lungsegdb_cli.errors import ArchiveError, UnsafeArchiveError


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("a/b.TIF")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    return buf.getvalue()


def _zip_bytes() -> bytes:
    """A fixed zip: an explicit member date, so the bytes (used as test ids) never change."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("a/b.TIF", date_time=(2020, 1, 1, 0, 0, 0)), b"abc")
    return buf.getvalue()


def _gz(data: bytes) -> bytes:
    """gzip with no timestamp in its header: the same bytes in every run and on every worker."""
    return gzip.compress(data, mtime=0)


def _v7_tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("x")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    raw = bytearray(buf.getvalue())
    raw[257:265] = bytes(8)  # drop the ustar magic: an old v7 header, checksum still valid
    chk = sum(raw[:148]) + 8 * 32 + sum(raw[156:512])
    raw[148:156] = f"{chk:06o}\x00 ".encode()
    return bytes(raw)


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        (_zip_bytes(), af.ZIP),
        (b"MZ\x90\x00" + bytes(100) + _zip_bytes(), af.ZIP),  # self-extracting: data prepended
        (_tar_bytes(), af.TAR),
        (_v7_tar_bytes(), af.TAR),
        (_gz(_tar_bytes()), af.TAR_GZ),
        (bz2.compress(_tar_bytes()), af.TAR_BZ2),
        (lzma.compress(_tar_bytes()), af.TAR_XZ),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40), af.SEVEN_Z),
        (b"Rar!\x1a\x07\x01\x00" + bytes(40), af.RAR),
    ],
    ids=["zip", "zip-sfx", "tar", "tar-v7", "tar.gz", "tar.bz2", "tar.xz", "7z", "rar"],
)
def test_detect_by_magic_not_name(tmp_path, content, fmt):
    path = tmp_path / "download.bin"  # the name says nothing
    path.write_bytes(content)
    assert af.detect(path) == fmt


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"<!DOCTYPE html>\n<html><body>quota exceeded</body></html>", "HTML"),
        (b"  <html>", "HTML"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "PNG"),
        (b"%PDF-1.7", "PDF"),
        (b"II*\x00" + bytes(20), "TIFF"),
        (b"", "empty"),
        (b'{"error": "not found"}', "JSON"),
        (b"hello world", "text"),
        (b"\x00\x01\x02\xfe\xff\xfa", "unknown binary"),
        (_gz(b"just a text file"), "not a tar"),
        (_gz(_tar_bytes())[:12], "corrupt"),
    ],
    ids=[
        "html-doctype",
        "html-indented",
        "png",
        "pdf",
        "tiff",
        "empty",
        "json",
        "text",
        "binary",
        "gzip-not-tar",
        "gzip-corrupt",
    ],
)
def test_detect_names_what_a_non_archive_is(tmp_path, content, says):
    path = tmp_path / "LungSegDB.zip"
    path.write_bytes(content)
    with pytest.raises(ArchiveError) as info:
        af.detect(path)
    assert says in info.value.message


@pytest.mark.parametrize(
    ("fmt", "module", "magic"),
    [
        (af.SEVEN_Z, "py7zr", b"7z\xbc\xaf\x27\x1c"),
        (af.RAR, "rarfile", b"Rar!\x1a\x07\x00"),
    ],
)
def test_7z_and_rar_without_the_extra_say_what_to_install(
    tmp_path, monkeypatch, fmt, module, magic
):
    real_import = builtins.__import__

    def no_extra(name, *args, **kwargs):
        if name == module:
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_extra)
    path = tmp_path / "x.bin"
    path.write_bytes(magic + bytes(64))
    with pytest.raises(ArchiveError) as info:
        af.open_archive(path)
    assert module in info.value.message
    assert f"pip install '.[{fmt}]'" in info.value.hint
    assert "lungsegdb-cli[" not in info.value.hint  # not on any package index


def _zip(tmp_path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("empty/", b"")
    return path


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_reader_round_trips_every_method(tmp_path, method):
    members = {"a.TIF": b"x" * 5_000_000 + b"tail", "b/c.TIF": b"", "d.TIF": bytes(range(256)) * 10}
    with af.open_archive(_zip(tmp_path, members, method)) as reader:
        assert reader.random_access
        got = {m.name: b"".join(reader.chunks(m)) for m in reader.members() if m.is_file}
        kinds = {m.name: m.kind for m in reader.members()}
    assert got == members
    assert kinds["empty/"] == af.DIR


def test_zip_chunks_are_bounded(tmp_path):
    path = _zip(tmp_path, {"big.TIF": bytes(5 * af.CHUNK + 7)})
    with af.ZipReader(path) as reader:
        (member,) = [m for m in reader.members() if m.is_file]
        sizes = [len(c) for c in reader.chunks(member)]
    assert max(sizes) <= af.CHUNK and sum(sizes) == 5 * af.CHUNK + 7


def test_zip_member_that_grows_past_its_header_is_unsafe(tmp_path):
    path = _zip(tmp_path, {"x.TIF": bytes(300_000)})
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with af.ZipReader(path) as reader:
        (member,) = [m for m in reader.members() if m.is_file]
        assert member.size == 1000
        with pytest.raises(UnsafeArchiveError):
            for _ in reader.chunks(member):
                pass


def test_encrypted_zip_is_refused(tmp_path):
    path = _zip(tmp_path, {"x.TIF": b"abc"})
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= 0x1  # the "encrypted" flag bit
    path.write_bytes(bytes(raw))
    with af.ZipReader(path) as reader, pytest.raises(ArchiveError, match="encrypted"):
        reader.members()


def _rename_in_local_header(path: Path, member: str, new_name: str) -> None:
    """Rewrite ``member``'s name in its local header only (same length): the central
    directory still says ``member``."""
    assert len(new_name.encode()) == len(member.encode())
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo(member).header_offset
    raw = bytearray(path.read_bytes())
    assert raw[offset + 30 : offset + 30 + len(member)] == member.encode()
    raw[offset + 30 : offset + 30 + len(member)] = new_name.encode()
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"]
)
def test_zip_local_header_naming_another_file_is_corrupt(tmp_path, method):
    """Python's zipfile refuses a member whose local header names another file; so do we
    (one tool would otherwise extract it under one name, another under the other)."""
    path = _zip(tmp_path, {"a.TIF": b"abc", "b.TIF": b"def"}, method)
    _rename_in_local_header(path, "b.TIF", "c.TIF")
    with zipfile.ZipFile(path) as zf, pytest.raises(zipfile.BadZipFile, match="differ"):
        zf.read("b.TIF")
    with af.ZipReader(path) as reader:
        files = {m.name: m for m in reader.members() if m.is_file}
        assert b"".join(reader.chunks(files["a.TIF"])) == b"abc"
        with pytest.raises(ArchiveError, match="local header") as info:
            b"".join(reader.chunks(files["b.TIF"]))
    assert info.value.kind == "bad-archive" and info.value.exit_code == 4


def test_zip_with_a_local_header_name_mismatch_exits_4(
    tmp_path: Path, synth_result, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shutil

    from lungsegdb_cli.cli.app import run

    archive = tmp_path / "LungSegDB.zip"
    shutil.copyfile(synth_result.archive.path, archive)
    with zipfile.ZipFile(archive) as zf:
        member = next(n for n in zf.namelist() if n.endswith("/CT_Masks/1.TIF"))
    _rename_in_local_header(archive, member, member.replace("/1.TIF", "/9.TIF"))
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "--json"]) == 4
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["kind"] == "bad-archive"
    assert "local header" in doc["error"]["message"]
    assert not (data / "LungSegDB").exists()


def test_tar_reader_streams_members_and_counts_compressed_bytes(tmp_path):
    path = tmp_path / "t.tgz"
    with tarfile.open(path, "w:gz") as tf:
        for name, data in {"a.TIF": b"1" * 3_000_000, "b.TIF": b"22"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
    got = {}
    with af.open_archive(path) as reader:
        assert not reader.random_access
        for member, chunks in reader.entries():
            got[member.name] = (member.kind, b"".join(chunks) if chunks else None)
    assert got == {
        "a.TIF": (af.FILE, b"1" * 3_000_000),
        "b.TIF": (af.FILE, b"22"),
        "dir": (af.DIR, None),
    }


def test_truncated_tar_gz_is_an_archive_error(tmp_path):
    path = tmp_path / "t.tgz"
    with tarfile.open(path, "w:gz") as tf:
        data = bytes(range(256)) * 4000
        info = tarfile.TarInfo("a.TIF")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    path.write_bytes(path.read_bytes()[:-200])
    with af.open_archive(path) as reader, pytest.raises(ArchiveError):
        for _, chunks in reader.entries():
            for _ in chunks or ():
                pass


class _Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek: zipfile then writes data descriptors."""

    def __init__(self, fh):
        self._fh = fh

    def writable(self):
        return True

    def write(self, b):
        return self._fh.write(b)

    def seekable(self):
        return False

    def tell(self):
        raise OSError("not seekable")


@pytest.mark.parametrize("variant", ["zip64", "data-descriptor"])
def test_zip64_and_streamed_zips(tmp_path, variant):
    path = tmp_path / "t.zip"
    payload = {"a/x.TIF": bytes(range(256)) * 3000, "a/y.TIF": b"small"}
    with open(path, "wb") as raw:
        target = raw if variant == "zip64" else _Unseekable(raw)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in payload.items():
                with zf.open(name, "w", force_zip64=variant == "zip64") as fh:
                    fh.write(data)
    flags = {i.filename: i.flag_bits for i in zipfile.ZipFile(path).infolist()}
    if variant == "data-descriptor":
        assert all(f & 0x08 for f in flags.values())
    with af.ZipReader(path) as reader:
        got = {m.name: b"".join(reader.chunks(m)) for m in reader.members()}
    assert got == payload


def test_stdlib_zlib_fallback_reads_the_same(tmp_path, monkeypatch):
    import zlib

    from lungsegdb_cli.archive import zip as _zipreader

    monkeypatch.setattr(_zipreader, "_zlib", zlib)
    payload = {"x.TIF": bytes(range(256)) * 5000}
    with af.ZipReader(_zip(tmp_path, payload)) as reader:
        got = {m.name: b"".join(reader.chunks(m)) for m in reader.members() if m.is_file}
    assert got == payload


# ---------------------------------------------------------------------------------------------
# Member names that are not valid UTF-8: exit 4 naming the member, never a traceback
# ---------------------------------------------------------------------------------------------
BAD_NAME = b"LungSegDB/raw data/V1/CT_Images/a\xff.TIF"


def _latin1_tar(path: Path, compression: str = "") -> Path:
    """A GNU tar whose member name holds the raw byte 0xff (not UTF-8)."""
    mode = "w:" + compression if compression else "w"
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT, encoding="latin-1") as tf:
        info = tarfile.TarInfo(BAD_NAME.decode("latin-1"))
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    raw = path.read_bytes() if not compression else None
    assert raw is None or BAD_NAME in raw
    return path


def _bad_utf8_zip(path: Path) -> Path:
    """A zip that flags its names as UTF-8 (bit 11) but holds the bytes ff fe."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("LungSegDB/raw data/V1/CT_Images/a\u00e9.TIF", b"abc")
    path.write_bytes(path.read_bytes().replace("\u00e9".encode(), b"\xff\xfe"))
    return path


@pytest.mark.parametrize(
    ("case", "build"),
    [
        ("tar", lambda p: _latin1_tar(p / "bad.tar")),
        ("tar.gz", lambda p: _latin1_tar(p / "bad.tar.gz", "gz")),
        ("zip-utf8-flag", lambda p: _bad_utf8_zip(p / "bad.zip")),
    ],
)
def test_a_member_name_that_is_not_utf8_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, build
) -> None:
    from lungsegdb_cli.cli.app import run

    archive = build(tmp_path)
    data = tmp_path / "data"
    assert run(["extract", "--archive", str(archive), "--data-dir", str(data), "-q"]) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    assert "\\xff" in err or "0xff" in err  # the offending byte is named, escaped
    assert not (data / "LungSegDB").exists()


def test_checked_name() -> None:
    assert af.checked_name(Path("a.tar"), "ok/é.TIF") == "ok/é.TIF"
    with pytest.raises(ArchiveError, match=r"a\\xff\.TIF"):
        af.checked_name(Path("a.tar"), BAD_NAME.decode("utf-8", "surrogateescape"))
