"""Ordered sources under one pin (issue 14): --url repeated, LUNGSEGDB_URLS, Drive last unless
--no-drive, failover on a quota page / unreachable host / wrong pin, fsspec sources on a real
S3-compatible server (moto's, on 127.0.0.1), redaction, and a missing backend (exit 2)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from support.downloads import run_download
from support.drive_fake import FakeDrive
from support.fakes import InterruptingProgress
from support.s3_server import ACCESS_KEY, SECRET_KEY

# internals: exercises cli/app, dataset, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import DownloadError
from lungsegdb_cli.sources import plan as sources
from lungsegdb_cli.sources.http.transfer import RetryPolicy
from lungsegdb_cli.state import provenance

FID = dataset.DRIVE_ID
QUOTA = "QUOTA_MIRROR_TEST_01"


@pytest.fixture
def drive(fake_drive: FakeDrive, archive: bytes, monkeypatch: pytest.MonkeyPatch) -> FakeDrive:
    """The fake: the dataset's Drive file answers the quota page; mirrors serve the archive
    (``LungSegDB.zip``) and other bytes (``other.zip``)."""
    fake_drive.add(FID, archive, quota=True)
    fake_drive.add(QUOTA, archive, quota=True)
    fake_drive.mirror["LungSegDB.zip"] = archive
    fake_drive.mirror["other.zip"] = b"PK\x03\x04 not the pinned archive" * 50
    fake_drive.mirror["other2.zip"] = b"PK\x03\x04 not it either" * 50
    monkeypatch.setenv("LUNGSEGDB_DRIVE_ENDPOINT", fake_drive.base)
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(var, raising=False)
    return fake_drive


@pytest.fixture
def bucket(s3_env: Any, archive: bytes) -> str:
    """``s3://lungsegdb-src/v1/LungSegDB.zip`` on the local S3 server, holding the archive."""
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists("lungsegdb-src"):
        fs.mkdir("lungsegdb-src")
    fs.pipe("lungsegdb-src/v1/LungSegDB.zip", archive)
    return "s3://lungsegdb-src/v1/LungSegDB.zip"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["download", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _tree(root: Path) -> dict[str, bytes]:
    base = root / "LungSegDB"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# The plan: order, environment, Drive last, duplicates
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("urls", "use_drive", "expected"),
    [
        (["https://a.example/x.zip"], True, ["https://a.example/x.zip", "DRIVE"]),
        (
            ["https://a.example/x.zip", "https://b.example/x.zip"],
            False,
            ["https://a.example/x.zip", "https://b.example/x.zip"],
        ),
        (
            ["https://b.example/x.zip", "https://a.example/x.zip", "https://b.example/x.zip"],
            True,
            ["https://b.example/x.zip", "https://a.example/x.zip", "DRIVE"],
        ),
        (
            [f"https://drive.google.com/file/d/{FID}/view", "s3://bkt/x.zip"],
            True,
            ["DRIVE", "s3://bkt/x.zip"],
        ),
        (["file:///srv/x.zip"], True, ["file:///srv/x.zip", "DRIVE"]),
    ],
)
def test_plan_keeps_the_order_given_and_puts_drive_last_once(
    urls: list[str], use_drive: bool, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LUNGSEGDB_DRIVE_ENDPOINT", raising=False)
    if any(u.startswith("s3://") for u in urls) and importlib.util.find_spec("s3fs") is None:
        pytest.skip("s3fs is not installed")
    got = sources.plan(urls, drive=use_drive, base="https://drive.google.com")
    assert ["DRIVE" if s.drive_id == FID else s.url for s in got] == expected


def test_no_drive_and_no_url_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = _cli(capsys, "--no-drive", "--data-dir", str(tmp_path))
    assert code == 2 and "--no-drive and no --url" in err and out == ""


@pytest.mark.parametrize("var", ["LUNGSEGDB_URLS", "LUNGSEGDB_URL"])
def test_sources_from_the_environment(
    drive: FakeDrive,
    pin: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    var: str,
) -> None:
    """LUNGSEGDB_URLS is whitespace-separated and tried in order; LUNGSEGDB_URL still works."""
    good = drive.mirror_url("LungSegDB.zip")
    value = f"{drive.view_url(QUOTA)}\n  {good}" if var == "LUNGSEGDB_URLS" else good
    monkeypatch.setenv(var, value)
    code, out, _ = _cli(capsys, "--data-dir", str(tmp_path), "--sha256", pin, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["source"]["url"] == good
    urls = [s["url"] for s in doc["sources"]]
    quota = drive.view_url(QUOTA).split("?")[0]
    assert urls == ([quota, good] if var == "LUNGSEGDB_URLS" else [good])


# ---------------------------------------------------------------------------------------------
# Failover
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "error"),
    [
        ("quota", "quota exceeded"),
        ("not-found", "does not exist"),
        ("unreachable", "127.0.0.1"),
        ("wrong-pin", "SHA-256 mismatch"),
    ],
)
@pytest.mark.parametrize("second", ["http", "s3"])
def test_a_failing_first_source_moves_on_to_the_second(
    request: pytest.FixtureRequest,
    drive: FakeDrive,
    archive: bytes,
    pin: str,
    tmp_path: Path,
    first: str,
    error: str,
    second: str,
) -> None:
    urls = {
        "quota": drive.view_url(QUOTA),
        "not-found": drive.view_url("NO_SUCH_FILE_ID_0001"),
        "unreachable": f"http://127.0.0.1:{_closed_port()}/LungSegDB.zip",
        "wrong-pin": drive.mirror_url("other.zip"),
    }
    good = (
        drive.mirror_url("LungSegDB.zip") if second == "http" else request.getfixturevalue("bucket")
    )
    res = run_download(
        paths.resolve(tmp_path),
        urls=[urls[first], good],
        sha256=pin,
        sleep=lambda s: None,
        policy=RetryPolicy(retries=1),
    )
    assert res.action == "downloaded" and res.files == 24 and res.source.url == good
    assert [a.ok for a in res.sources] == [False, True]
    assert error in res.sources[0].error and res.sources[1].url == good
    rec = provenance.read(tmp_path / ".lungsegdb" / "provenance.json")
    assert rec is not None and rec["source"] == good and rec["sha256"] == pin
    assert Path(res.archive.path).read_bytes() == archive
    if first == "wrong-pin":  # the pin guards every source: the wrong bytes were put aside,
        assert res.sources[0].rejected is not None  # then went with the commit of the right ones
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["LungSegDB.zip"]


def test_rejected_bytes_of_an_earlier_run_are_left_alone(
    drive: FakeDrive, pin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only what this run rejected goes with its commit; the note says so on stderr."""
    earlier = tmp_path / "downloads" / "earlier.zip.rejected"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"kept for a look")
    code, _, err = _cli(
        capsys,
        "--url",
        drive.mirror_url("other.zip"),
        "--url",
        drive.mirror_url("LungSegDB.zip"),
        "--sha256",
        pin,
        "--no-drive",
        "--data-dir",
        str(tmp_path),
    )
    assert code == 0
    assert "other.zip.rejected (not the pinned archive) is removed with this commit" in err
    names = sorted(p.name for p in (tmp_path / "downloads").iterdir())
    assert names == ["LungSegDB.zip", "earlier.zip.rejected"]


def test_cli_reports_each_failed_source_in_one_line(
    drive: FakeDrive, pin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drive's quota page first, the wrong bytes second, the mirror third (Drive's own file
    would be fourth): exit 0, one stderr line per failure, JSON ``sources`` and ``source``."""
    good = drive.mirror_url("LungSegDB.zip")
    args = [
        "--url",
        drive.view_url(QUOTA),
        "--url",
        drive.mirror_url("other.zip"),
        "--url",
        good,
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path),
    ]
    code, out, err = _cli(capsys, *args)
    assert code == 0 and "LungSegDB is ready" in out
    failed = [line for line in err.splitlines() if "failed:" in line]
    assert len(failed) == 2, err
    assert failed[0].startswith("source 1/4 failed:") and "quota exceeded" in failed[0]
    assert "source 2/4 failed:" in failed[1] and "SHA-256 mismatch" in failed[1]
    assert all(line.endswith("; trying the next") for line in failed)
    code, out, _ = _cli(capsys, *args, "--json", "--force")
    doc = json.loads(out)
    assert code == 0 and [s["ok"] for s in doc["sources"]] == [False, False, True]
    assert doc["source"]["url"] == good and doc["sources"][0]["kind"] == "drive-page"


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("drive", "Google Drive says the file does not exist"),
        ("mirror", "The server says the file does not exist"),
        ("mirror-403", "The server refused the download: permission denied"),
    ],
)
def test_a_refusal_is_described_in_the_words_of_who_said_it(
    drive: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, said: str
) -> None:
    """A mirror's 404 or 403 is the mirror's word, not Google Drive's, and so are the next
    step (a user would go looking for a Drive problem that is not there) and the error kind
    a script matches on."""
    if where == "mirror-403":
        drive.fail_next.append((403, None))  # the next file answer: 403 Forbidden
    url = {
        "drive": drive.view_url("NO_SUCH_FILE_ID_0001"),
        "mirror": drive.mirror_url("gone.zip"),
        "mirror-403": drive.mirror_url("LungSegDB.zip"),
    }[where]
    code, out, _ = _cli(capsys, "--url", url, "--no-drive", "--data-dir", str(tmp_path), "--json")
    error = json.loads(out)["error"]
    assert code == 3 and error["message"].startswith(said)
    assert ("Google Drive" in error["message"]) == (where == "drive")
    assert ("Anyone with the link" in error["hint"]) is False
    assert error["kind"] == ("drive-page" if where == "drive" else "mirror-refused")
    assert error["context"]["page"] == (
        "permission-denied" if where == "mirror-403" else "not-found"
    )


@pytest.mark.parametrize(
    ("second", "code", "kind"), [("other2.zip", 1, "checksum-mismatch"), ("gone.zip", 3, None)]
)
def test_every_source_failing_lists_each_with_the_first_ones_exit_code(
    drive: FakeDrive,
    pin: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    second: str,
    code: int,
    kind: str | None,
) -> None:
    """The first source's error (kind, exit code, next step), every later failure listed."""
    first = drive.mirror_url("other.zip")
    got, out, _ = _cli(
        capsys,
        "--url",
        first,
        "--url",
        drive.mirror_url(second),
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path),
        "--json",
    )
    doc = json.loads(out)
    assert got == 1 and doc["error"]["kind"] == "checksum-mismatch"
    listed = doc["error"]["context"]["sources"]
    assert [s["ok"] for s in listed] == [False, False, False]  # and Drive's quota page last
    assert listed[1]["code"] == code and (kind is None or listed[1]["kind"] == kind)
    assert "then tried 2)" in doc["error"]["message"] and "3) " in doc["error"]["message"]
    assert not (tmp_path / "LungSegDB").exists()
    # nothing served the pin: the rejected bytes stay for a look
    rejected = sorted(p.name for p in (tmp_path / "downloads").glob("*.rejected"))
    assert rejected == sorted({"other.zip.rejected", f"{second}.rejected"} - {"gone.zip.rejected"})


def test_drive_is_the_fallback_and_no_drive_leaves_it_out(
    drive: FakeDrive, archive: bytes, pin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive.files[FID].quota = False  # Drive serves the file now
    bad = drive.mirror_url("gone.zip")
    code, out, _ = _cli(
        capsys, "--url", bad, "--sha256", pin, "--data-dir", str(tmp_path / "a"), "--json"
    )
    doc = json.loads(out)
    assert code == 0 and doc["source"]["drive_id"] == FID and len(doc["sources"]) == 2
    code, out, _ = _cli(
        capsys,
        "--url",
        bad,
        "--no-drive",
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path / "b"),
        "--json",
    )
    assert code == 3 and "sources" not in json.loads(out)["error"].get("context", {})


@pytest.mark.parametrize(
    ("behind", "slept"),
    [(True, [1.0]), (False, [1.0])],
    ids=["another-source-behind", "last-source"],
)
def test_a_dead_mirror_with_another_behind_it_gets_a_short_retry_budget(
    drive: FakeDrive, pin: str, tmp_path: Path, behind: bool, slept: list[float]
) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/LungSegDB.zip"
    waits: list[float] = []
    urls = [dead, drive.mirror_url("LungSegDB.zip")] if behind else [dead]
    try:
        res = run_download(
            paths.resolve(tmp_path), urls=urls, drive=False, sha256=pin, sleep=waits.append
        )
        assert behind and res.source.url == urls[1]
    except DownloadError:
        assert not behind
    # nothing listening (connection refused): one quick retry, then the next source or the
    # error, whether or not another source is behind it (a mirror answering 5xx keeps the
    # policy's back-off: tests/sources/test_dead_mirror.py)
    assert waits == slept


# ---------------------------------------------------------------------------------------------
# fsspec sources: S3 on the local server, resume, file://, missing backends
# ---------------------------------------------------------------------------------------------
def test_s3_download_resumes_with_a_ranged_read(
    bucket: str, s3_env: Any, archive: bytes, pin: str, tmp_path: Path
) -> None:
    root = paths.resolve(tmp_path)
    policy = RetryPolicy(chunk_size=4096)
    with pytest.raises(KeyboardInterrupt):
        run_download(
            root,
            urls=[bucket],
            drive=False,
            sha256=pin,
            policy=policy,
            progress=InterruptingProgress(len(archive) // 2),
        )
    assert list((tmp_path / "downloads").glob("*.part"))
    res = run_download(root, urls=[bucket], drive=False, sha256=pin, policy=policy)
    assert 0 < res.resumed_from < len(archive) and res.archive.sha256 == pin
    assert Path(res.archive.path).read_bytes() == archive and res.files == 24


def test_file_url_source(
    archive: bytes, pin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "mirror" / "LungSegDB.zip"
    src.parent.mkdir()
    src.write_bytes(archive)
    code, out, _ = _cli(
        capsys,
        "--url",
        src.as_uri(),
        "--no-drive",
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path / "d"),
        "--json",
    )
    doc = json.loads(out)
    assert code == 0 and doc["files"] == 24 and doc["source"]["url"] == src.as_uri()


@pytest.mark.parametrize("right", [True, False], ids=["right-md5", "wrong-md5"])
def test_md5_pin_guards_an_fsspec_source(
    archive: bytes, pin: str, tmp_path: Path, right: bool, capsys: pytest.CaptureFixture[str]
) -> None:

    src = tmp_path / "mirror" / "LungSegDB.zip"
    src.parent.mkdir()
    src.write_bytes(archive)
    md5 = hashlib.md5(archive).hexdigest() if right else "0" * 32
    code, out, _ = _cli(
        capsys,
        "--url",
        src.as_uri(),
        "--no-drive",
        "--sha256",
        pin,
        "--md5",
        md5,
        "--data-dir",
        str(tmp_path / "d"),
        "--json",
    )
    doc = json.loads(out)
    if right:
        assert code == 0 and doc["archive"]["md5"] == md5
    else:
        assert code == 1 and doc["error"]["kind"] == "checksum-mismatch"


def test_missing_s3_object_is_exit_3(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(
        capsys,
        "--url",
        bucket.replace("v1/", "v9/"),
        "--no-drive",
        "--data-dir",
        str(tmp_path),
        "--json",
    )
    err = json.loads(out)["error"]
    assert code == 3 and "not found" in err["message"]
    assert err["kind"] == "mirror-refused" and err["context"]["page"] == "not-found"


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3://lungsegdb-src",
        "s3://lungsegdb-src/",
        "s3://lungsegdb-src/v1/",
        "s3:///LungSegDB.zip",
        "s3:lungsegdb-src/LungSegDB.zip",
        "gs://",
        "az://container",
        "hf://",
        "file://",
        "file:///",
    ],
)
def test_an_fsspec_url_that_names_no_file_is_exit_2_before_any_transfer(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "--url", url, "--no-drive", "--data-dir", str(tmp_path), "--json")
    err = json.loads(out)["error"]
    assert code == 2 and err["kind"] == "usage" and err["message"].startswith("Invalid URL")
    assert repr(url) in err["message"] and "LungSegDB.zip" in err["hint"]  # an example
    assert not (tmp_path / "downloads").exists()  # refused before anything was fetched


def test_a_file_url_naming_a_folder_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    code, out, _ = _cli(
        capsys, "--url", folder.as_uri(), "--no-drive", "--data-dir", str(tmp_path / "d"), "--json"
    )
    err = json.loads(out)["error"]
    assert code == 2 and err["kind"] == "usage" and "names a folder" in err["message"]
    assert not list((tmp_path / "d" / "downloads").glob("*.part"))


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("gs://b/LungSegDB.zip", "gcsfs", "gcs"),
        ("az://c/LungSegDB.zip", "adlfs", "azure"),
        ("hf://datasets/o/r/LungSegDB.zip", "huggingface_hub", "hf"),
    ],
)
def test_a_missing_backend_is_exit_2_naming_the_extra(
    url: str, module: str, extra: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed")
    code, out, err = _cli(capsys, "--url", url, "--data-dir", str(tmp_path))
    assert code == 2 and out == "" and f"[{extra}]" in err and module in err
    assert not (tmp_path / "downloads").exists()  # refused before anything was fetched


# ---------------------------------------------------------------------------------------------
# Credentials and secrets never reach the output or the data dir
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@m.example/x.zip", "https://***@m.example/x.zip"),
        (
            "https://m.example/x.zip?X-Amz-Signature=abc&X-Amz-Credential=k&v=2",
            "https://m.example/x.zip?X-Amz-Signature=***&X-Amz-Credential=***&v=2",
        ),
        (
            "https://drive.google.com/uc?id=ABC&export=download",
            "https://drive.google.com/uc?id=ABC&export=download",
        ),
        ("s3://bucket/key.zip", "s3://bucket/key.zip"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert sources.redact(url) == shown


#: (id, a URL whose user info the message must not show, the exit code)
USERINFO_CASES = [
    ("file-url", "file://u:{secret}@localhost{tmp}/LungSegDB.zip", 2),
    ("file-url-other-host", "file://u:{secret}@server/share/LungSegDB.zip", 2),
    ("s3-key-and-secret", "s3://AKIAKEY:{secret}@lungsegdb-src/v1/LungSegDB.zip", 2),
    ("s3-token-as-user", "s3://{secret}@lungsegdb-src/v1/LungSegDB.zip", 2),
]


@pytest.mark.parametrize(
    ("url", "want"), [c[1:] for c in USERINFO_CASES], ids=[c[0] for c in USERINFO_CASES]
)
def test_user_info_is_not_shown_where_a_message_quotes_the_host(
    url: str,
    want: int,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Audit S 3: a ``file://`` URL naming a host, and botocore refusing a bucket name that
    holds the user info, quote the netloc without its scheme: the user info is hidden there
    too, in the message, ``--json`` and the ``--debug`` traceback."""
    secret = "ui-secret-2c9d7e"
    url = url.format(secret=secret, tmp=tmp_path)
    texts: list[str] = []
    for extra in ([], ["--json"]):
        code, out, err = _cli(
            capsys, "--url", url, "--no-drive", "--data-dir", str(tmp_path / "d"), *extra
        )
        assert code == want, (out, err)
        texts += [out, err]
    monkeypatch.setenv("LUNGSEGDB_DEBUG", "1")
    code, out, err = _cli(capsys, "--url", url, "--no-drive", "--data-dir", str(tmp_path / "d"))
    assert code == want and "Traceback" in err
    texts += [out, err]
    assert not [t for t in texts if secret in t]


def test_no_secret_in_output_json_or_files(
    drive: FakeDrive,
    bucket: str,
    s3_env: Any,
    pin: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A signed mirror URL with user info fails over to S3 (with the secret also given as a
    storage option): neither the URL's secrets nor the key appear anywhere."""
    token = "tok-9d8e7f6a5b4c"
    signed = drive.mirror_url("gone.zip").replace("http://", f"http://me:{token}@") + (
        f"?X-Amz-Signature={token}"
    )
    args = [
        "--url",
        signed,
        "--url",
        bucket,
        "--no-drive",
        "--sha256",
        pin,
        "--storage-option",
        f"secret={SECRET_KEY}",
        "--storage-option",
        f"key={ACCESS_KEY}",
        "--data-dir",
        str(tmp_path),
    ]
    texts = []
    for extra in ([], ["--json", "--force"]):
        code, out, err = _cli(capsys, *args, *extra)
        assert code == 0
        texts += [out, err]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    assert not any(SECRET_KEY in t or token in t for t in texts)
    assert _tree(tmp_path)


def test_the_pin_line_after_storage_options_says_they_are_needed_again(
    bucket: str, s3_env: Any, pin: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unpinned, from a bucket with ``--storage-option``: the "Pin it in CI" line repeats the
    URL and says the same storage options are needed, never showing their values."""
    args = ["--url", bucket, "--no-drive", "--storage-option", f"secret={SECRET_KEY}"]
    code, out, err = _cli(
        capsys, *args, "--storage-option", f"key={ACCESS_KEY}", "--data-dir", str(tmp_path)
    )
    assert code == 0, err
    line = f"Pin it in CI: lungsegdb download --url '{bucket}' --no-drive --sha256 {pin}"
    assert f"{line}  with the same --storage-option values (not shown)" in out
    assert SECRET_KEY not in out + err and ACCESS_KEY not in out + err


def test_a_part_left_by_one_source_is_resumed_from_the_next_under_the_pin(
    drive: FakeDrive, bucket: str, archive: bytes, pin: str, tmp_path: Path
) -> None:
    """The mirror cuts the body after 50,000 bytes, then answers 503 until its retries are
    exhausted: the bucket (same pin, same size) continues from byte 50,000."""
    drive.drop_after = [50_000]
    drive.fail_next = [None, *[(503, None)] * 5]  # type: ignore[list-item]  # served, then 503s
    res = run_download(
        paths.resolve(tmp_path),
        urls=[drive.mirror_url("LungSegDB.zip"), bucket],
        drive=False,
        sha256=pin,
        sleep=lambda s: None,
        policy=RetryPolicy(retries=1),
    )
    assert [a.ok for a in res.sources] == [False, True] and res.source.url == bucket
    assert res.resumed_from == 50_000 and res.archive.sha256 == pin
    assert Path(res.archive.path).read_bytes() == archive


def test_without_a_pin_a_part_is_not_carried_to_the_next_source(
    drive: FakeDrive, bucket: str, archive: bytes, tmp_path: Path
) -> None:
    drive.drop_after = [50_000]
    drive.fail_next = [None, *[(503, None)] * 5]  # type: ignore[list-item]
    res = run_download(
        paths.resolve(tmp_path),
        urls=[drive.mirror_url("LungSegDB.zip"), bucket],
        drive=False,
        sleep=lambda s: None,
        policy=RetryPolicy(retries=1),
    )
    assert res.resumed_from == 0 and Path(res.archive.path).read_bytes() == archive


# ---------------------------------------------------------------------------------------------
# Audit S 7: a source announcing more than the disk holds fails alone
# ---------------------------------------------------------------------------------------------
HUGE = 10**12  # what the lying mirror announces: more than any test machine has free

#: (id, the sources in order, the exit code, the error kind, words in the message)
TOO_BIG_CASES = [
    ("liar-then-good", ("liar", "good"), 0, None, ()),
    ("liar-alone", ("liar",), 5, "disk-full", ("announces 1,000,000,000,000 bytes",)),
    (
        "liar-then-missing",
        ("liar", "missing"),
        3,
        "mirror-refused",
        ("not found", "(source 2); the others: 1)"),
    ),
    ("every-source-too-big", ("liar", "liar2"), 5, "disk-full", ("announces", "then tried")),
]


@pytest.mark.parametrize(
    ("order", "code", "kind", "words"),
    [c[1:] for c in TOO_BIG_CASES],
    ids=[c[0] for c in TOO_BIG_CASES],
)
def test_a_source_announcing_more_than_the_disk_holds_fails_alone(
    order: tuple[str, ...],
    code: int,
    kind: str | None,
    words: tuple[str, ...],
    drive: FakeDrive,
    pin: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The free-space shortfall for a size one server announces is that source's failure:
    the next source is tried (it was exit 5 at once, the good mirror never asked). Exit 5
    only when there is no other source or every source fell short of space; a source that
    failed otherwise heads the error then. (A pinned size known in advance makes a shortfall
    the disk's, for every source: that still stops at once.)"""
    from support.hostile import Hostile

    body = b"PK\x03\x04" * 20_000  # what it sends before it hangs up: never read past the head
    with Hostile(body, HUGE) as liar, Hostile(body, HUGE) as liar2:
        urls = {
            "liar": liar.url,
            "liar2": liar2.url,
            "good": drive.mirror_url("LungSegDB.zip"),
            "missing": drive.mirror_url("missing.zip"),
        }
        args = [a for name in order for a in ("--url", urls[name])]
        got, out, err = _cli(
            capsys, *args, "--sha256", pin, "--no-drive", "--json", "--data-dir", str(tmp_path)
        )
    doc = json.loads(out)
    assert got == code, doc
    if code == 0:
        first, second = doc["sources"]
        assert not first["ok"] and first["kind"] == "disk-full" and second["ok"]
        assert "announces 1,000,000,000,000 bytes" in first["error"]
        assert "source 1/2 failed" in err and "trying the next" in err
        assert _tree(tmp_path)
        return
    error = doc["error"]
    assert error["kind"] == kind and all(w in error["message"] for w in words), error
    if kind == "disk-full":
        assert "--url" in error["hint"]  # the size may be the source's lie
