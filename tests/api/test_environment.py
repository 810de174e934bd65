"""The Python API reads the command line's environment and refuses what the command line refuses:
``LUNGSEGDB_SHA256``, ``LUNGSEGDB_REQUIRE_PIN``, ``LUNGSEGDB_URL(S)``, ``LUNGSEGDB_OFFLINE`` for
``download`` (and so ``PairDataset(download=True)``), the pin for ``verify`` and ``publish``;
a malformed or mistyped pin is a ``UsageError`` (exit 2) from every operation; ``drive=False``
with no other source is one too, never a request to Google Drive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

VARS = (
    "LUNGSEGDB_SHA256",
    "LUNGSEGDB_REQUIRE_PIN",
    "LUNGSEGDB_URL",
    "LUNGSEGDB_URLS",
    "LUNGSEGDB_OFFLINE",
    "LUNGSEGDB_RETRIES",
    "LUNGSEGDB_TIMEOUT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return L.synth(tmp_path_factory.mktemp("env") / "synth", pairs=1, like_kaggle=True)


@pytest.fixture
def data(made: Any, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    L.download(root, archive=made.archive.path)
    return root


WRONG = "0" * 64


@pytest.mark.parametrize(
    ("env", "call", "error", "says"),
    [
        ({"LUNGSEGDB_REQUIRE_PIN": "1"}, "archive", L.UsageError, "pin"),
        ({"LUNGSEGDB_SHA256": WRONG}, "archive", L.ChecksumMismatch, "SHA-256"),
        ({"LUNGSEGDB_SHA256": "abc"}, "archive", L.UsageError, "LUNGSEGDB_SHA256"),
        ({"LUNGSEGDB_OFFLINE": "1"}, "nothing", L.DownloadError, "offline"),
        ({"LUNGSEGDB_RETRIES": "x"}, "archive", L.UsageError, "LUNGSEGDB_RETRIES"),
    ],
    ids=["require-pin", "wrong-pin", "malformed-pin", "offline", "bad-retries"],
)
def test_download_reads_the_command_lines_environment(
    made: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    call: str,
    error: type[Exception],
    says: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kw = {"archive": made.archive.path} if call == "archive" else {}
    with pytest.raises(error) as got:
        L.download(tmp_path / "data", **kw)
    assert says.lower() in str(got.value).lower()
    assert not (tmp_path / "data" / "LungSegDB").exists()


def test_download_takes_its_source_and_pin_from_the_environment(
    made: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUNGSEGDB_URL", Path(made.archive.path).as_uri())
    monkeypatch.setenv("LUNGSEGDB_SHA256", made.archive.sha256)
    monkeypatch.setenv("LUNGSEGDB_REQUIRE_PIN", "1")
    got = L.download(tmp_path / "data", drive=False)
    assert got.action == "downloaded" and got.pinned and got.files == made.files
    assert L.verify(tmp_path / "data").ok


def test_an_argument_wins_over_the_environment(
    made: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUNGSEGDB_SHA256", WRONG)
    monkeypatch.setenv("LUNGSEGDB_OFFLINE", "1")
    got = L.download(
        tmp_path / "data", archive=made.archive.path, sha256=made.archive.sha256, offline=False
    )
    assert got.action == "local-archive"


@pytest.mark.parametrize("op", ["verify", "publish"])
def test_verify_and_publish_take_the_pin_from_the_environment(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    monkeypatch.setenv("LUNGSEGDB_SHA256", WRONG)
    if op == "verify":
        assert L.verify(data).ok is False
    else:
        with pytest.raises(L.CheckFailed):
            L.publish(tmp_path / "mirror", data)
        assert not (tmp_path / "mirror").exists()
    monkeypatch.setenv("LUNGSEGDB_SHA256", "not-a-pin")
    with pytest.raises(L.UsageError, match="LUNGSEGDB_SHA256"):
        getattr(L, op)(data) if op == "verify" else L.publish(tmp_path / "mirror", data)


@pytest.mark.parametrize(
    "pin", ["<pin>", "abc", 123, b"ab" * 32], ids=["placeholder", "short", "int", "bytes"]
)
@pytest.mark.parametrize("op", ["download", "verify", "publish"])
def test_a_malformed_pin_is_exit_2_from_every_operation(
    data: Path, tmp_path: Path, op: str, pin: Any
) -> None:
    with pytest.raises(L.UsageError) as got:
        if op == "publish":
            L.publish(tmp_path / "mirror", data, sha256=pin)
        else:
            getattr(L, op)(data, sha256=pin)
    assert got.value.exit_code == 2
    assert not (tmp_path / "mirror").exists()


def test_drive_false_and_no_source_is_exit_2_not_a_request_to_drive(data: Path) -> None:
    with pytest.raises(L.UsageError, match="no source"):
        L.download(data, drive=False)
    with pytest.raises(L.UsageError, match="no source"):
        L.download(data, drive=False, offline=True)
