"""What the human output says is true and reads right: one name, plurals, binary units
labelled as such, readable shape ranges, a dataset.json that names the versions present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: the CLI's in-process entry, and the size formatter every output uses
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.utils.units import human_bytes


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (140_110_386, "133.6 MiB"),
        (3 * 1024**3, "3.0 GiB"),
    ],
)
def test_sizes_are_binary_units_named_so(n: int, text: str) -> None:
    assert human_bytes(n) == text


def _v2_only(root: Path, pairs: int = 1) -> Path:
    """A tree with one raw V2 group: int16 Hounsfield units, 0/255 masks."""
    tree = root / "LungSegDB"
    for kind in ("CT_Images", "CT_Masks"):
        folder = tree / "raw data" / "V2" / kind
        folder.mkdir(parents=True)
        for i in range(pairs):
            hu = np.full((8, 8), -3000, dtype=np.int16)
            hu[2:6, 2:6] = -800
            mask = np.where(hu > -1000, 255, 0).astype(np.uint8)
            tifffile.imwrite(folder / f"ID_{i:04d}_Z_0001.TIF", mask if kind == "CT_Masks" else hu)
    return tree


def test_info_names_the_dataset_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["info", "--data-dir", str(_v2_only(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "LungSegDB: LungSegDB" not in out and out.startswith("LungSegDB: lung CT")


def test_one_pair_is_one_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = _v2_only(tmp_path)
    for command in (["validate"], ["stats"], ["pairs"]):
        assert run([*command, "--data-dir", str(tree)]) == 0
        out = capsys.readouterr().out
        assert "1 pairs" not in out and "1 groups" not in out and "1 pair" in out, command


def test_stats_shape_ranges_read_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "LungSegDB"
    for kind in ("CT_Images", "CT_Masks"):
        folder = tree / "raw data" / "V1" / kind
        folder.mkdir(parents=True)
        for i, (h, w) in enumerate([(30, 40), (31, 42), (33, 45)]):
            tifffile.imwrite(folder / f"{i}.TIF", np.zeros((h, w), dtype=np.uint8))
    assert run(["stats", "--data-dir", str(tree)]) == 0
    assert "3 sizes: height 30-33, width 40-45" in capsys.readouterr().out


def test_nnunet_description_names_the_versions_present(tmp_path: Path) -> None:
    tree = _v2_only(tmp_path / "d", pairs=4)
    L.export("nnunet", tmp_path / "out", tree)
    (doc,) = [json.loads(p.read_text()) for p in (tmp_path / "out").rglob("dataset.json")]
    assert "(V2)" in doc["description"] and "V1" not in doc["description"]
