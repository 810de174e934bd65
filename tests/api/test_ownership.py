"""What lungsegdb may delete, and what it may vouch for, is decided by its own records.

* An archive given with ``--archive FILE`` is the user's wherever it lies, also in
  ``<data dir>/downloads/``: ``download --no-keep-archive``, ``clean`` and a later download
  never delete it (the provenance records it as given, not fetched). Audit A, 3.
* ``clean`` removes only the partial downloads the tool names (``drive-<id>.part``,
  ``url-<12 hex>.part`` and their ``.part.json``) and the ``.rejected`` files it recorded moving
  aside; any other ``*.part`` / ``*.rejected`` (a browser's, with ``--data-dir ~``) is left and
  reported in ``kept`` with the reason. Audit A, 5.
* A corrupt ``.lungsegdb/provenance.json`` is a finding (``provenance-corrupt``, exit 1, hint
  ``download --force``), never "nothing recorded": ``verify``, ``download``, ``croissant`` and
  ``publish`` do not vouch over it; ``info`` shows it as unreadable. Audit A, 14.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: cli.app.run is the command line in-process (exit codes and --json documents)
from lungsegdb_cli.cli.app import run


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = run([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def _archive(synth_result: Any) -> Path:
    return Path(synth_result.archive.path)


# ---------------------------------------------------------------------------------------------
# 3. the user's archive in downloads/ is never deleted
# ---------------------------------------------------------------------------------------------
def _given_in_downloads(synth_result: Any, root: Path) -> Path:
    """A data dir installed from the user's own copy put in ``<root>/downloads/``."""
    mine = root / "downloads" / "my_browser_copy.zip"
    mine.parent.mkdir(parents=True)
    shutil.copyfile(_archive(synth_result), mine)
    return mine


@pytest.mark.parametrize(
    "how", ["no-keep-archive", "clean", "clean-dry-run", "api-clean", "later-download"]
)
def test_an_archive_given_with_archive_is_never_deleted_even_in_downloads(
    how: str, synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    mine = _given_in_downloads(synth_result, root)
    before = mine.read_bytes()
    dd = ["--data-dir", str(root)]
    if how == "no-keep-archive":
        code, doc = _json(capsys, ["download", *dd, "--archive", str(mine), "--no-keep-archive"])
        assert code == 0 and doc["ok"]
    else:
        assert run(["download", "-q", *dd, "--archive", str(mine)]) == 0
        if how in ("clean", "clean-dry-run"):
            extra = ["--dry-run"] if how == "clean-dry-run" else []
            code, doc = _json(capsys, ["clean", *dd, *extra])
            assert code == 0
            assert all(item["path"] != str(mine) for item in doc["removed"])
            (left,) = [k for k in doc["kept"] if k["path"] == str(mine)]
            assert left["what"] == "kept-archive" and "--archive" in left["why"]
        elif how == "api-clean":
            result = L.clean(root)
            assert all(p.path != mine for p in result.removed)
        else:  # a later download of another source replaces the record, never the user's file
            other = tmp_path / "elsewhere.zip"
            shutil.copyfile(_archive(synth_result), other)
            assert (
                run(["download", "-q", *dd, "--url", other.as_uri(), "--no-drive", "--force"]) == 0
            )
    assert mine.read_bytes() == before
    assert run(["verify", "-q", *dd]) == 0


def test_an_archive_the_tool_fetched_into_downloads_is_still_discarded(
    synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: ownership from the record still lets the tool delete its own download."""
    root = tmp_path / "data"
    code, doc = _json(
        capsys,
        [
            "download",
            "--data-dir",
            str(root),
            "--url",
            _archive(synth_result).as_uri(),
            "--no-drive",
            "--no-keep-archive",
        ],
    )
    assert code == 0 and doc["ok"]
    assert not (root / "downloads").exists()
    assert run(["verify", "-q", "--data-dir", str(root)]) == 0


# ---------------------------------------------------------------------------------------------
# 5. clean removes only what lungsegdb wrote
# ---------------------------------------------------------------------------------------------
FOREIGN = [
    ("film.mkv.part", "not a partial download lungsegdb wrote"),
    ("film.mkv.part.json", "not a partial download lungsegdb wrote"),
    ("lone.part.json", "not a partial download lungsegdb wrote"),
    ("url-xyz.part", "not a partial download lungsegdb wrote"),  # not 12 hex digits
    ("url-0123456789AB.part", "not a partial download lungsegdb wrote"),  # upper case
    ("drive-.part", "not a partial download lungsegdb wrote"),  # no id
    ("scan.rejected", "not recorded as moved aside by lungsegdb"),
    ("LungSegDB.zip.rejected", "not recorded as moved aside by lungsegdb"),
]


@pytest.mark.parametrize(("name", "why"), FOREIGN)
@pytest.mark.parametrize("data_dir", ["never-a-data-dir", "installed"])
def test_clean_leaves_a_part_or_rejected_file_lungsegdb_did_not_write(
    name: str,
    why: str,
    data_dir: str,
    synth_result: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "home"
    if data_dir == "installed":
        assert (
            run(
                [
                    "download",
                    "-q",
                    "--data-dir",
                    str(root),
                    "--url",
                    _archive(synth_result).as_uri(),
                    "--no-drive",
                ]
            )
            == 0
        )
    foreign = root / "downloads" / name
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign.write_bytes(b"half a film")
    code, doc = _json(capsys, ["clean", "--data-dir", str(root)])
    assert code == 0 and doc["ok"]
    assert foreign.read_bytes() == b"half a film"
    assert all(item["path"] != str(foreign) for item in doc["removed"])
    (left,) = [k for k in doc["kept"] if k["path"] == str(foreign)]
    assert why in left["why"] and left["bytes"] == len(b"half a film")
    # the same through the API, and info does not count it as a leftover of ours
    assert foreign.exists() and all(p.path != foreign for p in L.clean(root).removed)
    space = L.info(root).space
    assert space["partial-download"] == space["rejected-download"] == 0


@pytest.mark.parametrize(
    "name",
    [
        "url-0123456789ab.part",
        "url-0123456789ab.part.json",
        "drive-1AbC_d-EfGhIjKlMn.part",
        "drive-1AbC_d-EfGhIjKlMn.part.json",
    ],
)
def test_clean_still_removes_the_partial_downloads_lungsegdb_names(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    part = tmp_path / "downloads" / name
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 10)
    code, doc = _json(capsys, ["clean", "--data-dir", str(tmp_path)])
    assert code == 0 and [(r["path"], r["what"]) for r in doc["removed"]] == [
        (str(part), "partial-download")
    ]
    assert not part.exists() and doc["kept"] == []


def test_clean_removes_the_rejected_file_the_tool_moved_aside_and_no_other(
    synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    url = _archive(synth_result).as_uri()
    # the wrong pin: the fetched bytes are moved aside, recorded as the tool's
    code = run(
        [
            "download",
            "-q",
            "--data-dir",
            str(root),
            "--url",
            url,
            "--no-drive",
            "--sha256",
            "0" * 64,
        ]
    )
    assert code == 1
    (ours,) = (root / "downloads").glob("*.rejected")
    theirs = root / "downloads" / "theirs.zip.rejected"
    theirs.write_bytes(b"a user's file")
    code, doc = _json(capsys, ["clean", "--data-dir", str(root)])
    assert code == 0
    assert [(r["path"], r["what"]) for r in doc["removed"]] == [(str(ours), "rejected-download")]
    assert not ours.exists() and theirs.exists()
    assert [k["path"] for k in doc["kept"]] == [str(theirs)]


def test_a_download_leaves_a_foreign_part_file_alone(synth_result: Any, tmp_path: Path) -> None:
    """The parts of other sources go once a download committed: only the tool's own."""
    root = tmp_path / "data"
    foreign = root / "downloads" / "film.mkv.part"
    stale = root / "downloads" / "url-0123456789ab.part"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"half a film")
    stale.write_bytes(b"stale")
    assert (
        run(
            [
                "download",
                "-q",
                "--data-dir",
                str(root),
                "--url",
                _archive(synth_result).as_uri(),
                "--no-drive",
            ]
        )
        == 0
    )
    assert foreign.read_bytes() == b"half a film" and not stale.exists()


# ---------------------------------------------------------------------------------------------
# 14. a corrupt provenance is a finding, not an absence
# ---------------------------------------------------------------------------------------------
CORRUPT = {
    "garbage": b"garbage\n",
    "a list": b"[]\n",
    "wrong type": b'{"size": "100", "sha256": "x"}\n',
    "not utf-8": b"\xff\xfe{\x00",
    "empty": b"",
    "a folder": None,
}


@pytest.fixture
def corrupted(request: pytest.FixtureRequest, synth_result: Any, tmp_path: Path) -> Path:
    """A data dir downloaded from a file:// URL, its kept archive truncated and its
    provenance replaced by ``request.param`` (a key of :data:`CORRUPT`)."""
    root = tmp_path / "data"
    assert (
        run(
            [
                "download",
                "-q",
                "--data-dir",
                str(root),
                "--url",
                _archive(synth_result).as_uri(),
                "--no-drive",
            ]
        )
        == 0
    )
    record = root / ".lungsegdb" / "provenance.json"
    content = CORRUPT[request.param]
    record.unlink()
    if content is None:
        record.mkdir()
    else:
        record.write_bytes(content)
    with open(root / "downloads" / "LungSegDB.zip", "r+b") as fh:
        fh.truncate(100)
    return root


@pytest.mark.parametrize("corrupted", list(CORRUPT), indirect=True)
def test_verify_does_not_report_ok_over_a_corrupt_provenance(
    corrupted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _json(capsys, ["verify", "--data-dir", str(corrupted)])
    assert code == 1 and doc["ok"] is False
    err = doc["error"]
    assert err["kind"] == "provenance-corrupt" and err["code"] == 1
    assert "provenance.json" in err["message"] and "download --force" in err["hint"]
    capsys.readouterr()
    assert run(["verify", "--data-dir", str(corrupted)]) == 1
    text = capsys.readouterr()
    assert "Traceback" not in text.err + text.out and "OK" not in text.out
    with pytest.raises(L.ProvenanceCorrupt) as info:
        L.verify(corrupted)
    assert isinstance(info.value, L.CheckFailed) and info.value.exit_code == 1


@pytest.mark.parametrize("corrupted", ["garbage", "a folder"], indirect=True)
@pytest.mark.parametrize(
    "argv",
    [
        ["download", "--offline"],
        ["download", "--url", "URL", "--no-drive"],
        ["croissant", "OUT"],
        ["publish", "OUT"],
    ],
)
def test_commands_that_vouch_refuse_a_corrupt_provenance(
    corrupted: Path,
    argv: list[str],
    synth_result: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / ("out.json" if argv[0] == "croissant" else "pub")
    argv = [
        str(out) if a == "OUT" else _archive(synth_result).as_uri() if a == "URL" else a
        for a in argv
    ]
    code, doc = _json(capsys, [*argv, "--data-dir", str(corrupted)])
    assert code == 1 and doc["error"]["kind"] == "provenance-corrupt", doc
    assert not out.exists()


@pytest.mark.parametrize("corrupted", ["garbage", "a folder"], indirect=True)
def test_info_says_the_record_is_unreadable_and_download_force_repairs_it(
    corrupted: Path, synth_result: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _json(capsys, ["info", "--data-dir", str(corrupted)])
    assert code == 0 and doc["provenance_unreadable"] is True and doc["archive"] is None
    capsys.readouterr()
    assert run(["info", "--data-dir", str(corrupted)]) == 0
    assert "unreadable" in capsys.readouterr().out
    record = corrupted / ".lungsegdb" / "provenance.json"
    if record.is_dir():
        record.rmdir()  # download --force rewrites a file; a folder in its place is removed
    assert (
        run(
            [
                "download",
                "-q",
                "--force",
                "--data-dir",
                str(corrupted),
                "--url",
                _archive(synth_result).as_uri(),
                "--no-drive",
            ]
        )
        == 0
    )
    assert run(["verify", "-q", "--data-dir", str(corrupted)]) == 0
    code, doc = _json(capsys, ["info", "--data-dir", str(corrupted)])
    assert doc["provenance_unreadable"] is False and doc["archive"] is not None
