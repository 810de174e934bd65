"""``lungsegdb clean`` / :func:`lungsegdb_cli.clean`: the data dir's lifecycle. ``--dry-run``
lists every removable part with its size and removes nothing; ``clean`` frees them, never the
tree, and ``verify`` still passes after it."""

from __future__ import annotations

import doctest
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from support import crashes, hu_archive

# internals: the module's doctest, the writer lock a download holds and the provenance record
# are what clean is checked against; cli/app's run is the command as typed
import lungsegdb_cli as L
from lungsegdb_cli.api import housekeeping
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.state import locking, provenance, rejected


def test_the_docstring_example_runs() -> None:
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(housekeeping, optionflags=flags)
    assert result.failed == 0 and result.attempted >= 5


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> SHA-256), and every folder."""
    out: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in files:
            path = os.path.join(dirpath, f)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = L.synth(tmp_path_factory.mktemp("clean") / "s", pairs=1, seed=0)
    return Path(made.archive.path)


@pytest.fixture
def littered(archive: Path, tmp_path: Path) -> tuple[Path, dict[str, tuple[str, int]]]:
    """A data dir installed from a file:// URL (the archive kept in downloads/) and littered
    with every kind of leftover; returns it and ``{relative path: (what, bytes)}``."""
    root = tmp_path / "data"
    L.download(root, url=archive.as_uri())
    L.validate(root)  # the decode cache
    dl = root / "downloads"
    litter = {
        "downloads/url-0123456789ab.part": (b"x" * 1000, "partial-download"),
        "downloads/url-0123456789ab.part.json": (b'{"source": "x"}', "partial-download"),
        "downloads/drive-1LoneSidecarX.part.json": (b"{}", "partial-download"),
        "downloads/LungSegDB-old.zip.rejected": (b"y" * 300, "rejected-download"),
        ".LungSegDB.staging-4242-deadbeef/raw data/V1/1.TIF": (b"z" * 50, "stale-staging"),
        ".LungSegDB.sha256.staging-4242-deadbeef": (b"w" * 7, "stale-staging"),
        ".lungsegdb/.provenance.json.abc123.tmp": (b"t" * 3, "stale-staging"),
    }
    for rel, (data, _) in litter.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    # moved aside by download: recorded as the tool's (only those are clean's to remove)
    rejected.note(resolve(root), root / "downloads/LungSegDB-old.zip.rejected")
    cache = resolve(root).cache_dir
    expected = {
        "downloads/url-0123456789ab.part": ("partial-download", 1000),
        "downloads/url-0123456789ab.part.json": ("partial-download", 15),
        "downloads/drive-1LoneSidecarX.part.json": ("partial-download", 2),
        "downloads/LungSegDB-old.zip.rejected": ("rejected-download", 300),
        ".LungSegDB.staging-4242-deadbeef": ("stale-staging", 50),
        ".LungSegDB.sha256.staging-4242-deadbeef": ("stale-staging", 7),
        ".lungsegdb/.provenance.json.abc123.tmp": ("stale-staging", 3),
        ".lungsegdb/cache": ("decode-cache", sum(p.stat().st_size for p in cache.iterdir())),
        "downloads/LungSegDB.zip": ("kept-archive", archive.stat().st_size),
    }
    assert dl.is_dir()
    return root, expected


def _listed(result: Any, root: Path) -> dict[str, tuple[str, int]]:
    return {os.path.relpath(p.path, root): (p.what, p.bytes) for p in result.removed}


def test_dry_run_lists_every_removable_part_with_its_size_and_removes_nothing(
    littered: tuple[Path, dict[str, tuple[str, int]]],
) -> None:
    root, expected = littered
    before = _snapshot(root)
    result = L.clean(root, dry_run=True)
    assert _listed(result, root) == expected
    assert result.bytes == sum(n for _, n in expected.values()) and result.dry_run
    assert result.kept == []
    assert _snapshot(root) == before  # not a byte, not a folder


def test_clean_frees_them_and_verify_still_passes(
    littered: tuple[Path, dict[str, tuple[str, int]]],
) -> None:
    root, expected = littered
    tree_before = _snapshot(root / "LungSegDB")
    manifest_before = (root / "LungSegDB.sha256").read_bytes()
    result = L.clean(root)
    assert _listed(result, root) == expected and not result.dry_run
    assert not any(os.path.lexists(root / rel) for rel in expected)
    assert not (root / "downloads").exists()  # emptied, so removed
    assert _snapshot(root / "LungSegDB") == tree_before
    assert (root / "LungSegDB.sha256").read_bytes() == manifest_before
    checked = L.verify(root)
    assert checked.ok and checked.archive is not None and checked.archive.discarded
    record = provenance.read(resolve(root).provenance)
    assert record is not None and record["kept"] is False and record["sha256"]
    assert L.info(root).pin == record["sha256"]  # the pin survives
    again = L.clean(root)
    assert again.removed == [] and again.bytes == 0
    space = L.info(root).space
    assert space["kept-archive"] == space["decode-cache"] == space["stale-staging"] == 0


def test_the_archive_stays_when_the_tree_does_not_verify(
    littered: tuple[Path, dict[str, tuple[str, int]]],
) -> None:
    root, expected = littered
    victim = root / "LungSegDB" / "raw data" / "V1" / "CT_Images" / "1.TIF"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF  # same size: only hashing sees it
    victim.write_bytes(bytes(data))
    result = L.clean(root)
    assert "downloads/LungSegDB.zip" not in _listed(result, root)
    assert (root / "downloads" / "LungSegDB.zip").is_file()
    assert [(Path(k["path"]).name, k["what"]) for k in result.kept] == [
        ("LungSegDB.zip", "kept-archive")
    ]
    assert "does not verify" in result.kept[0]["why"]
    assert len(result.removed) == len(expected) - 1


def test_real_format_data_int16_hu_and_0_255_masks(tmp_path: Path) -> None:
    """The archive shaped like a real download (signed int16 HU with padded corners, masks
    0/255, folders spelled the archive's way, junk beside the slices), fetched from a URL so
    it is kept: clean lists every part with its size, frees them, and verify still passes."""
    built = tmp_path / "real.zip"
    hu_archive.build(built)
    root = tmp_path / "data"
    L.download(root, url=built.as_uri())
    L.validate(root)  # int16 summaries in the decode cache (the lone image fails validate)
    (root / "downloads" / "url-feedfacecafe.part").write_bytes(b"p" * 77)
    tree = _snapshot(root / "LungSegDB")
    listed = _listed(L.clean(root, dry_run=True), root)
    cache = resolve(root).cache_dir
    assert listed == {
        "downloads/url-feedfacecafe.part": ("partial-download", 77),
        ".lungsegdb/cache": ("decode-cache", sum(p.stat().st_size for p in cache.iterdir())),
        "downloads/real.zip": ("kept-archive", built.stat().st_size),
    }
    assert L.clean(root).bytes == sum(n for _, n in listed.values())
    assert not any(os.path.lexists(root / rel) for rel in listed)
    assert _snapshot(root / "LungSegDB") == tree
    assert L.verify(root).ok and L.croissant(root).pairs == 8


def test_an_archive_given_from_elsewhere_is_never_touched(archive: Path, tmp_path: Path) -> None:
    L.download(tmp_path / "data", archive=archive)
    result = L.clean(tmp_path / "data")
    assert result.removed == [] and result.kept == [] and archive.is_file()


def test_clean_takes_the_writer_lock(
    littered: tuple[Path, dict[str, tuple[str, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = littered
    before = _snapshot(root)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:  # another thread waits like another process
        with locking.writer_lock(resolve(root)):
            held.set()
            release.wait(30)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(30)
        monkeypatch.setenv("LUNGSEGDB_LOCK_TIMEOUT", "0.2")
        with pytest.raises(L.LockTimeout):
            L.clean(root)
    finally:
        release.set()
        t.join()
    assert _snapshot(root) == before


def test_a_clean_killed_at_any_step_leaves_what_the_next_run_recovers(
    littered: tuple[Path, dict[str, tuple[str, int]]], tmp_path: Path
) -> None:
    """SIGKILL at every checkpoint of 'lungsegdb clean' (the crash-point harness): the tree is
    untouched, 'verify' passes as the next command, and the next 'clean' frees the rest."""
    root, expected = littered
    tree = _snapshot(root / "LungSegDB")
    manifest = (root / "LungSegDB.sha256").read_bytes()
    (tmp_path / "crashes").mkdir()
    killed = crashes.crash_everywhere(
        lambda r: ["clean", "-q", "--data-dir", str(r)], root, tmp_path / "crashes"
    )
    points = {c.point for c in killed}
    assert {
        "clean stale-staging",
        "clean partial-download",
        "clean rejected-download",
        "clean decode-cache",
        "discard staged",
    } <= points
    for c in killed:
        assert run(["verify", "-q", "--data-dir", str(c.root)]) == 0, c.point
        assert _snapshot(c.root / "LungSegDB") == tree, c.point
        assert (c.root / "LungSegDB.sha256").read_bytes() == manifest, c.point
        left = _listed(L.clean(c.root, dry_run=True), c.root)
        assert set(left) <= set(expected), c.point
        L.clean(c.root)
        assert not any(os.path.lexists(c.root / rel) for rel in expected), c.point
        assert L.clean(c.root, dry_run=True).removed == [], c.point
        checked = L.verify(c.root)
        assert checked.ok and checked.archive is not None and checked.archive.discarded


def test_a_data_dir_never_made_has_nothing_to_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUNGSEGDB_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert L.clean().removed == []
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "command", [["clean"], ["clean", "--dry-run"], ["info"], ["verify"], ["validate"], ["stats"]]
)
def test_a_folder_lungsegdb_never_used_is_left_as_it_was(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Pointing a command at a folder of one's own (nothing of ours in it, a foreign ``*.part``
    in a ``downloads/`` folder) creates nothing there: no ``.lungsegdb/``, no lock file."""
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "mine.part").write_bytes(b"my half download")
    (tmp_path / "notes.txt").write_text("mine")
    before = _snapshot(tmp_path)
    run([*command, "-q", "--data-dir", str(tmp_path)])
    capsys.readouterr()
    assert _snapshot(tmp_path) == before
    kept = L.clean(tmp_path).kept
    assert [(Path(k["path"]).name, k["what"]) for k in kept] == [("mine.part", "partial-download")]
    assert _snapshot(tmp_path) == before


def test_an_empty_downloads_folder_clean_did_not_empty_is_left(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit K #8: ``clean`` removed an empty ``downloads/`` it found so (in a folder
    lungsegdb never used, too) and reported ``removed: []``. It goes only when this run
    removed something from it."""
    home = tmp_path / "home"
    (home / "downloads").mkdir(parents=True)
    (home / "Documents").mkdir()
    (home / "Documents" / "a.txt").write_text("mine")
    before = _snapshot(home)
    assert run(["clean", "--json", "--data-dir", str(home)]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == []
    assert _snapshot(home) == before
    # a data dir of ours, the archive given from elsewhere, an empty downloads/ of the user's
    root = tmp_path / "data"
    L.download(root, archive=archive)
    (root / "downloads").mkdir(exist_ok=True)
    (root / ".lungsegdb" / "cache").mkdir(exist_ok=True)
    removed = L.clean(root).removed
    assert [p.what for p in removed] == ["decode-cache"]
    assert (root / "downloads").is_dir()
    # emptied by this run: it goes too
    (root / "downloads" / "url-0123456789ab.part").write_bytes(b"x")
    assert [p.what for p in L.clean(root).removed] == ["partial-download"]
    assert not (root / "downloads").exists()


def test_stale_staging_that_cannot_be_removed_is_exit_5_naming_it(tmp_path: Path) -> None:
    """Audit K #7: recovery ignores what it cannot delete, and ``clean`` dropped it from its
    list: exit 0, "Nothing to remove", the folder still there. It is now exit 5 (docs/cli.md:
    "a file cannot be removed"), the path named. Run as a user the permission bits bind (as
    root: without CAP_DAC_OVERRIDE, by setpriv)."""
    import shutil
    import subprocess
    import sys

    root = tmp_path / "data"
    stale = root / ".LungSegDB.staging-7-ab"
    (stale / "ro").mkdir(parents=True)
    (stale / "ro" / "f.TIF").write_bytes(b"x" * 10)
    (stale / "ro").chmod(0o555)
    cmd = [sys.executable, "-m", "lungsegdb_cli", "clean", "--data-dir", str(root)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: permission bits are not enforced")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override", *cmd]
    try:
        dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, check=False)
        if os.geteuid() == 0 and "setpriv" in dry.stderr:
            pytest.skip(f"setpriv refused here: {dry.stderr.strip()}")
        assert dry.returncode == 0 and "stale-staging" in dry.stdout, dry.stdout + dry.stderr
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 5, proc.stdout + proc.stderr
        assert str(stale) in proc.stderr and "Nothing to remove" not in proc.stdout
        assert "Permission denied" in proc.stderr
        assert (stale / "ro" / "f.TIF").is_file()
    finally:
        (stale / "ro").chmod(0o755)
    assert [p.what for p in L.clean(root).removed] == ["stale-staging"]  # writable: it goes
    assert not stale.exists()


def test_the_archive_extract_took_from_downloads_is_listed_as_kept(
    archive: Path, tmp_path: Path
) -> None:
    """Audit K #9: the single file in ``downloads/`` that ``extract`` took (no record names
    it) was listed neither under ``removed`` nor under ``kept``. It is kept, with the reason."""
    root = tmp_path / "data"
    (root / "downloads").mkdir(parents=True)
    mine = root / "downloads" / "LungSegDB.zip"
    mine.write_bytes(archive.read_bytes())
    L.extract(root)
    for dry_run in (True, False):
        result = L.clean(root, dry_run=dry_run)
        assert result.removed == []
        assert [(Path(k["path"]), k["what"], k["bytes"]) for k in result.kept] == [
            (mine, "kept-archive", mine.stat().st_size)
        ]
        assert "not recorded" in result.kept[0]["why"]
    assert mine.is_file()


def test_a_dry_run_after_a_killed_commit_lists_what_recovery_deletes_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    """Audit K #12: after an ``extract --force`` killed at "moved aside LungSegDB" (the
    crash-point harness), opening the data dir rolled the commit forward and deleted the old
    tree it had moved aside: ``clean --dry-run`` removed it, and neither it nor ``clean``
    listed it. The dry run now lists it (with its size) under ``stale-staging`` and deletes
    nothing; the real run lists what recovery removed, bytes too."""
    from lungsegdb_cli.utils.fsutil import tree_size

    made = L.synth(tmp_path / "s", pairs=2)
    root = tmp_path / "data"
    L.download(root, url=Path(made.archive.path).as_uri())
    (tmp_path / "trace").mkdir()

    def argv(r: Path) -> list[str]:
        return ["extract", "--force", "-q", "--data-dir", str(r)]

    n = crashes.checkpoints(argv, root, tmp_path / "trace").index("moved aside LungSegDB") + 1
    assert crashes.child(argv(root), {crashes.CRASH_AT: str(n)}).returncode == -9
    (old,) = root.glob(".LungSegDB.old-*")
    sizes = {p: tree_size(p) for p in root.glob(".*.old-*")}
    dry = L.clean(root, dry_run=True)
    listed = {p.path: p.bytes for p in dry.removed if p.what == "stale-staging"}
    assert listed[old] == sizes[old] > 0
    assert all(os.path.lexists(p) for p in listed)  # removed nothing
    assert L.clean(root, dry_run=True).removed == dry.removed
    real = L.clean(root)
    assert {p.path: p.bytes for p in real.removed if p.what == "stale-staging"} == listed
    assert real.bytes == dry.bytes
    assert not any(os.path.lexists(p) for p in listed)
    assert not (root / ".lungsegdb" / "journal.json").exists()
    assert L.verify(root).ok and L.clean(root, dry_run=True).removed == []


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------
def test_cli_json_and_human(
    littered: tuple[Path, dict[str, tuple[str, int]]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, expected = littered
    assert run(["clean", "--dry-run", "--json", "--data-dir", str(root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc)[:2] == ["ok", "schema"] and doc["ok"] is True and doc["dry_run"] is True
    assert {
        os.path.relpath(r["path"], root): (r["what"], r["bytes"]) for r in doc["removed"]
    } == expected
    assert doc["bytes"] == sum(n for _, n in expected.values())
    assert run(["clean", "--dry-run", "--data-dir", str(root)]) == 0
    human = capsys.readouterr().out
    assert human.startswith(f"Would remove {len(expected)} items")
    assert "kept-archive" in human and "LungSegDB-old.zip.rejected" in human
    assert run(["clean", "-q", "--data-dir", str(root)]) == 0
    assert capsys.readouterr().out.startswith(f"Removed {len(expected)} items")
    assert run(["clean", "--data-dir", str(root)]) == 0
    assert capsys.readouterr().out.startswith("Nothing to remove in")
    assert run(["verify", "-q", "--data-dir", str(root)]) == 0


def test_cli_missing_data_dir_is_exit_2(tmp_path: Path) -> None:
    assert run(["clean", "--data-dir", str(tmp_path / "nope"), "-q"]) == 2
