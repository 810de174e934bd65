"""The packed exports read by the real libraries: Hugging Face ``datasets.load_dataset`` over
``export hf`` and ``webdataset.WebDataset`` over ``export webdataset``, on synth data and on
signed int16 Hounsfield units (tests/support/hu_tree.py), every value compared with
``load_pair``.

Marked ``frameworks``: the default run deselects them; ``.ci/run`` installs ``.[frameworks]``
(which holds ``datasets`` and ``webdataset``) and runs them in their own step. The libraries
are imported inside the tests, so a missing one fails the test (never a skip).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from support.hu_tree import write_hu_tree

# internals: runs the decode snippet the card documents (hf.DECODE) on what datasets reads
import lungsegdb_cli as L
from lungsegdb_cli.training.export import hf

pytestmark = pytest.mark.frameworks

HF_SPLITS = {"train": "train", "val": "validation", "test": "test"}


@pytest.fixture(scope="module", params=["synth", "hu"])
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree (6 pairs per group, splits in force, all three non-empty) or an int16
    HU tree (default splits)."""
    base = tmp_path_factory.mktemp(f"packed-{request.param}")
    if request.param == "hu":
        return write_hu_tree(base)
    made = L.synth(base / "s", pairs=6, seed=0, fmt="none")
    assert all(L.split(made.tree, seed=3).splits[s] for s in HF_SPLITS)
    return Path(made.tree)


def _expected(tree: Path, out: Path) -> dict[tuple[str, str, str], tuple[Any, str]]:
    """(variant, version, stem) -> (pair, split) for every pair, split from the export."""
    doc = json.loads((out / "lungsegdb-splits.json").read_text())
    assigned = {k: s for s, keys in doc["splits"].items() for k in keys}
    return {(p.variant, p.version, p.stem): (p, assigned[p.key]) for p in L.pairs(tree)}


def _same(image: np.ndarray, mask: np.ndarray, pair: Any) -> None:
    want_image, want_mask = L.load_pair(pair)
    assert image.dtype == want_image.dtype and image.shape == want_image.shape
    assert np.array_equal(image, want_image)
    assert mask.dtype == want_mask.dtype and np.array_equal(mask, want_mask)


def test_load_dataset_gives_every_pair_equal_to_load_pair(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "hf"
    L.export("hf", out, tree, shard_size=3)
    expected = _expected(tree, out)
    namespace: dict[str, Any] = {}
    exec(hf.DECODE, namespace)  # the card's decode, as documented
    decode = namespace["decode"]
    seen: set[tuple[str, str, str]] = set()
    for config in ("preprocessed", "raw"):
        loaded = datasets.load_dataset(str(out), config, cache_dir=str(tmp_path / "hf-cache"))
        assert set(loaded) <= set(HF_SPLITS.values())
        for split, rows in loaded.items():
            assert rows.features["image"] == datasets.Value("binary")
            assert rows.features["stem"] == datasets.Value("string")
            for row in rows:
                key = (row["variant"], row["version"], row["stem"])
                pair, ours = expected[key]
                assert key not in seen and split == HF_SPLITS[ours]
                assert config == pair.variant.split()[0] and row["group"] == pair.group
                seen.add(key)
                _same(*decode(row), pair)
    assert seen == set(expected)


def test_webdataset_reads_every_pair_once(tree: Path, tmp_path: Path) -> None:
    import webdataset as wds

    out = tmp_path / "wds"
    L.export("webdataset", out, tree, shard_size=2)
    expected = _expected(tree, out)
    index = json.loads((out / "shards.json").read_text())
    seen: set[tuple[str, str, str]] = set()
    for split, entry in index["splits"].items():
        urls = str(out / entry["pattern"])
        for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
            meta = json.loads(sample["json"])
            key = (meta["variant"], meta["version"], meta["stem"])
            pair, ours = expected[key]
            assert key not in seen and meta["split"] == split == ours
            seen.add(key)
            image = tifffile.imread(io.BytesIO(sample["image.tif"]), key=0)
            mask = tifffile.imread(io.BytesIO(sample["mask.tif"]), key=0)
            _same(image, mask, pair)
    assert seen == set(expected)


def test_split_by_node_and_worker_cover_every_sample_once(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 simulated nodes x 2 data-loader workers (webdataset reads RANK/WORLD_SIZE and
    WORKER/NUM_WORKERS): the union of the four streams is every sample exactly once."""
    import webdataset as wds

    out = tmp_path / "wds"
    result = L.export("webdataset", out, tree, shard_size=1)
    urls = [str(out / s["path"]) for s in result.shards]
    assert len(urls) >= 4
    keys: list[str] = []
    for rank in range(2):
        for worker in range(2):
            monkeypatch.setenv("RANK", str(rank))
            monkeypatch.setenv("WORLD_SIZE", "2")
            monkeypatch.setenv("WORKER", str(worker))
            monkeypatch.setenv("NUM_WORKERS", "2")
            ds = wds.WebDataset(
                urls,
                nodesplitter=wds.split_by_node,
                workersplitter=wds.split_by_worker,
                shardshuffle=False,
                empty_check=False,
            )
            mine = [s["__key__"] for s in ds]
            assert mine  # every node x worker gets work
            keys += mine
    assert len(keys) == len(set(keys)) == len(L.pairs(tree))
