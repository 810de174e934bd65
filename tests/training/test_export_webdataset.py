"""``export webdataset`` structurally, with the standard library's tarfile (the
``webdataset`` package itself is tests/frameworks): the layout, fixed tar headers, samples
equal to load_pair (int16 HU included), shards by count and size, determinism, the index and
``verify-export``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from support.hu_tree import write_hu_tree

# internals: cli/app run; the webdataset module (keys, shard naming)
import lungsegdb_cli as L
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training.export import webdataset as wds_export

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree (6 pairs per group), splits in force (seed 3: all three non-empty)."""
    made = L.synth(tmp_path_factory.mktemp("wds-synth") / "s", pairs=6, seed=0, fmt="none")
    assert all(L.split(made.tree, seed=3).splits[s] for s in SPLITS)
    return Path(made.tree)


@pytest.fixture(scope="module")
def hu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hu_tree(tmp_path_factory.mktemp("wds-hu"))


def _samples(out: Path) -> list[tuple[str, str, dict[str, bytes]]]:
    """(split, shard, {member suffix: bytes}) per sample, in shard and member order; checks
    that a sample's three members are consecutive."""
    found = []
    for shard in sorted(out.glob("*/*.tar")):
        with tarfile.open(shard) as tar:
            members = tar.getmembers()
            assert len(members) % 3 == 0
            for i in range(0, len(members), 3):
                group = members[i : i + 3]
                key = group[0].name.split(".", 1)[0]
                parts = {}
                for m in group:
                    stem, suffix = m.name.split(".", 1)
                    assert stem == key
                    parts[suffix] = tar.extractfile(m).read()  # type: ignore[union-attr]
                assert sorted(parts) == ["image.tif", "json", "mask.tif"]
                found.append((shard.parent.name, shard.name, {"__key__": key.encode(), **parts}))
    return found


def _check_values(out: Path, tree: Path) -> int:
    pairs = {(p.variant, p.version, p.stem): p for p in L.pairs(tree)}
    doc = json.loads((out / "lungsegdb-splits.json").read_text())
    assigned = {k: s for s, keys in doc["splits"].items() for k in keys}
    seen: set[str] = set()
    for split, _shard, parts in _samples(out):
        meta = json.loads(parts["json"])
        assert sorted(meta) == ["group", "split", "stem", "variant", "version"]
        pair = pairs[(meta["variant"], meta["version"], meta["stem"])]
        assert pair.key not in seen and meta["split"] == split == assigned[pair.key]
        seen.add(pair.key)
        assert meta["group"] == pair.group
        assert b"." not in parts["__key__"]
        image = tifffile.imread(io.BytesIO(parts["image.tif"]), key=0)
        mask = tifffile.imread(io.BytesIO(parts["mask.tif"]), key=0)
        want_image, want_mask = L.load_pair(pair)
        assert image.dtype == want_image.dtype and np.array_equal(image, want_image)
        assert mask.dtype == np.uint8 and np.array_equal(mask, want_mask)
        assert parts["image.tif"] == pair.image.read_bytes()
    assert seen == {p.key for p in pairs.values()}
    return len(seen)


def test_layout_headers_and_index(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    result = L.export("webdataset", out, synth)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "lungsegdb-export.json",
            "lungsegdb-splits.json",
            "shards.json",
            *(f"{s}/lungsegdb-{s}-000000.tar" for s in SPLITS),
        ]
    )
    for shard in out.glob("*/*.tar"):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o644)
                assert m.isreg()
            names = tar.getnames()
        keys = [n.split(".", 1)[0] for n in names[::3]]
        assert len(set(keys)) == len(keys)
    index = json.loads((out / "shards.json").read_text())
    assert index["format"] == "webdataset"
    recorded = {s["path"]: s for s in result.shards}
    for split in SPLITS:
        entry = index["splits"][split]
        assert entry["samples"] == result.counts[split]
        assert entry["pattern"] == f"{split}/lungsegdb-{split}-000000.tar"
        for shard in entry["shards"]:
            data = (out / shard["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == shard["sha256"]
            assert len(data) == shard["size"] and recorded[shard["path"]] == shard
    record = json.loads((out / "lungsegdb-export.json").read_text())
    assert record["shards"] == result.shards
    assert L.check_export(out).ok


def test_values_are_exact_on_synth(synth: Path, tmp_path: Path) -> None:
    L.export("webdataset", tmp_path / "wds", synth)
    assert _check_values(tmp_path / "wds", synth) == 24


def test_values_are_exact_on_int16_hounsfield_units(hu: Path, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    L.export("webdataset", out, hu)
    assert _check_values(out, hu) == 16
    lows = {
        int(tifffile.imread(io.BytesIO(p["image.tif"]), key=0).min())
        for _, _, p in _samples(out)
        if b"raw_" in p["__key__"]
    }
    assert -32768 in lows and min(lows - {-32768}) < -3000


def test_shards_by_count_and_by_size(synth: Path, tmp_path: Path) -> None:
    by_count = L.export("webdataset", tmp_path / "n", synth, shard_size=5)
    for split in SPLITS:
        mine = [s for s in by_count.shards if s["path"].startswith(f"{split}/")]
        assert len(mine) == -(-by_count.counts[split] // 5)
        assert [s["path"] for s in mine] == [
            wds_export.shard_name(split, i) for i in range(len(mine))
        ]
        assert all(s["samples"] == 5 for s in mine[:-1])
    limit = 1_200_000
    by_size = L.export("webdataset", tmp_path / "b", synth, shard_size=f"{limit}B")
    assert len(by_size.shards) > 3
    for s in by_size.shards:
        assert s["size"] <= limit or s["samples"] == 1
    assert sum(s["samples"] for s in by_size.shards) == 24
    assert _check_values(tmp_path / "b", synth) == 24


def test_same_tree_same_bytes(synth: Path, tmp_path: Path) -> None:
    a = L.export("webdataset", tmp_path / "a", synth, shard_size=4)
    b = L.export("webdataset", tmp_path / "b", synth, shard_size=4)
    assert a.shards == b.shards
    assert (tmp_path / "a/shards.json").read_bytes() == (tmp_path / "b/shards.json").read_bytes()


def test_tar_bytes_are_what_tarfile_writes(synth: Path, tmp_path: Path) -> None:
    """Our writer (header, data, padding in one writev) makes exactly the bytes of a
    TarFile in pax format with the same members."""
    out = tmp_path / "wds"
    result = L.export("webdataset", out, synth, shard_size=3)
    shard = out / result.shards[0]["path"]
    buf = io.BytesIO()
    with (
        tarfile.open(shard) as src,
        tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
    assert buf.getvalue() == shard.read_bytes()


def test_verify_export_detects_a_changed_byte_in_a_shard(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    result = L.export("webdataset", out, synth)
    rel = result.shards[1]["path"]
    shard = out / rel
    st = shard.stat()
    with open(shard, "r+b") as fh:
        fh.seek(2048)
        byte = fh.read(1)
        fh.seek(2048)
        fh.write(bytes([byte[0] ^ 1]))
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    check = L.check_export(out)
    assert not check.ok and check.changed == [rel]
    shard.unlink()
    assert L.check_export(out).missing == [rel]


def test_cli(synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        run(
            [
                "export",
                "webdataset",
                str(tmp_path / "o"),
                "--data-dir",
                str(synth),
                "--shard-size",
                "4",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Shards: " in out and "train:" in out
    assert run(["verify-export", str(tmp_path / "o")]) == 0


def test_the_summary_names_each_split_once(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each split's line says its pairs and shards in the right number, not "train: train 6
    (1 shards ...)"."""
    assert run(["export", "webdataset", str(tmp_path / "out"), "--data-dir", str(synth)]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if line.startswith("  ")}
    for split in SPLITS:
        n = len(L.pairs(synth, split=split))
        assert lines[split].strip().startswith(f"{split}: {n} pair"), lines[split]
        assert f"{split}: {split}" not in lines[split] and "1 shards" not in out
