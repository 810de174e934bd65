"""``file://`` URLs and plain paths as download sources with the base install (issue "Real CT,
real users"): no fsspec is imported (a child process where importing it fails), and a local
source resumes, is capped and is pinned like an http one; ``publish`` to a folder prints a
``download`` line that works in the same base install."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.downloads import run_download
from support.fakes import InterruptingProgress

# internals: the source plan and the transfer policy, driven directly
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import DownloadError
from lungsegdb_cli.sources import plan as sources
from lungsegdb_cli.sources.http.transfer import RetryPolicy

#: A child interpreter where fsspec is not installed: any import of it fails, and the CLI's
#: exit code is the child's; at the end it must not have fsspec in sys.modules either.
_NO_FSSPEC = """
import sys
class _NoFsspec:
    def find_spec(self, name, path=None, target=None):
        if name == "fsspec" or name.startswith("fsspec."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoFsspec())
from lungsegdb_cli.cli.app import run
code = run(sys.argv[1:])
assert "fsspec" not in sys.modules, "fsspec was imported"
sys.exit(code)
"""


@pytest.fixture
def mirror(archive: bytes, tmp_path: Path) -> Path:
    src = tmp_path / "mirror" / "LungSegDB.zip"
    src.parent.mkdir()
    src.write_bytes(archive)
    return src


@pytest.fixture(autouse=True)
def _no_env_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256"):
        monkeypatch.delenv(var, raising=False)


def _base_install(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUNGSEGDB_URL")}
    return subprocess.run(
        [sys.executable, "-c", _NO_FSSPEC, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _files(root: Path) -> dict[str, bytes]:
    base = root / "LungSegDB"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def test_a_file_url_downloads_without_fsspec(mirror: Path, pin: str, tmp_path: Path) -> None:
    proc = _base_install(
        "download",
        "--url",
        mirror.as_uri(),
        "--no-drive",
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path / "d"),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["files"] == 24 and doc["archive"]["sha256"] == pin
    assert doc["source"]["url"] == mirror.as_uri()


@pytest.mark.parametrize("form", ["absolute", "relative"])
def test_a_plain_path_is_a_source(mirror: Path, pin: str, tmp_path: Path, form: str) -> None:
    given = str(mirror) if form == "absolute" else "./mirror/LungSegDB.zip"
    proc = _base_install(
        "download",
        "--url",
        given,
        "--no-drive",
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path / "d"),
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["source"]["url"] == mirror.as_uri()


def test_publish_to_a_folder_then_its_line_downloads_without_fsspec(
    mirror: Path, pin: str, tmp_path: Path
) -> None:
    first = _base_install(
        "download", "--url", str(mirror), "--no-drive", "--data-dir", str(tmp_path / "d"), "-q"
    )
    assert first.returncode == 0, first.stderr
    published = _base_install(
        "publish", str(tmp_path / "pub"), "--data-dir", str(tmp_path / "d"), "--json"
    )
    assert published.returncode == 0, published.stderr
    line = json.loads(published.stdout)["command"]
    argv = shlex.split(line)
    assert argv[:3] == ["lungsegdb", "download", "--url"]
    assert argv[3].startswith("file://") and argv[-2:] == ["--sha256", pin]
    again = _base_install(*argv[1:], "--no-drive", "--data-dir", str(tmp_path / "e"), "-q")
    assert again.returncode == 0, again.stderr
    assert _files(tmp_path / "e") == _files(tmp_path / "d")


@pytest.mark.parametrize("form", ["path", "url"])
def test_a_folder_publish_wrote_stands_for_its_archive(
    mirror: Path, pin: str, tmp_path: Path, form: str
) -> None:
    first = _base_install(
        "download", "--url", str(mirror), "--no-drive", "--data-dir", str(tmp_path / "d"), "-q"
    )
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "pub"
    published = _base_install("publish", str(folder), "--data-dir", str(tmp_path / "d"), "-q")
    assert published.returncode == 0, published.stderr
    given = str(folder) if form == "path" else folder.as_uri()
    got = _base_install(
        "download",
        "--url",
        given,
        "--no-drive",
        "--sha256",
        pin,
        "--data-dir",
        str(tmp_path / "e"),
        "--json",
    )
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["source"]["url"] == (folder / "LungSegDB.zip").as_uri()
    assert _files(tmp_path / "e") == _files(tmp_path / "d")


@pytest.mark.parametrize("archive_name", ["../LungSegDB.zip", "", 7])
def test_a_mirror_record_naming_no_archive_beside_it_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], archive_name: object
) -> None:
    folder = tmp_path / "pub"
    folder.mkdir()
    (folder / "lungsegdb.json").write_text(json.dumps({"archive": archive_name}))
    code = run(["download", "--url", str(folder), "--no-drive", "--data-dir", str(tmp_path / "d")])
    _, err = capsys.readouterr()
    assert code == 2 and "does not name an archive" in err.splitlines()[0]
    assert not (tmp_path / "d" / "downloads").exists()  # refused before anything was fetched


def _stopped_halfway(
    mirror: Path, archive: bytes, pin: str, tmp_path: Path
) -> tuple[paths.DataPaths, RetryPolicy]:
    """A download of ``mirror`` interrupted (Ctrl-C) halfway: its data root and policy."""
    root = paths.resolve(tmp_path / "d")
    policy = RetryPolicy(chunk_size=4096)
    with pytest.raises(KeyboardInterrupt):
        run_download(
            root,
            urls=[mirror.as_uri()],
            drive=False,
            sha256=pin,
            policy=policy,
            progress=InterruptingProgress(len(archive) // 2),
        )
    return root, policy


def test_a_file_source_resumes_its_part(
    mirror: Path, archive: bytes, pin: str, tmp_path: Path
) -> None:
    root, policy = _stopped_halfway(mirror, archive, pin, tmp_path)
    assert list((tmp_path / "d" / "downloads").glob("*.part"))
    res = run_download(root, urls=[str(mirror)], drive=False, sha256=pin, policy=policy)
    assert 0 < res.resumed_from < len(archive) and res.archive.sha256 == pin
    assert Path(res.archive.path).read_bytes() == archive


def test_a_changed_file_restarts_from_byte_zero(
    mirror: Path, archive: bytes, pin: str, tmp_path: Path
) -> None:
    root, policy = _stopped_halfway(mirror, archive, pin, tmp_path)
    st = mirror.stat()
    os.utime(mirror, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, new mtime
    res = run_download(root, urls=[mirror.as_uri()], drive=False, sha256=pin, policy=policy)
    assert res.resumed_from == 0 and res.archive.sha256 == pin


def test_a_file_larger_than_the_pinned_archive_is_exit_3_before_its_bytes(
    mirror: Path,
    archive: bytes,
    pin: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The pinned archive's size (recorded by the first download) caps the next one: a file
    bigger than it is refused before a byte is copied, as a server announcing more is."""
    data = str(tmp_path / "d")
    assert (
        run(
            [
                "download",
                "--url",
                str(mirror),
                "--no-drive",
                "--sha256",
                pin,
                "--data-dir",
                data,
                "-q",
            ]
        )
        == 0
    )
    bigger = tmp_path / "bigger.zip"
    bigger.write_bytes(archive + b"\0" * 1000)
    capsys.readouterr()
    code = run(
        [
            "download",
            "--url",
            str(bigger),
            "--no-drive",
            "--sha256",
            pin,
            "--force",
            "--data-dir",
            data,
            "--json",
        ]
    )
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == 3 and err["kind"] == "download-too-large"
    assert not list((tmp_path / "d" / "downloads").glob("*.part"))


def test_a_file_source_with_other_bytes_than_the_pin_is_rejected(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "download",
            "--url",
            str(mirror),
            "--no-drive",
            "--sha256",
            "0" * 64,
            "--data-dir",
            str(tmp_path / "d"),
            "--json",
        ]
    )
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == 1 and err["kind"] == "checksum-mismatch"
    assert list((tmp_path / "d" / "downloads").glob("*.rejected"))
    assert not (tmp_path / "d" / "LungSegDB").exists()


def test_a_missing_file_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        [
            "download",
            "--url",
            str(tmp_path / "nothere.zip"),
            "--no-drive",
            "--data-dir",
            str(tmp_path / "d"),
            "--json",
        ]
    )
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == 3 and err["kind"] == "mirror-refused" and "not found" in err["message"]
    assert "no such file on this machine" in err["hint"] and "bucket" not in err["hint"]


def test_a_file_url_of_another_host_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "download",
            "--url",
            "file://server/share/LungSegDB.zip",
            "--no-drive",
            "--data-dir",
            str(tmp_path / "d"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2 and "not on 'server'" in err.splitlines()[0]
    assert "next:" in err.splitlines()[1]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/srv/m/LungSegDB.zip", "file:///srv/m/LungSegDB.zip"),
        ("https://m.example/LungSegDB.zip", "https://m.example/LungSegDB.zip"),
        ("file:///srv/m/LungSegDB.zip", "file:///srv/m/LungSegDB.zip"),
    ],
)
def test_the_plan_turns_a_plain_path_into_its_file_url(given: str, expected: str) -> None:
    (first,) = sources.plan([given], drive=False)
    assert first.url == expected


def test_a_word_that_is_no_path_is_still_refused_as_a_url() -> None:
    with pytest.raises(Exception, match="Not an http"):
        sources.plan(["LungSegDB.zip"], drive=False)  # no such file here, not a path form
    assert DownloadError  # the kind a missing file gets (above) is the download's


def test_a_corrupt_archive_is_named_as_the_user_knows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The archive is extracted from the finished partial download (``url-<key>.part``); an
    error named that internal file, not the archive the user asked for."""
    import zipfile

    src = tmp_path / "LungSegDB.zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("LungSegDB/raw data/V1/CT_Images/1.TIF", b"x" * 100_000)
    data = bytearray(src.read_bytes())
    data[200:400] = bytes(200)  # inside the member's stored bytes: a CRC-32 mismatch
    src.write_bytes(bytes(data))
    code = run(
        [
            "download",
            "--url",
            src.as_uri(),
            "--no-drive",
            "--data-dir",
            str(tmp_path / "d"),
            "--json",
        ]
    )
    err = json.loads(capsys.readouterr().out)["error"]
    assert code == 4 and err["kind"] == "bad-archive"
    assert "archive LungSegDB.zip is corrupt" in err["message"] and ".part" not in err["message"]
