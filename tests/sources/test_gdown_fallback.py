"""gdown as the second Drive client: a page our parser does not know is handed to real gdown.

The fake serves the page to our client on 127.0.0.1 (``LUNGSEGDB_DRIVE_ENDPOINT``) and to gdown,
which always asks for ``https://drive.google.com``, through the same server acting as its proxy
(``CONNECT`` + TLS from a test CA given as ``REQUESTS_CA_BUNDLE``). Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests
from support.drive_fake import FakeDrive, novel_page

# internals: exercises cli/app, sources/drive, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.state import provenance

NOVEL = "NOVEL_PAGE_FILE_01"
BROKEN = "BROKEN_FORM_FILE_1"
QUOTA = "QUOTA_PAGE_FILE_01"
SECRET = "gdown-sid-value-51c3"
FAR = "4102444800"


@pytest.fixture
def drive_tls(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeDrive:
    fake_drive.add(NOVEL, archive, novel_page=True)
    fake_drive.add(BROKEN, archive, broken_form=True)
    fake_drive.add(QUOTA, archive, quota=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake_drive.enable_tls(tmp_path)))
    monkeypatch.setenv("LUNGSEGDB_DRIVE_ENDPOINT", fake_drive.base)
    for name in ("LUNGSEGDB_URL", "LUNGSEGDB_SHA256", "LUNGSEGDB_COOKIES"):
        monkeypatch.delenv(name, raising=False)
    return fake_drive


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["download", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_our_parser_truly_fails_on_the_novel_page(drive_tls: FakeDrive) -> None:
    page = drive.classify(novel_page("https://x/download", NOVEL, "u").encode(), url="https://x")
    assert page.kind is drive.PageKind.VIRUS_SCAN and page.next_url is None
    with requests.Session() as s, pytest.raises(drive.Refused) as info:
        drive.open_download(s, drive_tls.uc_url(NOVEL))
    assert info.value.page.detail == "form not understood"


@pytest.mark.parametrize("with_md5", [False, True], ids=["no-md5", "md5-pin"])
def test_novel_page_is_downloaded_by_gdown(
    drive_tls: FakeDrive,
    archive: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    with_md5: bool,
) -> None:
    root = tmp_path / "data"
    url = drive_tls.uc_url(NOVEL)
    md5 = hashlib.md5(archive).hexdigest()
    extra = ["--md5", md5] if with_md5 else []
    code, out, err = _cli(capsys, "--url", url, *extra, "--data-dir", str(root), "--json")
    doc = json.loads(out)
    sha = hashlib.sha256(archive).hexdigest()
    assert code == 0 and doc["client"] == "gdown" and doc["files"] == 24
    assert doc["archive"]["sha256"] == sha
    # MD5 only for the --md5 pin, on gdown's path as on ours
    assert doc["archive"]["md5"] == (md5 if with_md5 else None)
    assert Path(doc["archive"]["path"]).read_bytes() == archive
    assert "trying gdown" in err and "gdown fetched it" in err
    rec = provenance.read(root / ".lungsegdb" / "provenance.json")
    assert rec is not None and rec["client"] == "gdown" and rec["sha256"] == sha
    # ours saw the page on 127.0.0.1; gdown went to Drive's hosts and sent the confirmation
    hosts = [(s.host or "").split(":")[0] for s in drive_tls.seen]
    assert hosts[:2] == ["127.0.0.1", "127.0.0.1"]
    assert "drive.google.com" in hosts and drive_tls.seen[-1].host == "drive.usercontent.google.com"
    assert drive_tls.seen[-1].query["confirm"] == "t" and drive_tls.seen[-1].status == 200
    assert not list((root / "downloads").glob("*.part*"))


@pytest.mark.parametrize(("pin_ok", "code"), [(True, 0), (False, 1)])
def test_the_pin_is_checked_on_gdowns_bytes(
    drive_tls: FakeDrive,
    archive: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pin_ok: bool,
    code: int,
) -> None:
    pin = hashlib.sha256(archive).hexdigest() if pin_ok else "0" * 64
    root = tmp_path / "data"
    args = ("--url", drive_tls.view_url(NOVEL), "--data-dir", str(root), "--sha256", pin)
    got, out, err = _cli(capsys, *args, "--no-extract")
    assert got == code
    if pin_ok:
        assert (root / "downloads" / "LungSegDB.zip").read_bytes() == archive
        assert "client:   gdown" in out and "gdown fetched it" in err
    else:
        assert "SHA-256 mismatch" in err and not (root / "LungSegDB").exists()
        assert (root / "downloads" / "LungSegDB.zip.rejected").read_bytes() == archive
        assert not (root / "downloads" / "LungSegDB.zip").exists()


def test_both_clients_fail_exit_3_with_both_reasons(
    drive_tls: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data"
    url = drive_tls.uc_url(BROKEN)
    code, out, _ = _cli(capsys, "--url", url, "--data-dir", str(root), "--json")
    err = json.loads(out)["error"]
    assert code == 3 and err["code"] == 3 and err["kind"] == "drive-page"
    assert "virus-scan warning page could not be followed" in err["message"]
    assert "gdown" in err["message"] and "Cannot retrieve the public link" in err["message"]
    assert err["context"]["gdown"] and "--archive PATH" in err["hint"]
    assert any(s.host == "drive.usercontent.google.com" for s in drive_tls.seen)  # gdown tried
    assert not list((root / "downloads").glob("*.part*"))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("{base}/uc?id=" + QUOTA, "quota exceeded"),
        ("{base}/html-mirror/LungSegDB.zip", "HTML page instead of the archive"),  # not Drive
    ],
)
def test_final_pages_and_mirrors_are_not_handed_to_gdown(
    drive_tls: FakeDrive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    url: str,
    message: str,
) -> None:
    url = url.format(base=drive_tls.base)
    code, _, err = _cli(capsys, "--url", url, "--data-dir", str(tmp_path / "d"))
    assert code == 3 and message in err and "gdown" not in err
    assert drive_tls.tunnels == []


def test_gdown_gets_a_copy_of_the_cookies_and_the_file_is_unchanged(
    drive_tls: FakeDrive, archive: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drive_tls.add("NOVEL_COOKIE_FILE1", archive, novel_page=True, cookie=f"SID={SECRET}")
    path = tmp_path / "cookies.txt"
    path.write_text(
        f"# Netscape HTTP Cookie File\n.google.com\tTRUE\t/\tTRUE\t{FAR}\tSID\t{SECRET}\n"
    )
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    root = tmp_path / "data"
    url = drive_tls.view_url("NOVEL_COOKIE_FILE1")
    args = ("--url", url, "--data-dir", str(root), "--no-extract", "--cookies", str(path))
    code, out, err = _cli(capsys, *args, "--json")
    assert code == 0 and json.loads(out)["client"] == "gdown"
    tunneled = [s for s in drive_tls.seen if s.host and not s.host.startswith("127.")]
    assert tunneled and all(f"SID={SECRET}" in (s.cookie or "") for s in tunneled)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # gdown rewrote only its copy
    assert SECRET not in out and SECRET not in err
    for p in root.rglob("*"):
        assert not p.is_file() or SECRET.encode() not in p.read_bytes()


# ---------------------------------------------------------------------------------------------
# The pieces: what the installed gdown is asked for, and the stream it writes to
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "cookie_path", "expected"),
    [
        ({"id", "output"}, "/c.txt", {"use_cookies": False}),  # an old gdown: no cookies
        ({"timeout"}, None, {"use_cookies": False, "timeout": 9}),
        ({"cookies_file"}, None, {"use_cookies": False}),
        ({"cookies_file"}, "/c.txt", {"use_cookies": True, "cookies_file": "/c.txt"}),
    ],
)
def test_only_arguments_the_installed_gdown_takes(
    params: set[str], cookie_path: str | None, expected: dict[str, object]
) -> None:
    from lungsegdb_cli.sources.drive import gdown as g

    assert g._options(params, cookie_path=cookie_path, timeout=9) == expected


@pytest.mark.parametrize("reports", [True, False])
def test_the_stream_hashes_and_reports_every_byte(tmp_path: Path, reports: bool) -> None:
    import io

    from support.fakes import RecordingProgress

    from lungsegdb_cli.sources.drive import gdown as g
    from lungsegdb_cli.sources.http.streamhash import StreamHasher

    checked: list[tuple[int | None, int]] = []
    prog = RecordingProgress()
    with StreamHasher() as hasher:
        feed = g._Feed(hasher, prog, lambda t, o: checked.append((t, o)), reports=reports)
        feed.fh = io.BytesIO()
        for chunk in [b"PK\x03\x04" + b"a" * 60, b"b" * 100]:
            feed.write(chunk)
            if reports:  # gdown calls progress(bytes_so_far, total) after each write
                feed(feed.written, 164)
        digests = hasher.finish()
    data = b"PK\x03\x04" + b"a" * 60 + b"b" * 100
    assert feed.fh.getvalue() == data and digests.sha256 == hashlib.sha256(data).hexdigest()
    assert feed.head == data[:64] and prog.advanced == 164
    assert checked == [(164 if reports else None, 0)]  # the free-space check, once
