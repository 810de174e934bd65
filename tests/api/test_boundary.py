"""The Python API gives the typed error the command gives for the same input (README: "errors
carry the command's exit code"): an ``OSError`` nothing mapped (a data dir whose name is too
long) is the command's ``local-failure`` (exit 5), the same document; a NUL byte in any
argument is a usage error (exit 2) before anything runs -- never a raw ``OSError`` or
``ValueError: embedded null byte``."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L
from lungsegdb_cli import errors

#: (name, the Python call on a too-long data dir, the same command's argv)
LONG_CASES: list[tuple[str, Callable[[str], Any], list[str]]] = [
    ("verify", lambda d: L.verify(d), ["verify"]),
    ("info", lambda d: L.info(d), ["info"]),
    ("download", lambda d: L.download(d, offline=True), ["download", "--offline"]),
    ("validate", lambda d: L.validate(d), ["validate"]),
    ("stats", lambda d: L.stats(d), ["stats"]),
    ("pairs", lambda d: L.pairs(d), ["pairs"]),
    ("clean", lambda d: L.clean(d), ["clean"]),
]


@pytest.mark.parametrize(
    ("call", "argv"), [c[1:] for c in LONG_CASES], ids=[c[0] for c in LONG_CASES]
)
def test_a_name_too_long_is_the_commands_local_failure(
    tmp_path: Path, call: Callable[[str], Any], argv: list[str]
) -> None:
    long_dir = str(tmp_path / ("a" * 300))
    with pytest.raises(L.LocalError) as info:
        call(long_dir)
    exc = info.value
    assert int(exc.exit_code) == 5 and exc.kind == "local-failure"
    assert isinstance(exc.__cause__, OSError) and exc.__cause__.errno == errno.ENAMETOOLONG
    proc = subprocess.run(
        [sys.executable, "-m", "lungsegdb_cli", *argv, "--json", "--data-dir", long_dir],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 5
    assert json.loads(proc.stdout)["error"] == json.loads(json.dumps(exc.to_dict()))


#: (name, a call with a NUL byte in one argument, the argument's name); ``tree``: a data dir
NUL_CASES: list[tuple[str, Callable[[Path, Path], Any], str]] = [
    ("info", lambda tmp, tree: L.info("/tmp/a\0b"), "data_dir"),
    ("verify", lambda tmp, tree: L.verify(tmp / "a\0b"), "data_dir"),
    ("synth", lambda tmp, tree: L.synth(tmp / "a\0b", pairs=1), "out"),
    ("export-out", lambda tmp, tree: L.export("csv", tmp / "a\0b", tree), "out"),
    ("export-data-dir", lambda tmp, tree: L.export("csv", tmp / "x", "a\0b"), "data_dir"),
    ("stats-csv", lambda tmp, tree: L.stats(tree, csv=tmp / "a\0b.csv"), "csv"),
    ("extract", lambda tmp, tree: L.extract(tmp / "d", archive="a\0b.zip"), "archive"),
    ("download-urls", lambda tmp, tree: L.download(tmp / "d", urls=["file:///a\0b"]), "urls"),
    ("check_export", lambda tmp, tree: L.check_export(tmp / "a\0b"), "out"),
    ("preview", lambda tmp, tree: L.preview(tmp / "a\0b.png", tree), "out"),
    ("croissant", lambda tmp, tree: L.croissant(tree, out=tmp / "a\0b.json"), "out"),
    ("split-out", lambda tmp, tree: L.split(tree, out=tmp / "a\0b.json"), "out"),
    ("publish", lambda tmp, tree: L.publish(tmp / "a\0b", tree), "dest"),
    ("clean", lambda tmp, tree: L.clean(b"a\0b"), "data_dir"),
]


@pytest.mark.parametrize(
    ("call", "argument"), [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES]
)
def test_a_nul_byte_in_an_argument_is_a_usage_error(
    tmp_path: Path, synth_tree: Path, call: Callable[[Path, Path], Any], argument: str
) -> None:
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(L.UsageError, match="NUL byte") as info:
        call(tmp_path, synth_tree)
    assert int(info.value.exit_code) == 2
    assert info.value.context.get("argument") == argument
    assert sorted(os.listdir(tmp_path)) == before  # refused before anything was written


def test_the_net_keeps_what_the_operation_is() -> None:
    """Name, docstring and signature are the operation's (help(), IDEs, numpydoc)."""
    import inspect

    assert L.verify.__name__ == "verify" and "Parameters" in (L.verify.__doc__ or "")
    assert list(inspect.signature(L.export).parameters)[:3] == ["format", "out", "data_dir"]


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (OSError(errno.ENAMETOOLONG, "File name too long", "/x"), "local-failure", 5),
        (OSError(errno.ENOSPC, "No space left on device", "/x"), "disk-full", 5),
        (PermissionError(errno.EACCES, "Permission denied", "/x"), "local-failure", 5),
    ],
)
def test_the_funnel_and_the_api_share_one_mapping(exc: OSError, kind: str, code: int) -> None:
    err = errors.from_unmapped_os_error(exc)
    assert (err.kind, int(err.exit_code)) == (kind, code)
    assert err.to_dict() == errors.from_os_error(exc, "accessing a local file").to_dict()


def test_an_unmapped_http_library_error_is_a_failed_download() -> None:
    requests = pytest.importorskip("requests")
    err = errors.from_unmapped_os_error(requests.ConnectionError("refused"))
    assert isinstance(err, L.DownloadError) and int(err.exit_code) == 3
    assert err.message == "Download failed: ConnectionError: refused"


#: (id, the mirror's answer, the fake's knobs: a 404 page, or 500s until the retries end)
SECRET_CHAIN_CASES = [
    ("not-found", "missing.zip", ()),
    ("server-error", "x.zip", ((500, "0"),) * 3),
]


@pytest.mark.parametrize(
    ("name", "fail"), [c[1:] for c in SECRET_CHAIN_CASES], ids=[c[0] for c in SECRET_CHAIN_CASES]
)
def test_no_secret_in_the_chain_of_an_api_error(
    name: str,
    fail: tuple[tuple[int, str], ...],
    fake_drive: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Audit S 4: the error ``L.download`` raises carried, as its ``__context__``, the internal
    exception naming the full URL; an uncaught error's traceback and ``logging.exception``
    printed the password and the token. Now the chain goes when it holds a secret; notes say,
    redacted, what it said."""
    import logging
    import traceback

    fake_drive.mirror["x.zip"] = b"PK\x03\x04" + b"\0" * 100
    fake_drive.fail_next = list(fail)
    url = fake_drive.mirror_url(name).replace("http://", "http://me:CHAINPW@") + "?token=CHAINTOK"
    with pytest.raises(L.DownloadError) as caught:
        L.download(tmp_path / "d", url=url, drive=False, retries=1)
    err = caught.value
    printed = "".join(traceback.format_exception(err))
    with caplog.at_level(logging.ERROR):
        logging.getLogger("user-script").exception("download failed", exc_info=err)
    for text in (printed, caplog.text, repr(err.__cause__), repr(err.__context__)):
        assert "CHAINPW" not in text and "CHAINTOK" not in text, text
    assert any("caused by" in note and "***" in note for note in err.__notes__)


def test_a_chain_without_a_secret_is_kept(tmp_path: Path) -> None:
    """Guard: an unmapped ``OSError`` stays the cause of the command's error (nothing in it
    to hide)."""
    long = tmp_path / ("x" * 300)
    with pytest.raises(L.LocalError) as caught:
        L.info(long)
    assert isinstance(caught.value.__cause__, OSError)
