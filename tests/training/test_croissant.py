"""``lungsegdb croissant`` and ``export croissant``: the Croissant document of the verified
tree, checked structurally without mlcroissant (tests/frameworks loads it with the real one).

The archive is shaped like what real downloads hand us (tests/support/hu_archive.py): int16
HU slices with padded corners, folders spelled the archive's way under a wrapper, a lone image,
an AppleDouble file beside the slices."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support import hu_archive

# internals: the card, the provenance record and the document builder are what the document
# is checked against; cli/app's run is the command as a user types it
import lungsegdb_cli as L
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.state import provenance
from lungsegdb_cli.training.export import croissant as cr

PAIR_FIELDS = ["image", "mask", "image_path", "mask_path", "stem", "variant", "version", "group"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data root, archive): the HU archive downloaded by hand (``--archive``). Read-only."""
    tmp = tmp_path_factory.mktemp("croissant")
    archive = tmp / "LungSegDB.zip"
    hu_archive.build(archive)
    L.download(tmp / "data", archive=archive)
    return tmp / "data", archive


@pytest.fixture
def own(installed: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the installed data root (its archive stays where it is)."""
    shutil.copytree(installed[0], tmp_path / "data")
    return tmp_path / "data"


def _doc(root: Path, **kw: Any) -> dict[str, Any]:
    return L.croissant(root, **kw).document


def _by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = {n["@id"]: n for n in [*doc["distribution"], *doc["recordSet"]]}
    for rs in doc["recordSet"]:
        nodes.update({f["@id"]: f for f in rs["field"]})
    return nodes


def check_structure(doc: dict[str, Any]) -> None:
    """What mlcroissant needs of the document, checked without it: every reference resolves
    to a node of the right type, each record set joins at most once, inline rows have exactly
    the fields of their record set."""
    assert doc["@type"] == "sc:Dataset" and doc["conformsTo"] == cr.CONFORMS_TO
    nodes = _by_id(doc)
    assert len(nodes) == len(doc["distribution"]) + sum(
        1 + len(rs["field"]) for rs in doc["recordSet"]
    ), "duplicate @id"
    for node in doc["distribution"]:
        if node["@type"] == "cr:FileSet":
            assert nodes[node["containedIn"]["@id"]]["@type"] == "cr:FileObject"
            assert node["includes"] and node["encodingFormat"] == "image/tiff"
    for rs in doc["recordSet"]:
        ids = [f["@id"] for f in rs["field"]]
        assert all(i.startswith(rs["@id"] + "/") for i in ids)
        assert rs["key"]["@id"] in ids
        joins = [f for f in rs["field"] if "references" in f]
        assert len(joins) <= 1, f"{rs['@id']}: mlcroissant joins once per record set"
        for f in rs["field"]:
            src = f.get("source")
            if src is None:
                assert "data" in rs
                continue
            if "fileSet" in src:
                assert nodes[src["fileSet"]["@id"]]["@type"] == "cr:FileSet"
                assert src["extract"]["fileProperty"] in ("fullpath", "content")
            else:
                assert nodes[src["field"]["@id"]]["@type"] == "cr:Field"
            if "references" in f:
                assert nodes[f["references"]["field"]["@id"]]["@type"] == "cr:Field"
        for row in rs.get("data", []):
            assert sorted(row) == sorted(ids)


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------
def test_the_document_describes_the_archive_and_every_pair(installed: tuple[Path, Path]) -> None:
    root, archive = installed
    result = L.croissant(root)
    doc = result.document
    check_structure(doc)
    assert doc["name"] == dataset.NAME and doc["citeAs"] == dataset.CITATION
    assert doc["license"] == dataset.LICENCE and doc["url"] == dataset.DRIVE_URL
    assert doc["description"] == dataset.DESCRIPTION
    assert (
        doc["identifier"]["value"]
        == hashlib.sha256(resolve(root).manifest.read_bytes()).hexdigest()
    )
    obj, images, masks = doc["distribution"]
    # an archive given by hand is named by its own digest (never the Drive file's URL: a
    # loader's cache, keyed by contentUrl, would hand out another archive's files)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert obj["@id"] == cr.ARCHIVE_ID and obj["name"] == "LungSegDB.zip"
    assert obj["contentUrl"] == f"LungSegDB-sha256-{sha}.zip"
    assert obj["sha256"] == sha
    assert obj["contentSize"] == f"{archive.stat().st_size} B"
    assert obj["encodingFormat"] == "application/zip"
    # the file sets: the archive's own folder names; junk beside the slices left out
    names = zipfile.ZipFile(archive).namelist()
    for fs, leaf_kind in ((images, "CT_Images"), (masks, "CT_Masks")):
        matched = {n for n in names if any(fnmatch.fnmatch(n, g) for g in fs["includes"])}
        want = {
            n
            for n in names
            if f"/{hu_archive.SPELLING[leaf_kind]}/" in n
            and not n.startswith("__MACOSX/")
            and "/._" not in n
        }
        assert matched == want
    # one row per pair (the lone image is none), archive paths that exist, canonical names
    rows = next(rs for rs in doc["recordSet"] if rs["@id"] == "pair_index")["data"]
    pairs = L.pairs(root)
    assert len(rows) == len(pairs) == result.pairs == 8
    for row, p in zip(rows, pairs, strict=True):
        assert row["pair_index/image_path"] == hu_archive.member(
            f"{p.variant}/{p.version}/CT_Images", p.image.name
        )
        assert row["pair_index/mask_path"] in names and row["pair_index/image_path"] in names
        assert (
            row["pair_index/variant"],
            row["pair_index/version"],
            row["pair_index/stem"],
            row["pair_index/group"],
        ) == (p.variant, p.version, p.stem, p.group)
    fields = next(rs for rs in doc["recordSet"] if rs["@id"] == "pairs")["field"]
    assert [f["name"] for f in fields] == PAIR_FIELDS  # no split: none in force
    assert result.splits_file is None
    assert result.mapping == {"archive": str(archive)}


def test_same_tree_same_bytes_wherever_it_is(installed: tuple[Path, Path], tmp_path: Path) -> None:
    root, archive = installed
    first = L.croissant(root, out=tmp_path / "a.json")
    shutil.copytree(root, tmp_path / "elsewhere")
    second = L.croissant(tmp_path / "elsewhere", out=tmp_path / "b.json")
    again = L.croissant(root)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes() == again.text
    assert first.sha256 == second.sha256 == again.sha256
    # a fresh install of the same archive elsewhere too
    L.download(tmp_path / "fresh", archive=archive)
    assert L.croissant(tmp_path / "fresh").text == again.text


def test_split_field_when_splits_are_in_force(own: Path) -> None:
    L.split(own, seed=3)
    result = L.croissant(own)
    check_structure(result.document)
    rs = {r["@id"]: r for r in result.document["recordSet"]}
    assert [f["name"] for f in rs["pairs"]["field"]] == [*PAIR_FIELDS, "split"]
    split_field = rs["pairs"]["field"][-1]
    assert split_field["dataType"] == ["wd:Q3985153", "sc:Text"]
    want = {(p.variant, p.version, p.stem): p.split for p in L.pairs(own)}
    got = {
        (r["pair_index/variant"], r["pair_index/version"], r["pair_index/stem"]): r[
            "pair_index/split"
        ]
        for r in rs["pair_index"]["data"]
    }
    assert got == want and set(got.values()) <= {"train", "val", "test"}
    assert result.splits_file == str(resolve(own).state_dir / "splits.json")


def test_variant_keeps_its_folders_only(installed: tuple[Path, Path]) -> None:
    doc = _doc(installed[0], variant="raw")
    check_structure(doc)
    rows = next(rs for rs in doc["recordSet"] if rs["@id"] == "pair_index")["data"]
    assert {r["pair_index/variant"] for r in rows} == {"raw data"} and len(rows) == 4
    for fs in doc["distribution"][1:]:
        assert all("RAW-data" in g for g in fs["includes"])


@pytest.mark.parametrize(
    ("record", "url"),
    [
        (
            {"drive_id": "abcDEF123", "source": "https://drive.google.com/uc?id=abcDEF123"},
            "https://drive.google.com/uc?export=download&id=abcDEF123",
        ),
        (
            {"source": "https://me:secret@mirror.example/LungSegDB.zip?X-Amz-Signature=abc&v=2"},
            "https://***@mirror.example/LungSegDB.zip?X-Amz-Signature=***&v=2",
        ),
        ({"source": "s3://bucket/LungSegDB.zip"}, "s3://bucket/LungSegDB.zip"),
        ({"source": "file:///home/me/LungSegDB.zip"}, None),
    ],
    ids=["drive", "mirror-redacted", "s3", "local-file"],
)
def test_content_url_is_where_it_came_from_redacted(
    own: Path, record: dict[str, str], url: str
) -> None:
    p = resolve(own)
    doc = provenance.read(p.provenance)
    assert doc is not None
    doc.update({"drive_id": None, **record})
    provenance.write(p.provenance, doc)
    result = L.croissant(own)
    if url is None:  # by hand: named by the archive's SHA-256
        url = f"LungSegDB-sha256-{doc['sha256'].lower()}.zip"
    assert result.document["distribution"][0]["contentUrl"] == url
    assert "secret" not in result.text.decode()
    assert "/home/me" not in result.text.decode()


_A, _B = "a" * 64, "B" * 64
_DRIVE = "https://drive.google.com/uc?export=download&id="


@pytest.mark.parametrize(
    ("record", "fmt", "url"),
    [
        # downloaded from Drive: that Drive file's download URL, whatever the digest
        ({"drive_id": dataset.DRIVE_ID, "sha256": _A}, "zip", _DRIVE + dataset.DRIVE_ID),
        ({"drive_id": "otherFile9", "sha256": _B}, "zip", _DRIVE + "otherFile9"),
        # a mirror (--url): its URL, redacted; never written with its secrets
        (
            {"source": "https://u:pw@m.example/L.zip?token=t0p&v=3", "sha256": _A},
            "zip",
            "https://***@m.example/L.zip?token=***&v=3",
        ),
        ({"source": "gs://b/L.tar.gz", "sha256": _A}, "tar.gz", "gs://b/L.tar.gz"),
        # by hand (--archive FILE, a file:// or plain-path source): named by its SHA-256
        ({"path": "/x/LungSegDB.zip", "sha256": _A}, "zip", f"LungSegDB-sha256-{_A}.zip"),
        ({"path": "/x/LungSegDB.zip", "sha256": _B}, "zip", f"LungSegDB-sha256-{_B.lower()}.zip"),
        ({"source": "file:///x/L.tar.gz", "sha256": _A}, "tar.gz", f"LungSegDB-sha256-{_A}.tar.gz"),
        ({"source": "./L.zip", "sha256": _A}, None, f"LungSegDB-sha256-{_A}.zip"),
    ],
    ids=[
        "drive",
        "drive-other-file",
        "mirror-redacted",
        "gs",
        "by-hand",
        "by-hand-other",
        "file-url-tar",
        "plain-path",
    ],
)
def test_content_url_per_origin(record: dict[str, str], fmt: str | None, url: str) -> None:
    assert cr.content_url(provenance.Provenance(**record), fmt) == url


def test_content_urls_of_different_archives_given_by_hand_never_collide() -> None:
    """mlcroissant keys its download and extraction cache by sha256(contentUrl) alone: two
    archives given by hand at the same path but with other bytes get other contentUrls."""
    urls = {
        cr.content_url(provenance.Provenance(path="/same/LungSegDB.zip", sha256=s), "zip")
        for s in (_A, _B, "0" * 64)
    }
    assert len(urls) == 3


def test_file_set_globs_are_literal_and_leave_dot_files_out_unless_paired() -> None:
    members = [
        "w [1]/V1/ct*images/a.TIF",
        "w [1]/V1/ct*images/b.tif",
        "w [1]/V1/ct*images/.hidden.TIF",
    ]
    globs = cr._includes(members)
    archive = [
        *members,
        "w [1]/V1/ct*images/._a.TIF",
        "w 1/V1/ctXimages/a.TIF",
        "w [1]/V1/ct*images/notes.txt",
    ]
    matched = sorted(n for n in archive if any(fnmatch.fnmatchcase(n, g) for g in globs))
    assert matched == sorted(members)
    assert len(globs) == 3  # one per extension as spelled, and the dot-named pair by name


# ---------------------------------------------------------------------------------------------
# What it refuses
# ---------------------------------------------------------------------------------------------
def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = run([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_tree_it_cannot_vouch_for_is_exit_1(
    own: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = resolve(own)
    # not extracted by lungsegdb: no manifest
    made = L.synth(tmp_path / "s", pairs=1, fmt="none")
    code, doc = _error(capsys, ["croissant", "--data-dir", str(made.tree)])
    assert (code, doc["error"]["kind"]) == (1, "archive-unrecorded")
    # extracted by an older lungsegdb: where the tree sits in the archive is not recorded
    sidecar = json.loads(p.manifest_sizes.read_text())
    old = {k: v for k, v in sidecar.items() if not k.startswith("archive_f")}
    p.manifest_sizes.write_text(json.dumps(old))
    code, doc = _error(capsys, ["croissant", "--data-dir", str(own)])
    assert (code, doc["error"]["kind"]) == (1, "archive-unrecorded")
    assert "extract --force" in doc["error"]["hint"]
    p.manifest_sizes.write_text(json.dumps(sidecar))
    # the tree differs from its manifest
    victim = p.dataset_dir / "raw data" / "V1" / "CT_Masks" / "1.TIF"
    victim.write_bytes(victim.read_bytes() + b"x")
    code, doc = _error(capsys, ["croissant", "--data-dir", str(own)])
    assert (code, doc["error"]["kind"]) == (1, "check-failed")
    assert "verify" in doc["error"]["hint"]
    # no tree at all
    code, doc = _error(capsys, ["croissant", "--data-dir", str(tmp_path)])
    assert code == 1


def test_a_tree_from_another_archive_than_the_recorded_one_is_exit_1(
    own: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = resolve(own)
    doc = provenance.read(p.provenance)
    assert doc is not None
    provenance.write(p.provenance, {**doc, "sha256": "0" * 64})
    code, err = _error(capsys, ["croissant", "--data-dir", str(own)])
    assert (code, err["error"]["kind"]) == (1, "archive-unrecorded")


def test_stale_splits_are_exit_1(own: Path, capsys: pytest.CaptureFixture[str]) -> None:
    L.split(own, seed=0)
    where = resolve(own).state_dir / "splits.json"
    splits = json.loads(where.read_text())
    splits["splits"] = {s: [] for s in splits["splits"]}
    where.write_text(json.dumps(splits))
    code, err = _error(capsys, ["croissant", "--data-dir", str(own)])
    assert (code, err["error"]["kind"]) == (1, "check-failed")


@pytest.mark.parametrize("where", ["tree", "folder"])
def test_out_inside_the_tree_or_a_folder_is_exit_2(
    installed: tuple[Path, Path], where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = installed[0]
    out = root / "LungSegDB" / "c.json" if where == "tree" else tmp_path
    code, err = _error(capsys, ["croissant", str(out), "--data-dir", str(root)])
    assert (code, err["error"]["kind"]) == (2, "usage")
    assert not (root / "LungSegDB" / "c.json").exists()


def test_unknown_variant_is_exit_2(
    installed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _error(
        capsys, ["croissant", "--variant", "cooked", "--data-dir", str(installed[0])]
    )
    assert (code, err["error"]["kind"]) == (2, "usage")


# ---------------------------------------------------------------------------------------------
# The command line and the export
# ---------------------------------------------------------------------------------------------
def test_cli_prints_the_document_or_writes_out(
    installed: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = installed[0]
    assert run(["croissant", "--data-dir", str(root)]) == 0
    printed = capsys.readouterr().out
    assert printed.encode() == L.croissant(root).text
    out = tmp_path / "meta" / "croissant.json"
    assert run(["croissant", str(out), "--data-dir", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["schema"] == 1 and "croissant" not in doc
    assert out.read_bytes() == printed.encode()
    assert doc["out"] == str(out) and doc["pairs"] == 8 and doc["bytes"] == len(printed)
    assert doc["mapping"] == {"archive": str(installed[1])}
    assert run(["croissant", "--data-dir", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["croissant"] == json.loads(printed)
    assert run(["croissant", str(tmp_path / "c.json"), "--data-dir", str(root)]) == 0
    human = capsys.readouterr().out
    assert "8 (preprocessed data, raw data, no split)" in human and "mapping=" in human


def test_writing_the_document_needs_no_extra(
    installed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The [croissant] extra is for loading the document; writing it imports neither
    mlcroissant nor Pillow (an import of either fails here)."""
    for name in ("mlcroissant", "PIL"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "c.json"
    assert run(["croissant", str(out), "--data-dir", str(installed[0]), "-q"]) == 0
    assert json.loads(out.read_text())["recordSet"]


def test_export_croissant_is_recorded_and_verified(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    root = installed[0]
    result = L.export("croissant", tmp_path / "out", root)
    out = Path(result.out)
    assert sorted(p.name for p in out.iterdir()) == [
        "croissant.json",
        "lungsegdb-export.json",
        "lungsegdb-splits.json",
    ]
    assert result.placed == {} and sum(result.counts.values()) == 8
    doc = json.loads((out / "croissant.json").read_text())
    check_structure(doc)
    rows = next(rs for rs in doc["recordSet"] if rs["@id"] == "pair_index")["data"]
    splits = json.loads((out / "lungsegdb-splits.json").read_text())["splits"]
    named = {n: s for s, names in splits.items() for n in names}
    assert {r["pair_index/split"] for r in rows} <= {"train", "val", "test"}
    for r in rows:
        key = f"{r['pair_index/variant']}/{r['pair_index/version']}/{r['pair_index/stem']}"
        assert r["pair_index/split"] == named[key]
    assert L.check_export(out).ok
    (out / "croissant.json").write_text(json.dumps(doc).replace("LungSegDB", "Lung"))
    check = L.check_export(out)
    assert not check.ok and check.changed == ["croissant.json"]


def test_export_croissant_refuses_what_croissant_refuses(tmp_path: Path) -> None:
    made = L.synth(tmp_path / "s", pairs=1, fmt="none")
    with pytest.raises(cr.ArchiveUnrecorded):
        L.export("croissant", tmp_path / "out", made.tree)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # nothing left beside OUT
