"""A mirror with nothing listening fails fast and says so in plain words; a mirror that
answers 503 still gets its retries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.downloads import run_download

import lungsegdb_cli as L

# internals: the transfer's retry policy, to keep the 503 case short
from lungsegdb_cli.dataset.paths import resolve
from lungsegdb_cli.sources.http.transfer import RetryPolicy


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_mirror_fails_in_seconds_naming_the_host(tmp_path: Path) -> None:
    port = _closed_port()
    argv = [
        sys.executable,
        "-m",
        "lungsegdb_cli",
        "download",
        "--url",
        f"http://127.0.0.1:{port}/LungSegDB.zip",
        "--no-drive",
        "--data-dir",
        str(tmp_path),
        "--json",
    ]
    env = dict(os.environ, CI="1", NO_COLOR="1")
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3
    error = json.loads(proc.stdout)["error"]
    assert f"connection refused by 127.0.0.1:{port}" in error["message"]
    assert "pass a mirror" not in error["hint"] and f"127.0.0.1:{port}" in error["hint"]
    # fast by construction, not by a stopwatch: two attempts, one wait of the 1 s back-off
    # (the default policy spent 6 retries and 63 s of back-off on it)
    assert error["message"].startswith("Download failed after 2 attempts")
    assert proc.stderr.count("retrying in 1 s") == 1


def test_a_mirror_answering_503_still_gets_its_retries(tmp_path: Path, fake_drive: Any) -> None:
    fake_drive.mirror["LungSegDB.zip"] = b"PK" + bytes(100)
    fake_drive.fail_next = [(503, None)] * 10
    url = fake_drive.mirror_url("LungSegDB.zip")
    waits: list[float] = []
    with pytest.raises(L.DownloadError):
        run_download(
            resolve(tmp_path),
            urls=[url],
            drive=False,
            sleep=waits.append,
            policy=RetryPolicy(retries=3),
        )
    assert len(waits) == 3  # every retry of the policy, not the refused connection's one


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--retries", "-1"], "--retries must be a whole number from 0 to 100"),
        (["--retries", "101"], "--retries must be a whole number from 0 to 100"),
        (["--timeout", "0"], "--timeout must be seconds above 0"),
        (["--timeout", "9999"], "--timeout must be seconds above 0"),
    ],
)
def test_bad_retries_or_timeout_is_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    with pytest.raises(L.UsageError, match=message.replace("-", r"\-")):
        kw = {argv[0].lstrip("-"): float(argv[1]) if argv[0] == "--timeout" else int(argv[1])}
        L.download(tmp_path, offline=True, **kw)


def test_retries_and_timeout_reach_the_transfer(tmp_path: Path, fake_drive: Any) -> None:
    """``--retries 1``: one retry of a 503, then the error (the default policy would wait 6)."""
    fake_drive.mirror["LungSegDB.zip"] = b"PK" + bytes(100)
    fake_drive.fail_next = [(503, None)] * 10
    env = dict(os.environ, CI="1", NO_COLOR="1", LUNGSEGDB_RETRIES="1", LUNGSEGDB_TIMEOUT="5")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "download",
            "--url",
            fake_drive.mirror_url("LungSegDB.zip"),
            "--no-drive",
            "--data-dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"]["message"].startswith("Download failed after 2 ")
