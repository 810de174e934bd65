"""``PairDataset(root, download=True, sha256=...)``: the tree fetched (from a real HTTP server
on 127.0.0.1) before it is indexed; ``NotDownloaded`` without ``download=True``."""

from __future__ import annotations

import doctest
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.fakes import RecordingProgress

# internals: training/ensure and training/pairs docstring examples run (doctest)
import lungsegdb_cli as L
from lungsegdb_cli.training import ensure


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()


class Mirror:
    """A static mirror of one folder on 127.0.0.1, counting the requests it answers."""

    def __init__(self, folder: Path) -> None:
        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder))
        )
        self.server.daemon_threads = True
        self.server.requests = []  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def requests(self) -> list[str]:
        return self.server.requests  # type: ignore[attr-defined,no-any-return]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A synth archive (2 pairs per group, zip)."""
    return L.synth(tmp_path_factory.mktemp("ensure") / "s", pairs=2, seed=0, fmt="zip")


@pytest.fixture
def mirror(made: Any) -> Iterator[tuple[Mirror, str]]:
    m = Mirror(Path(made.archive.path).parent)
    yield m, m.url(Path(made.archive.path).name)
    m.close()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LUNGSEGDB_URL",
        "LUNGSEGDB_URLS",
        "LUNGSEGDB_SHA256",
        "LUNGSEGDB_OFFLINE",
        "LUNGSEGDB_REQUIRE_PIN",
        "LUNGSEGDB_HOME",
        "LUNGSEGDB_RETRIES",
        "LUNGSEGDB_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)


def test_download_true_fetches_then_indexes(
    made: Any, mirror: tuple[Mirror, str], tmp_path: Path
) -> None:
    server, url = mirror
    progress = RecordingProgress()
    ds = L.PairDataset(
        tmp_path / "data",
        download=True,
        sha256=made.archive.sha256,
        urls=[url],
        drive=False,
        progress=progress,
        variant="all",
    )
    assert len(ds) == 8 and ds.downloaded is not None and ds.downloaded.action == "downloaded"
    assert server.requests  # it went to the mirror
    assert any("downloading" in n for n in progress.notes)
    assert ("done", None) in progress.calls  # the download's own phases reported
    sample = ds[0]
    assert sample["mask"].max() == 1 and sample["image"].shape
    assert L.verify(tmp_path / "data").ok
    # intact now: a second dataset fetches nothing (the mirror may even be gone)
    server.close()
    again = L.PairDataset(
        tmp_path / "data",
        download=True,
        sha256=made.archive.sha256,
        urls=[url],
        drive=False,
        variant="all",
    )
    assert len(again) == 8
    assert again.downloaded is None  # checked against the pin, nothing fetched
    unpinned = L.PairDataset(
        tmp_path / "data", download=True, urls=[url], drive=False, variant="all"
    )
    assert unpinned.downloaded is None and len(unpinned) == 8


def test_the_environment_names_the_source_and_the_pin(
    made: Any, mirror: tuple[Mirror, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mirror
    monkeypatch.setenv("LUNGSEGDB_URL", url)
    monkeypatch.setenv("LUNGSEGDB_SHA256", made.archive.sha256.upper())
    monkeypatch.setenv("LUNGSEGDB_HOME", str(tmp_path / "home"))
    ds = L.PairDataset(download=True, drive=False, variant="all")
    assert len(ds) == 8 and server.requests
    assert ds.downloaded is not None and ds.downloaded.archive.sha256 == made.archive.sha256


def test_a_wrong_pin_is_a_checksum_mismatch_and_leaves_no_tree(
    made: Any, mirror: tuple[Mirror, str], tmp_path: Path
) -> None:
    _server, url = mirror
    root = tmp_path / "data"
    with pytest.raises(L.ChecksumMismatch) as info:
        L.PairDataset(root, download=True, sha256="0" * 64, urls=[url], drive=False, variant="raw")
    assert info.value.exit_code == 1
    assert not (root / "LungSegDB").exists()
    assert not (root / "LungSegDB.sha256").exists()
    assert not (root / ".lungsegdb" / "provenance.json").exists()
    left = sorted(p.name for p in (root / "downloads").iterdir())
    assert left == [Path(made.archive.path).name + ".rejected"]  # kept aside, never as good
    with pytest.raises(L.NotDownloaded):
        L.PairDataset(root)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variant": "bogus"}, "variant"),
        ({"variant": "raw", "version": "V9"}, "version"),
        ({"variant": "raw", "split": "holdout"}, "Unknown split"),
        ({"variant": "raw", "split": "train"}, "there are no splits"),
        ({}, "both variants"),  # the published tree holds both: a dataset of both is refused
    ],
    ids=["variant", "version", "split-name", "no-splits-yet", "no-variant"],
)
def test_bad_arguments_are_refused_before_any_request(
    mirror: tuple[Mirror, str], tmp_path: Path, kwargs: dict[str, str], match: str
) -> None:
    """A download is ~1 GB: what the arguments get wrong is said before it, not after."""
    server, url = mirror
    with pytest.raises(L.UsageError, match=match) as info:
        L.PairDataset(tmp_path / "d", download=True, urls=[url], drive=False, **kwargs)
    assert info.value.exit_code == 2
    assert server.requests == [] and not (tmp_path / "d" / "LungSegDB").exists()


def test_a_malformed_pin_is_a_usage_error_before_any_request(
    mirror: tuple[Mirror, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = mirror
    PairDataset = functools.partial(L.PairDataset, variant="raw")
    with pytest.raises(L.UsageError, match="64 hex digits"):
        PairDataset(tmp_path / "d", download=True, sha256="abc", urls=[url], drive=False)
    monkeypatch.setenv("LUNGSEGDB_SHA256", "xyz")
    with pytest.raises(L.UsageError, match="LUNGSEGDB_SHA256"):
        PairDataset(tmp_path / "d", download=True, urls=[url], drive=False)
    monkeypatch.setenv("LUNGSEGDB_SHA256", "")
    monkeypatch.setenv("LUNGSEGDB_REQUIRE_PIN", "1")
    with pytest.raises(L.UsageError, match="pin is required"):
        PairDataset(tmp_path / "d", download=True, urls=[url], drive=False)
    monkeypatch.setenv("LUNGSEGDB_REQUIRE_PIN", "")
    monkeypatch.setenv("LUNGSEGDB_RETRIES", "many")
    with pytest.raises(L.UsageError, match="LUNGSEGDB_RETRIES"):
        PairDataset(tmp_path / "d", download=True, urls=[url], drive=False)
    monkeypatch.setenv("LUNGSEGDB_RETRIES", "1000")
    with pytest.raises(L.UsageError, match="--retries"):
        PairDataset(tmp_path / "d", download=True, urls=[url], drive=False)
    assert server.requests == []


@pytest.mark.parametrize("exists", [False, True])
def test_without_download_a_missing_tree_is_not_downloaded(tmp_path: Path, exists: bool) -> None:
    root = tmp_path / "data"
    if exists:
        root.mkdir()
    with pytest.raises(L.NotDownloaded) as info:
        L.PairDataset(root)
    err = info.value
    assert isinstance(err, L.CheckFailed) and err.exit_code == 1
    assert err.kind == "not-downloaded"
    assert f"lungsegdb download --data-dir '{root}'" in err.hint and "download=True" in err.hint
    assert str(root / "LungSegDB") in err.message


def test_an_incomplete_tree_is_downloaded_again(
    made: Any, mirror: tuple[Mirror, str], tmp_path: Path
) -> None:
    _server, url = mirror
    root = tmp_path / "data"
    L.download(root, archive=made.archive.path, sha256=made.archive.sha256)
    victim = next((root / "LungSegDB").rglob("*.TIF"))
    victim.unlink()
    progress = RecordingProgress()
    ds = L.PairDataset(
        root, download=True, urls=[url], drive=False, progress=progress, variant="all"
    )
    assert victim.exists() and len(ds) == 8
    assert any("not (intact)" in n for n in progress.notes)


def test_no_variant_for_a_damaged_tree_is_refused_before_it_is_fetched_again(
    made: Any, mirror: tuple[Mirror, str], tmp_path: Path
) -> None:
    """A tree that is there but not intact is still to be fetched: the missing ``variant`` is
    said first, nothing is requested and the tree is left as it was."""
    server, url = mirror
    root = tmp_path / "data"
    L.download(root, archive=made.archive.path)
    victim = next((root / "LungSegDB").rglob("*.TIF"))
    victim.unlink()
    with pytest.raises(L.UsageError, match="both variants"):
        L.PairDataset(root, download=True, urls=[url], drive=False)
    with pytest.raises(L.UsageError, match="both variants"):  # intact, pinned to another one
        victim.parent.mkdir(exist_ok=True)
        L.download(root, archive=made.archive.path, force=True)
        L.PairDataset(root, download=True, sha256="ab" * 32, urls=[url], drive=False)
    assert server.requests == []


def test_ranks_that_waited_while_another_fetched_get_none(
    made: Any, mirror: tuple[Mirror, str], tmp_path: Path
) -> None:
    """torchrun: every rank builds the dataset; one fetches, the others find the tree."""
    _server, url = mirror
    root = tmp_path / "data"
    results: list[Any] = []
    errors: list[BaseException] = []

    def rank() -> None:
        try:
            ds = L.PairDataset(
                root,
                download=True,
                sha256=made.archive.sha256,
                urls=[url],
                drive=False,
                variant="raw",
            )
            results.append(ds.downloaded)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=rank) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    fetched = [r for r in results if r is not None]
    assert len(results) == 3 and len(fetched) == 1 and fetched[0].action == "downloaded"


def test_docstring_examples() -> None:
    """ensure's pin check is the request's (``sha256_pin``): its examples run there."""
    from lungsegdb_cli.sources import request

    result = doctest.testmod(request)
    assert result.failed == 0 and result.attempted > 0
    assert doctest.testmod(ensure).failed == 0
    from lungsegdb_cli.training import pairs

    result = doctest.testmod(pairs)
    assert result.failed == 0 and result.attempted > 0
