"""The real-format matrix: every reading command on slices the way real CT arrives
(``synth --like-kaggle``: signed int16 HU with the corners outside the round scan field padded
far below air, a windowed uint8 preprocessed copy, masks 0/255). Each row runs one command
and checks it exits 0 with sane results, not just that it does not crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lungsegdb_cli as L

# internals: runs the CLI in-process (cli/app) over the real-format matrix, and every
# export format the code knows (training/export/layout.FORMATS), not a copied list
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training.export.layout import FORMATS as EXPORT_FORMATS

PAIRS = 12  # 3 per group
RAW = ("raw data/V1", "raw data/V2")
PRE = ("preprocessed data/V1", "preprocessed data/V2")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    code = run([*argv, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert doc["ok"] is True
    return doc


def _groups(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{g['variant']}/{g['version']}": g for g in doc["groups"]}


def check_validate(root: Path, tmp: Path, capsys: Any) -> None:
    doc = _json(capsys, ["validate", "--data-dir", str(root)])
    assert doc["pairs"] == PAIRS
    # only the synthetic counts differ from the published ones: no finding about the pixels
    assert {f["code"] for f in doc["findings"]} == {"count-mismatch"}


def check_stats(root: Path, tmp: Path, capsys: Any) -> None:
    groups = _groups(_json(capsys, ["stats", "--data-dir", str(root)]))
    for label in RAW:
        g = groups[label]
        assert g["pairs"] == 3 and g["dtypes"] == {"int16": 3} and g["shapes"] == {"512x512": 3}
        i = g["intensity"]
        assert i["min"] < -1500 and i["min"] in (-2600, -1800)  # the padding, far below air
        assert 2000 < i["max"] <= 3000  # the metal marker
        assert -1500 < i["mean"] < 0 and 500 < i["std"] < 1500
        assert 0.05 < g["foreground"]["mean"] < 0.3
        assert g["conventions"] == {"0/255": 3}
        assert g["histogram"]["lo"] < -1500 < g["histogram"]["hi"]
    for label in PRE:
        g = groups[label]
        assert g["dtypes"] == {"uint8": 3} and g["shapes"] == {"512x512": 3}
        assert (g["intensity"]["min"], g["intensity"]["max"]) == (0, 255)


def check_pairs(root: Path, tmp: Path, capsys: Any) -> None:
    doc = _json(capsys, ["pairs", "--data-dir", str(root)])
    assert len(doc["pairs"]) == PAIRS


def check_pair_dataset(root: Path, tmp: Path, capsys: Any) -> None:
    assert len(L.PairDataset(root, variant="all")) == PAIRS
    for variant in ("raw data", "preprocessed data"):
        ds = L.PairDataset(root, variant=variant)
        assert len(ds) == PAIRS // 2
        for i in range(len(ds)):
            sample = ds[i]
            image, mask = sample["image"], sample["mask"]
            assert sample["variant"] == variant
            assert image.shape == mask.shape == (512, 512)
            assert set(np.unique(mask).tolist()) == {0, 1}
            if variant == "raw data":
                assert image.dtype == np.int16 and image.min() < -1500 and image.max() > 2000
                lungs = image[mask == 1]
                assert -950 < float(np.median(lungs)) < -750
            else:
                assert image.dtype == np.uint8


def check_preview(root: Path, tmp: Path, capsys: Any) -> None:
    pytest.importorskip("PIL")
    doc = _json(capsys, ["preview", str(tmp / "p.png"), "--data-dir", str(root)])
    assert doc["tiles"] == PAIRS and (tmp / "p.png").stat().st_size > 10_000
    windows = {f"{r['variant']}/{r['version']}": r["windows"] for r in doc["rows"]}
    assert all(windows[g] == ["lung L-600 W1500"] for g in RAW)
    assert all(windows[g] == ["1-99% of frame"] for g in PRE)
    assert not [t for r in doc["rows"] for t in r["tiles"] if t["note"]]


def check_preview_findings(root: Path, tmp: Path, capsys: Any) -> None:
    pytest.importorskip("PIL")
    doc = _json(capsys, ["preview", str(tmp / "f.png"), "--findings", "--data-dir", str(root)])
    assert doc["tiles"] == 0 and doc["note"]


def check_stats_plot(root: Path, tmp: Path, capsys: Any) -> None:
    pytest.importorskip("matplotlib")
    out = tmp / "plot.png"
    argv = ["stats", "--data-dir", str(root), "--variant", "raw", "--plot", str(out)]
    doc = _json(capsys, argv)
    assert doc["plot"] == str(out) and out.stat().st_size > 10_000


def check_split(root: Path, tmp: Path, capsys: Any) -> None:
    doc = _json(capsys, ["split", "--data-dir", str(root), "--seed", "1"])
    assert doc["pairs"] == PAIRS
    counts = [v["pairs"] for split in doc["counts"].values() for v in split.values()]
    assert sum(counts) == PAIRS
    assert {p.split for p in L.pairs(root)} <= {"train", "val", "test"}


def _export(fmt: str) -> Callable[[Path, Path, Any], None]:
    def check(root: Path, tmp: Path, capsys: Any) -> None:
        # from a tree installed the way users get one (download --archive records the manifest
        # and the archive: a format that describes the archive needs them)
        data = tmp / "data"
        _json(capsys, ["download", "--archive", str(root / "LungSegDB.zip"), "--data-dir",
                       str(data)])  # fmt: skip
        out = tmp / fmt
        doc = _json(capsys, ["export", fmt, str(out), "--data-dir", str(data)])
        assert sum(doc["counts"].values()) == PAIRS
        assert _json(capsys, ["verify-export", str(out)])["ok"] is True

    return check


def check_download_archive(root: Path, tmp: Path, capsys: Any) -> None:
    archive = root / "LungSegDB.zip"
    data = tmp / "data"
    doc = _json(capsys, ["download", "--archive", str(archive), "--data-dir", str(data)])
    assert doc["files"] == 2 * PAIRS
    assert _json(capsys, ["verify", "--data-dir", str(data)])["ok"] is True
    groups = _groups(_json(capsys, ["stats", "--data-dir", str(data)]))
    assert all(groups[g]["intensity"]["min"] < -1500 for g in RAW)


MATRIX: dict[str, Callable[[Path, Path, Any], None]] = {
    "validate": check_validate,
    "stats": check_stats,
    "pairs": check_pairs,
    "PairDataset": check_pair_dataset,
    "preview": check_preview,
    "preview --findings": check_preview_findings,
    "stats --plot": check_stats_plot,
    "split": check_split,
    **{f"export {fmt}": _export(fmt) for fmt in EXPORT_FORMATS},
    "download --archive": check_download_archive,
}


@pytest.mark.parametrize("name", list(MATRIX))
def test_the_real_format(
    name: str, synth_kaggle: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a data root of our own (decode caches, splits and locks go beside the LungSegDB folder)
    root = tmp_path / "root"
    root.mkdir()
    (root / "LungSegDB").symlink_to(synth_kaggle.tree, target_is_directory=True)
    (root / "LungSegDB.zip").symlink_to(synth_kaggle.archive.path)
    work = tmp_path / "work"
    work.mkdir()
    MATRIX[name](root, work, capsys)
