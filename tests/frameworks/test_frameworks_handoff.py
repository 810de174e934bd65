"""The hand-off to training, tested against the real frameworks (issue 13): torch's
``DataLoader`` over :class:`lungsegdb_cli.PairDataset`, MONAI's ``load_decathlon_datalist`` +
``LoadImaged`` over ``export monai``, and nnU-Net v2's own ``nnUNetv2_plan_and_preprocess
--verify_dataset_integrity`` over ``export nnunet``.

Marked ``frameworks``: the default run deselects them (pyproject's addopts); ``.ci/run``
installs ``.[frameworks]`` and runs ``pytest -m frameworks`` as its own step. The frameworks
are imported inside the tests, so a missing one fails the test (never a skip).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lungsegdb_cli as L

pytestmark = pytest.mark.frameworks

SIDE = 64  # the training crop: every sample the same shape, so default collation batches them


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synth tree, 6 pairs per group, with the default splits in force."""
    made = L.synth(tmp_path_factory.mktemp("fw") / "s", pairs=6, seed=0, fmt="none")
    L.split(made.tree, seed=0)
    return Path(made.tree)


def _crop(sample: dict[str, Any]) -> dict[str, Any]:
    """A training transform: the first channel, a fixed top-left crop, a channel axis."""
    image = np.asarray(sample["image"])
    if image.ndim == 3:
        image = image[..., 0]
    return {
        "image": np.ascontiguousarray(image[:SIDE, :SIDE], dtype=np.float32)[None],
        "mask": np.ascontiguousarray(sample["mask"][:SIDE, :SIDE])[None],
        "stem": sample["stem"],
        "version": sample["version"],
    }


def test_torch_dataloader_batches_pair_dataset(tree: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    # one variant: each slice once (both variants in one dataset must be asked for)
    dataset = L.PairDataset(tree, split="train", transform=_crop, variant="raw data")
    train = L.pairs(tree, split="train", variant="raw")
    expected = {(p.version, p.stem) for p in train}
    assert len(dataset) == len(train) == len(expected) > 2
    # Two worker processes: the dataset must pickle and load in a child process.
    loader = DataLoader(dataset, batch_size=4, shuffle=False, num_workers=2)
    seen: list[str] = []
    for batch in loader:
        assert isinstance(batch["image"], torch.Tensor)
        n = batch["image"].shape[0]
        assert tuple(batch["image"].shape) == (n, 1, SIDE, SIDE)
        assert tuple(batch["mask"].shape) == (n, 1, SIDE, SIDE)
        assert batch["mask"].dtype == torch.uint8
        assert set(torch.unique(batch["mask"]).tolist()) <= {0, 1}
        seen.extend(zip(batch["version"], batch["stem"], strict=True))
    assert len(seen) == len(dataset)
    assert set(seen) == expected


def test_torch_dataloader_without_transform_batch_of_one(tree: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    dataset = L.PairDataset(tree, split="val", variant="all")
    assert len(dataset) > 0
    batch = next(iter(DataLoader(dataset, batch_size=1)))
    image, mask = L.load_pair(L.pairs(tree, split="val")[0])
    assert torch.equal(batch["image"][0], torch.from_numpy(image))
    assert torch.equal(batch["mask"][0], torch.from_numpy(mask))


@pytest.mark.parametrize("variant", ["preprocessed", "raw"])
def test_monai_reads_the_datalist_and_loads_every_pair(
    tree: Path, tmp_path: Path, variant: str
) -> None:
    from monai.data import load_decathlon_datalist
    from monai.transforms import LoadImaged

    result = L.export("monai", tmp_path / "monai", tree)
    datalist = tmp_path / "monai" / variant / "datalist.json"
    load = LoadImaged(keys=["image", "label"], reader="PILReader")
    by_split = {"training": "train", "validation": "val", "test": "test"}
    for key, split in by_split.items():
        items = load_decathlon_datalist(str(datalist), True, key)
        assert len(items) == result.datasets[variant]["pairs"][split]
        for item in items:
            assert Path(item["image"]).is_file() and Path(item["label"]).is_file()
            loaded = load(item)
            # MONAI orders PIL's axes its own way; image and label agree whatever it is.
            assert tuple(loaded["image"].shape[:2]) == tuple(loaded["label"].shape[:2])
            assert set(np.unique(np.asarray(loaded["label"])).tolist()) <= {0.0, 1.0}


def test_nnunet_plan_and_preprocess_accepts_the_export(tree: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("nnUNetv2_plan_and_preprocess")
    assert exe.is_file(), "nnunetv2 is not installed: pip install '.[frameworks]'"
    # as docs/export.md says: a folder of its own, its dataset linked into an nnUNet_raw
    # that holds another dataset
    out = tmp_path / "lsdb-nnunet"
    result = L.export("nnunet", out, tree, variant="preprocessed")
    (name,) = result.datasets
    dataset = out / name
    raw = tmp_path / "nnUNet_raw"
    (raw / "Dataset004_Hippocampus").mkdir(parents=True)
    (raw / name).symlink_to(dataset, target_is_directory=True)
    env = {
        **os.environ,
        "nnUNet_raw": str(raw),
        "nnUNet_preprocessed": str(tmp_path / "nnUNet_preprocessed"),
        "nnUNet_results": str(tmp_path / "nnUNet_results"),
        "nnUNet_n_proc_DA": "1",
    }
    done = subprocess.run(
        [str(exe), "-d", "501", "-c", "2d", "--verify_dataset_integrity", "-np", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "verify_dataset_integrity Done" in done.stdout
    pre = tmp_path / "nnUNet_preprocessed" / name
    plans = json.loads((pre / "nnUNetPlans.json").read_text())
    assert "2d" in plans["configurations"]
    # nnU-Net took our train/val as its fold 0, and preprocessed every training case.
    ours = json.loads((dataset / "splits_final.json").read_text())
    assert json.loads((pre / "splits_final.json").read_text()) == ours
    trained = json.loads((dataset / "dataset.json").read_text())["numTraining"]
    assert len(list((pre / "gt_segmentations").glob("*.tif"))) == trained
    assert trained == len(ours[0]["train"]) + len(ours[0]["val"])
    shutil.rmtree(tmp_path / "nnUNet_preprocessed")
