"""``lungsegdb publish DEST --export OUT`` (issue: where the ML ecosystem reads datasets): the
WebDataset (or Parquet) shards on the mirror beside the archive -- a folder, or a bucket on a
real S3-compatible server (moto's, on 127.0.0.1) -- each shard's SHA-256 the one
``shards.json`` lists, its index last; an export that no longer verifies uploads nothing."""

from __future__ import annotations

import doctest
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from support.s3_server import ACCESS_KEY, SECRET_KEY

import lungsegdb_cli as L

# internals: cli/app run; the upload module's docstring example
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.sources import upload


@pytest.fixture
def exported(
    synth_result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """(a data root with the synthetic archive downloaded and kept, a WebDataset export of it
    in 2-sample shards)."""
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "data"
    L.download(root, archive=synth_result.archive.path)
    out = tmp_path / "wds"
    L.export("webdataset", out, root, variant="raw", shard_size=2)
    return root, out


def _shards(out: Path) -> dict[str, str]:
    doc = json.loads((out / "shards.json").read_text())
    return {s["path"]: s["sha256"] for split in doc["splits"].values() for s in split["shards"]}


def test_publish_export_to_a_folder(
    exported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = exported
    mirror = tmp_path / "mirror"
    code = run(["publish", str(mirror), "--data-dir", str(root), "--export", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    shards = _shards(out)
    assert len(shards) >= 3
    got = {
        p.relative_to(mirror / "wds").as_posix() for p in (mirror / "wds").rglob("*") if p.is_file()
    }
    assert got == {*shards, "shards.json", "lungsegdb-splits.json"}  # no record, no temp keys
    for name, sha in shards.items():
        assert hashlib.sha256((mirror / "wds" / name).read_bytes()).hexdigest() == sha
    assert (mirror / "wds" / "shards.json").read_bytes() == (out / "shards.json").read_bytes()
    assert sorted(p.name for p in mirror.iterdir()) == sorted(
        ["LungSegDB.sha256", "lungsegdb.json", "wds", Path(doc["archive"]["url"]).name]
    )
    up = doc["export"]
    assert up["files"] == len(got) and up["url"] == (mirror / "wds").as_uri()
    assert up["index"] == (mirror / "wds" / "shards.json").as_uri()
    assert up["bytes"] == sum((out / n).stat().st_size for n in got)
    assert run(["publish", str(tmp_path / "m2"), "--data-dir", str(root)]) == 0
    assert "Export:" not in capsys.readouterr().out  # without --export: as before


def test_publish_export_to_s3(
    exported: tuple[Path, Path], s3_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import fsspec

    root, out = exported
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists("lungsegdb-shards"):
        fs.mkdir("lungsegdb-shards")
    dest = "s3://lungsegdb-shards/v1"
    opts = ("--storage-option", f"key={ACCESS_KEY}", "--storage-option", f"secret={SECRET_KEY}")
    code = run(["publish", dest, *opts, "--data-dir", str(root), "--export", str(out)])
    printed = capsys.readouterr()
    assert code == 0 and SECRET_KEY not in printed.out + printed.err
    assert "Export: " in printed.out and "s3://lungsegdb-shards/v1/wds" in printed.out
    fs.invalidate_cache()
    for name, sha in _shards(out).items():
        assert hashlib.sha256(fs.cat(f"lungsegdb-shards/v1/wds/{name}")).hexdigest() == sha
    assert not [k for k in fs.find("lungsegdb-shards") if "lungsegdb-tmp" in k]


def test_an_export_that_changed_uploads_nothing(
    exported: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = exported
    shard = out / next(iter(_shards(out)))
    data = bytearray(shard.read_bytes())
    data[600] ^= 1
    shard.write_bytes(bytes(data))
    mirror = tmp_path / "mirror"
    assert run(["publish", str(mirror), "--data-dir", str(root), "--export", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no longer matches" in err and "verify-export" in err and "Traceback" not in err
    assert not mirror.exists()
    assert (
        run(
            ["publish", str(mirror), "--data-dir", str(root), "--export", str(tmp_path / "nowhere")]
        )
        == 2
    )
    assert not mirror.exists()


def test_docstring_examples() -> None:
    result = doctest.testmod(upload)
    assert result.failed == 0 and result.attempted > 0
