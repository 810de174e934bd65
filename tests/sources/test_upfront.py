"""What the user got wrong is found up front (audit A, items 6, 8, 12, 15), through the command
line (``run(argv)`` in-process) and the public API:

- a bad ``LUNGSEGDB_MAX_*`` / ``LUNGSEGDB_WORKERS`` / ``LUNGSEGDB_LOCK_TIMEOUT`` is exit 2 naming
  it before any work, on every path (a fresh download transfers nothing; an intact tree, an
  extracted tree and ``clean`` do not ignore it);
- a misspelt ``--storage-option`` or half the credentials is exit 2 at the first attempt
  (never retried as a network fault), while a real network failure is still retried;
- an empty local source is an unusable archive (exit 4) and a FIFO or device is not a file
  (exit 2), as with ``--archive``, with no orphan state in ``downloads/``;
- a wrongly typed API argument is a :class:`UsageError`, and ``urls="..."`` is one URL.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import lungsegdb_cli as L

# internals: the CLI's in-process entry (exit codes through the funnel), not public API
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.errors import UsageError


@pytest.fixture(autouse=True)
def _no_env_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "LUNGSEGDB_URL",
        "LUNGSEGDB_URLS",
        "LUNGSEGDB_SHA256",
        "LUNGSEGDB_OFFLINE",
        "LUNGSEGDB_REQUIRE_PIN",
        "LUNGSEGDB_WORKERS",
        "LUNGSEGDB_LOCK_TIMEOUT",
        "LUNGSEGDB_MAX_BYTES",
        "LUNGSEGDB_MAX_FILES",
        "LUNGSEGDB_MAX_RATIO",
        "LUNGSEGDB_MAX_DOWNLOAD",
        "LUNGSEGDB_MIN_RATE",
        "LUNGSEGDB_RATE_WINDOW",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def intact(synth_result: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the synth archive downloaded (kept) and extracted: the up-to-date path."""
    root = tmp_path_factory.mktemp("upfront") / "intact"
    L.download(root, url=Path(synth_result.archive.path).as_uri())
    return root


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# 8. Numeric variables: read before any work, on every path
# ---------------------------------------------------------------------------------------------
#: (id, variable, bad value, argv after the command; {root} is the data dir, {src} the source)
ENV_CASES = [
    (
        "fresh-download-max-files",
        "LUNGSEGDB_MAX_FILES",
        "2.5",
        ["download", "--url", "{src}", "--no-drive"],
    ),
    (
        "fresh-download-max-download",
        "LUNGSEGDB_MAX_DOWNLOAD",
        "lots",
        ["download", "--url", "{src}", "--no-drive"],
    ),
    (
        "fresh-download-workers",
        "LUNGSEGDB_WORKERS",
        "0",
        ["download", "--url", "{src}", "--no-drive"],
    ),
    ("uptodate-offline-max-files", "LUNGSEGDB_MAX_FILES", "2.5", ["download", "--offline"]),
    ("uptodate-max-ratio", "LUNGSEGDB_MAX_RATIO", "nan", ["download"]),
    ("uptodate-min-rate", "LUNGSEGDB_MIN_RATE", "-1", ["download", "--offline"]),
    ("uptodate-rate-window", "LUNGSEGDB_RATE_WINDOW", "inf", ["download", "--offline"]),
    ("uptodate-workers", "LUNGSEGDB_WORKERS", "lots", ["download", "--offline"]),
    ("uptodate-lock-timeout", "LUNGSEGDB_LOCK_TIMEOUT", "-1", ["download", "--offline"]),
    ("extract-already-max-ratio", "LUNGSEGDB_MAX_RATIO", "0", ["extract"]),
    ("extract-already-max-bytes", "LUNGSEGDB_MAX_BYTES", "1e400", ["extract"]),
    ("extract-already-workers", "LUNGSEGDB_WORKERS", "2.5", ["extract"]),
    ("clean-workers", "LUNGSEGDB_WORKERS", "lots", ["clean", "--json"]),
    ("clean-dry-run-workers", "LUNGSEGDB_WORKERS", "-3", ["clean", "--dry-run"]),
]


@pytest.mark.parametrize(
    ("variable", "value", "argv"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES]
)
def test_bad_variable_is_exit_2_before_any_work(
    variable: str,
    value: str,
    argv: list[str],
    intact: Path,
    synth_result: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh = any("{src}" in a for a in argv)
    root = tmp_path / "fresh" if fresh else tmp_path / "copy"
    if not fresh:
        shutil.copytree(intact, root, symlinks=True)
    before = _snapshot(root) if root.exists() else {}
    src = Path(synth_result.archive.path).as_uri()
    monkeypatch.setenv(variable, value)
    code = run([a.format(src=src) for a in argv] + ["--data-dir", str(root)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert variable in out + err and repr(value) in out + err
    assert "Downloading" not in err  # nothing was transferred
    after = _snapshot(root) if root.exists() else {}
    assert after == before  # nothing fetched, extracted or removed
    assert (
        _files(root / "downloads") == _files(intact / "downloads")
        if not fresh
        else not (_files(root / "downloads"))
    )


def test_no_extract_does_not_read_the_extraction_caps(
    intact: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The caps are extract's: ``--no-extract`` does not use them, so it does not read them."""
    root = tmp_path / "copy"
    shutil.copytree(intact, root, symlinks=True)
    monkeypatch.setenv("LUNGSEGDB_MAX_FILES", "2.5")
    assert run(["download", "--offline", "--no-extract", "--data-dir", str(root), "-q"]) == 0
    capsys.readouterr()


API_ENV_CASES = [
    (
        "download-uptodate",
        "LUNGSEGDB_MAX_FILES",
        "2.5",
        lambda root: L.download(root, offline=True),
    ),
    (
        "download-uptodate-workers",
        "LUNGSEGDB_WORKERS",
        "lots",
        lambda root: L.download(root, offline=True),
    ),
    ("extract-already", "LUNGSEGDB_MAX_RATIO", "0", lambda root: L.extract(root)),
    ("clean", "LUNGSEGDB_WORKERS", "lots", lambda root: L.clean(root)),
]


@pytest.mark.parametrize(
    ("variable", "value", "call"), [c[1:] for c in API_ENV_CASES], ids=[c[0] for c in API_ENV_CASES]
)
def test_api_bad_variable_is_usage_error(
    variable: str,
    value: str,
    call: Any,
    intact: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(intact, root, symlinks=True)
    before = _snapshot(root)
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError) as info:
        call(root)
    assert info.value.context.get("variable") == variable
    assert _snapshot(root) == before


# ---------------------------------------------------------------------------------------------
# 12. fsspec configuration errors: exit 2 at once; network failures still retried
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def bucket(s3_env: Any, synth_result: Any) -> str:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists("lungsegdb-upfront"):
        fs.mkdir("lungsegdb-upfront")
    fs.pipe("lungsegdb-upfront/v1/LungSegDB.zip", Path(synth_result.archive.path).read_bytes())
    return "s3://lungsegdb-upfront/v1/LungSegDB.zip"


#: (id, storage options, environment variables to drop, what the error names)
S3_CONFIG_CASES = [
    ("misspelt-option", ["endpont_url=http://127.0.0.1:9"], (), "endpont_url"),
    (
        "secret-without-key",
        ["secret=only-half-of-it"],
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        "Credentials",
    ),
    # a value of the wrong kind: s3fs calls .copy() on it (AttributeError, audit S 8)
    ("value-of-the-wrong-kind", ["client_kwargs=oops"], (), "client_kwargs"),
]


@pytest.mark.parametrize(
    ("options", "drop", "named"),
    [c[1:] for c in S3_CONFIG_CASES],
    ids=[c[0] for c in S3_CONFIG_CASES],
)
def test_storage_configuration_error_is_exit_2_at_once(
    options: list[str],
    drop: tuple[str, ...],
    named: str,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for var in drop:
        monkeypatch.delenv(var, raising=False)
    args = [
        "download",
        "--url",
        bucket,
        "--no-drive",
        "--retries",
        "1",
        "--json",
        "--data-dir",
        str(tmp_path),
    ]
    for opt in options:
        args += ["--storage-option", opt]
    code = run(args)
    out, err = capsys.readouterr()
    assert err.count("retrying in") == 0, err  # one attempt, no retry
    assert code == 2, (out, err)
    doc = json.loads(out)
    assert doc["error"]["kind"] == "usage" and named in doc["error"]["message"]
    assert "only-half-of-it" not in out + err  # an option's value is never shown


def test_network_failure_on_a_bucket_is_still_retried(
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = run(
        [
            "download",
            "--url",
            bucket,
            "--no-drive",
            "--retries",
            "1",
            "--storage-option",
            f"endpoint_url=http://127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 3, err
    assert err.count("retrying in") == 1, err


@pytest.mark.parametrize(
    "option", ["endpont_url=http://127.0.0.1:9", "client_kwargs=oops"], ids=["misspelt", "kind"]
)
def test_publish_storage_option_refused_is_exit_2(
    option: str,
    s3_env: Any,
    intact: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run(
        [
            "publish",
            "s3://lungsegdb-upfront-pub/lsdb",
            "--data-dir",
            str(intact),
            "--storage-option",
            option,
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2, err
    assert option.split("=")[0] in err and "retrying" not in err


# ---------------------------------------------------------------------------------------------
# 6. An empty local source, a FIFO, a device
# ---------------------------------------------------------------------------------------------
def _source(kind: str, tmp_path: Path) -> Path:
    if kind == "empty":
        path = tmp_path / "LungSegDB.zip"
        path.write_bytes(b"")
        return path
    if kind == "fifo":
        path = tmp_path / "fifo.zip"
        os.mkfifo(path)
        return path
    return Path("/dev/null")


#: (id, source kind, spelling: "path" or "uri", the exit code)
LOCAL_CASES = [
    ("empty-path", "empty", "path", 4),
    ("empty-file-url", "empty", "uri", 4),
    ("fifo-path", "fifo", "path", 2),
    ("fifo-file-url", "fifo", "uri", 2),
    ("device-file-url", "device", "uri", 2),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize(
    ("kind", "spelling", "want"), [c[1:] for c in LOCAL_CASES], ids=[c[0] for c in LOCAL_CASES]
)
def test_unusable_local_source_is_handled_as_archive_is(
    kind: str,
    spelling: str,
    want: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = _source(kind, tmp_path)
    given = str(src) if spelling == "path" else src.as_uri()
    root = tmp_path / "d"
    code = run(["download", "--url", given, "--no-drive", "--data-dir", str(root), "--json"])
    out, err = capsys.readouterr()
    assert code == want, (out, err)
    doc = json.loads(out)
    assert "Could not read" not in doc["error"]["message"]  # not a local failure
    if want == 4:
        assert doc["error"]["kind"] == "bad-archive" and "empty" in doc["error"]["message"]
    left = _files(root / "downloads")
    assert not [n for n in left if n.endswith((".part", ".part.json"))], left
    if want == 2:
        assert "not a file" in doc["error"]["message"] and not left
    # the same file given with --archive: the same exit code
    if kind != "device":
        assert (
            run(["download", "--archive", str(src), "--data-dir", str(tmp_path / "a"), "-q"])
            == want
        )
        capsys.readouterr()


# ---------------------------------------------------------------------------------------------
# 15. The API: wrong types are UsageError; urls="..." is one URL
# ---------------------------------------------------------------------------------------------
API_TYPE_CASES = [
    ("sha256-int", {"sha256": 123}, "sha256"),
    ("md5-int", {"md5": 5}, "md5"),
    ("url-int", {"url": 5}, "url"),
    ("urls-ints", {"urls": [5]}, "urls"),
    ("urls-bytes", {"urls": b"http://x/LungSegDB.zip"}, "urls"),
    ("urls-int", {"urls": 7}, "urls"),
    ("archive-int", {"archive": 5}, "archive"),
    ("cookies-int", {"cookies": 5}, "cookies"),
    ("storage-options-str", {"storage_options": "anon=true"}, "storage_options"),
    ("storage-options-list-of-int", {"storage_options": [1]}, "storage-option"),
]


@pytest.mark.parametrize(
    ("kwargs", "named"), [c[1:] for c in API_TYPE_CASES], ids=[c[0] for c in API_TYPE_CASES]
)
def test_api_wrong_type_is_usage_error(kwargs: dict[str, Any], named: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        L.download(tmp_path / "d", **kwargs)
    assert named in info.value.message
    assert not (tmp_path / "d" / "downloads").exists()


def test_api_urls_as_one_string_is_one_url(synth_result: Any, tmp_path: Path) -> None:
    url = Path(synth_result.archive.path).as_uri()
    result = L.download(tmp_path / "d", urls=url, drive=False)
    assert result.action == "downloaded" and result.source.url == url
