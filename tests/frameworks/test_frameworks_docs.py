"""docs/training.md runs as written: its python blocks (MONAI's datalist and transforms, torch's
DataLoader over PairDataset) on the state its shell lines leave -- ``lungsegdb synth
/tmp/lsdb-train --pairs 20 --format none``, ``lungsegdb split --seed 0``, ``lungsegdb export
monai /tmp/lsdb-monai`` -- made here with the API, with the doc's ``/tmp/`` standing for this
test's own folder.

Marked ``frameworks``: run with ``.[frameworks]`` (``pytest -m frameworks``), like the rest of
tests/frameworks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.doc_snippets import python_blocks, run_python_blocks

import lungsegdb_cli as L

pytestmark = pytest.mark.frameworks

TRAINING = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_docs_training_md_runs_as_written(tmp_path: Path) -> None:
    made = L.synth(tmp_path / "lsdb-train", pairs=20, seed=0, fmt="none")
    L.split(tmp_path / "lsdb-train", seed=0)
    L.export("monai", tmp_path / "lsdb-monai", made.tree)
    blocks = python_blocks(TRAINING)
    assert len(blocks) == 2  # MONAI, then torch
    namespace = run_python_blocks(
        blocks, tmp_path, replace={"/tmp/": f"{tmp_path}/"}, name="docs/training.md"
    )
    train = namespace["train"]
    assert len(train) == len(L.pairs(tmp_path / "lsdb-train", split="train", variant="raw"))
    images, masks = namespace["images"], namespace["masks"]  # the loop's last batch
    assert images.shape[1:] == (1, 256, 256) and masks.shape[1:] == (1, 256, 256)
