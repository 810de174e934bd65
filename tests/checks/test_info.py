"""``lungsegdb info``: the dataset card and the local state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import info
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.state import provenance, rejected

CONTRACT_KEYS = {"data_dir", "dataset_dir", "source", "archive", "manifest", "state"}


def _info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert run(["info", "--json", "--data-dir", str(tmp_path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_empty_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _info_json(tmp_path, capsys)
    assert doc.keys() >= CONTRACT_KEYS
    assert doc["state"] == info.STATE_EMPTY
    assert doc["archive"] is None and doc["manifest"] is None
    assert doc["source"] == {"url": dataset.DRIVE_URL, "drive_id": dataset.DRIVE_ID}
    assert doc["dataset"]["published_pairs"] == {"V1": 1800, "V2": 700}
    assert not any(tmp_path.iterdir()), "info must not create anything"


def test_a_data_dir_not_made_yet_is_empty_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cold CI cache: info reports it (docs/cli.md says so), naming the folder, and makes
    nothing."""
    doc = _info_json(tmp_path / "cold" / "cache", capsys)
    assert doc["state"] == info.STATE_EMPTY and doc["data_dir"] == str(tmp_path / "cold" / "cache")
    assert not (tmp_path / "cold").exists()


def test_states_follow_what_is_on_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = resolve(tmp_path, {})
    archive = tmp_path / "downloads" / "LungSegDB.zip"
    archive.parent.mkdir()
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    provenance.write(paths.provenance, {"path": str(archive), "sha256": "ab" * 32})
    doc = _info_json(tmp_path, capsys)
    assert doc["state"] == info.STATE_DOWNLOADED
    assert doc["archive"] == {
        "path": str(archive),
        "sha256": "ab" * 32,
        "size": 22,
        "recorded_size": None,
    }

    (paths.dataset_dir / "raw data").mkdir(parents=True)
    assert _info_json(tmp_path, capsys)["state"] == info.STATE_UNMANAGED

    paths.manifest.write_text("")
    doc = _info_json(tmp_path, capsys)
    assert doc["state"] == info.STATE_EXTRACTED
    assert doc["manifest"] == str(paths.manifest)


def test_archive_recorded_but_gone_is_null(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = resolve(tmp_path, {})
    provenance.write(paths.provenance, {"path": str(tmp_path / "gone.zip"), "sha256": "0" * 64})
    doc = _info_json(tmp_path, capsys)
    assert doc["archive"] is None
    assert doc["provenance"]["sha256"] == "0" * 64


def test_human_output_names_source_and_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["info", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert dataset.DRIVE_ID in out and "empty" in out and "1,800" in out


def test_env_home_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUNGSEGDB_HOME", str(tmp_path / "home"))
    assert run(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_dir"] == str(tmp_path / "home")


def test_collect_is_typed_and_its_document_is_the_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = resolve(tmp_path, {})
    archive = tmp_path / "downloads" / "LungSegDB.zip"
    archive.parent.mkdir()
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    recorded = {"path": "downloads/LungSegDB.zip", "sha256": "AB" * 32, "md5": "0" * 32}
    provenance.write(paths.provenance, {**recorded, "size": 99, "link": None, "newer_key": [1]})
    result = info.collect(paths)
    assert isinstance(result, info.InfoResult) and result.state == info.STATE_DOWNLOADED
    # size: now; recorded_size: the record's
    assert result.archive == info.LocalArchive(archive, "AB" * 32, 22, "0" * 32, 99)
    assert result.archive.changed
    assert result.pin == "ab" * 32
    doc = result.to_dict()
    out = _info_json(tmp_path, capsys)
    out.pop("schema", None)  # the CLI's envelope, not the result's
    assert doc["ok"] is True and doc == {**out, "ok": True}
    # the record as written, unknown keys and explicit nulls included
    assert doc["provenance"] == json.loads(paths.provenance.read_text())


def test_info_shows_the_space_each_part_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lungsegdb_cli.synthetic import make as synth

    made = synth.synthesize(tmp_path / "s", pairs=1, seed=0, fmt="zip")
    root = tmp_path / "data"
    assert (
        run(["download", "-q", "--url", Path(made.archive.path).as_uri(), "--data-dir", str(root)])
        == 0
    )
    capsys.readouterr()
    (root / "downloads" / "x.rejected").write_bytes(b"r" * 123)
    rejected.note(resolve(root), root / "downloads" / "x.rejected")  # download moved it aside
    doc = _info_json(root, capsys)
    space = doc["space"]
    assert space["tree"] == made.bytes and space["rejected-download"] == 123
    assert space["kept-archive"] == Path(made.archive.path).stat().st_size
    assert space["total"] == sum(v for k, v in space.items() if k != "total")
    assert run(["info", "--data-dir", str(root)]) == 0
    assert "space:" in capsys.readouterr().out
    assert _info_json(tmp_path / "empty", capsys)["space"]["total"] == 0


@pytest.mark.parametrize("size", [None, 1000])  # as downloaded; truncated afterwards
def test_an_archive_not_of_the_recorded_size_is_not_given_the_records_checksum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: int | None
) -> None:
    """info printed the recorded SHA-256 (and the CI pin line) beside whatever file is at the
    recorded path now; a file of another size is now said not to be the recorded archive."""
    from lungsegdb_cli.synthetic import make as synth

    made = synth.synthesize(tmp_path / "s", pairs=1, seed=0, fmt="zip")
    root = tmp_path / "data"
    assert (
        run(["download", "-q", "--url", Path(made.archive.path).as_uri(), "--data-dir", str(root)])
        == 0
    )
    kept = root / "downloads" / Path(made.archive.path).name
    if size is not None:
        with open(kept, "r+b") as fh:
            fh.truncate(size)
    capsys.readouterr()
    doc = _info_json(root, capsys)["archive"]
    recorded = Path(made.archive.path).stat().st_size
    assert doc["recorded_size"] == recorded and doc["size"] == (size or recorded)
    assert run(["info", "--data-dir", str(root)]) == 0
    text = capsys.readouterr().out
    assert ("not the recorded archive" in text) is (size is not None)
    assert ("LUNGSEGDB_SHA256=" in text) is (size is None)


def test_no_pin_is_offered_for_a_tree_extracted_from_another_file(
    synth_result, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit C: after ``extract --force --archive OTHER`` the recorded archive is not the
    tree's source; ``info`` printed its SHA-256 as "pin in CI", which in CI would fetch and
    extract that other tree. ``pin`` is now null and the line says why."""
    import lungsegdb_cli as L

    L.download(tmp_path, archive=synth_result.archive.path)
    assert json.loads(_json(tmp_path, capsys))["pin"] == synth_result.archive.sha256
    other = L.synth(tmp_path / "other", pairs=1)
    assert (
        run(
            [
                "extract",
                "--force",
                "--archive",
                str(other.archive.path),
                "--data-dir",
                str(tmp_path),
                "-q",
            ]
        )
        == 0
    )
    capsys.readouterr()
    doc = json.loads(_json(tmp_path, capsys))
    assert (doc["pin"], doc["tree_archive_sha256"]) == (None, None)
    assert run(["info", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pin in CI:   (none: the tree's own record does not name this archive" in out
    assert "LUNGSEGDB_SHA256=" not in out


def _json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert run(["info", "--json", "--data-dir", str(tmp_path)]) == 0
    return capsys.readouterr().out


def test_the_pin_is_still_shown_after_clean_discards_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit K #10: docs/cli.md says that after ``clean`` discards the kept archive "``info``
    still shows the pin"; the human output showed only "(discarded ...)", no pin line."""
    import lungsegdb_cli as L

    made = L.synth(tmp_path / "s", pairs=2)
    root = tmp_path / "data"
    L.download(root, url=Path(made.archive.path).as_uri())
    assert any(p.what == "kept-archive" for p in L.clean(root).removed)
    capsys.readouterr()
    doc = _info_json(root, capsys)
    assert doc["pin"] == made.archive.sha256
    assert run(["info", "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "(discarded once the tree verified" in out
    assert f"pin in CI:   LUNGSEGDB_SHA256={made.archive.sha256}" in out


@pytest.mark.parametrize("record", ["none", "unreadable"])
def test_the_archive_extract_took_from_downloads_is_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record: str
) -> None:
    """Audit K #9: ``extract`` with no ``--archive`` takes the single file in ``downloads/``
    (docs/extract.md step 1); no record names it, and ``info`` counted it in no part, so
    ``total`` fell short of the data dir by the archive's size. It is the kept archive now."""
    import lungsegdb_cli as L

    made = L.synth(tmp_path / "s", pairs=2)
    root = tmp_path / "data"
    (root / "downloads").mkdir(parents=True)
    archive = root / "downloads" / "LungSegDB.zip"
    archive.write_bytes(Path(made.archive.path).read_bytes())
    L.extract(root)
    if record == "unreadable":
        (root / ".lungsegdb" / "provenance.json").write_text("{not json")
    capsys.readouterr()
    space = _info_json(root, capsys)["space"]
    assert space["kept-archive"] == archive.stat().st_size
    assert space["total"] == sum(v for k, v in space.items() if k != "total")
    on_disk = sum(p.lstat().st_size for p in root.rglob("*") if p.is_file())
    assert space["total"] == on_disk
