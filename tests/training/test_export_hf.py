"""``export hf`` structurally, with pyarrow alone (no ``datasets``: that is tests/frameworks):
the layout, the card's YAML, the Parquet schema, values exact (int16 HU included), shards,
determinism, ``verify-export`` and the missing extra."""

from __future__ import annotations

import doctest
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import tifffile
import yaml
from support.hu_tree import write_hu_tree

# internals: cli/app run; hf, samples and shardsize units (row groups, shard sizes)
import lungsegdb_cli as L
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training.export import hf, samples, shardsize

HF_SPLITS = {"train": "train", "val": "validation", "test": "test"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree (6 pairs per group), splits in force (seed 3: all three non-empty)."""
    made = L.synth(tmp_path_factory.mktemp("hf-synth") / "s", pairs=6, seed=0, fmt="none")
    assert all(L.split(made.tree, seed=3).splits[s] for s in HF_SPLITS)
    return Path(made.tree)


@pytest.fixture(scope="module")
def hu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An int16 HU tree (tests/support/hu_tree.py), default splits."""
    return write_hu_tree(tmp_path_factory.mktemp("hf-hu"))


def _rows(out: Path) -> list[dict[str, Any]]:
    """Every row of every shard, with the config and split its file says."""
    rows = []
    for path in sorted(out.glob("*/*.parquet")):
        split = path.name.split("-")[0]
        for row in pq.read_table(path).to_pylist():
            rows.append({**row, "config": path.parent.name, "split": split})
    return rows


def _decode(blob: bytes) -> np.ndarray:
    return tifffile.imread(io.BytesIO(blob), key=0)


def _assigned(out: Path) -> dict[str, str]:
    """pair key -> split, from the copy of the splits the export used."""
    doc = json.loads((out / "lungsegdb-splits.json").read_text())
    return {key: split for split, keys in doc["splits"].items() for key in keys}


def _check_values(out: Path, tree: Path) -> int:
    """Every row decodes, with the card's own decode function, to exactly ``load_pair`` of
    its pair; every pair is in exactly one row, in the split it was assigned."""
    pairs = {(p.variant, p.version, p.stem): p for p in L.pairs(tree)}
    assigned = _assigned(out)
    namespace: dict[str, Any] = {}
    exec(hf.DECODE, namespace)
    seen = set()
    for row in _rows(out):
        pair = pairs[(row["variant"], row["version"], row["stem"])]
        assert pair.key not in seen
        seen.add(pair.key)
        assert row["config"] == pair.variant.split()[0] and row["group"] == pair.group
        assert row["split"] == HF_SPLITS[assigned[pair.key]]
        image, mask = namespace["decode"](row)
        want_image, want_mask = L.load_pair(pair)
        assert image.dtype == want_image.dtype and image.shape == want_image.shape
        assert np.array_equal(image, want_image)
        assert mask.dtype == want_mask.dtype == np.uint8 and np.array_equal(mask, want_mask)
        assert row["image"] == pair.image.read_bytes()  # a byte copy of the tree's file
    assert seen == {p.key for p in pairs.values()}
    return len(seen)


def test_layout_card_and_schema(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    result = L.export("hf", out, synth)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    shards = [f for f in files if f.endswith(".parquet")]
    assert set(files) - set(shards) == {
        "README.md",
        "lungsegdb-export.json",
        "lungsegdb-splits.json",
    }
    for config in ("preprocessed", "raw"):
        for ours, theirs in HF_SPLITS.items():
            assert f"{config}/{theirs}-00000-of-00001.parquet" in shards, (config, ours)
    assert [s["path"] for s in result.shards] == [
        f"{c}/{s}-00000-of-00001.parquet"
        for c in ("preprocessed", "raw")
        for s in HF_SPLITS.values()
    ]
    text = (out / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    configs = {c["config_name"]: c for c in front["configs"]}
    assert list(configs) == ["preprocessed", "raw"] and configs["preprocessed"]["default"]
    assert configs["raw"]["data_files"] == [
        {"split": s, "path": f"raw/{s}-*.parquet"} for s in HF_SPLITS.values()
    ]
    info = {c["config_name"]: c for c in front["dataset_info"]}
    assert [f["name"] for f in info["raw"]["features"]] == [n for n, _ in hf.COLUMNS]
    counts = {s["name"]: s["num_examples"] for s in info["raw"]["splits"]}
    assert counts == {HF_SPLITS[s]: n for s, n in result.datasets["raw"]["pairs"].items()}
    assert "## Citation" in text and "LIDC" in text and "## Licence" in text
    schema = pq.read_schema(out / shards[0])
    assert [(f.name, str(f.type)) for f in schema] == [
        (n, "binary" if k == "binary" else "string") for n, k in hf.COLUMNS
    ]
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"dtype": "binary", "_type": "Value"}
    meta = pq.ParquetFile(out / shards[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert not meta.row_group(0).column(0).is_stats_set  # no min/max of image bytes
    assert L.check_export(out).ok


def test_values_are_exact_on_synth(synth: Path, tmp_path: Path) -> None:
    L.export("hf", tmp_path / "hf", synth)
    assert _check_values(tmp_path / "hf", synth) == 24


def test_values_are_exact_on_int16_hounsfield_units(hu: Path, tmp_path: Path) -> None:
    """Signed int16 HU (-3000..+3000, corners at -3024 and -32768), big-endian and
    Deflate-stored slices, masks 0/255 and 0/1: decoded rows equal load_pair exactly."""
    out = tmp_path / "hf"
    L.export("hf", out, hu)
    assert _check_values(out, hu) == 16
    raw = [r for r in _rows(out) if r["config"] == "raw"]
    lows = {int(_decode(r["image"]).min()) for r in raw}
    assert -32768 in lows and min(lows) < -3000
    assert max(int(_decode(r["image"]).max()) for r in raw) > 3000
    # a 0/1 mask is stored as it is; a 0/255 one rewritten as 0/1
    pairs = {(p.variant, p.version, p.stem): p for p in L.pairs(hu)}
    for r in raw:
        stored = pairs[(r["variant"], r["version"], r["stem"])].mask.read_bytes()
        assert (r["mask"] == stored) == (r["version"] == "V2")


def _card_kinds(text: str) -> dict[tuple[str, str], str]:
    """The card's table of images per config x version."""
    body = text.split("## Decode", 1)[1].split("```", 1)[0]
    rows = [
        line.strip("|").split("|")
        for line in body.splitlines()
        if line.startswith("| ") and not line.startswith("| config")
    ]
    return {(c.strip(), v.strip()): what.strip() for c, v, what in rows}


def _decoded_kinds(out: Path) -> dict[tuple[str, str], str]:
    """What the rows decode to, per config x version, in the card's words."""
    seen: dict[tuple[str, str], set[str]] = {}
    for row in _rows(out):
        image = _decode(row["image"])
        channels = {2: "grey (H x W)", 3: f"RGB (H x W x {image.shape[-1]})"}[image.ndim]
        seen.setdefault((row["config"], row["version"]), set()).add(
            f"`{image.dtype.name}` {channels}"
        )
    return {k: "; ".join(sorted(v)) for k, v in seen.items()}


@pytest.mark.parametrize("tree", ["synth", "hu", "like-kaggle"])
def test_the_card_says_what_the_images_decode_to(
    tree: str, synth: Path, hu: Path, tmp_path: Path
) -> None:
    """The card's Decode section names, per config x version, the dtype and grey/RGB the
    rows of this export decode to (from the headers export reads), never a fixed claim
    such as "V2: 8-bit RGB": real CT (--like-kaggle) is int16 HU and uint8 grey in V1 and V2."""
    if tree == "like-kaggle":
        src = Path(L.synth(tmp_path / "k", pairs=2, like_kaggle=True, fmt="none").tree)
    else:
        src = {"synth": synth, "hu": hu}[tree]
    out = tmp_path / "hf"
    L.export("hf", out, src)
    text = (out / "README.md").read_text()
    assert "8-bit RGB" not in text
    kinds = _card_kinds(text)
    assert kinds == _decoded_kinds(out)
    if tree == "like-kaggle":
        grey = {"raw": "`int16` grey (H x W)", "preprocessed": "`uint8` grey (H x W)"}
        assert kinds == {(c, v): grey[c] for c in grey for v in ("V1", "V2")}


@pytest.mark.parametrize("installed", [True, False])
def test_the_card_names_the_tree_and_claims_no_verification(
    installed: bool, synth: Path, tmp_path: Path
) -> None:
    """Export verifies nothing, so the card says nothing was verified: it names what
    lungsegdb recorded of the tree (the manifest's SHA-256, the archive it was extracted
    from), and no local path; a tree changed after download is exported all the same."""
    if installed:
        made = L.synth(tmp_path / "s", pairs=2)
        data = tmp_path / "d"
        L.download(data, archive=made.archive.path, sha256=made.archive.sha256)
        group = data / "LungSegDB" / "raw data" / "V1"
        for path in group.glob("*/1.*"):
            path.unlink()  # a pair gone: verify reports it, export packs the rest
        assert not L.verify(data).ok
        src = data
    else:
        src = synth
    out = tmp_path / "hf"
    result = L.export("hf", out, src)
    text = (out / "README.md").read_text()
    assert "verified" not in text and result.dataset_dir not in text
    assert "does not check the files against the manifest (`lungsegdb verify` does)" in text
    if installed:
        assert result.manifest_sha256 and f"manifest has SHA-256 `{result.manifest_sha256}`" in text
        assert f"archive with SHA-256 `{made.archive.sha256}`" in text
    else:
        assert result.manifest_sha256 is None and "no manifest" in text


def test_shard_size_in_samples_and_bytes(synth: Path, tmp_path: Path) -> None:
    by_count = L.export("hf", tmp_path / "n", synth, shard_size=2, variant="raw")
    train = [s for s in by_count.shards if s["path"].startswith("raw/train-")]
    n_train = by_count.datasets["raw"]["pairs"]["train"]
    assert len(train) == -(-n_train // 2) and all(s["samples"] <= 2 for s in train)
    assert train[-1]["path"] == f"raw/train-{len(train) - 1:05d}-of-{len(train):05d}.parquet"
    assert sum(s["samples"] for s in by_count.shards) == 12
    rows = sum(
        pq.ParquetFile(tmp_path / "n" / s["path"]).metadata.num_rows for s in by_count.shards
    )
    assert rows == 12
    image = max(p.image.stat().st_size for p in L.pairs(synth, variant="raw"))
    by_size = L.export("hf", tmp_path / "b", synth, shard_size=f"{2 * image + 100}B", variant="raw")
    assert max(s["samples"] for s in by_size.shards) <= 2
    assert len(by_size.shards) > len(HF_SPLITS)


def test_same_tree_same_shards(synth: Path, tmp_path: Path) -> None:
    a = L.export("hf", tmp_path / "a", synth, shard_size=3)
    b = L.export("hf", tmp_path / "b", synth, shard_size=3)
    assert a.shards == b.shards
    card = [(tmp_path / x / "README.md").read_bytes() for x in ("a", "b")]
    assert card[0] == card[1]
    for s in a.shards:
        data = (tmp_path / "a" / s["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["size"]


def test_verify_export_detects_a_changed_byte_in_a_shard(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "hf"
    result = L.export("hf", out, synth)
    shard = out / result.shards[0]["path"]
    st = shard.stat()
    with open(shard, "r+b") as fh:  # one byte in the middle, size and mtime kept
        fh.seek(st.st_size // 2)
        byte = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns))
    check = L.check_export(out)
    assert not check.ok and check.changed == [result.shards[0]["path"]]
    assert run(["verify-export", str(out), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"]["changed"] == [result.shards[0]["path"]]


def test_force_replaces_a_previous_hf_export(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    L.export("hf", out, synth, shard_size=4)
    again = L.export("hf", out, synth, force=True)
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.parquet")} == {
        s["path"] for s in again.shards
    }
    assert L.check_export(out).ok


def test_cli_json_and_shard_size_errors(
    synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        run(
            [
                "export",
                "hf",
                str(tmp_path / "o"),
                "--data-dir",
                str(synth),
                "--json",
                "--shard-size",
                "1MB",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "hf" and doc["shards"] and doc["datasets"]["raw"]["shards"] >= 3
    for argv in (
        ["hf", str(tmp_path / "x"), "--shard-size", "12XB"],
        ["hf", str(tmp_path / "x"), "--shard-size", "0"],
        ["nnunet", str(tmp_path / "x"), "--shard-size", "100"],
    ):
        assert run(["export", *argv, "--data-dir", str(synth), "--json"]) == 2
        err = json.loads(capsys.readouterr().out)["error"]
        assert err["kind"] == "usage" and "--shard-size" in err["message"]
        assert not (tmp_path / "x").exists()


def test_a_missing_pyarrow_is_exit_2_naming_the_extra(
    synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow: ImportError
    assert run(["export", "hf", str(tmp_path / "o"), "--data-dir", str(synth)]) == 2
    err = capsys.readouterr().err
    assert "pyarrow" in err and "[hf]" in err and "Traceback" not in err
    assert err.count("\n") == 2  # what failed, what to do next
    assert not (tmp_path / "o").exists()


def test_docstring_examples() -> None:
    for module in (shardsize, samples, hf):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_a_planar_rgb_image_decodes_as_load_pair_gives_it(tmp_path: Path) -> None:
    """An RGB slice stored planar (PlanarConfiguration 2, channels first in the file): the
    card's decode(row) gives it samples last, as load_pair and the card's table say."""
    src = Path(L.synth(tmp_path / "s", pairs=2, fmt="none").tree)
    image = src / "preprocessed data" / "V2" / "CT_Images" / "1.TIF"
    pixels = tifffile.imread(image)
    if pixels.ndim == 2:  # make it RGB first
        pixels = np.stack([pixels] * 3, axis=-1)
    tifffile.imwrite(image, np.moveaxis(pixels, -1, 0), photometric="rgb", planarconfig="separate")
    (pair,) = [p for p in L.pairs(src, variant="preprocessed", version="V2") if p.stem == "1"]
    assert L.load_pair(pair)[0].shape == pixels.shape
    out = tmp_path / "hf"
    L.export("hf", out, src)
    assert _check_values(out, src) == len(L.pairs(src))
    assert "`uint8` RGB (H x W x 3)" in (out / "README.md").read_text()
