"""Recovery deletes only the commit protocol's own leftovers. An export to a folder inside the
data root stages ``.OUT.staging-<pid>-<hex>`` beside it, under its own lock: no reader, no
``clean`` and no download may take that for a dead writer's staging of the tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: cli/app's run is the command as typed
from lungsegdb_cli.cli.app import run

#: a pid no process has (above the kernel's pid_max), so the txid reads as a dead writer's
DEAD = "4194999"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    made = L.synth(tmp_path / "s", pairs=1, like_kaggle=True)
    root = tmp_path / "d"
    L.download(root, archive=made.archive.path)
    return root


def _export_staging(root: Path) -> Path:
    """What ``export nnunet <root>/nnunet`` holds beside OUT while it runs."""
    staged = root / f".nnunet.staging-{DEAD}-0badc0de"
    (staged / "Dataset501_LungSegDB").mkdir(parents=True)
    (staged / "Dataset501_LungSegDB" / "dataset.json").write_text("{}")
    return staged


@pytest.mark.parametrize(
    "argv",
    [
        ["info"],
        ["verify"],
        ["validate"],
        ["stats"],
        ["clean"],
        ["download", "--offline"],
        ["split"],
    ],
    ids=lambda a: a[0],
)
def test_an_exports_staging_in_the_data_root_is_not_the_data_dirs_debris(
    data: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    staged = _export_staging(data)
    ours = data / f".LungSegDB.staging-{DEAD}-0badc0de"  # a dead writer's: recovery's to remove
    ours.mkdir()
    assert run([*argv, "-q", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert (staged / "Dataset501_LungSegDB" / "dataset.json").is_file()
    assert not ours.exists()


def test_clean_and_info_do_not_list_it(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _export_staging(data)
    removed: Any = L.clean(data, dry_run=True).removed
    assert [p.what for p in removed] == []
    assert run(["info", "--json", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["space"]["stale-staging"] == 0
