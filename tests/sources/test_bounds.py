"""Bounded transfers: a hostile mirror on 127.0.0.1 that trickles, never ends, or sends more
than the pinned archive or its own Content-Length; the cap and minimum rate that stop it (exit
3, the ``.part`` removed); the environment that sets them; the pieces (cap, rate guard,
watchdog) with an injected clock."""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from support.fakes import RecordingProgress, finishes
from support.hostile import Hostile

# internals: exercises cli/app, sources/http, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.errors import DownloadTooLarge, DownloadTooSlow, UsageError
from lungsegdb_cli.sources.http import transfer as fetch
from lungsegdb_cli.sources.http.bounds import Bounds, RateGuard
from lungsegdb_cli.sources.http.watchdog import Watchdog

#: seeded: the same bytes on every worker; not HTML, not an archive
HEAD = random.Random(24).randbytes(200_000)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "LUNGSEGDB_URL",
        "LUNGSEGDB_URLS",
        "LUNGSEGDB_SHA256",
        "LUNGSEGDB_MAX_DOWNLOAD",
        "LUNGSEGDB_MIN_RATE",
        "LUNGSEGDB_RATE_WINDOW",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def archive(synth_result: Any) -> Path:
    return Path(synth_result.archive.path)


def _download(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = finishes(lambda: run(["download", "--json", *args]), timeout=60)
    return code, json.loads(capsys.readouterr().out)


def _from(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """``download`` from ``url`` alone (no Drive fallback)."""
    return _download(capsys, "--url", url, "--no-drive", *args)


def _leftovers(root: Path) -> list[str]:
    """What a failed download left in ``downloads/``."""
    folder = root / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ---------------------------------------------------------------------------------------------
# The hostile mirror, through the command line
# ---------------------------------------------------------------------------------------------
def test_a_trickling_mirror_is_stopped_within_the_rate_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 KB at once, then a byte every 50 ms of the 1 MB announced: under 1 KB/s over 1 s,
    so it stops about a second after the last good read, instead of in days."""
    monkeypatch.setenv("LUNGSEGDB_MIN_RATE", "1")
    monkeypatch.setenv("LUNGSEGDB_RATE_WINDOW", "1")
    with Hostile(body=HEAD, announce=1_000_000, trickle=0.05) as mirror:
        t0 = time.monotonic()
        code, doc = _from(mirror.url, capsys, "--data-dir", str(tmp_path))
        took = time.monotonic() - t0
    error = doc["error"]
    assert code == 3 and error["kind"] == "download-too-slow", error
    assert "LUNGSEGDB_MIN_RATE" in error["message"] and "--url" in error["hint"]
    assert took < 20  # the window (1 s) and the watchdog's poll, on a busy machine
    assert _leftovers(tmp_path) == []  # the .part and its sidecar are gone


def test_an_endless_body_without_a_length_stops_at_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUNGSEGDB_MAX_DOWNLOAD", "300000")
    with Hostile(body=HEAD, endless=True) as mirror:
        code, doc = _from(mirror.url, capsys, "--data-dir", str(tmp_path))
    error = doc["error"]
    assert code == 3 and error["kind"] == "download-too-large", error
    assert "300,000 bytes" in error["message"] and "LUNGSEGDB_MAX_DOWNLOAD" in error["message"]
    assert "LUNGSEGDB_MAX_DOWNLOAD" in error["hint"]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "announce", [None, "more"], ids=["no-length", "announces-more-than-the-pin"]
)
def test_a_body_past_the_pinned_size_stops_there(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], announce: str | None
) -> None:
    """The archive was used here before (``--archive``), so its size is known from the pin:
    a source sending more (the archive and then junk) is stopped there, or refused before
    its body when it announces more; the tree and its record stay as they were."""
    data = archive.read_bytes()
    pin = hashlib.sha256(data).hexdigest()
    code, _ = _download(
        capsys, "--archive", str(archive), "--sha256", pin, "--data-dir", str(tmp_path)
    )
    assert code == 0
    record = (tmp_path / ".lungsegdb" / "provenance.json").read_bytes()
    length = None if announce is None else len(data) + 5000
    with Hostile(body=data, extra=5000, announce=length) as mirror:
        code, doc = _from(
            mirror.url, capsys, "--sha256", pin, "--force", "--data-dir", str(tmp_path)
        )
    error = doc["error"]
    assert code == 3 and error["kind"] == "download-too-large", error
    assert f"{len(data):,}" in error["message"] and "pin" in error["message"]
    assert _leftovers(tmp_path) == []
    assert (tmp_path / ".lungsegdb" / "provenance.json").read_bytes() == record
    assert run(["verify", "--data-dir", str(tmp_path), "--quiet"]) == 0


def test_bytes_past_the_content_length_are_never_written(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The announced length bounds what is kept: the junk after it is not read."""
    data = archive.read_bytes()
    pin = hashlib.sha256(data).hexdigest()
    with Hostile(body=data, extra=100_000, announce=len(data)) as mirror:
        code, doc = _from(mirror.url, capsys, "--sha256", pin, "--data-dir", str(tmp_path))
    assert code == 0 and doc["archive"]["size"] == len(data), doc
    assert Path(doc["archive"]["path"]).read_bytes() == data


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("LUNGSEGDB_MAX_DOWNLOAD", "0"),
        ("LUNGSEGDB_MAX_DOWNLOAD", "lots"),
        ("LUNGSEGDB_MIN_RATE", "nan"),
        ("LUNGSEGDB_RATE_WINDOW", "-1"),
    ],
)
def test_a_bad_bound_in_the_environment_is_exit_2_before_any_request(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    var: str,
    value: str,
) -> None:
    monkeypatch.setenv(var, value)
    with Hostile(body=HEAD, announce=len(HEAD)) as mirror:
        code, doc = _from(mirror.url, capsys, "--data-dir", str(tmp_path))
        sent = mirror.sent
    assert code == 2 and doc["error"]["kind"] == "usage" and var in doc["error"]["message"]
    assert sent == 0 and _leftovers(tmp_path) == []


def test_an_fsspec_source_bigger_than_the_pinned_archive_is_refused(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = archive.read_bytes()
    pin = hashlib.sha256(data).hexdigest()
    assert (
        _download(
            capsys, "--archive", str(archive), "--sha256", pin, "--data-dir", str(tmp_path / "d")
        )[0]
        == 0
    )
    bigger = tmp_path / "mirror" / "LungSegDB.zip"
    bigger.parent.mkdir()
    bigger.write_bytes(data + b"\x00" * 1000)
    code, doc = _from(
        bigger.as_uri(), capsys, "--sha256", pin, "--force", "--data-dir", str(tmp_path / "d")
    )
    assert code == 3 and doc["error"]["kind"] == "download-too-large", doc
    assert _leftovers(tmp_path / "d") == []


# ---------------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------------
def test_the_cap_is_the_pin_then_the_announced_length_then_the_maximum() -> None:
    bounds = Bounds(max_download=5000)
    assert bounds.cap(None).limit == 5000 and bounds.cap(123_456).limit == 123_456
    pinned = bounds.pinned(777)
    assert pinned.cap(None).limit == 777 and pinned.cap(700).limit == 777
    with pytest.raises(DownloadTooLarge, match="announces 778 bytes"):
        pinned.cap(778)


def test_bounds_from_the_environment() -> None:
    env = {
        "LUNGSEGDB_MAX_DOWNLOAD": "1e6",
        "LUNGSEGDB_MIN_RATE": "2.5",
        "LUNGSEGDB_RATE_WINDOW": "30",
    }
    assert Bounds.from_env(env) == Bounds(max_download=1_000_000, min_rate=2500.0, window=30.0)
    assert Bounds.from_env({}) == Bounds(
        max_download=4_000_000_000, min_rate=10_000.0, window=120.0
    )
    with pytest.raises(UsageError, match="LUNGSEGDB_MIN_RATE"):
        Bounds.from_env({"LUNGSEGDB_MIN_RATE": "inf"})


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_read_asks_for_one_window_of_bytes_and_must_get_them_in_time() -> None:
    clock = FakeClock()
    guard = RateGuard(Bounds(min_rate=1000.0, window=2.0), clock)  # 2,000 bytes per read
    asked: list[int] = []

    def read(seconds: float) -> Any:
        def fn(view: memoryview) -> int:
            asked.append(len(view))
            clock.now += seconds
            return len(view)

        return fn

    view = memoryview(bytearray(10_000))
    size, start = guard.begin(len(view), None)
    assert read(1.9)(view[:size]) == 2000 and asked == [2000]
    guard.end(start)
    size, start = guard.begin(len(view), None)
    read(2.1)(view[:size])
    with pytest.raises(DownloadTooSlow, match="fewer than 2,000 bytes arrived in 2 s"):
        guard.end(start)
    guard.close()


def test_the_watchdog_cuts_a_read_that_overruns_its_deadline() -> None:
    cut: list[bool] = []
    dog = Watchdog(poll=0.01)
    dog.arm(time.monotonic() + 0.05, lambda: cut.append(True))
    deadline = time.monotonic() + 10
    while not cut and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cut == [True] and dog.disarm() is True
    dog.arm(time.monotonic() + 60, lambda: cut.append(True))
    assert dog.disarm() is False and cut == [True]
    dog.close()


class Body(io.BytesIO):
    def readinto(self, view: Any) -> int:  # type: ignore[override]
        return super().readinto(view)  # type: ignore[arg-type]


def test_a_body_longer_than_announced_is_refused_not_restarted(tmp_path: Path) -> None:
    """More bytes than the answer announced is not a reason to start again (the server would
    do the same): it stops the transfer."""
    transfer = fetch._Transfer(
        "http://h/a.zip",
        tmp_path / "a.part",
        session=None,
        source_key="k",
        progress=RecordingProgress(),
        sleep=lambda s: None,
        policy=fetch.RetryPolicy(chunk_size=1000),
        before_body=None,
        description="Downloading",
    )
    with transfer, pytest.raises(DownloadTooLarge, match="more than 2,500 bytes"):
        transfer.stream(Body(b"x" * 4000), "wb", 2500)
    assert transfer.restarts == 0 and (tmp_path / "a.part").stat().st_size == 2000
