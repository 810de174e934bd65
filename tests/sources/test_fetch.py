"""Streaming download against the local fake: resume, restart, retries, timeouts, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
import requests
from support.drive_fake import FakeDrive
from support.fakes import InterruptingProgress, RecordingProgress

from lungsegdb_cli.errors import DownloadError

# internals: exercises sources/drive, sources/http, ... directly (not public API)
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.sources.http import transfer as fetch

DATA = random.Random(18).randbytes(3_000_000)  # seeded: same bytes on every worker
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


class RecordingSession(requests.Session):
    """A real session that remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def get(self, url: str, **kw: Any) -> Any:  # type: ignore[override]
        self.calls.append({"url": url, **kw})
        return super().get(url, **kw)


def _fetch(fake: FakeDrive, part: Path, **kw: Any) -> fetch.FetchResult:
    kw.setdefault("session", requests.Session())
    kw.setdefault("sleep", lambda s: None)
    return fetch.fetch(fake.mirror_url("a.zip"), part, source_key="k", **kw)


@pytest.fixture
def mirror(fake_drive: FakeDrive) -> FakeDrive:
    fake_drive.mirror["a.zip"] = DATA
    return fake_drive


def test_plain_download_hashes_while_streaming(mirror: FakeDrive, tmp_path: Path) -> None:
    res = _fetch(mirror, tmp_path / "a.part", md5=True)
    assert (res.sha256, res.md5, res.size) == (SHA, MD5, len(DATA))
    assert (tmp_path / "a.part").read_bytes() == DATA
    assert res.filename == "a.zip" and res.head == DATA[:64]
    assert mirror.full_downloads == 1


def test_dropped_connection_resumes_with_only_the_missing_bytes(
    mirror: FakeDrive, tmp_path: Path
) -> None:
    mirror.drop_after = [1_000_000, 1_500_000]
    sleeps: list[float] = []
    res = _fetch(mirror, tmp_path / "a.part", sleep=sleeps.append)
    assert res.sha256 == SHA and (tmp_path / "a.part").read_bytes() == DATA
    assert [s.range for s in mirror.seen] == [None, "bytes=1000000-", "bytes=2500000-"]
    assert [s.sent for s in mirror.seen] == [1_000_000, 1_500_000, 500_000]
    assert sum(s.sent for s in mirror.seen) == len(DATA)  # no byte fetched twice
    assert len(sleeps) == 2 and all(s <= 1.0 for s in sleeps)  # progress resets the backoff


def test_resume_across_runs_from_a_part_file(mirror: FakeDrive, tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    mirror.drop_after = [1_234_567]
    mirror_retries = fetch.RetryPolicy(retries=0)
    with pytest.raises(DownloadError, match="IncompleteRead") as info:
        _fetch(mirror, part, policy=mirror_retries)
    assert "resume from byte 1,234,567" in info.value.hint
    assert part.stat().st_size == 1_234_567
    assert fetch.resumable_offset(part, "k") == 1_234_567
    res = _fetch(mirror, part, md5=True)  # the MD5 covers the resumed prefix too
    assert res.sha256 == SHA and res.md5 == MD5 and res.resumed_from == 1_234_567
    assert mirror.seen[-1].range == "bytes=1234567-" and mirror.seen[-1].status == 206
    assert mirror.seen[-1].if_range  # the validator guards against a changed file


def test_a_200_answer_to_a_range_restarts_cleanly(mirror: FakeDrive, tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    part.write_bytes(b"GARBAGE" * 1000)  # bytes that would corrupt the file if appended
    fetch._write_state(part, {"source": "k", "validator": None, "total": len(DATA)})
    mirror.ignore_range = True
    res = _fetch(mirror, part)
    assert part.read_bytes() == DATA and res.sha256 == SHA and res.restarts == 1
    assert mirror.seen[0].range == "bytes=7000-" and mirror.seen[0].status == 200


def test_a_changed_remote_file_is_not_spliced(mirror: FakeDrive, tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    mirror.drop_after = [1_000_000]
    with pytest.raises(DownloadError):
        _fetch(mirror, part, policy=fetch.RetryPolicy(retries=0))
    new = random.Random(98).randbytes(2_000_000)
    mirror.mirror["a.zip"] = new  # new ETag: If-Range makes the server send it all
    res = _fetch(mirror, part)
    assert part.read_bytes() == new and res.sha256 == hashlib.sha256(new).hexdigest()
    assert mirror.seen[-1].status == 200 and res.restarts == 1


def test_a_part_from_another_source_is_discarded(mirror: FakeDrive, tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    part.write_bytes(b"x" * 500)
    fetch._write_state(part, {"source": "other"})
    res = _fetch(mirror, part)
    assert part.read_bytes() == DATA and res.resumed_from == 0
    assert mirror.seen[0].range is None


def test_complete_part_answered_416_is_not_downloaded_again(
    mirror: FakeDrive, tmp_path: Path
) -> None:
    part = tmp_path / "a.part"
    part.write_bytes(DATA)
    fetch._write_state(part, {"source": "k", "validator": None, "total": len(DATA)})
    res = _fetch(mirror, part)
    assert res.sha256 == SHA and mirror.seen[0].status == 416 and mirror.full_downloads == 0


@pytest.mark.parametrize(
    ("failures", "sleeps"),
    [
        ([(503, "7")], [7.0]),
        ([(429, None), (502, None), (500, None)], [1.0, 2.0, 4.0]),
        ([(503, "Thu, 01 Jan 1970 00:00:00 GMT")], [0.0]),
    ],
)
def test_transient_answers_retry_with_backoff_and_retry_after(
    mirror: FakeDrive, tmp_path: Path, failures: list[tuple[int, str | None]], sleeps: list[float]
) -> None:
    mirror.fail_next = list(failures)
    seen: list[float] = []
    res = _fetch(mirror, tmp_path / "a.part", sleep=seen.append)
    assert res.sha256 == SHA and seen == sleeps


def test_backoff_is_bounded_and_retries_run_out(mirror: FakeDrive, tmp_path: Path) -> None:
    mirror.fail_next = [(503, None)] * 10
    seen: list[float] = []
    policy = fetch.RetryPolicy(retries=5, backoff=1.0, max_backoff=5.0)
    with pytest.raises(DownloadError, match=r"after 6 attempts") as info:
        _fetch(mirror, tmp_path / "a.part", sleep=seen.append, policy=policy)
    assert seen == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert info.value.exit_code == 3


def test_one_attempt_is_said_as_one(mirror: FakeDrive, tmp_path: Path) -> None:
    """--retries 0: the error says "after 1 attempt", never "1 attempt(s)" or "1 attempts"."""
    mirror.fail_next = [(503, None)]
    policy = fetch.RetryPolicy(retries=0)
    with pytest.raises(DownloadError, match=r"after 1 attempt: ") as info:
        _fetch(mirror, tmp_path / "a.part", policy=policy)
    assert "attempt(s)" not in info.value.message


def test_a_retry_after_too_far_away_fails_at_once(mirror: FakeDrive, tmp_path: Path) -> None:
    mirror.fail_next = [(503, "86400")]
    seen: list[float] = []
    with pytest.raises(DownloadError, match="retry after 86400 s"):
        _fetch(mirror, tmp_path / "a.part", sleep=seen.append)
    assert seen == []


def test_not_found_fails_fast_without_retries(mirror: FakeDrive, tmp_path: Path) -> None:
    seen: list[float] = []
    with pytest.raises(drive.Refused) as info:
        fetch.fetch(
            mirror.mirror_url("missing.zip"),
            tmp_path / "a.part",
            session=requests.Session(),
            source_key="k",
            sleep=seen.append,
        )
    assert info.value.page.kind is drive.PageKind.NOT_FOUND and seen == [] and len(mirror.seen) == 1
    assert not (tmp_path / "a.part").exists()


def test_every_request_has_a_timeout(mirror: FakeDrive, tmp_path: Path) -> None:
    mirror.drop_after = [10]
    sess = RecordingSession()
    _fetch(mirror, tmp_path / "a.part", session=sess, policy=fetch.RetryPolicy(timeout=(3, 9)))
    assert len(sess.calls) == 2 and all(c["timeout"] == (3, 9) for c in sess.calls)


def test_a_stalled_server_times_out_and_is_retried(mirror: FakeDrive, tmp_path: Path) -> None:
    mirror.throttle = 0.5  # 64 KiB per half second: the read timeout fires first
    seen: list[float] = []
    policy = fetch.RetryPolicy(retries=1, timeout=(2.0, 0.1))
    with pytest.raises(DownloadError, match=r"after 2 attempts"):
        _fetch(mirror, tmp_path / "a.part", sleep=seen.append, policy=policy)
    assert len(seen) >= 1


def test_ctrl_c_keeps_a_resumable_part(mirror: FakeDrive, tmp_path: Path) -> None:
    mirror.throttle = 0.0005
    part = tmp_path / "a.part"
    with pytest.raises(KeyboardInterrupt):
        _fetch(mirror, part, progress=InterruptingProgress(1_000_000))
    kept = part.stat().st_size
    assert 1_000_000 < kept < len(DATA) and part.read_bytes() == DATA[:kept]
    res = _fetch(mirror, part)
    assert res.sha256 == SHA and part.read_bytes() == DATA
    assert mirror.seen[-1].range == f"bytes={kept}-"


def test_the_html_sniffer_ignores_content_type(fake_drive: FakeDrive, tmp_path: Path) -> None:
    with pytest.raises(drive.Refused) as info:
        fetch.fetch(
            f"{fake_drive.base}/html-mirror/x.zip",
            tmp_path / "x.part",
            session=requests.Session(),
            source_key="k",
        )
    assert info.value.page.kind is drive.PageKind.HTML and info.value.page.title == "Please log in"
    assert not (tmp_path / "x.part").exists()


CD = "Content-Disposition"


@pytest.mark.parametrize(
    ("headers", "url", "name"),
    [
        ({CD: 'attachment; filename="LungSegDB.zip"'}, "http://h/x", "LungSegDB.zip"),
        ({CD: "attachment; filename*=UTF-8''Lung%20DB.zip"}, "http://h/x", "Lung DB.zip"),
        ({CD: 'attachment; filename="../../etc/passwd"'}, "http://h/", "_.._etc_passwd"),
        ({}, "http://h/files/LungSegDB.tar.gz?x=1", "LungSegDB.tar.gz"),
        ({}, "http://h/uc", None),
    ],
)
def test_filename_from_headers(headers: dict[str, str], url: str, name: str | None) -> None:
    assert fetch.filename_from(headers, url) == name


def test_an_unresolvable_host_fails_after_two_short_retries(tmp_path: Path) -> None:
    seen: list[float] = []
    notes = RecordingProgress()
    # .invalid never resolves (RFC 6761), so this asks no server anywhere
    with pytest.raises(DownloadError, match=r"cannot resolve no-such-host\.invalid") as info:
        fetch.fetch(
            "http://no-such-host.invalid/a.zip",
            tmp_path / "a.part",
            session=requests.Session(),
            source_key="k",
            sleep=seen.append,
            progress=notes,
        )
    assert seen == [1.0, 2.0]
    assert len(notes.notes) == 2 and "retrying in 1 s" in notes.notes[0]
    assert "--archive" in info.value.hint


# ---------------------------------------------------------------------------------------------
# URLs that cannot be requested: usage error for ours, download error for the server's
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["http://", "http://h:99999/x", "http://a b/x", "http://[::1", "http:///x"]
)
def test_a_malformed_url_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    from lungsegdb_cli.cli.app import run

    assert run(["download", "--url", url, "--data-dir", str(tmp_path), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"]["kind"] == "usage"
    assert repr(url) in doc["error"]["message"]
    assert not (tmp_path / "downloads").exists()


class _Redirector:
    """A loopback server that answers every GET with a redirect to ``location``."""

    def __init__(self, location: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/a.zip"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("location", ["http://[::1", "http://h:99999/", "ftp://x/y", "/a.zip"])
def test_a_redirect_to_a_url_that_cannot_be_requested_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], location: str
) -> None:
    from lungsegdb_cli.cli.app import run

    server = _Redirector(location)  # "/a.zip": redirects to itself until requests gives up
    try:
        code = run(
            ["download", "--url", server.url, "--no-drive", "--data-dir", str(tmp_path), "--json"]
        )
    finally:
        server.close()
    doc = json.loads(capsys.readouterr().out)
    assert code == 3, doc
    assert doc["error"]["kind"] == "download-failed"
    assert server.url in doc["error"]["message"]
