"""``download`` over HTTPS, as Drive serves it: the Drive fake with a throwaway CA
(``support/tls.py``), the body read in 1 MiB blocks, resume after a cut, and ``--md5``."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
import requests
from support.downloads import run_download
from support.drive_fake import FakeDrive
from support.fakes import RecordingProgress
from support.tls import LoopbackTLS

# internals: exercises cli/app, dataset, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.sources.http import transfer as fetch
from lungsegdb_cli.sources.http.body import BodyReader

FID = dataset.DRIVE_ID
MiB = 1 << 20
DATA = random.Random(14).randbytes(3 * MiB + 12_345)  # seeded: same bytes on every worker
SHA = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LoopbackTLS:
    """One throwaway CA and loopback certificate for the whole session."""
    return LoopbackTLS.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_drive(tls: LoopbackTLS, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Drive fake over HTTPS, trusted through ``REQUESTS_CA_BUNDLE``; serving ``DATA`` as
    the mirror file ``a.zip`` and as the dataset's (large) Drive file."""
    with FakeDrive(https=tls) as fake:
        fake.mirror["a.zip"] = DATA
        fake.add(FID, DATA, large=True)
        for name, value in tls.client_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LUNGSEGDB_DRIVE_ENDPOINT", fake.base)
        monkeypatch.delenv("LUNGSEGDB_URL", raising=False)
        monkeypatch.delenv("LUNGSEGDB_SHA256", raising=False)
        yield fake


class CountingProgress(RecordingProgress):
    """Counts ``advance`` calls: one per block written."""

    def __init__(self) -> None:
        super().__init__()
        self.advance_calls = 0

    def advance(self, amount: int = 1) -> None:
        super().advance(amount)
        self.advance_calls += 1


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = run(["download", *args, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


# ---------------------------------------------------------------------------------------------
# The certificate and the fake
# ---------------------------------------------------------------------------------------------
def test_the_fake_serves_https_that_only_our_bundle_trusts(
    https_drive: FakeDrive, tls: LoopbackTLS
) -> None:
    url = https_drive.mirror_url("a.zip")
    assert url.startswith("https://127.0.0.1:")
    assert requests.get(url, timeout=30).content == DATA  # REQUESTS_CA_BUNDLE is ours
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=30, verify=str(_other_ca(tls)))


def _other_ca(tls: LoopbackTLS) -> Path:
    """A bundle with another throwaway CA only: the fake's certificate is not trusted."""
    other = LoopbackTLS.create(tls.ca_only.parent / "other")
    return other.ca_only


def test_the_bundle_keeps_the_machines_own_cas(
    tls: LoopbackTLS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = tmp_path / "machine.pem"
    machine.write_text("-----BEGIN CERTIFICATE-----\nMACHINE\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(machine))
    made = LoopbackTLS.create(tmp_path / "ca")
    text = made.ca_bundle.read_text()
    assert "MACHINE" in text and made.ca_only.read_text() in text


# ---------------------------------------------------------------------------------------------
# Reading the body in blocks
# ---------------------------------------------------------------------------------------------
def test_a_tls_body_is_read_a_whole_block_per_call(https_drive: FakeDrive) -> None:
    """One ``readinto`` fills the 1 MiB buffer (urllib3's ``read1`` returned one ~16 KiB TLS
    record per call)."""
    with requests.get(https_drive.mirror_url("a.zip"), stream=True, timeout=30) as resp:
        body = BodyReader(resp)
        view = memoryview(bytearray(MiB))
        sizes = []
        while n := body.readinto(view):
            sizes.append(n)
    assert sizes == [MiB, MiB, MiB, 12_345]


def test_fetch_over_https_writes_and_hashes_one_block_at_a_time(
    https_drive: FakeDrive, tmp_path: Path
) -> None:
    progress = CountingProgress()
    part = tmp_path / "a.part"
    res = fetch.fetch(
        https_drive.mirror_url("a.zip"),
        part,
        session=requests.Session(),
        source_key="k",
        progress=progress,
        sleep=lambda s: None,
    )
    assert part.read_bytes() == DATA and (res.sha256, res.size) == (SHA, len(DATA))
    assert res.md5 is None  # not asked for: not computed
    assert progress.advance_calls == 4  # 3 full blocks and the rest: one write each


def test_resume_over_https_after_a_cut_connection(https_drive: FakeDrive, tmp_path: Path) -> None:
    https_drive.drop_after = [1_500_000]  # mid-block: the TLS stream just stops
    sleeps: list[float] = []
    res = fetch.fetch(
        https_drive.mirror_url("a.zip"),
        tmp_path / "a.part",
        session=requests.Session(),
        source_key="k",
        sleep=sleeps.append,
        md5=True,
    )
    assert (res.sha256, res.md5) == (SHA, MD5) and (tmp_path / "a.part").read_bytes() == DATA
    assert [s.range for s in https_drive.seen] == [None, "bytes=1500000-"]
    assert [s.status for s in https_drive.seen] == [200, 206]
    assert sum(s.sent for s in https_drive.seen) == len(DATA)  # no byte fetched twice
    assert len(sleeps) == 1


# ---------------------------------------------------------------------------------------------
# download over HTTPS, and --md5
# ---------------------------------------------------------------------------------------------
def test_download_through_the_drive_flow_over_https(https_drive: FakeDrive, tmp_path: Path) -> None:
    res = run_download(paths.resolve(tmp_path), extract=False, sleep=lambda s: None)
    assert res.action == "downloaded" and Path(res.archive.path).read_bytes() == DATA
    assert [s.path for s in https_drive.seen] == ["/uc", "/download", "/download"]
    assert res.archive.sha256 == SHA and res.archive.md5 is None
    rec = json.loads((tmp_path / ".lungsegdb" / "provenance.json").read_text())
    assert rec["final_url"].startswith("https://") and rec["md5"] is None


@pytest.mark.parametrize(
    ("md5", "code", "kind"),
    [
        (MD5, 0, None),
        (MD5.upper(), 0, None),
        ("0" * 32, 1, "checksum-mismatch"),
        ("abc", 2, "usage"),
        ("g" * 32, 2, "usage"),
        (SHA, 2, "usage"),  # a SHA-256 given as the MD5
    ],
)
def test_md5_pin(
    https_drive: FakeDrive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    md5: str,
    code: int,
    kind: str | None,
) -> None:
    url = https_drive.mirror_url("a.zip")
    got, doc = _cli(capsys, "--url", url, "--no-extract", "--md5", md5, "--data-dir", str(tmp_path))
    assert got == code
    downloads = tmp_path / "downloads"
    if code == 0:
        assert doc["archive"]["md5"] == MD5 and doc["archive"]["sha256"] == SHA
        rec = json.loads((tmp_path / ".lungsegdb" / "provenance.json").read_text())
        assert rec["md5"] == MD5
        return
    assert doc["ok"] is False and doc["error"]["kind"] == kind
    if code == 2:
        assert "MD5" in doc["error"]["message"] and not https_drive.seen  # before any request
        return
    ctx = doc["error"]["context"]
    assert ctx["algorithm"] == "md5" and ctx["expected"] == "0" * 32 and ctx["actual"] == MD5
    assert (downloads / "a.zip.rejected").read_bytes() == DATA  # kept aside, as for SHA-256
    assert not (downloads / "a.zip").exists()
    assert not (tmp_path / ".lungsegdb" / "provenance.json").exists()


def test_a_recorded_md5_pin_is_up_to_date_and_another_is_not(
    https_drive: FakeDrive, tmp_path: Path
) -> None:
    root = paths.resolve(tmp_path)
    run_download(root, extract=False, md5=MD5, sleep=lambda s: None)
    n = len(https_drive.seen)
    again = run_download(root, extract=False, md5=MD5, sleep=lambda s: None)
    assert again.action == "up-to-date" and len(https_drive.seen) == n
    with pytest.raises(Exception, match="MD5 mismatch"):
        run_download(root, extract=False, md5="1" * 32, sleep=lambda s: None)
    assert len(https_drive.seen) > n  # not matched by the record: fetched and checked


def test_a_slow_https_body_is_cut_by_the_watchdog(https_drive: FakeDrive, tmp_path: Path) -> None:
    """Over TLS too, a read that overruns the rate window is ended by shutting the socket
    down (the TLS layer would otherwise wait for the rest of the record): the transfer stops
    about one window later, the ``.part`` removed."""
    import time

    from lungsegdb_cli.errors import DownloadTooSlow
    from lungsegdb_cli.sources.http.bounds import Bounds

    https_drive.throttle = 10.0  # 64 KiB every 10 s: ~7 KB/s, under the 200 KB/s asked for
    part = tmp_path / "a.part"
    t0 = time.monotonic()
    with pytest.raises(DownloadTooSlow):
        fetch.fetch(
            https_drive.mirror_url("a.zip"),
            part,
            session=requests.Session(),
            source_key="k",
            bounds=Bounds(min_rate=200_000.0, window=1.0),
        )
    assert time.monotonic() - t0 < 8  # cut before the server's first 10 s pause ended
    assert not part.exists()
