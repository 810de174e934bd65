"""CSV output a spreadsheet will not run: ``pairs --csv``, ``export csv``, ``stats --csv``.

Stems come from file names, chosen by whoever made the data: a text cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is written as ``"'=cmd"`` (OWASP), numbers as
they are.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest

# internals: exercises cli/app, utils directly: behaviour the public API does not expose on its own
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.utils import csvsafe

HOSTILE = ["=cmd", "+SUM(1,2)", "@cmd", "-2+3"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=cmd", '"\'=cmd"'),
        ("+SUM(1,2)", '"\'+SUM(1,2)"'),
        ("@cmd", '"\'@cmd"'),
        ("-2+3", '"\'-2+3"'),
        ("\tx", '"\'\tx"'),
        ("\r=x", '"\'\r=x"'),
        ('=HYPERLINK("u")', '"\'=HYPERLINK(""u"")"'),
        ("a=b", "a=b"),
        ("a,b", '"a,b"'),
        ("-12", "-12"),  # numbers stay readable, as text too (stats writes repr(mean))
        ("-0.5e-3", "-0.5e-3"),
        (-1024, "-1024"),
        (-672.5, "-672.5"),
        (None, ""),
    ],
)
def test_cell(value: object, written: str) -> None:
    assert csvsafe.cell(value) == written


def test_safe_rows_are_what_the_csv_module_writes() -> None:
    rows = [["train", "preprocessed data", "a b", 1, -2.5, None, True, 'q"uote', "x,y"]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["h"] * 9)
    writer.writerows(rows)
    assert csvsafe.rows_text(["h"] * 9, rows) == buf.getvalue()


@pytest.fixture
def hostile_tree(synth_tree: Path, tmp_path: Path) -> Path:
    """A data dir whose tree has pairs with the stems :data:`HOSTILE` (file names)."""
    root = tmp_path / "data"
    shutil.copytree(synth_tree, root / "LungSegDB")
    groups = ["preprocessed data/V1", "preprocessed data/V2", "raw data/V1", "raw data/V2"]
    for group, stem in zip(groups, HOSTILE, strict=True):
        for kind in ("CT_Images", "CT_Masks"):
            folder = root / "LungSegDB" / group / kind
            (folder / "1.TIF").rename(folder / f"{stem}.TIF")
    return root


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _assert_escaped(text: str, column: str = "stem") -> None:
    rows = _rows(text)
    stems = {r[column] for r in rows}
    assert {"'" + s for s in HOSTILE} <= stems, stems
    for s in HOSTILE:
        assert f'"\'{s}"' in text  # prefixed and quoted
    for row in rows:
        for value in row.values():
            assert not value.startswith(csvsafe.FORMULA_START) or csvsafe._NUMBER.fullmatch(
                value
            ), row


def test_pairs_csv_escapes_formula_stems(hostile_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    assert run(["pairs", "--data-dir", str(hostile_tree), "--csv", str(out), "-q"]) == 0
    _assert_escaped(out.read_text())


def test_export_csv_escapes_formula_stems(
    hostile_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run(["export", "csv", str(out), "--data-dir", str(hostile_tree), "-q"]) == 0
    _assert_escaped((out / "pairs.csv").read_text())
    assert run(["verify-export", str(out), "-q"]) == 0, capsys.readouterr()


def test_stats_csv_escapes_stems_and_keeps_negative_numbers(
    hostile_tree: Path, tmp_path: Path
) -> None:
    out = tmp_path / "stats.csv"
    assert run(["stats", "--data-dir", str(hostile_tree), "--csv", str(out), "-q"]) == 0
    text = out.read_text()
    _assert_escaped(text)
    raw_v1 = [r for r in _rows(text) if r["variant"] == "raw data" and r["version"] == "V1"]
    assert raw_v1 and all(float(r["min"]) < 0 and float(r["mean"]) < 0 for r in raw_v1)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_pairs_csv_under_a_folder_name_that_is_not_utf8(synth_tree: Path, tmp_path: Path) -> None:
    """The path is written back as the bytes it was (it names the same file), not refused
    with a UnicodeEncodeError."""
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/d\xff"))
    try:
        shutil.copytree(synth_tree, root / "LungSegDB")
    except (OSError, UnicodeEncodeError):  # pragma: no cover - a file system that refuses it
        pytest.skip("this file system refuses names that are not UTF-8")
    out = tmp_path / "pairs.csv"
    assert run(["pairs", "--data-dir", str(root), "--csv", str(out), "-q"]) == 0
    first = _rows(out.read_bytes().decode("utf-8", "surrogateescape"))[0]
    assert Path(first["image"]).is_file()
