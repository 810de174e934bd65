"""One download request: validated once, the same way from Python and from the command line,
before any byte is read; the "Pin it in CI" line repeats the source that was used."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L
from lungsegdb_cli.errors import UsageError

# internals: the request object and its Pin are what the facade and the CLI share
from lungsegdb_cli.sources.request import DownloadRequest, Pin

MALFORMED = ["<pin>", "abc", "g" * 64, "a" * 63, "a" * 65]


def _env() -> dict[str, str]:
    env = dict(os.environ, NO_COLOR="1", CI="1")
    env.pop("LUNGSEGDB_SHA256", None)
    return env


def _fifo(tmp_path: Path) -> Path:
    """An "archive" nobody writes to: opening it for reading blocks forever, so a command that
    reads it before checking the pin hangs (and the test's timeout fails it)."""
    fifo = tmp_path / "LungSegDB.zip"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize("pin", MALFORMED)
def test_a_malformed_pin_is_a_usage_error_from_python_before_reading(
    tmp_path: Path, pin: str
) -> None:
    code = (
        "import sys, lungsegdb_cli as L\n"
        "try:\n"
        f"    L.download({str(tmp_path / 'data')!r}, archive={str(_fifo(tmp_path))!r}, "
        f"sha256={pin!r})\n"
        "except L.UsageError as e:\n"
        "    print(e.exit_code, e.message); sys.exit(0)\n"
        "sys.exit(9)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("2 Malformed SHA-256")


@pytest.mark.parametrize("pin", MALFORMED)
def test_a_malformed_pin_is_exit_2_from_the_cli_before_reading(tmp_path: Path, pin: str) -> None:
    argv = [
        sys.executable,
        "-m",
        "lungsegdb_cli",
        "download",
        "--data-dir",
        str(tmp_path / "data"),
        "--archive",
        str(_fifo(tmp_path)),
        "--sha256",
        pin,
        "--json",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.returncode == 2
    error = json.loads(proc.stdout)["error"]
    assert error["kind"] == "usage" or error["code"] == 2
    assert error["message"].startswith("Malformed SHA-256")


def test_python_and_cli_say_the_same(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as py:
        L.download(tmp_path, sha256="<pin>")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lungsegdb_cli",
            "download",
            "--data-dir",
            str(tmp_path),
            "--sha256",
            "<pin>",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert json.loads(proc.stdout)["error"]["message"] == py.value.message


@pytest.mark.parametrize("pin", ["zz", "<pin>"])
def test_verify_refuses_a_malformed_pin(synth_result: Any, tmp_path: Path, pin: str) -> None:
    with pytest.raises(UsageError, match="Malformed SHA-256"):
        L.verify(synth_result.tree, sha256=pin)


@pytest.mark.parametrize(
    ("algorithm", "value", "expected"),
    [
        ("sha256", "AB" * 32, "ab" * 32),
        ("sha256", "  " + "0f" * 32 + "\n", "0f" * 32),
        ("md5", "C" * 32, "c" * 32),
        ("sha256", "", None),
        ("md5", None, None),
    ],
)
def test_pin_parse(algorithm: str, value: str | None, expected: str | None) -> None:
    pin = Pin.parse(algorithm, value)
    assert (pin.hex if pin else None) == expected


def test_the_request_is_frozen_and_keeps_the_option_names() -> None:
    r = DownloadRequest.build(
        urls=["https://m.example/a.zip"], drive=False, sha256="a" * 64, md5="b" * 32, extract=False
    )
    assert (r.sources, r.drive, r.sha256, r.md5, r.extract) == (
        ("https://m.example/a.zip",),
        False,
        "a" * 64,
        "b" * 32,
        False,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.force = True  # type: ignore[misc]
    single = DownloadRequest.build(url="https://m.example/a.zip")  # one source, no Drive after
    assert single.sources == ("https://m.example/a.zip",) and single.drive is False
    assert DownloadRequest.build().sources == () and DownloadRequest.build().drive is True


@pytest.mark.parametrize(
    ("kw", "command"),
    [
        ({}, "lungsegdb download --sha256 X"),
        (
            {"urls": ["https://m.example/L.zip"]},
            "lungsegdb download --url 'https://m.example/L.zip' --sha256 X",
        ),
        (
            {"urls": ["https://m.example/L.zip"], "drive": False},
            "lungsegdb download --url 'https://m.example/L.zip' --no-drive --sha256 X",
        ),
        (
            {"urls": ["https://u:PW@m.example/L.zip?token=T"]},
            "lungsegdb download --url 'https://***@m.example/L.zip?token=***' --sha256 X",
        ),
        ({"archive": "/data/L.zip"}, "lungsegdb download --archive '/data/L.zip' --sha256 X"),
        (
            {"archive": "/data/Bob's L.zip"},
            "lungsegdb download --archive '/data/Bob'\"'\"'s L.zip' --sha256 X",
        ),
    ],
    ids=["drive", "mirror", "mirror-no-drive", "secret-redacted", "archive", "quote-in-path"],
)
def test_the_pin_line_repeats_the_source(kw: dict[str, Any], command: str) -> None:
    assert DownloadRequest.build(**kw).command("X") == command


def test_pin_line_after_archive_names_the_file(synth_result: Any, tmp_path: Path) -> None:
    result = L.download(tmp_path / "data", archive=synth_result.archive.path)
    archive = synth_result.archive.path
    assert result.pin_hint is not None
    assert result.pin_hint.startswith(
        f"Pin it in CI: lungsegdb download --archive '{archive}' --sha256 {result.archive.sha256}"
    )


@pytest.mark.parametrize(
    ("url", "transport"),
    [
        ("https://drive.google.com/uc?id=X", "_by_http"),
        ("http://127.0.0.1:1/LungSegDB.zip", "_by_http"),
        ("s3://bucket/LungSegDB.zip", "_by_fsspec"),
        ("gs://bucket/LungSegDB.zip", "_by_fsspec"),
        ("hf://datasets/x/LungSegDB.zip", "_by_fsspec"),
        ("file:///data/LungSegDB.zip", "_by_file"),
    ],
)
def test_the_transport_is_chosen_by_scheme(url: str, transport: str) -> None:
    from lungsegdb_cli.sources.fetch import choose_transport  # internals: the scheme table

    assert choose_transport(url).__name__ == transport


def test_a_scheme_without_a_transport_is_a_usage_error() -> None:
    from lungsegdb_cli.sources.fetch import choose_transport  # internals: the scheme table

    with pytest.raises(UsageError, match="no transport for ftp"):
        choose_transport("ftp://example.org/LungSegDB.zip")


#: (id, a malformed --storage-option, what the message says instead of the item)
MALFORMED_OPTIONS = [
    ("no-equals", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "it has no '='"),
    ("colon-instead", "secret:wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "it has no '='"),
    ("no-name", "=wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "not an option name"),
    ("not-a-name", "se cret=wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "not an option name"),
]


@pytest.mark.parametrize(
    ("item", "says"), [c[1:] for c in MALFORMED_OPTIONS], ids=[c[0] for c in MALFORMED_OPTIONS]
)
def test_a_malformed_storage_option_shows_nothing_of_it(
    item: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Audit S 6: without its NAME= an item may be a pasted secret: no part of it is shown;
    the message reads as written (NAME=VALUE, not the redactor's ``KEY=***``)."""
    from lungsegdb_cli.cli.app import run

    argv = ["download", "--url", "s3://b/k.zip", "--storage-option", item, "--no-drive"]
    code = run([*argv, "--data-dir", str(tmp_path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    message = doc["error"]["message"]
    assert code == 2 and says in message and "NAME=VALUE" in message
    assert "wJalrXUtnFEMI" not in json.dumps(doc) and "***" not in message
