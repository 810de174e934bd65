"""``download --cookies FILE``: a Netscape cookies.txt, read only, for Google hosts only,
its values never shown."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from support.drive_fake import FakeDrive

# internals: exercises cli/app, sources/drive, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.sources.drive import cookies

FID = "COOKIE_FILE_ID_0001"
SECRET = "s3cret-sid-value-7f1c"
STREAM = "stream-value-9a2e"
OTHER = "leak-me-not-4b8d"
FAR = "4102444800"  # 2100-01-01

GOOD = (
    "# Netscape HTTP Cookie File\n"
    "# exported by a browser extension\n"
    "\n"
    f".google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET}\n"
    f"#HttpOnly_drive.google.com\tFALSE\t/\tTRUE\t0\tDRIVE_STREAM\t{STREAM}\n"
    f".example.org\tTRUE\t/\tFALSE\t{FAR}\tOTHER\t{OTHER}\n"
    f".google.com\tTRUE\t/\tTRUE\t1\tOLD\texpired-value\n"
)


def _write(tmp_path: Path, text: str | bytes, name: str = "cookies.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def drive(fake_drive: FakeDrive, monkeypatch: pytest.MonkeyPatch) -> FakeDrive:
    """A Drive file served only to a request carrying the SID cookie (else the quota page)."""
    fake_drive.add(FID, b"PK\x05\x06" + b"\0" * 18, name="x.zip", cookie=f"SID={SECRET}")
    monkeypatch.setenv("LUNGSEGDB_DRIVE_ENDPOINT", fake_drive.base)
    for name in ("LUNGSEGDB_URL", "LUNGSEGDB_SHA256", "LUNGSEGDB_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    return fake_drive


def _download(
    capsys: pytest.CaptureFixture[str], drive: FakeDrive, root: Path, *args: str
) -> tuple[int, str, str]:
    url = drive.view_url(FID)
    code = run(["download", "--url", url, "--data-dir", str(root), "--no-extract", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _no_secret_in(root: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text and STREAM not in text and OTHER not in text
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert SECRET.encode() not in data and STREAM.encode() not in data, p


# ---------------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------------
def test_good_file_keeps_the_unexpired_google_cookies(tmp_path: Path) -> None:
    got = cookies.load(_write(tmp_path, GOOD))
    by_name = {c.name: c for c in got.cookies()}
    assert sorted(by_name) == ["DRIVE_STREAM", "SID"] and got.skipped == 2  # example.org, OLD
    assert by_name["DRIVE_STREAM"].expires is None  # 0: a session cookie, kept
    assert by_name["DRIVE_STREAM"].has_nonstandard_attr("HttpOnly")
    assert by_name["SID"].secure and by_name["SID"].domain == ".google.com"
    assert SECRET not in repr(got) and SECRET not in str(got)


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://drive.google.com/uc?id=x", {"SID", "DRIVE_STREAM"}),
        ("https://drive.usercontent.google.com/download?id=x", {"SID"}),
        ("https://docs.google.com/uc?id=x", {"SID"}),
        ("http://drive.google.com/uc?id=x", set()),  # secure cookies: https only
        ("https://example.org/LungSegDB.zip", set()),
        ("https://google.com.evil.example/x", set()),
        ("https://evilgoogle.com/x", set()),
    ],
)
def test_cookies_go_to_google_hosts_only(tmp_path: Path, url: str, sent: set[str]) -> None:
    jar = cookies.load(_write(tmp_path, GOOD)).jar()
    header = requests.cookies.get_cookie_header(jar, requests.Request("GET", url).prepare())
    names = {p.split("=", 1)[0].strip() for p in (header or "").split(";") if p.strip()}
    assert names == sent


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"domain": ".google.com", "name": "SID"}]\n', "line 1 is not a cookies.txt line"),
        (f"# Netscape HTTP Cookie File\n.google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\n", "line 2"),
        (f".google.com\tYES\t/\tTRUE\t{FAR}\tSID\t{SECRET}\n", "TRUE or FALSE"),
        (f".google.com\tTRUE\t/\tTRUE\tsoon\tSID\t{SECRET}\n", "expiry is not a Unix time"),
        (f".google.com\tTRUE\t/\tTRUE\t{FAR}\t\t{SECRET}\n", "has no name"),
        ("# Netscape HTTP Cookie File\n", "no cookie in it"),
        (f".example.org\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET}\n", "no unexpired cookie"),
        (b"\xff\xfe\x00S\x00I\x00D", "is not text"),
        (b"SID\x00" + SECRET.encode(), "NUL"),
        # what a Cookie header cannot carry: the file's fault, not the server's (audit S 10)
        (f".google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET}\u20ac\n", "outside Latin-1"),
        (f".google.com\tTRUE\t/\tTRUE\t{FAR}\tS\u0130D\t{SECRET}\n", "cookie's name holds"),
        (f".google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET};x=1\n", "control character or ';'"),
        (f".google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET}\x01\n", "control character or ';'"),
        (f".google.com\tTRUE\t/\tTRUE\t{FAR}\tS=ID\t{SECRET}\n", "name holds"),
    ],
)
def test_malformed_file_is_exit_2_naming_the_line_not_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, message: str
) -> None:
    path = _write(tmp_path, text)
    code = run(["download", "--cookies", str(path), "--data-dir", str(tmp_path / "d"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["error"]["code"] == 2 and message in doc["error"]["message"]
    assert str(path) in doc["error"]["message"] and "cookies.txt" in doc["error"]["hint"]
    assert SECRET not in json.dumps(doc)
    assert not (tmp_path / "d").exists()  # refused before anything happened


def test_a_latin1_cookie_value_is_sent(
    drive: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guard: a value a header can carry (Latin-1, a space) is kept and sent as it is."""
    value = f"{SECRET} caf\u00e9"
    drive.files[FID].cookie = f"SID={value}".encode("latin-1").decode("latin-1")
    path = _write(tmp_path, f".google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{value}\n")
    code, _, err = _download(capsys, drive, tmp_path / "data", "--cookies", str(path))
    assert code == 0, err


def test_another_sites_unsendable_cookie_is_skipped_not_refused(
    drive: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A browser's whole cookies.txt holds other sites' cookies, some not Latin-1: they are
    never sent, so they do not make the file unusable (only Google's are checked)."""
    drive.files[FID].cookie = f"SID={SECRET}"
    text = (
        f".example.org\tTRUE\t/\tTRUE\t{FAR}\tpref\t\u20ac\u4e2d\n"
        f".google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET}\n"
    )
    path = _write(tmp_path, text)
    code, _, err = _download(capsys, drive, tmp_path / "data", "--cookies", str(path))
    assert code == 0, err


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "cookies.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "absent.txt", "no such file"),
        (lambda tmp: tmp, "is a folder"),
        (_fifo, "not a regular file"),
    ],
)
def test_missing_or_not_a_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, message: str
) -> None:
    path = make(tmp_path)
    code = run(["download", "--cookies", str(path), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "next:" in err and "Traceback" not in err


def test_unreadable_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, GOOD)
    if os.geteuid() != 0:
        path.chmod(0o000)
    else:  # root ignores permission bits: make the OS refuse this one file instead
        real_open = os.open

        def refuse(file: Any, *a: Any, **k: Any) -> int:
            if os.fspath(file) == str(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(file, *a, **k)

        monkeypatch.setattr(os, "open", refuse)
    try:
        with pytest.raises(UsageError, match="permission denied"):
            cookies.load(path)
    finally:
        path.chmod(0o600)


# ---------------------------------------------------------------------------------------------
# Sent to Drive: the quota page is bypassed; the file is never written
# ---------------------------------------------------------------------------------------------
def test_without_cookies_the_file_gets_the_quota_page(
    drive: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _download(capsys, drive, tmp_path)
    assert code == 3 and "quota exceeded" in err and "--cookies FILE" in err


@pytest.mark.parametrize("how", ["option", "env"])
def test_cookie_sent_bypasses_the_quota_page_and_the_file_is_unchanged(
    drive: FakeDrive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    path = _write(tmp_path, GOOD)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    root = tmp_path / "data"
    if how == "env":
        monkeypatch.setenv("LUNGSEGDB_COOKIES", str(path))
        code, out, err = _download(capsys, drive, root, "--json")
    else:
        code, out, err = _download(capsys, drive, root, "--json", "--cookies", str(path))
    doc = json.loads(out)
    assert code == 0 and doc["action"] == "downloaded" and doc["client"] == "lungsegdb"
    sent = [s.cookie or "" for s in drive.seen]
    assert all(f"SID={SECRET}" in c for c in sent)  # every request, redirects included
    assert not any(OTHER in c or "expired-value" in c for c in sent)  # other hosts, expired
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    _no_secret_in(root, out, err)


def test_a_mirror_never_gets_the_cookies(
    drive: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not even one on the host that stands in for Drive (the testing hook's)."""
    drive.mirror["x.zip"] = b"PK\x05\x06" + b"\0" * 18
    path = _write(tmp_path, GOOD)
    root = tmp_path / "data"
    args = ["--url", drive.mirror_url("x.zip"), "--cookies", str(path), "--no-extract"]
    code = run(["download", *args, "--data-dir", str(root)])
    capsys.readouterr()
    assert code == 0 and [s.path for s in drive.seen] == ["/mirror/x.zip"]
    assert drive.seen[0].cookie is None
