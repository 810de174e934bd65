"""Hostile HTTP servers (audit N), served by the Drive fake on 127.0.0.1: a file name the
server chooses that is too long for the commit's names, a resume answered with bytes of another
version (If-Range ignored), a range answered in part, a part of the file for the whole of it,
and TLS spoken to a plain-HTTP server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from support.downloads import run_download
from support.drive_fake import FakeDrive
from support.fakes import InterruptingProgress

import lungsegdb_cli as L

# internals: the download machinery with its injected clock and sleep (no real waiting)
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import DownloadError


def _dl(root: Path, url: str, **kw: Any) -> Any:
    kw.setdefault("sleep", lambda s: None)
    return run_download(paths.resolve(root), urls=[url], drive=False, **kw)


def _half_then_stop(drive: FakeDrive, root: Path, url: str, size: int) -> int:
    """A first run cut by Ctrl-C about half way: its ``.part`` is left to resume."""
    drive.throttle = 0.0005
    with pytest.raises(KeyboardInterrupt):
        _dl(root, url, progress=InterruptingProgress(size // 2))
    drive.throttle = 0.0
    (part,) = (root / "downloads").glob("*.part")
    return part.stat().st_size


@pytest.mark.parametrize("length", [240, 300])
def test_a_long_name_from_the_server_does_not_break_the_data_dir(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path, length: int
) -> None:
    """The URL's last segment (or Content-Disposition) named the archive whatever its length:
    240 characters made the commit's ``.<name>.old-<txid>`` too long *after* the commit point,
    and every later command failed (exit 5) for good. A name over 120 bytes is not used."""
    name = "a" * (length - 4) + ".zip"
    fake_drive.mirror[name] = archive
    first = _dl(tmp_path, fake_drive.mirror_url(name))
    assert first.archive.path.name == "LungSegDB.zip" and first.files == 24
    again = _dl(tmp_path, fake_drive.mirror_url(name), force=True)
    assert again.files == 24 and L.verify(tmp_path).ok and L.info(tmp_path).state == "extracted"


def test_a_resume_answered_with_another_version_starts_again(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """The mirror's file changed (same size) and the server ignores If-Range: its 206 carries
    the new ETag. The rest of the new version was appended to the old half ("never spliced",
    sources.md); now the run starts again from byte 0 and gets the new file whole."""
    old = bytearray(archive)
    old[100:110] = b"0123456789"  # an old version: same size, other bytes in the first half
    fake_drive.mirror["LungSegDB.zip"] = bytes(old)
    url = fake_drive.mirror_url("LungSegDB.zip")
    _half_then_stop(fake_drive, tmp_path, url, len(archive))
    fake_drive.mirror["LungSegDB.zip"] = archive
    fake_drive.ignore_if_range = True
    res = _dl(tmp_path, url)
    assert res.restarts == 1 and res.archive.sha256 == hashlib.sha256(archive).hexdigest()
    assert any("the file changed on the server" in r for r in res.retries)


def test_a_206_with_a_date_where_the_200_had_an_etag_is_no_other_version(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """Audit H4: the check above compared the 206's Last-Modified with the 200's ETag, found
    them unequal, and restarted every resume (60 requests, exit 3). Only like is compared."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    url = fake_drive.mirror_url("LungSegDB.zip")
    kept = _half_then_stop(fake_drive, tmp_path, url, len(archive))
    fake_drive.no_etag_on_206 = True
    res = _dl(tmp_path, url)
    assert (res.restarts, res.resumed_from) == (0, kept) and res.files == 24


def test_a_range_answered_in_part_is_continued_not_taken_whole(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """A server capping a range at 100,000 bytes: the run asks for the rest until the file is
    whole (the short answer was committed as the archive, then rejected as corrupt)."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    url = fake_drive.mirror_url("LungSegDB.zip")
    kept = _half_then_stop(fake_drive, tmp_path, url, len(archive))
    fake_drive.range_cap = 100_000
    res = _dl(tmp_path, url)
    assert res.resumed_from == kept and res.files == 24
    assert res.archive.sha256 == hashlib.sha256(archive).hexdigest()
    ranges = [s for s in fake_drive.seen if s.status == 206]
    assert len(ranges) >= (len(archive) - kept) // 100_000


def test_a_part_for_the_whole_file_is_a_counted_failure(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """206 to a request for the whole file: 60 requests back to back, ``--retries`` ignored,
    "did not complete in 60 attempts". Now each is a failure with its backoff and reason."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    fake_drive.partial_for_whole = True
    waits: list[float] = []
    with pytest.raises(DownloadError, match="206") as info:
        _dl(tmp_path, fake_drive.mirror_url("LungSegDB.zip"), retries=2, sleep=waits.append)
    assert info.value.exit_code == 3 and len(fake_drive.seen) == 3 and len(waits) == 2


def test_tls_to_a_plain_http_server_fails_at_once_and_says_so(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """``https://`` to a server speaking plain HTTP was retried 7 times (~64 s) with urllib3's
    text; a TLS failure is the same on every try: not retried, and the message says why."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    url = fake_drive.mirror_url("LungSegDB.zip").replace("http://", "https://")
    waits: list[float] = []
    with pytest.raises(DownloadError, match="does not speak TLS") as info:
        _dl(tmp_path, url, sleep=waits.append)
    assert info.value.exit_code == 3 and waits == [] and "http://" in info.value.hint


def test_an_answer_that_contradicts_itself_is_called_malformed(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """Two different Content-Length headers: "The server sent a URL that cannot be
    requested" named a URL where there was none."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    fake_drive.second_length = 100
    with pytest.raises(DownloadError, match="answer is malformed") as info:
        _dl(tmp_path, fake_drive.mirror_url("LungSegDB.zip"))
    assert info.value.exit_code == 3 and "URL that cannot be requested" not in info.value.message


def test_numbers_from_the_server_are_shown_as_sent(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    """A huge Retry-After was shown with a float's digits (99999999999999991611392 s)."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    fake_drive.fail_next = [(503, "99999999999999999999999")]
    with pytest.raises(DownloadError) as info:
        _dl(tmp_path, fake_drive.mirror_url("LungSegDB.zip"))
    assert "retry after 99999999999999999999999 s" in info.value.message
