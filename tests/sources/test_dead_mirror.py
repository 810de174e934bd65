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


class _Redirect:
    """A live mirror on 127.0.0.1 that answers every GET with a 302 to ``location``."""

    def __init__(self, location: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("via", ["redirect", "proxy", "https-proxy"])
def test_a_refused_connection_names_who_refused(
    via: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit S 9: the host named is the one that refused -- a redirect's target, not the live
    mirror that redirected there; the proxy, not the mirror behind it -- and the hint sends
    the user there."""
    dead = f"127.0.0.1:{_closed_port()}"
    for var in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    mirror = _Redirect(f"http://{dead}/LungSegDB.zip")
    try:
        if via == "proxy":
            monkeypatch.setenv("http_proxy", f"http://{dead}")
            monkeypatch.setenv("HTTP_PROXY", f"http://{dead}")
            url = "http://mirror.example/LungSegDB.zip"
        elif via == "https-proxy":  # a tunnel (CONNECT): urllib3's pool is the target's
            monkeypatch.setenv("https_proxy", f"http://{dead}")
            monkeypatch.setenv("HTTPS_PROXY", f"http://{dead}")
            url = "https://mirror.example/LungSegDB.zip"
        else:
            monkeypatch.delenv("http_proxy", raising=False)
            monkeypatch.delenv("HTTP_PROXY", raising=False)
            url = f"http://{mirror.address}/LungSegDB.zip"
        with pytest.raises(L.DownloadError) as caught:
            L.download(tmp_path, url=url, drive=False, retries=0)
    finally:
        mirror.close()
    err = caught.value
    if via != "redirect":
        assert f"connection refused by the proxy {dead}" in err.message
        assert f"Check the proxy {dead}" in err.hint and "mirror.example" not in err.message
    else:
        assert f"connection refused by {dead}" in err.message
        assert f"redirected to {dead}" in err.hint
        assert f"refused by {mirror.address}" not in err.message
