"""Secrets never leave memory (review finding 2): a mirror URL with user info, a signature, a
token and the like, given to ``download``, never appears in stdout, stderr, a ``--json``
document or any file (data dir, HOME, a publish folder) -- after a success, an interrupted
download and its resume, a 404, a 500, retries, a failover, ``info``, ``verify`` and
``publish``; the URL is recognised by the SHA-256 of the full URL instead. And (finding 8)
a partial download of another URL is removed by the next successful commit, while one of the
same URL is still resumed.

The server is the local fake (``tests/support/drive_fake.py``) on 127.0.0.1; its mirror
ignores the query string and the user info, as a plain static server would."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support.downloads import run_download
from support.drive_fake import FakeDrive

# internals: exercises _redact, cli/app, ... directly (not public API)
from lungsegdb_cli._redact import redact, url_sha256
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.dataset import paths
from lungsegdb_cli.errors import DownloadError
from lungsegdb_cli.sources.http.resume import ResumeState, resumable_offset, state_path
from lungsegdb_cli.sources.http.transfer import RetryPolicy
from lungsegdb_cli.state.provenance import Provenance

PASSWORD = "pw-5e1c9a0b"
SIGNATURE = "amzsig-7b2d4f1e"
TOKEN = "tok-3a8c6e2d"
SAS_SIG = "sassig-91f0c3aa"
API_KEY = "apikey-0d2e7b55"
CUSTOM = "custom-6c4a9e13"  # a parameter only LUNGSEGDB_REDACT names
SECRETS = (PASSWORD, SIGNATURE, TOKEN, SAS_SIG, API_KEY, CUSTOM)
QUERY = (
    f"?X-Amz-Signature={SIGNATURE}&token={TOKEN}&sig={SAS_SIG}&key={API_KEY}"
    f"&mirror_auth={CUSTOM}&v=2"
)
SHOWN_QUERY = "?X-Amz-Signature=***&token=***&sig=***&key=***&mirror_auth=***&v=2"
DROP = 50_000  # bytes served before the connection is cut (the interrupted download)


def secret_url(drive: FakeDrive, name: str = "LungSegDB.zip") -> str:
    return drive.mirror_url(name).replace("http://", f"http://me:{PASSWORD}@") + QUERY


@pytest.fixture
def drive(
    fake_drive: FakeDrive, archive: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FakeDrive:
    """The fake serving the archive as ``/mirror/LungSegDB.zip`` (and ``copy.zip``), with
    ``mirror_auth`` listed in LUNGSEGDB_REDACT and HOME inside ``tmp_path``."""
    fake_drive.mirror["LungSegDB.zip"] = archive
    fake_drive.mirror["copy.zip"] = archive
    for var in ("LUNGSEGDB_URL", "LUNGSEGDB_URLS", "LUNGSEGDB_SHA256", "LUNGSEGDB_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LUNGSEGDB_REDACT", "Mirror_Auth")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    return fake_drive


# ---------------------------------------------------------------------------------------------
# The table: each scenario is a run of commands; afterwards no secret is anywhere
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One command: its arguments (``{url}``, ``{missing}``, ``{plain}``, ``{data}``,
    ``{dest}`` filled in), the exit code it must have, the fake's knobs before it, and a
    check of its ``--json`` document (and the data dir)."""

    args: tuple[str, ...]
    code: int
    fail_next: tuple[tuple[int, str] | None, ...] = ()
    drop_after: tuple[int, ...] = ()
    check: Callable[[dict[str, Any], Path, str], None] | None = None


def _downloaded(doc: dict[str, Any], data: Path, url: str) -> None:
    """The source is shown redacted, and recorded redacted beside the hash of the full URL."""
    assert doc["source"]["url"] == doc["source"]["link"] == redact(url)
    assert doc["source"]["url"].endswith("/mirror/LungSegDB.zip" + SHOWN_QUERY)
    record = json.loads((data / ".lungsegdb" / "provenance.json").read_text())
    assert record["source"] == redact(url) and "://***@" in record["source"]
    assert record["source_sha256"] == hashlib.sha256(url.encode()).hexdigest()


def _left_a_part(doc: dict[str, Any], data: Path, url: str) -> None:
    """The interrupted run's resume state is on disk: the URL redacted, its hash beside it."""
    assert doc["error"]["kind"] == "download-failed"
    part = data / "downloads" / f"url-{url_sha256(url)[:12]}.part"
    assert part.stat().st_size == DROP
    state = json.loads(state_path(part).read_text())
    assert state["url"] == redact(url) and state["source_sha256"] == url_sha256(url)


def _resumed(doc: dict[str, Any], data: Path, url: str) -> None:
    assert doc["resumed_from"] == DROP
    _downloaded(doc, data, url)
    assert not list((data / "downloads").glob("*.part*"))


def _retried(doc: dict[str, Any], data: Path, url: str) -> None:
    assert len(doc["retries"]) == 2 and all("***" in line for line in doc["retries"])
    _downloaded(doc, data, url)


def _failed_over(doc: dict[str, Any], data: Path, url: str) -> None:
    first, second = doc["sources"]
    assert not first["ok"] and first["url"].endswith("/mirror/missing.zip" + SHOWN_QUERY)
    assert "not found" in first["error"] and second["ok"]


def _not_found(doc: dict[str, Any], data: Path, url: str) -> None:
    assert doc["error"]["code"] == 3 and "***" in doc["error"]["message"]


def _published(doc: dict[str, Any], data: Path, url: str) -> None:
    meta = json.loads(Path(doc["meta"].removeprefix("file://")).read_text())
    assert meta["source"] == redact(url)


DOWNLOAD = ("download", "--url", "{url}", "--no-drive", "--data-dir", "{data}")
HTTP_500 = (500, "0")  # Retry-After: 0, so the retries cost no time

SCENARIOS: dict[str, list[Step]] = {
    "success, info, verify, publish": [
        Step(DOWNLOAD, 0),
        Step((*DOWNLOAD, "--json", "--force"), 0, check=_downloaded),
        Step(("info", "--data-dir", "{data}"), 0),
        Step(("info", "--json", "--data-dir", "{data}"), 0),
        Step(("verify", "--data-dir", "{data}"), 0),
        Step(("verify", "--json", "--data-dir", "{data}"), 0),
        Step(("publish", "{dest}/a", "--data-dir", "{data}"), 0),
        Step(("publish", "{dest}/b", "--json", "--data-dir", "{data}"), 0, check=_published),
    ],
    "every other command after a download from a secret URL": [
        Step(DOWNLOAD, 0),
        Step(("validate", "--json", "--data-dir", "{data}"), 0),
        Step(("stats", "--json", "--data-dir", "{data}"), 0),
        Step(("pairs", "--json", "--data-dir", "{data}"), 0),
        Step(("split", "--json", "--data-dir", "{data}"), 0),
        Step(("export", "csv", "{dest}/csv", "--json", "--data-dir", "{data}"), 0),
        Step(("verify-export", "{dest}/csv", "--json"), 0),
        Step(("extract", "--force", "--json", "--data-dir", "{data}"), 0),
        Step(("verify", "--quick", "--json", "--data-dir", "{data}"), 0),
    ],
    "interrupted, then resumed": [
        Step(
            (*DOWNLOAD, "--json"),
            3,
            fail_next=(None, *[HTTP_500] * 6),
            drop_after=(DROP,),
            check=_left_a_part,
        ),
        Step((*DOWNLOAD, "--json"), 0, check=_resumed),
    ],
    "interrupted (human output), then resumed": [
        Step(DOWNLOAD, 3, fail_next=(None, *[HTTP_500] * 6), drop_after=(DROP,)),
        Step(DOWNLOAD, 0),
    ],
    "404": [
        Step(("download", "--url", "{missing}", "--no-drive", "--data-dir", "{data}"), 3),
        Step(
            ("download", "--url", "{missing}", "--no-drive", "--json", "--data-dir", "{data}"),
            3,
            check=_not_found,
        ),
    ],
    "500 until the retries are exhausted": [
        Step(DOWNLOAD, 3, fail_next=(HTTP_500,) * 7),
        Step((*DOWNLOAD, "--json"), 3, fail_next=(HTTP_500,) * 7),
    ],
    "retries, then success": [
        Step(DOWNLOAD, 0, fail_next=((503, "0"),) * 2),
        Step((*DOWNLOAD, "--json", "--force"), 0, fail_next=((503, "0"),) * 2, check=_retried),
    ],
    "a failed source, then the next": [
        Step(
            (
                "download",
                "--url",
                "{missing}",
                "--url",
                "{plain}",
                "--no-drive",
                "--data-dir",
                "{data}",
            ),
            0,
        ),
        Step(
            (
                "download",
                "--url",
                "{missing}",
                "--url",
                "{plain}",
                "--no-drive",
                "--force",
                "--json",
                "--data-dir",
                "{data}",
            ),
            0,
            check=_failed_over,
        ),
    ],
}


@pytest.mark.parametrize("steps", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_no_secret_leaves_memory(
    steps: list[Step], drive: FakeDrive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = secret_url(drive)
    values = {
        "url": url,
        "missing": secret_url(drive, "missing.zip"),
        "plain": drive.mirror_url("copy.zip"),
        "data": str(tmp_path / "data"),
        "dest": str(tmp_path / "published"),
    }
    texts: list[str] = []
    for step in steps:
        drive.fail_next = list(step.fail_next)  # type: ignore[arg-type]
        drive.drop_after = list(step.drop_after)
        args = [a.format(**values) for a in step.args]
        code = run(args)
        out, err = capsys.readouterr()
        texts += [out, err]
        assert code == step.code, (args[0], out, err)
        if "--json" in args:
            doc = json.loads(out)  # one document, nothing else on stdout
            if step.check is not None:
                step.check(doc, tmp_path / "data", url)
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        texts.append(f"{path}\n" + path.read_bytes().decode("latin-1"))
    leaks = [(s, t[:300]) for t in texts for s in SECRETS if s in t]
    assert not leaks


# ---------------------------------------------------------------------------------------------
# The one redaction rule
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:p@ss@m.example/x.zip", "https://***@m.example/x.zip"),
        (
            "https://m.example/x.zip?X-Goog-Signature=a&x-goog-credential=b&alt=media",
            "https://m.example/x.zip?X-Goog-Signature=***&x-goog-credential=***&alt=media",
        ),
        (
            "https://a.blob.core.windows.net/c/x.zip?sv=2022-11-02&se=2030&sr=b&sp=r&sig=a%2Bb%3D",
            "https://a.blob.core.windows.net/c/x.zip?sv=***&se=***&sr=***&sp=***&sig=***",
        ),
        (
            "https://m.example/x.zip?Access_Token=a&ApiKey=b&client_secret=c&page=2#id_token=d",
            "https://m.example/x.zip?Access_Token=***&ApiKey=***&client_secret=***&page=2"
            "#id_token=***",
        ),
        (
            "https://m.example/x.zip?mirror_auth=a&MIRROR_AUTH=b&other=c",
            "https://m.example/x.zip?mirror_auth=***&MIRROR_AUTH=***&other=c",
        ),
        (
            "https://drive.google.com/uc?id=ABC&export=download&resourcekey=0-x",
            "https://drive.google.com/uc?id=ABC&export=download&resourcekey=0-x",
        ),
        # text that names URLs: an error, a requests exception (path and query only), a repr
        (
            "HTTP 500 from http://me:pw@h:8/x?token=t; retrying",
            "HTTP 500 from http://***@h:8/x?token=***; retrying",
        ),
        (
            "Max retries exceeded with url: /x.zip?X-Amz-Signature=s&v=1 (Caused by ...)",
            "Max retries exceeded with url: /x.zip?X-Amz-Signature=***&v=1 (Caused by ...)",
        ),
        ("Invalid URL 'ftp://u:p@h/x?sig=s': bad", "Invalid URL 'ftp://***@h/x?sig=***': bad"),
        ('{"url": "http://h/x?token=a\\"b"}', '{"url": "http://h/x?token=***\\"b"}'),
        ("s3://bucket/key.zip", "s3://bucket/key.zip"),
        ("no URL here: a=b, token= (empty)", "no URL here: a=b, token= (empty)"),
        # the sentence's punctuation after a URL stays (it was taken as part of the value)
        (
            "(the mirror was http://h/x.zip?token=T0K), then run",
            "(the mirror was http://h/x.zip?token=***), then run",
        ),
        (
            "source 2/3 failed: http://h/x?token=T0K: The server says",
            "source 2/3 failed: http://h/x?token=***: The server says",
        ),
        ("http://h/x?sp=r,w&se=2030-01-01T00:00:00Z.", "http://h/x?sp=***&se=***."),
    ],
)
def test_redact(text: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUNGSEGDB_REDACT", " mirror_auth ,,")
    assert redact(text) == shown
    assert redact(shown) == shown  # redacting twice changes nothing


def test_errors_are_redacted_when_made_and_when_changed() -> None:
    url = "http://me:pw-1@h/x?token=tok-1"
    err = DownloadError(f"Could not read {url}", hint=f"Open {url}", url=url, n=3)
    err.message += f"; then {url}"
    err.context["later"] = [url]
    text = json.dumps(err.to_dict()) + str(err) + repr(err)
    assert "pw-1" not in text and "tok-1" not in text and err.context["n"] == 3


def test_an_old_record_with_secrets_is_shown_redacted(tmp_path: Path) -> None:
    """A provenance written before this redaction (its ``link`` held the full URL) is read
    redacted: ``info`` never shows it."""
    old = {
        "path": "downloads/x.zip",
        "source": "http://h/x?token=tok-1",
        "link": "http://me:pw-1@h/x?token=tok-1",
        "final_url": "http://h/x?sig=s-1",
    }
    record = Provenance.from_dict(old)
    assert record is not None
    assert not any(s in record.to_json() for s in ("tok-1", "pw-1", "s-1"))


def test_the_resume_state_matches_the_full_url_by_its_hash(tmp_path: Path) -> None:
    part = tmp_path / "url-k.part"
    part.write_bytes(b"x" * 10)
    url = "http://me:pw-1@h/x.zip?token=tok-1"
    state = ResumeState(source="url-k", total=99, url=url, source_sha256=url_sha256(url))
    state_path(part).write_text(state.to_json())
    text = state_path(part).read_text()
    assert "pw-1" not in text and "tok-1" not in text
    assert resumable_offset(part, "url-k", url=url) == 10
    assert resumable_offset(part, "url-k", url=url.replace("tok-1", "tok-2")) == 0
    assert resumable_offset(part, "url-k") == 10  # the key alone, as before


# ---------------------------------------------------------------------------------------------
# Finding 8: a partial download of another URL does not stay forever
# ---------------------------------------------------------------------------------------------
def _interrupt(drive: FakeDrive, data: Path, url: str) -> Path:
    """A download of ``url`` cut after DROP bytes, its retries exhausted: the part stays."""
    drive.drop_after = [DROP]
    drive.fail_next = [None, (500, "0")]  # type: ignore[list-item]
    with pytest.raises(DownloadError):
        run_download(
            paths.resolve(data),
            urls=[url],
            drive=False,
            sleep=lambda s: None,
            policy=RetryPolicy(retries=1),
        )
    part = data / "downloads" / f"url-{url_sha256(url)[:12]}.part"
    assert part.stat().st_size == DROP and state_path(part).is_file()
    return part


def test_a_part_of_another_url_is_removed_by_the_next_commit(
    drive: FakeDrive, archive: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    stale = _interrupt(drive, data, secret_url(drive))
    (data / "downloads" / "url-0123456789ab.part.json").write_text("{}")  # a lone sidecar
    code = run(
        ["download", "--url", drive.mirror_url("copy.zip"), "--no-drive", "--data-dir", str(data)]
    )
    err = capsys.readouterr().err
    assert code == 0 and f"removed the stale partial download {stale.name}" in err
    assert sorted(p.name for p in (data / "downloads").iterdir()) == ["copy.zip"]


def test_a_part_of_the_same_url_is_still_resumed(
    drive: FakeDrive, archive: bytes, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    url = secret_url(drive)
    _interrupt(drive, data, url)
    res = run_download(paths.resolve(data), urls=[url], drive=False)
    assert res.resumed_from == DROP and Path(res.archive.path).read_bytes() == archive
    assert sorted(p.name for p in (data / "downloads").iterdir()) == ["LungSegDB.zip"]


# ---------------------------------------------------------------------------------------------
# Audit S 2 and 5: a secret in a URL nested in a parameter, or in a ;name=value path parameter
# ---------------------------------------------------------------------------------------------
HIDDEN = "hidden-5d1e8e3b"


def _hidden_url(drive: FakeDrive, form: str, name: str) -> str:
    inner = f"http://cdn.example/{name}?token={HIDDEN}&X-Amz-Signature={HIDDEN}"
    if form == "nested-encoded":  # a CDN hop carrying the original URL
        return drive.mirror_url(name) + "?origin=" + quote(inner, safe="")
    if form == "nested-plain":  # an SSO gate's ?next=
        return drive.mirror_url(name) + f"?next=/x?token={HIDDEN}"
    if form == "path-parameter":
        return drive.mirror_url(name) + f";token={HIDDEN}"
    assert form == "path-parameter-listed"  # named in LUNGSEGDB_REDACT (a servlet's session)
    return drive.mirror_url(name) + f";jsessionid={HIDDEN}"


@pytest.mark.parametrize(
    "form", ["nested-encoded", "nested-plain", "path-parameter", "path-parameter-listed"]
)
def test_no_secret_from_a_nested_url_or_a_path_parameter(
    form: str,
    drive: FakeDrive,
    archive: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shown, recorded and named nowhere: not in a failure's message, not in the provenance
    (``source``, ``final_url``), not in the archive's or a rejected file's name (the name is
    the URL's last segment without its ``;`` parameters)."""
    monkeypatch.setenv("LUNGSEGDB_REDACT", "mirror_auth,jsessionid")
    for name in ("LungSegDB.zip", "other.zip"):
        drive.mirror[f"{name};token={HIDDEN}"] = drive.mirror[f"{name};jsessionid={HIDDEN}"] = (
            archive if name == "LungSegDB.zip" else b"PK\x03\x04 other bytes" * 40
        )
    drive.mirror["other.zip"] = b"PK\x03\x04 other bytes" * 40
    data = tmp_path / "data"
    pin = hashlib.sha256(archive).hexdigest()
    common = ("--no-drive", "--data-dir", str(data))
    steps = [
        (("--url", _hidden_url(drive, form, "missing.zip"), *common, "--json"), 3),
        (("--url", _hidden_url(drive, form, "missing.zip"), *common), 3),
        (("--url", _hidden_url(drive, form, "other.zip"), "--sha256", pin, *common), 1),
        (("--url", _hidden_url(drive, form, "LungSegDB.zip"), "--sha256", pin, *common), 0),
    ]
    texts: list[str] = []
    for args, want in steps:
        code = run(["download", *args])
        out, err = capsys.readouterr()
        texts += [out, err]
        assert code == want, (args, out, err)
    code = run(["info", "--json", "--data-dir", str(data)])
    texts.append(capsys.readouterr().out)
    assert code == 0
    assert (data / "downloads" / "LungSegDB.zip").read_bytes() == archive
    assert (data / "downloads" / "other.zip.rejected").is_file()
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        texts.append(f"{path}\n" + path.read_bytes().decode("latin-1"))
    leaks = [t[:300] for t in texts if HIDDEN in t]
    assert not leaks
