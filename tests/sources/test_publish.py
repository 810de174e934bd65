"""``lungsegdb publish DEST`` (issue 14): the verified archive, the manifest and lungsegdb.json
to a local folder or a bucket on a real S3-compatible server (moto's, on 127.0.0.1), then the
printed ``download --url ... --sha256 ...`` into a fresh data dir gives the same tree."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from support.s3_server import ACCESS_KEY, SECRET_KEY
from support.snapshot import entries

import lungsegdb_cli as L

# internals: exercises cli/app directly: behaviour the public API does not expose on its own
from lungsegdb_cli.cli.app import run


@pytest.fixture
def downloaded(synth_result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with the synthetic archive downloaded (kept) and extracted."""
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "data"
    L.download(root, archive=synth_result.archive.path)
    return root


def _tree(root: Path) -> dict[str, bytes]:
    base = root / "LungSegDB"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _download_line(out: str) -> list[str]:
    (line,) = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("lungsegdb download")]
    return shlex.split(line)[1:]


def test_publish_to_a_folder_then_download_from_it(
    downloaded: Path, synth_result: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "mirror"
    code, out, _ = _cli(capsys, "publish", str(mirror), "--data-dir", str(downloaded))
    assert code == 0
    archive = Path(synth_result.archive.path)
    pin = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sorted(p.name for p in mirror.iterdir()) == sorted(
        [archive.name, "LungSegDB.sha256", "lungsegdb.json"]
    )  # no temporary folder left
    assert (mirror / archive.name).read_bytes() == archive.read_bytes()
    meta = json.loads((mirror / "lungsegdb.json").read_text())
    assert meta["sha256"] == pin and meta["size"] == archive.stat().st_size
    assert meta["files"] == 24 and sum(meta["counts"].values()) == 24
    assert meta["lungsegdb_version"] == L.__version__ and meta["archive"] == archive.name
    argv = _download_line(out)
    assert argv[:2] == ["download", "--url"] and argv[2] == (mirror / archive.name).as_uri()
    assert argv[3:] == ["--sha256", pin]
    fresh = tmp_path / "fresh"
    code, _, _ = _cli(capsys, *argv, "--no-drive", "--data-dir", str(fresh), "-q")
    assert code == 0 and _tree(fresh) == _tree(downloaded)


def test_publish_to_s3_then_download_gives_the_same_tree_and_no_credentials(
    downloaded: Path, s3_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists("lungsegdb-mirror"):
        fs.mkdir("lungsegdb-mirror")
    dest = "s3://lungsegdb-mirror/releases/v1"
    opts = ("--storage-option", f"key={ACCESS_KEY}", "--storage-option", f"secret={SECRET_KEY}")
    texts: list[str] = []
    code, out, err = _cli(capsys, "publish", dest, *opts, "--data-dir", str(downloaded))
    texts += [out, err]
    assert code == 0
    code, jout, err = _cli(capsys, "publish", dest, "--data-dir", str(downloaded), "--json")
    texts += [jout, err]
    doc = json.loads(jout)
    assert code == 0 and doc["command"] == " ".join(["lungsegdb", *_download_line(out)])
    fs.invalidate_cache()
    names = sorted(p.rsplit("/", 1)[1] for p in fs.find("lungsegdb-mirror/releases"))
    assert names == sorted(
        [Path(doc["archive"]["url"]).name, "LungSegDB.sha256", "lungsegdb.json"]
    )  # the temporary keys are gone
    fresh = tmp_path / "fresh"
    code, out, err = _cli(capsys, *_download_line(out), "--no-drive", "--data-dir", str(fresh))
    texts += [out, err]
    assert code == 0 and _tree(fresh) == _tree(downloaded)
    rec = json.loads((fresh / ".lungsegdb" / "provenance.json").read_text())
    assert rec["source"] == doc["archive"]["url"] and rec["sha256"] == doc["archive"]["sha256"]
    for root in (fresh, downloaded):
        texts += [p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()]
    texts.append(fs.cat("lungsegdb-mirror/releases/v1/lungsegdb.json").decode())
    assert not any(SECRET_KEY in t for t in texts)


def test_publish_refuses_a_signed_dest_and_writes_no_key(
    downloaded: Path, s3_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A presigned (or ``?token=``) DEST is exit 2 before anything is written: the files'
    names would otherwise go after the query, the signature and token into every object
    key (audit S 1). The secrets appear in no output."""
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists("signed-dest"):
        fs.mkdir("signed-dest")
    dest = "s3://signed-dest/pub?X-Amz-Signature=PUBSIGSECRET&token=PUBTOKSECRET"
    for extra in ((), ("--json",)):
        code, out, err = _cli(capsys, "publish", dest, "--data-dir", str(downloaded), *extra)
        assert code == 2, err
        assert "query" in out + err
        assert "PUBSIGSECRET" not in out + err and "PUBTOKSECRET" not in out + err
    with pytest.raises(L.UsageError):
        L.publish(dest, downloaded)
    fs.invalidate_cache()
    assert fs.find("signed-dest") == []


@pytest.mark.parametrize(
    "dest",
    ["file://u:{secret}@localhost{tmp}/pub", "s3://AKIAKEY:{secret}@signed-dest/pub"],
    ids=["file-url", "s3"],
)
def test_publish_shows_no_user_info_of_dest(
    dest: str, downloaded: Path, s3_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit S 3: where a message quotes DEST's host or bucket without the scheme (our
    ``file://`` check, botocore's bucket-name check), the user info is hidden as well."""
    secret = "pub-ui-secret-4e1a"
    dest = dest.format(secret=secret, tmp=tmp_path)
    for extra in ((), ("--json",)):
        code, out, err = _cli(capsys, "publish", dest, "--data-dir", str(downloaded), *extra)
        assert code in (2, 3), err
        assert secret not in out + err


@pytest.mark.parametrize("form", ["mapping", "strings"])
def test_the_python_publish_takes_storage_options_as_download_does(
    downloaded: Path, s3_env: Any, form: str
) -> None:
    """``storage_options`` as a mapping or as the ``--storage-option`` KEY=VALUE strings,
    as ``download()`` takes them (the strings were a raw AttributeError)."""
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists("lungsegdb-py"):
        fs.mkdir("lungsegdb-py")
    opts: Any = (
        {"key": ACCESS_KEY, "secret": SECRET_KEY}
        if form == "mapping"
        else [f"key={ACCESS_KEY}", f"secret={SECRET_KEY}"]
    )
    got = L.publish(f"s3://lungsegdb-py/{form}", downloaded, storage_options=opts)
    fs.invalidate_cache()
    assert fs.exists(f"lungsegdb-py/{form}/lungsegdb.json") and got.sha256
    with pytest.raises(L.UsageError, match="NAME=VALUE"):
        L.publish(f"s3://lungsegdb-py/{form}", downloaded, storage_options=["no-equals"])


@pytest.mark.parametrize(
    ("setup", "code", "words"),
    [
        ("nothing", 2, "Nothing downloaded"),
        ("discarded", 2, "--no-keep-archive"),
        ("modified", 1, "1 file of the tree differs from the manifest"),
        ("wrong-pin", 1, "does not match"),
    ],
)
def test_publish_refuses_what_is_not_verified(
    synth_result: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    code: int,
    words: str,
) -> None:
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "data"
    root.mkdir()
    args = ["publish", str(tmp_path / "mirror"), "--data-dir", str(root)]
    if setup != "nothing":
        L.download(root, archive=synth_result.archive.path)
    if setup == "modified":
        victim = next(p for p in (root / "LungSegDB").rglob("*.TIF"))
        data = victim.read_bytes()
        victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    if setup == "wrong-pin":
        args += ["--sha256", "ab" * 32]
    if setup == "discarded":  # as --no-keep-archive records it (a local --archive stays)
        rec = root / ".lungsegdb" / "provenance.json"
        data = json.loads(rec.read_text())
        data["kept"] = False
        rec.write_text(json.dumps(data))
    got, out, err = _cli(capsys, *args)
    assert got == code and out == "" and words in err, err
    assert not (tmp_path / "mirror").exists()  # nothing was uploaded


def test_publish_only_reads_the_data_dir(
    downloaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """publish works on a read-only data dir (a cache mounted read-only): nothing is written,
    not even a temporary file. Tests run as root, where chmod does not stop writes, so the
    proof is that the data dir is exactly as before, folder mtimes included (set far in the
    past first, so a change cannot fall in the same clock tick)."""
    for folder in [downloaded, *downloaded.rglob("*")]:
        if folder.is_dir() and not folder.is_symlink():
            os.utime(folder, ns=(10**18, 10**18))
    before = entries(downloaded)
    mirror = tmp_path / "mirror"
    code, _, err = _cli(capsys, "publish", str(mirror), "--data-dir", str(downloaded), "-q")
    assert code == 0, err
    assert entries(downloaded) == before
    assert (mirror / "lungsegdb.json").is_file()
    assert sorted(p.name for p in mirror.iterdir())[-1] == "lungsegdb.json"  # no temp left


def test_a_download_committing_during_publish_waits_for_it(tmp_path: Path) -> None:
    """publish holds the reader's lock from its check to its last upload: a ``download
    --force`` of another archive started while it hashes cannot commit until it is done, so
    the mirror's archive is the one its lungsegdb.json names. (A guard: before, the check
    released the lock before the uploads, and a swap committing in that gap -- a timing this
    test cannot force -- mixed archive B with A's lungsegdb.json.)"""
    import threading

    a = L.synth(tmp_path / "a", pairs=1, like_kaggle=True)
    b = L.synth(tmp_path / "b", pairs=2, like_kaggle=True)
    data = tmp_path / "d"
    L.download(data, archive=a.archive.path)
    swapped = threading.Event()

    def swap() -> None:
        L.download(data, archive=b.archive.path, force=True)
        swapped.set()

    class StartsASwap:
        thread: threading.Thread | None = None

        def start(self, description: str, total: Any = None, unit: str = "") -> None:
            if self.thread is None:  # the first phase: publish's own check of the data dir
                self.thread = threading.Thread(target=swap)
                self.thread.start()  # it waits for the writer lock while publish runs

        def advance(self, amount: int) -> None:
            pass

        def done(self) -> None:
            pass

    progress = StartsASwap()
    got = L.publish(tmp_path / "mirror", data, progress=progress)
    assert progress.thread is not None
    progress.thread.join(60)
    assert swapped.is_set()  # the swap did happen, after publish
    meta = json.loads((tmp_path / "mirror" / "lungsegdb.json").read_text())
    uploaded = hashlib.sha256((tmp_path / "mirror" / meta["archive"]).read_bytes()).hexdigest()
    assert uploaded == meta["sha256"] == got.sha256 == a.archive.sha256
