"""``lungsegdb preview`` (issue 13): a PNG that opens, outlines exactly on the mask border,
a row per variant x version, --split and --findings, the [plot] extra, exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

import lungsegdb_cli as L

# internals: exercises cli/app, training, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.training import montage as _montage
from lungsegdb_cli.training.preview import pick

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def write_tree(root: Path, groups: dict[str, list[str]], size: int, masks: dict[str, Any]) -> Path:
    """A LungSegDB folder: per ``variant/version`` the stems, ``size`` x ``size`` uint16
    grey images (a gradient: never magenta) and 0/255 masks from ``masks[stem]`` (a function
    of an empty mask array), or a centred square by default."""
    tree = root / "LungSegDB"
    for label, stems in groups.items():
        for kind in ("CT_Images", "CT_Masks"):
            (tree / label / kind).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            img = (np.add.outer(np.arange(size), np.arange(size)) * 7).astype(np.uint16)
            mask = np.zeros((size, size), dtype=np.uint8)
            masks.get(stem, _square(size // 4, 3 * size // 4))(mask)
            tifffile.imwrite(tree / label / "CT_Images" / f"{stem}.TIF", img)
            tifffile.imwrite(tree / label / "CT_Masks" / f"{stem}.TIF", mask)
    return tree


def _square(a: int, b: int):
    def draw(m: np.ndarray) -> None:
        m[a:b, a:b] = 255

    return draw


def _ring_with_hole(m: np.ndarray) -> None:
    m[40:200, 40:200] = 255
    m[100:140, 100:140] = 0


def reference_border(mask: np.ndarray) -> np.ndarray:
    """The definition, pixel by pixel: a mask pixel with a 4-neighbour outside the mask
    (off the edge counts as outside)."""
    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                yy, xx = y + dy, x + dx
                if not (0 <= yy < h and 0 <= xx < w) or not mask[yy, xx]:
                    out[y, x] = True
    return out


def magenta(png: Path, box: list[int]) -> np.ndarray:
    x, y, w, h = box
    arr = np.asarray(Image.open(png).convert("RGB"))[y : y + h, x : x + w]
    return (arr == np.array(_montage.OUTLINE, dtype=np.uint8)).all(axis=-1)


@pytest.mark.parametrize(
    ("size", "draw", "tile_mask"),
    [
        # 1:1 (a 256-px slice is its own tile): a square and a square with a hole
        (256, _square(64, 192), lambda t: _square(64, 192)(t)),
        (256, _ring_with_hole, _ring_with_hole),
        # scaled down x2 (512 -> 256) and up x4 (64 -> 256): the square's tile coordinates
        (512, _square(100, 300), lambda t: _square(50, 150)(t)),
        (64, _square(16, 48), lambda t: _square(64, 192)(t)),
        # the mask touching the slice's edge: the edge row/column is border
        (256, _square(0, 100), lambda t: _square(0, 100)(t)),
    ],
)
def test_outline_pixels_are_drawn_exactly_on_the_mask_border(
    tmp_path: Path, size: int, draw: Any, tile_mask: Any
) -> None:
    tree = write_tree(tmp_path, {"raw data/V1": ["1"]}, size, {"1": draw})
    result = L.preview(tmp_path / "p.png", tree, n=1)
    [row] = result.rows
    [tile] = row.tiles
    assert tile.note is None and tile.box is not None
    assert tile.box[2:] == (256, 256)
    expected = np.zeros((256, 256), dtype=np.uint8)
    tile_mask(expected)
    got = magenta(tmp_path / "p.png", list(tile.box))
    want = reference_border(expected != 0)
    assert want.any()
    assert np.array_equal(got, want)  # on every border pixel, nowhere inside or outside


def test_the_png_opens_and_has_a_row_per_variant_version_group(synth_tree: Path, tmp_path):
    result = L.preview(tmp_path / "p.png", synth_tree, n=2)
    with Image.open(result.out) as im:
        assert im.format == "PNG" and im.size == (result.width, result.height)
    labels = [r.label for r in result.rows]
    assert labels == ["preprocessed data/V1", "preprocessed data/V2", "raw data/V1", "raw data/V2"]
    assert [(r.candidates, [t.stem for t in r.tiles]) for r in result.rows] == [(3, ["1", "3"])] * 4
    boxes = [t.box for r in result.rows for t in r.tiles]
    assert len(set(boxes)) == 8  # no two tiles drawn in one place
    # every shown slice has an outline drawn on it
    assert all(magenta(Path(result.out), list(b)).any() for b in boxes)


def test_rows_are_only_the_groups_present(tmp_path: Path) -> None:
    tree = write_tree(
        tmp_path, {"raw data/V2": ["a1", "a2"], "preprocessed data/V1": ["7"]}, 32, {}
    )
    result = L.preview(tmp_path / "p.png", tree)
    assert [(r.label, [t.stem for t in r.tiles]) for r in result.rows] == [
        ("preprocessed data/V1", ["7"]),
        ("raw data/V2", ["a1", "a2"]),
    ]


@pytest.mark.parametrize(
    ("count", "n", "expected"),
    [
        (3, 8, [0, 1, 2]),
        (8, 8, list(range(8))),
        (10, 2, [2, 7]),
        (1800, 4, [225, 675, 1125, 1575]),
        (5, 1, [2]),
        (0, 3, []),
    ],
)
def test_the_pairs_shown_are_evenly_spaced(count: int, n: int, expected: list[int]) -> None:
    assert pick(count, n) == expected


def test_the_same_tree_gives_the_same_png(synth_tree: Path, tmp_path: Path) -> None:
    a = L.preview(tmp_path / "a.png", synth_tree, n=3)
    b = L.preview(tmp_path / "b.png", synth_tree, n=3)
    assert Path(a.out).read_bytes() == Path(b.out).read_bytes()


def test_split_shows_only_that_splits_pairs(synth_tree: Path, tmp_path: Path) -> None:
    tree = Path(shutil.copytree(synth_tree, tmp_path / "LungSegDB"))
    L.split(tree, ratios=(0.5, 0.25, 0.25), seed=0)
    for name in ("train", "val", "test"):
        in_split = L.pairs(tree, split=name)
        result = L.preview(tmp_path / f"{name}.png", tree, n=8, split=name)
        shown = [(t.variant, t.version, t.stem, t.split) for r in result.rows for t in r.tiles]
        assert shown == [(p.variant, p.version, p.stem, name) for p in in_split]
        assert result.to_dict()["split"] == name


def test_split_without_splits_is_a_usage_error(synth_tree: Path, tmp_path: Path) -> None:
    code = run(
        ["preview", str(tmp_path / "p.png"), "--split", "test", "--data-dir", str(synth_tree)]
    )
    assert code == 2
    assert not (tmp_path / "p.png").exists()


def test_findings_show_what_validate_flagged_with_its_codes(synth_defects: Any, tmp_path: Path):
    tree = Path(shutil.copytree(synth_defects.tree, tmp_path / "LungSegDB", symlinks=True))
    result = L.preview(tmp_path / "f.png", tree, findings=True)
    report = L.validate(tree)
    shown = {(t.variant, t.version, t.stem): set(t.codes) for r in result.rows for t in r.tiles}
    # every finding on a file is on the tile of its pair (or lone file), and nothing else is
    expected: dict[tuple[str, str, str], set[str]] = {}
    for f in report.findings:
        if f.code == "count-mismatch":
            continue
        variant, version, _kind, name = f.path.split("/")
        expected.setdefault((variant, version, name.split(".")[0]), set()).add(f.code)
    assert shown == expected
    planted = {d.code for d in synth_defects.defects if d.code != "junk"}
    assert planted <= {c for codes in shown.values() for c in codes}
    assert {f["code"] for f in result.not_shown} == {"count-mismatch"}
    # the unreadable ones get a tile saying why; the others show a slice
    notes = {(t.variant, t.version, t.stem): t.note for r in result.rows for t in r.tiles}
    for d in synth_defects.defects:
        if d.code in ("unreadable", "empty-mask"):
            note = notes[(*d.group.split("/"), d.stem)]
            if d.code == "unreadable":
                assert note and d.path.rsplit("/", 1)[-1] in note
            else:
                assert note is None
    with Image.open(result.out) as im:
        assert im.size == (result.width, result.height)


def test_findings_with_nothing_flagged_say_so_in_the_png(tmp_path: Path) -> None:
    groups = {"raw data/V1": ["1", "2"]}
    tree = write_tree(tmp_path, groups, 32, {})
    out = tmp_path / "f.png"
    code = run(["preview", str(out), "--findings", "--data-dir", str(tree), "--json"])
    assert code == 0
    with Image.open(out) as im:
        assert im.format == "PNG"
    result = L.preview(out, tree, findings=True)
    assert result.rows == [] and result.note and "no pairs" in result.note
    assert {f["code"] for f in result.not_shown} == {"count-mismatch"}


def test_json_document(synth_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "p.png"
    code = run(["preview", str(out), "--n", "1", "--data-dir", str(synth_tree), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc)[:2] == ["ok", "schema"] and doc["ok"] is True and doc["schema"] == 1
    assert doc["out"] == str(out) and doc["mode"] == "pairs" and doc["tiles"] == 4
    assert [len(r["tiles"]) for r in doc["rows"]] == [1, 1, 1, 1]
    tile = doc["rows"][0]["tiles"][0]
    assert set(tile) >= {"stem", "image", "mask", "codes", "box", "note"}
    assert tile["image"] == "preprocessed data/V1/CT_Images/2.TIF"
    documented = _documented_keys((ROOT / "docs" / "cli.md").read_text(), "preview")
    assert list(doc) == documented  # docs/cli.md names every key, in order
    assert set(doc["rows"][0]) | set(tile) <= set(
        re.findall(r'"(\w+)"', _documented_json((ROOT / "docs" / "cli.md").read_text(), "preview"))
    )


def _documented_json(text: str, command: str) -> str:
    """The ``--json`` document of ``command`` as docs/cli.md spells it: ``{"ok", ...}``."""
    section = text[text.index(f"## `lungsegdb {command}") :]
    return re.search(r"one JSON document: `(\{.*?\})`", section).group(1)  # type: ignore[union-attr]


def _documented_keys(text: str, command: str) -> list[str]:
    """The top-level keys of that document, in order (nested braces and brackets skipped)."""
    doc, depth, keys = _documented_json(text, command), 0, []
    for i, ch in enumerate(doc):
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == '"' and depth == 1 and doc[i - 1] in "{ ":
            keys.append(doc[i + 1 : doc.index('"', i + 1)])
    return keys


def test_human_output_names_the_png(synth_tree: Path, tmp_path: Path, capsys) -> None:
    code = run(["preview", str(tmp_path / "p.png"), "--data-dir", str(synth_tree), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "p.png" in text and "raw data/V2: 3 of 3" in text


@pytest.mark.parametrize(
    ("where", "extra", "code"),
    [
        ("folder", [], 2),  # OUT is a folder
        ("under-a-file", [], 2),  # a file where OUT's folder should be
        ("in-tree", [], 2),  # inside the dataset tree
        ("ok", ["--n", "0"], 2),
        ("ok", ["--n", "65"], 2),
        ("ok", ["--split", "holdout"], 2),
    ],
)
def test_usage_errors(synth_tree: Path, tmp_path: Path, where: str, extra: list[str], code: int):
    tree = Path(shutil.copytree(synth_tree, tmp_path / "LungSegDB"))
    out = {
        "folder": tmp_path,
        "under-a-file": tree / "raw data" / "V1" / "CT_Images" / "1.TIF" / "p.png",
        "in-tree": tree / "p.png",
        "ok": tmp_path / "p.png",
    }[where]
    assert run(["preview", str(out), *extra, "--data-dir", str(tree)]) == code
    assert not (tree / "p.png").exists() and not (tmp_path / "p.png").exists()


def test_no_tree_is_exit_1(tmp_path: Path) -> None:
    assert run(["preview", str(tmp_path / "p.png"), "--data-dir", str(tmp_path)]) == 1


def test_out_is_replaced_atomically(synth_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    out.write_bytes(b"old")
    L.preview(out, synth_tree, n=1)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]  # no temp file left


def test_it_waits_for_the_generation_lock(synth_tree: Path, tmp_path: Path, monkeypatch) -> None:
    """A writer's commit holds the generation lock exclusive: preview (a reader) waits for it;
    with a zero timeout that is exit 5 and no PNG."""
    fcntl = pytest.importorskip("fcntl")
    from lungsegdb_cli.dataset.paths import resolve

    tree = Path(shutil.copytree(synth_tree, tmp_path / "data" / "LungSegDB"))
    paths = resolve(tree.parent)
    paths.ensure_state_dir()
    monkeypatch.setenv("LUNGSEGDB_LOCK_TIMEOUT", "0")
    out = tmp_path / "p.png"
    with open(paths.tree_lock, "a+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert run(["preview", str(out), "--data-dir", str(tree.parent)]) == 5
    assert not out.exists()
    assert run(["preview", str(out), "--data-dir", str(tree.parent)]) == 0


BLOCK_PIL = """\
import sys
sys.modules["PIL"] = None  # as if Pillow were not installed: 'import PIL' raises ImportError
from lungsegdb_cli.cli.app import run
sys.exit(run(sys.argv[1:]))
"""


@pytest.mark.parametrize("json_mode", [False, True])
def test_without_pillow_it_is_exit_2_naming_the_extra(
    synth_tree: Path, tmp_path: Path, json_mode: bool
) -> None:
    out = tmp_path / "p.png"
    argv = ["preview", str(out), "--data-dir", str(synth_tree), *(["--json"] if json_mode else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_PIL, *argv], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2, proc.stderr
    assert not out.exists()
    if json_mode:
        doc = json.loads(proc.stdout)
        assert doc["ok"] is False and doc["error"]["code"] == 2
        text = doc["error"]["message"] + doc["error"]["hint"]
    else:
        text = proc.stderr
        assert "Traceback" not in text
    assert "Pillow" in text and "[plot]" in text and "pip install '.[plot]'" in text
    assert "lungsegdb-cli[" not in text  # never a package-index name: it is not published


def test_border_of_a_full_and_an_empty_mask() -> None:
    full = np.ones((4, 5), dtype=bool)
    assert np.array_equal(_montage.border(full), reference_border(full))
    assert not _montage.border(np.zeros((3, 3))).any()


ODD_STEMS = ["a\nb", "c\rd\x1b[31m", "e\tf", "g\u2028h", "i\x7fj"]


def test_stems_with_control_characters_are_drawn_escaped(tmp_path: Path, capsys) -> None:
    """A newline (or another control character) in a stem: the montage is written with the
    caption escaped on one line (Pillow cannot measure multi-line text), never a traceback."""
    tree = write_tree(tmp_path, {"raw data/V1": ODD_STEMS}, 32, {})
    out = tmp_path / "p.png"
    assert run(["preview", str(out), "--data-dir", str(tree), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(t["stem"] for t in doc["rows"][0]["tiles"]) == sorted(ODD_STEMS)
    assert all(t["note"] is None for t in doc["rows"][0]["tiles"])
    with Image.open(out) as im:
        assert im.size == (doc["size"][0], doc["size"][1])
    assert run(["preview", str(out), "--data-dir", str(tree)]) == 0
    text = capsys.readouterr().out
    assert "a\\x0ab" in text and "\x1b" not in text


def test_findings_on_odd_files_are_tiles_with_a_note(tmp_path: Path) -> None:
    """Lone files that do not decode -- one with a newline in its name, one cut short inside
    its header (tifffile's struct.error) -- get a grey tile saying why; exit 0."""
    tree = write_tree(tmp_path, {"raw data/V1": ["1"]}, 32, {})
    (tree / "raw data/V1/CT_Images" / "x\ny.TIF").write_bytes(b"junk")
    (tree / "raw data/V1/CT_Masks" / "z.TIF").write_bytes(b"II*\x00")
    out = tmp_path / "f.png"
    assert run(["preview", str(out), "--findings", "--data-dir", str(tree), "--quiet"]) == 0
    result = L.preview(out, tree, findings=True)
    notes = {t.stem: t.note for r in result.rows for t in r.tiles}
    assert set(notes) == {"x\ny", "z"} and all(notes.values())
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_text_in_the_picture_is_one_line_of_ascii() -> None:
    art = _montage.TileArt(None, "cap\ntion\x1b[2J", "why:\nthe\rfile\u2028broke")
    png, boxes, _ = _montage.compose("title\n2", [_montage.Row(["row\n1"], [art])], note="n\n")
    assert png.startswith(b"\x89PNG") and len(boxes[0]) == 1
    assert _montage._wrap("a\nb c", 40) == ["a\\x0ab c"]
