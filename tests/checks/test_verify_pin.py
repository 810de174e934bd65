"""verify: a pin means the tree, and verify is honest about the kept archive.

``verify --sha256 PIN`` passes only when the kept archive matches PIN *and* the tree's own
record (the manifest's sidecar, written with the tree) says it was extracted from that archive
-- the rule ``download --sha256`` already followed. A kept archive that was deleted is reported
(never a silent ``archive: null``), one replaced by something else fails. Through the CLI and
the public API, on trees that ``download`` and ``extract`` really wrote from synth archives.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: exercises cli/app directly: behaviour the public API does not expose on its own
from lungsegdb_cli.cli.app import run


@pytest.fixture(autouse=True)
def _no_env_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256", "LUNGSEGDB_HOME"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def other_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, different LungSegDB archive (another seed, 1 pair per group)."""
    from lungsegdb_cli.synthetic import make as synth

    made = synth.synthesize(tmp_path_factory.mktemp("synth-other"), pairs=1, seed=7, fmt="zip")
    return Path(made.archive.path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verify(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = run(["verify", "--data-dir", str(root), "--json", "--quiet", *extra])
    return code, json.loads(capsys.readouterr().out)


def _verify_text(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run(["verify", "--data-dir", str(root), "--quiet", *extra])
    return code, capsys.readouterr().out


def _kept_in_data_dir(root: Path, archive: Path) -> Path:
    """``download`` of ``archive`` through a file:// URL: the archive is kept in downloads/."""
    L.download(root, url=archive.as_uri(), drive=False)
    (kept,) = (root / "downloads").iterdir()
    return kept


# ---------------------------------------------------------------------------------------------
# A pin means the tree
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_pin_fails_over_a_tree_extracted_from_another_archive(
    synth_result: Any,
    other_archive: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    quick: bool,
) -> None:
    """The review's case: cp -a dA X; extract --force --archive other.zip --data-dir X;
    verify --data-dir X --sha256 <dA's archive hash> must not vouch for X's tree."""
    archive = Path(synth_result.archive.path)
    pin = _sha(archive)
    d_a, x = tmp_path / "dA", tmp_path / "X"
    L.download(d_a, archive=archive)
    flag = ["--quick"] if quick else []
    code, doc = _verify(capsys, d_a, "--sha256", pin, *flag)
    assert code == 0 and doc["ok"] is True  # the matching case still passes
    assert doc["tree"]["archive_sha256"] == pin and doc["tree"]["problem"] is None

    shutil.copytree(d_a, x, symlinks=True)
    extract = ["extract", "--force", "--archive", str(other_archive), "--data-dir", str(x)]
    assert run([*extract, "--quiet"]) == 0
    code, doc = _verify(capsys, x, "--sha256", pin, *flag)
    assert code == 1 and doc["ok"] is False
    assert doc["files"]["ok"] is True  # the tree matches its own manifest ...
    assert doc["archive"]["ok"] is True  # ... and the kept archive matches the pin
    problem = doc["tree"]["problem"]
    assert problem.startswith("the tree's record names no archive (")
    assert f"lungsegdb download --sha256 {pin}" in doc["tree"]["hint"]

    code, out = _verify_text(capsys, x, "--sha256", pin, *flag)
    assert code == 1 and "matches the pin" not in out
    assert "names no archive" in out and f"download --sha256 {pin}" in out

    # Without a pin nothing is claimed about where the tree came from: it matches its manifest.
    assert _verify(capsys, x, *flag)[0] == 0
    # The fix the message names works, without the network (the kept archive is the pinned one).
    assert run(["download", "--sha256", pin, "--offline", "--data-dir", str(x), "--quiet"]) == 0
    code, doc = _verify(capsys, x, "--sha256", pin, *flag)
    assert code == 0 and doc["tree"]["archive_sha256"] == pin


def test_pin_in_the_python_api_means_the_tree(
    synth_result: Any, other_archive: Path, tmp_path: Path
) -> None:
    archive = Path(synth_result.archive.path)
    pin = _sha(archive)
    root = tmp_path / "data"
    L.download(root, archive=archive)
    assert L.verify(root, sha256=pin.upper()).ok
    L.extract(root, archive=other_archive, force=True)
    result = L.verify(root, sha256=pin)
    assert result.ok is False and result.files_ok
    assert result.tree_problem is not None
    assert "names no archive" in result.tree_problem
    assert result.to_dict()["tree"]["problem"] == result.tree_problem


def test_without_a_kept_archive_the_tree_record_alone_decides(
    synth_result: Any, other_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pinned archive's provenance is still there, the archive is gone, and the tree came
    from another archive: the provenance does not speak for the tree."""
    archive = Path(synth_result.archive.path)
    pin = _sha(archive)
    root = tmp_path / "data"
    kept = _kept_in_data_dir(root, archive)
    L.extract(root, archive=other_archive, force=True)
    kept.unlink()
    code, doc = _verify(capsys, root, "--sha256", pin)
    assert code == 1 and doc["ok"] is False and doc["files"]["ok"] is True
    assert doc["tree"]["problem"].startswith("the tree's record names no archive")
    code, out = _verify_text(capsys, root, "--sha256", pin)
    assert code == 1 and "matches the pin" not in out


def test_publish_with_a_pin_refuses_a_tree_from_another_archive(
    synth_result: Any, other_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = Path(synth_result.archive.path)
    root, mirror = tmp_path / "data", tmp_path / "mirror"
    L.download(root, archive=archive)
    L.extract(root, archive=other_archive, force=True)
    capsys.readouterr()
    code = run(["publish", str(mirror), "--sha256", _sha(archive), "--data-dir", str(root)])
    err = capsys.readouterr().err
    assert code == 1 and "names no archive" in err
    assert not mirror.exists()


# ---------------------------------------------------------------------------------------------
# The kept archive deleted or replaced
# ---------------------------------------------------------------------------------------------
def test_deleted_archive_is_reported_and_the_pin_not_claimed(
    synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = Path(synth_result.archive.path)
    pin = _sha(archive)
    root = tmp_path / "data"
    kept = _kept_in_data_dir(root, archive)
    kept.unlink()

    code, doc = _verify(capsys, root)
    assert code == 0  # the tree was checked and is intact; the note says what was not
    arch = doc["archive"]
    assert arch is not None and arch["path"] == str(kept)
    assert arch["present"] is False and arch["sha256"] is None and arch["discarded"] is False
    assert "gone" in arch["note"]

    code, doc = _verify(capsys, root, "--sha256", pin)
    assert code == 0 and doc["archive"]["present"] is False and doc["archive"]["sha256"] is None
    assert doc["tree"]["archive_sha256"] == pin
    code, out = _verify_text(capsys, root, "--sha256", pin)
    assert code == 0 and "gone" in out
    assert "matches the pin" not in out and "no archive hashed" in out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
@pytest.mark.parametrize("what", ["other-bytes", "folder", "fifo"])
def test_replaced_archive_fails(
    synth_result: Any,
    other_archive: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
) -> None:
    archive = Path(synth_result.archive.path)
    root = tmp_path / "data"
    kept = _kept_in_data_dir(root, archive)
    kept.unlink()
    if what == "other-bytes":
        shutil.copyfile(other_archive, kept)
    elif what == "folder":
        kept.mkdir()
    else:
        os.mkfifo(kept)
    for pin in ([], ["--sha256", _sha(archive)]):
        code, doc = _verify(capsys, root, *pin)
        assert code == 1 and doc["ok"] is False, doc
        assert doc["archive"]["ok"] is False and doc["archive"]["path"] == str(kept)
        assert doc["archive"]["problem"]
    code, out = _verify_text(capsys, root)
    assert code == 1 and "archive differs" in out


@pytest.mark.parametrize("sidecar", ["left", "removed"])
def test_a_tree_copied_in_beside_another_record_is_vouched_for_by_no_pin(
    synth_result: Any, other_archive: Path, tmp_path: Path, sidecar: str
) -> None:
    """Audit V: a data dir downloaded from archive 1, then archive 2's tree and manifest copied
    over it (a plain ``cp``: the hidden ``.lungsegdb/`` stays). ``verify --sha256 PIN1``
    passed ("sha256 matches the pin"), and with the sidecar removed it fell back to the
    provenance and passed too. The sidecar now records its manifest's SHA-256."""
    one, two = tmp_path / "one", tmp_path / "two"
    L.download(one, archive=synth_result.archive.path)
    L.download(two, archive=other_archive)
    shutil.rmtree(one / "LungSegDB")
    shutil.copytree(two / "LungSegDB", one / "LungSegDB")
    shutil.copy2(two / "LungSegDB.sha256", one / "LungSegDB.sha256")
    if sidecar == "removed":
        (one / ".lungsegdb" / "manifest-sizes.json").unlink()
    got = L.verify(one, sha256=synth_result.archive.sha256)
    assert not got.ok and got.tree_problem is not None and got.files_ok
    assert L.info(one).pin is None
