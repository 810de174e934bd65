"""``lungsegdb download`` end to end against the local fake of Google Drive."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from support.downloads import run_download
from support.drive_fake import FakeDrive
from support.fakes import InterruptingProgress

# internals: exercises checks, cli/app, ... directly (not public API)
from lungsegdb_cli.checks import manifest
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import DiskFullError, DrivePageError, OfflineError
from lungsegdb_cli.sources import download, fetch
from lungsegdb_cli.state import provenance
from lungsegdb_cli.utils import fsutil

FID = dataset.DRIVE_ID


class NoNetwork:
    """A session that fails the test if anything is requested."""

    def get(self, *a: Any, **kw: Any) -> Any:
        raise AssertionError(f"network used: {a}")


@pytest.fixture
def drive(fake_drive: FakeDrive, archive: bytes, monkeypatch: pytest.MonkeyPatch) -> FakeDrive:
    """The fake serving the synthetic archive as the dataset's (large) Drive file."""
    fake_drive.add(FID, archive, large=True)
    fake_drive.mirror["LungSegDB.zip"] = archive
    monkeypatch.setenv("LUNGSEGDB_DRIVE_ENDPOINT", fake_drive.base)
    monkeypatch.delenv("LUNGSEGDB_URL", raising=False)
    monkeypatch.delenv("LUNGSEGDB_SHA256", raising=False)
    return fake_drive


def _dl(root: Path, **kw: Any) -> download.DownloadResult:
    kw.setdefault("sleep", lambda s: None)
    return run_download(paths.resolve(root), **kw)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["download", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _tree_files(root: Path) -> int:
    return sum(1 for p in (root / "LungSegDB").rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------
# Getting the bytes
# ---------------------------------------------------------------------------------------------
def test_default_source_follows_redirect_and_virus_scan_form(
    drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    res = _dl(tmp_path)
    sha = hashlib.sha256(archive).hexdigest()
    assert res.action == "downloaded" and res.extracted and res.files == 24
    assert _tree_files(tmp_path) == 24 and (tmp_path / "LungSegDB.sha256").is_file()
    assert Path(res.archive.path).read_bytes() == archive
    assert res.archive.sha256 == sha and res.archive.md5 is None  # MD5 only with --md5
    assert [s.path for s in drive.seen] == ["/uc", "/download", "/download"]
    assert drive.seen[2].query["confirm"] == "t" and drive.seen[2].query["uuid"] == drive.uuid
    rec = provenance.read(tmp_path / ".lungsegdb" / "provenance.json")
    assert rec is not None
    assert rec["sha256"] == sha and rec["drive_id"] == FID and rec["size"] == len(archive)
    assert {"md5", "tool_version", "time", "source", "path"} <= rec.keys()
    assert res.pin_hint and sha in res.pin_hint and "LUNGSEGDB_SHA256" in res.pin_hint
    assert not list((tmp_path / "downloads").glob("*.part*"))


@pytest.mark.parametrize(
    "form", ["{base}/file/d/{id}/view?usp=drive_link", "{base}/open?id={id}", "{base}/uc?id={id}"]
)
def test_drive_link_forms_reach_the_same_file(
    drive: FakeDrive, archive: bytes, tmp_path: Path, form: str
) -> None:
    res = _dl(tmp_path, url=form.format(base=drive.base, id=FID), extract=False)
    assert Path(res.archive.path).read_bytes() == archive and res.source.drive_id == FID


def test_cli_mirror_json_document(
    drive: FakeDrive, archive: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = drive.mirror_url("LungSegDB.zip")
    code, out, _ = _cli(capsys, "--url", url, "--data-dir", str(tmp_path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["files"] == 24
    assert doc["dataset_dir"] == str(tmp_path / "LungSegDB")
    assert doc["archive"]["sha256"] == hashlib.sha256(archive).hexdigest()
    assert doc["archive"]["size"] == len(archive) and doc["source"]["url"] == url
    assert [s.path for s in drive.seen] == ["/mirror/LungSegDB.zip"]


def test_url_from_environment(
    drive: FakeDrive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LUNGSEGDB_URL", drive.mirror_url("LungSegDB.zip"))
    code, out, err = _cli(capsys, "--data-dir", str(tmp_path), "--no-extract", "--quiet")
    assert code == 0 and "Archive downloaded" in out and err == ""
    mirror = drive.mirror_url("LungSegDB.zip")
    # the pin line repeats the source: copying it fetches from the mirror, not from Drive
    assert f"Pin it in CI: lungsegdb download --url '{mirror}' --sha256 " in out
    assert [s.path for s in drive.seen] == ["/mirror/LungSegDB.zip"]


def test_transient_503_then_success(drive: FakeDrive, archive: bytes, tmp_path: Path) -> None:
    drive.fail_next = [(503, "3")]
    drive.drop_after = [100_000]
    slept: list[float] = []
    res = _dl(tmp_path, extract=False, sleep=slept.append)
    assert Path(res.archive.path).read_bytes() == archive
    assert slept == [3.0, 1.0] and len(res.retries) == 2


# ---------------------------------------------------------------------------------------------
# Drive's pages: exit 3, which page, what next
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file_id", "setup", "url", "message"),
    [
        ("QUOTA_FILE_ID_01", {"quota": True}, "{base}/file/d/{id}/view", "Too many users have"),
        ("MISSING_FILE_ID_1", None, "{base}/file/d/{id}/view", "does not exist"),
        ("PRIVATE_FILE_ID_1", {"private": True}, "{base}/file/d/{id}/view", "permission denied"),
        ("BROKEN_FORM_ID_1", {"broken_form": True}, "{base}/uc?id={id}", "virus-scan warning"),
        (None, None, "{base}/html-mirror/LungSegDB.zip", "HTML page instead of the archive"),
    ],
)
def test_pages_instead_of_the_archive_exit_3(
    drive: FakeDrive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file_id: str | None,
    setup: dict[str, bool] | None,
    url: str,
    message: str,
) -> None:
    if file_id and setup:
        drive.add(file_id, b"x", **setup)
    url = url.format(base=drive.base, id=file_id)
    pin = "ab" * 32
    code, out, err = _cli(capsys, "--url", url, "--data-dir", str(tmp_path), "--sha256", pin)
    assert code == 3 and out == ""
    assert message in err and "next:" in err
    assert "--archive PATH" in err and str(tmp_path) in err and pin in err  # what to do next
    assert not (tmp_path / "LungSegDB").exists()
    assert not list((tmp_path / "downloads").glob("*.zip"))


def test_quota_page_error_is_typed_and_fails_fast(drive: FakeDrive, tmp_path: Path) -> None:
    drive.add("QUOTA_FILE_ID_0001", b"x", quota=True)
    slept: list[float] = []
    with pytest.raises(DrivePageError) as info:
        _dl(tmp_path, url=f"{drive.base}/open?id=QUOTA_FILE_ID_0001", sleep=slept.append)
    assert info.value.context["page"] == "quota-exceeded" and slept == []
    assert "Wait a few hours" in info.value.hint
    assert f"{drive.base}/file/d/QUOTA_FILE_ID_0001/view" in info.value.hint


# ---------------------------------------------------------------------------------------------
# Integrity
# ---------------------------------------------------------------------------------------------
def test_pinned_mismatch_extracts_nothing_and_moves_the_file_aside(
    drive: FakeDrive, archive: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pin = "0" * 64
    code, _, err = _cli(capsys, "--data-dir", str(tmp_path), "--sha256", pin, "--quiet")
    actual = hashlib.sha256(archive).hexdigest()
    assert code == 1
    assert f"expected {pin}" in err and f"got {actual}" in err and "b'PK\\x03\\x04" in err
    assert f"{len(archive):,} bytes" in err
    assert not (tmp_path / "LungSegDB").exists() and not (tmp_path / "LungSegDB.sha256").exists()
    rejected = tmp_path / "downloads" / "LungSegDB.zip.rejected"
    assert rejected.read_bytes() == archive
    assert not (tmp_path / "downloads" / "LungSegDB.zip").exists()
    assert provenance.read(tmp_path / ".lungsegdb" / "provenance.json") is None


def test_pinned_match_records_the_pin(drive: FakeDrive, archive: bytes, tmp_path: Path) -> None:
    pin = hashlib.sha256(archive).hexdigest()
    res = _dl(tmp_path, sha256=pin.upper())
    assert res.pinned and res.pin_hint is None and res.files == 24
    rec = provenance.read(tmp_path / ".lungsegdb" / "provenance.json")
    assert rec is not None and rec["pinned"] is True


def test_malformed_pin_and_missing_archive_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(capsys, "--data-dir", str(tmp_path), "--sha256", "xyz")[0] == 2
    assert _cli(capsys, "--data-dir", str(tmp_path), "--archive", str(tmp_path / "no.zip"))[0] == 2
    assert _cli(capsys, "--data-dir", str(tmp_path), "--url", "ftp://example.org/x.zip")[0] == 2


# ---------------------------------------------------------------------------------------------
# Idempotent, offline, local archive
# ---------------------------------------------------------------------------------------------
def test_rerun_on_complete_tree_is_fast_and_offline(drive: FakeDrive, tmp_path: Path) -> None:
    _dl(tmp_path)
    n = len(drive.seen)
    res = _dl(tmp_path, session=NoNetwork())  # any request fails the test
    assert res.action == "up-to-date" and res.files == 24 and len(drive.seen) == n
    assert res.archive is not None and res.archive.sha256


def _retag_tree(root: Path, sha: str) -> None:
    """Make the manifest's sidecar say the tree came from the archive ``sha``."""
    sizes = root / ".lungsegdb" / "manifest-sizes.json"
    doc = json.loads(sizes.read_text())
    sizes.write_text(json.dumps({**doc, "archive_sha256": sha}))


def test_pin_differing_from_provenance_downloads_again(
    drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    _dl(tmp_path)
    pin = hashlib.sha256(archive).hexdigest()
    rec_path = tmp_path / ".lungsegdb" / "provenance.json"
    rec = provenance.read(rec_path)
    assert rec is not None
    provenance.write(rec_path, {**rec, "sha256": "1" * 64})  # recorded from another archive
    _retag_tree(tmp_path, "1" * 64)  # ... and the tree extracted from it
    res = _dl(tmp_path, sha256=pin)
    assert res.action == "downloaded" and drive.full_downloads == 2


def test_tree_from_another_archive_is_reextracted_from_the_pinned_kept_one(
    drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    _dl(tmp_path)
    pin = hashlib.sha256(archive).hexdigest()
    _retag_tree(tmp_path, "2" * 64)  # the tree is not the one the pin names
    res = _dl(tmp_path, sha256=pin, session=NoNetwork())
    assert res.action == "kept-archive" and res.extracted and drive.full_downloads == 1
    assert (
        json.loads((tmp_path / ".lungsegdb" / "manifest-sizes.json").read_text())["archive_sha256"]
        == pin
    )


def test_force_downloads_again(drive: FakeDrive, tmp_path: Path) -> None:
    _dl(tmp_path)
    res = _dl(tmp_path, force=True)
    assert res.action == "downloaded" and res.extracted and drive.full_downloads == 2


def test_offline_with_nothing_exits_3_without_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(OfflineError):
        _dl(tmp_path, offline=True, session=NoNetwork())
    code, _, err = _cli(capsys, "--data-dir", str(tmp_path), "--offline")
    assert code == 3 and "--offline" in err and "--archive PATH" in err


def test_offline_extracts_a_kept_archive(drive: FakeDrive, tmp_path: Path) -> None:
    _dl(tmp_path, extract=False)
    n = len(drive.seen)
    res = _dl(tmp_path, offline=True, session=NoNetwork())
    assert res.action == "kept-archive" and res.files == 24 and len(drive.seen) == n


def test_no_extract_then_extract_reuses_the_archive(drive: FakeDrive, tmp_path: Path) -> None:
    first = _dl(tmp_path, extract=False)
    assert not first.extracted and not (tmp_path / "LungSegDB").exists()
    again = _dl(tmp_path, extract=False, session=NoNetwork())
    assert again.action == "up-to-date"
    res = _dl(tmp_path, session=NoNetwork())
    assert res.action == "kept-archive" and res.files == 24 and drive.full_downloads == 1


def test_local_archive_uses_no_network_and_keeps_the_file(
    synth_result: Any, archive: bytes, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.zip"
    mine.write_bytes(archive)
    root = tmp_path / "root"
    pin = hashlib.sha256(archive).hexdigest()
    md5 = hashlib.md5(archive).hexdigest()
    res = _dl(root, archive=mine, sha256=pin, md5=md5, session=NoNetwork())
    assert res.action == "local-archive" and res.files == 24 and mine.read_bytes() == archive
    rec = provenance.read(root / ".lungsegdb" / "provenance.json")
    assert rec is not None and rec["path"] == str(mine) and rec["sha256"] == pin
    assert rec["md5"] == md5


def test_local_archive_pin_mismatch_leaves_it_alone(
    archive: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.zip"
    mine.write_bytes(archive)
    root = tmp_path / "root"
    code, _, err = _cli(
        capsys, "--archive", str(mine), "--sha256", "f" * 64, "--data-dir", str(root)
    )
    assert code == 1 and "SHA-256 mismatch" in err
    assert mine.read_bytes() == archive and not (root / "LungSegDB").exists()


# ---------------------------------------------------------------------------------------------
# Disk space, Ctrl-C, concurrency
# ---------------------------------------------------------------------------------------------
def test_not_enough_disk_space_exits_5_with_numbers(
    drive: FakeDrive, archive: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fsutil, "free_bytes", lambda path: 1000)
    with pytest.raises(DiskFullError) as info:
        _dl(tmp_path)
    needed = len(archive) + int(len(archive) * fetch.EXTRACT_FACTOR)
    message = info.value.message  # a lower bound before the archive is here: "at least"
    assert info.value.exit_code == 5 and f"need at least {needed:,} bytes, 1,000 free" in message
    assert list((tmp_path / "downloads").iterdir()) == []  # no archive, no .part, no sidecar


def test_ctrl_c_leaves_nothing_in_place_and_resumes(
    drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    drive.throttle = 0.0005
    with pytest.raises(KeyboardInterrupt):
        _dl(tmp_path, progress=InterruptingProgress(len(archive) // 3))
    downloads = tmp_path / "downloads"
    parts = list(downloads.glob("*.part"))
    assert len(parts) == 1 and not (downloads / "LungSegDB.zip").exists()
    assert not (tmp_path / "LungSegDB").exists() and not (tmp_path / "LungSegDB.sha256").exists()
    kept = parts[0].stat().st_size
    assert 0 < kept < len(archive) and parts[0].read_bytes() == archive[:kept]
    res = _dl(tmp_path)
    assert res.resumed_from == kept and res.files == 24
    assert drive.seen[-1].range == f"bytes={kept}-" and drive.seen[-1].status == 206
    assert Path(res.archive.path).read_bytes() == archive


def test_two_threads_download_once(drive: FakeDrive, tmp_path: Path) -> None:
    drive.throttle = 0.002  # long enough for the second run to find the lock held
    results: list[download.DownloadResult] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            results.append(_dl(tmp_path))
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 2
    assert drive.full_downloads == 1
    assert sorted(r.action for r in results)[0] == "downloaded"
    assert any(r.waited_for_lock for r in results)
    assert all(r.files == 24 for r in results) and _tree_files(tmp_path) == 24


def test_two_processes_download_once(drive: FakeDrive, tmp_path: Path) -> None:
    drive.throttle = 0.03  # about a second: both processes are up while the first downloads
    env = dict(os.environ, LUNGSEGDB_DRIVE_ENDPOINT=drive.base)
    cmd = [sys.executable, "-m", "lungsegdb_cli", "download", "--data-dir", str(tmp_path)]
    procs = [
        subprocess.Popen([*cmd, "--json"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    docs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert drive.full_downloads == 1 and all(d["files"] == 24 for d in docs)
    assert sorted(d["waited_for_lock"] for d in docs) == [False, True]
    assert _tree_files(tmp_path) == 24


def test_a_deleted_file_is_restored_from_the_kept_archive(drive: FakeDrive, tmp_path: Path) -> None:
    _dl(tmp_path)
    victim = next(p for p in (tmp_path / "LungSegDB").rglob("*") if p.is_file())
    victim.unlink()
    assert download.tree_intact(paths.resolve(tmp_path)) is None
    res = _dl(tmp_path, session=NoNetwork())
    assert res.action == "kept-archive" and victim.is_file() and drive.full_downloads == 1


@pytest.mark.parametrize(
    ("filename", "head", "name"),
    [
        ("LungSegDB.zip", b"PK\x03\x04", "LungSegDB.zip"),
        (None, b"PK\x03\x04", "LungSegDB.zip"),
        (None, b"\x1f\x8b\x08", "LungSegDB.tar.gz"),
        ("drive-x.part", b"PK\x03\x04", "LungSegDB.zip"),  # never the name of our own files
        (None, b"????", "LungSegDB.archive"),
    ],
)
def test_archive_name(filename: str | None, head: bytes, name: str) -> None:
    from lungsegdb_cli.sources.http.transfer import FetchResult

    res = FetchResult(Path("p"), 1, "s", "m", "u", filename, None, head)
    assert fetch.archive_name(res) == name


# ---------------------------------------------------------------------------------------------
# The records: on disk as before, typed in the result, the data dir looked at once per lock
# ---------------------------------------------------------------------------------------------
def test_recorded_provenance_keys_as_written_by_each_way(
    drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """The file's format: every field from the network; no ``final_url`` for a local file,
    whose ``drive_id`` and ``link`` are written as null."""
    _dl(tmp_path / "net", extract=False)
    net = json.loads((tmp_path / "net" / ".lungsegdb" / "provenance.json").read_text())
    assert set(net) == set(provenance.FIELDS) and net["path"] == "downloads/LungSegDB.zip"
    mine = tmp_path / "mine.zip"
    mine.write_bytes(archive)
    _dl(tmp_path / "local", archive=mine, extract=False)
    local = json.loads((tmp_path / "local" / ".lungsegdb" / "provenance.json").read_text())
    assert set(local) == set(provenance.FIELDS) - {"final_url"}
    assert local["drive_id"] is None and local["link"] is None


def test_result_records_are_typed_and_render_the_contract_shape(
    drive: FakeDrive, tmp_path: Path
) -> None:
    from lungsegdb_cli.archive.extract import ExtractResult

    res = _dl(tmp_path)
    assert isinstance(res.extract, ExtractResult) and res.extract.files == res.files == 24
    doc = res.to_dict()
    assert list(doc["archive"]) == ["path", "sha256", "md5", "size"]
    assert (
        doc["archive"]["path"]
        == str(res.archive.path)
        == str(tmp_path / "downloads" / "LungSegDB.zip")
    )
    assert doc["source"] == {"url": res.source.url, "drive_id": FID, "link": res.source.link}
    assert doc["extract"] == res.extract.to_dict()
    # the nested extraction names the archive as committed, not the partial file it read
    assert doc["extract"]["archive"] == doc["archive"]["path"]
    assert Path(doc["extract"]["archive"]).is_file()
    assert doc["extract"]["seconds"] > 0
    again = _dl(tmp_path, session=NoNetwork()).to_dict()
    assert again["action"] == "up-to-date" and again["extract"] is None
    assert again["archive"] == doc["archive"] and again["source"] == doc["source"]


def test_a_pinned_intact_tree_reads_the_manifest_sidecar_once(
    drive: FakeDrive, pin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sizes and the archive the tree came from are in one 450 KB sidecar at full
    scale: the nothing-to-do check of a pinned download parses it once, not once per use."""
    _dl(tmp_path, sha256=pin)
    calls: list[str] = []
    read = manifest.Sidecar.read.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        manifest.Sidecar,
        "read",
        classmethod(lambda cls, p, *text: calls.append("sidecar") or read(cls, p, *text)),
    )
    read_text = manifest.read_text  # the sidecar is tied to the manifest: read it once too
    monkeypatch.setattr(manifest, "read_text", lambda p: calls.append("manifest") or read_text(p))
    digest = manifest.manifest_sha256
    monkeypatch.setattr(manifest, "manifest_sha256", lambda p: calls.append("again") or digest(p))
    res = _dl(tmp_path, sha256=pin, session=NoNetwork())
    assert res.action == "up-to-date"
    assert calls == ["manifest", "sidecar"]


def test_the_data_dir_is_looked_at_once_per_lock(
    drive: FakeDrive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reusing a kept archive: the record is read, the archive it names stat-ed and the tree
    checked once as a reader and once under the writer lock -- not once per decision."""
    _dl(tmp_path)
    next(p for p in (tmp_path / "LungSegDB").rglob("*") if p.is_file()).unlink()
    calls: list[str] = []
    # the up-to-date check reads the record strictly (load: a corrupt one is an error)
    read, kept, intact = (
        provenance.Provenance.load.__func__,
        provenance.Provenance.kept_archive,
        manifest.intact_count,
    )
    monkeypatch.setattr(
        provenance.Provenance,
        "load",
        classmethod(lambda cls, p: calls.append("read") or read(cls, p)),
    )
    monkeypatch.setattr(
        provenance.Provenance,
        "kept_archive",
        lambda self, root: calls.append("kept") or kept(self, root),
    )
    monkeypatch.setattr(
        manifest, "intact_count", lambda p, **kw: calls.append("intact") or intact(p, **kw)
    )
    res = _dl(tmp_path, session=NoNetwork())
    assert res.action == "kept-archive" and res.files == 24
    assert sorted(calls) == ["intact", "intact", "kept", "kept", "read", "read"]


def test_an_archive_holding_part_of_the_tree_says_what_is_missing(
    synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit D: an archive of ``raw data/V1`` alone was "ready" (and "already complete" on
    the next run) with no word of the six folders it lacks. Now both runs say "incomplete",
    list them, and warn on stderr; ``missing`` in the API result and in ``--json``."""
    import zipfile

    import lungsegdb_cli as L

    tree = Path(synth_result.tree)
    part = tmp_path / "part.zip"
    with zipfile.ZipFile(part, "w") as z:
        for f in sorted((tree / "raw data/V1").rglob("*.TIF")):
            z.write(f, f.relative_to(tree.parent).as_posix())
    lacking = [d for d in dataset.LEAF_DIRS if not d.startswith("raw data/V1")]
    data = tmp_path / "d"
    for first in (True, False):
        assert run(["download", "--archive", str(part), "--data-dir", str(data)]) == 0
        out, err = capsys.readouterr()
        head = out.splitlines()[0]
        assert "(incomplete: 6 folders missing)" in head and head.startswith(
            "LungSegDB is ready" if first else "LungSegDB dataset already extracted"
        ), out
        assert f"missing:  {', '.join(lacking)}" in out
        assert "warning: not in the archive: " in err
    assert L.download(data, archive=part).missing == lacking
    assert run(["download", "--archive", str(part), "--data-dir", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["missing"] == lacking
    assert L.download(tmp_path / "full", archive=synth_result.archive.path).missing == []
