"""``lungsegdb publish DEST`` refuses a DEST it cannot or must not write to (audit A 1, 4, 9):
empty, a malformed URL, a ``file://`` URL naming another host, a file, the data dir or one
of its own paths (the tree, the manifest, the state folder, the downloads folder), the
``--export`` folder -- exit 2 naming DEST and what it would damage, before anything is read
or written. Through the CLI and the public API, each case on the same table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.snapshot import entries

import lungsegdb_cli as L

# internals: exercises cli/app directly: the exit code and the error line
from lungsegdb_cli.cli.app import run

_ROOT_NAMES = ("LungSegDB.zip", "LungSegDB.sha256", "lungsegdb.json")

# (id, DEST with {tmp} {data} {out} filled in, with --export OUT, words in the message)
CASES = [
    ("empty", "", False, "is empty"),
    ("blank", "   ", False, "is empty"),
    ("file-url-no-path", "file://", False, "no folder path"),
    ("file-url-other-host", "file://otherhost{tmp}/pub", False, "not on 'otherhost'"),
    ("s3-one-slash", "s3:/", False, "no bucket"),
    ("s3-no-slash", "s3:key", False, "no bucket"),
    ("https-one-slash", "https:/mirror", False, "not a folder or a supported URL"),
    # a query or fragment cannot name a folder: the names would go after it (audit S 1)
    ("s3-query", "s3://bkt/pub?versionId=3", False, "has a query or fragment"),
    ("s3-empty-query", "s3://bkt/pub?", False, "has a query or fragment"),
    ("s3-fragment", "s3://bkt/pub#v1", False, "has a query or fragment"),
    ("file-url-query", "file://{tmp}/mirror?v=1", False, "has a query or fragment"),
    ("a-file", "{tmp}/afile", False, "is a file, not a folder"),
    ("below-a-file", "{tmp}/afile/mirror", False, "is a file, not a folder"),
    ("the-data-dir", "{data}", False, "is the data dir"),
    ("the-tree", "{data}/LungSegDB", False, "is the dataset tree"),
    ("inside-the-tree", "{data}/LungSegDB/mirror", False, "is inside the dataset tree"),
    ("inside-the-tree-file-url", "file://{data}/LungSegDB/m", False, "is inside the dataset tree"),
    ("inside-the-tree-by-symlink", "{tmp}/link/mirror", False, "is inside the dataset tree"),
    ("the-manifest", "{data}/LungSegDB.sha256", False, "is the manifest"),
    ("the-state-folder", "{data}/.lungsegdb", False, "is the state folder"),
    ("inside-the-downloads", "{data}/downloads/mirror", False, "is inside the downloads folder"),
    ("the-export", "{out}", True, "is the --export folder"),
    ("inside-the-export", "{out}/mirror", True, "is inside the --export folder"),
    ("holding-the-export", "{tmp}", True, "is the folder holding the --export folder"),
]


@pytest.fixture(scope="module")
def prepared(synth_result: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the synthetic archive downloaded (kept), and a WebDataset export of
    it; copied per test (the refusals must leave them as they are)."""
    base = tmp_path_factory.mktemp("publish-dest")
    env = {
        v: os.environ.pop(v)
        for v in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256")
        if v in os.environ
    }
    try:
        L.download(base / "data", archive=synth_result.archive.path)
        L.export("webdataset", base / "wds", base / "data", variant="raw", shard_size=2)
    finally:
        os.environ.update(env)
    return base


@pytest.fixture
def work(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import shutil

    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(var, raising=False)
    shutil.copytree(prepared, tmp_path, dirs_exist_ok=True, symlinks=True)
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "link").symlink_to(tmp_path / "data" / "LungSegDB")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # relative DESTs ("s3:/") land here
    for folder in [tmp_path, *tmp_path.rglob("*")]:  # a change cannot fall in the same tick
        if folder.is_dir() and not folder.is_symlink():
            os.utime(folder, ns=(10**18, 10**18))
    before_root = set(os.listdir("/"))
    yield tmp_path
    # the code before the fix wrote DEST "" and "file://" into "/": never leave that behind
    for name in _ROOT_NAMES:
        if name not in before_root:
            Path("/", name).unlink(missing_ok=True)
    for name in set(os.listdir("/")) - before_root:
        if name.startswith(".lungsegdb-tmp-"):
            import shutil

            shutil.rmtree(Path("/", name), ignore_errors=True)


def _args(work: Path, dest: str, export: bool) -> tuple[str, str | None]:
    filled = dest.format(tmp=work, data=work / "data", out=work / "wds")
    return filled, (str(work / "wds") if export else None)


def _nothing_written(work: Path, before: dict[str, Any], root_before: set[str]) -> None:
    assert entries(work) == before
    assert set(os.listdir("/")) == root_before
    assert not any(Path("/", name).exists() for name in _ROOT_NAMES if name not in root_before)


@pytest.mark.parametrize(
    ("dest", "export", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_publish_refuses_dest_cli(
    work: Path, capsys: pytest.CaptureFixture[str], dest: str, export: bool, words: str
) -> None:
    filled, out = _args(work, dest, export)
    before, root_before = entries(work), set(os.listdir("/"))
    argv = ["publish", filled, "--data-dir", str(work / "data")]
    code = run([*argv, *(["--export", out] if out else [])])
    stdout, err = capsys.readouterr()
    assert code == 2, err
    assert stdout == "" and words in err, err
    if filled.strip():
        assert filled in err  # the message names DEST
    _nothing_written(work, before, root_before)


@pytest.mark.parametrize(
    ("dest", "export", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_publish_refuses_dest_api(work: Path, dest: str, export: bool, words: str) -> None:
    filled, out = _args(work, dest, export)
    before, root_before = entries(work), set(os.listdir("/"))
    with pytest.raises(L.UsageError) as caught:
        L.publish(filled, work / "data", export=out)
    assert caught.value.exit_code == 2 and words in str(caught.value)
    _nothing_written(work, before, root_before)


def test_publish_refuses_dest_json(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json: the usage error as a document (exit 2), nothing written in the tree."""
    import json

    mirror = work / "data" / "LungSegDB" / "mirror"
    code = run(["publish", str(mirror), "--data-dir", str(work / "data"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["ok"] is False and "dataset tree" in json.dumps(doc)
    assert not mirror.exists()


@pytest.mark.parametrize(
    "dest",
    [
        "{tmp}/mirror",
        "file://{tmp}/mirror",
        "file://localhost{tmp}/mirror",
        "{data}-mirror",
        "{tmp}/odd:name",
        "rel:name",
        "{tmp}/odd?name#x",  # a plain path may hold '?' and '#': no URL, no query
    ],
)
def test_publish_still_takes_a_folder_beside_the_data(work: Path, dest: str) -> None:
    """A folder next to the data dir (or named like it), by path or by file:// URL (with
    localhost), or a folder name with a colon that is no URL scheme, is fine: the check
    refuses only what overlaps."""
    filled, _ = _args(work, dest, False)
    result = L.publish(filled, work / "data")
    from urllib.parse import unquote

    where = Path(unquote(result.archive_url.removeprefix("file://"))).parent
    assert (where / "lungsegdb.json").is_file()
    assert L.verify(work / "data").ok


def test_publish_write_failure_hint_names_dest(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DEST the file system cannot hold (a name longer than 255 bytes): exit 5, and the
    hint says to change DEST -- not --data-dir, which publish only reads (audit A 17)."""
    dest = work / ("m" * 300)
    code = run(["publish", str(dest), "--data-dir", str(work / "data")])
    err = capsys.readouterr().err
    assert code == 5, err
    assert "shorter DEST" in err and "--data-dir" not in err
