"""docs/api.md runs as written: its python blocks, in order, as one script in an empty folder
on synthetic data (the first block makes it), with the library as installed for the tests.
docs/training.md's blocks need torch and MONAI: tests/frameworks runs them. The API table lists
every keyword of every function, and the docs' tours use folders of their own."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from support.doc_snippets import python_blocks, run_python_blocks

import lungsegdb_cli as L

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api.md"


def test_docs_api_md_runs_as_written(tmp_path: Path) -> None:
    blocks = python_blocks(API)
    assert len(blocks) == 9
    namespace = run_python_blocks(blocks, tmp_path, name="docs/api.md")
    # what the blocks did, as they say
    # strict: the synthetic counts are not the published ones, and nothing else is wrong
    assert {f.code for f in namespace["errors"]} == {"count-mismatch"}  # type: ignore[attr-defined]
    assert len(namespace["train"]) > 0  # type: ignore[arg-type]
    assert namespace["image"].shape[:2] == namespace["mask"].shape  # type: ignore[attr-defined]
    assert (tmp_path / "overlays.png").is_file() and (tmp_path / "stats.csv").is_file()
    assert L.check_export(tmp_path / "lsdb-nnunet").ok
    assert (tmp_path / "croissant.json").is_file()  # the croissant block wrote its document
    assert L.verify(tmp_path / "test_my_pipeline-tmp_path" / "data").ok  # the test it defines


def _table_row(function: str) -> str:
    rows = [r for r in API.read_text().splitlines() if r.startswith(f"| `{function}(")]
    assert len(rows) == 1, function
    return rows[0]


@pytest.mark.parametrize(
    "function",
    [
        "download",
        "extract",
        "verify",
        "validate",
        "stats",
        "info",
        "synth",
        "pairs",
        "split",
        "export",
        "check_export",
        "preview",
        "publish",
        "croissant",
        "clean",
    ],
)
def test_the_api_table_lists_every_parameter(function: str) -> None:
    signature = re.match(r"\| `\w+\((.*?)\)`", _table_row(function)).group(1)  # type: ignore[union-attr]
    listed = {p.strip() for p in signature.replace("*", "").split(",") if p.strip()}
    params = set(inspect.signature(getattr(L, function)).parameters)
    assert params == listed, f"{function}: the table lists {sorted(listed)}, not {sorted(params)}"


def _synth_outs(doc: Path) -> set[str]:
    """The folders ``lungsegdb synth OUT`` writes in the doc's shell blocks."""
    text = doc.read_text()
    return set(re.findall(r"^lungsegdb synth (\S+)", text, flags=re.M))


def test_the_training_tour_has_a_folder_of_its_own() -> None:
    """synth replaces its own earlier output: training.md must not write into the README
    tour's folder (it used to replace that tree and delete its archive)."""
    readme = _synth_outs(ROOT / "README.md")
    training = _synth_outs(ROOT / "docs" / "training.md")
    assert readme and training and not readme & training
    assert "/tmp/lsdb-train" in training


def test_export_md_v2_is_single_channel_int16_linked_as_is(tmp_path: Path) -> None:
    """docs/export.md says the Kaggle source of V2 is single-channel int16 Hounsfield units
    (not RGB) and that such images are linked, not rewritten: true of a V2 tree like it."""
    import numpy as np
    import tifffile
    from support.ct import write_ct_tree

    text = " ".join((ROOT / "docs" / "export.md").read_text().split())
    assert "V2 is single-channel int16 Hounsfield units" in text
    tree = write_ct_tree(
        tmp_path / "d", ["ID_0000_Z_0142", "ID_0001_Z_0143"], variants=("raw data",)
    )
    L.export("nnunet", tmp_path / "out", tree)
    (image,) = [p for p in (tmp_path / "out").rglob("imagesTr/*") if "0000_Z_0142" in p.name]
    source = tree / "raw data" / "V2" / "CT_Images" / "ID_0000_Z_0142.TIF"
    assert image.stat().st_ino == source.stat().st_ino  # linked as is
    data = tifffile.imread(image)
    assert data.dtype == np.int16 and data.ndim == 2 and data.min() < -1500
