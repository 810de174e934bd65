"""Shared pytest fixtures. Each fixture block is self-contained; append new ones below."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

# ---------------------------------------------------------------------------------------------
# Nothing left behind. The test session gets a private temp folder, the sandbox:
#
#   <system temp>/lungsegdb-tests-XXXX/tmp/          TMPDIR of the session, its xdist workers and
#                                                   every process they start
#   <system temp>/lungsegdb-tests-XXXX/hypothesis/   hypothesis' storage (its constants cache)
#
# tmp_path stays where pytest keeps it (PYTEST_DEBUG_TEMPROOT: the system temp dir, with
# pytest's own retention of the last runs). At the end of the session the controller (the one
# process that outlives the xdist workers) lists what is left in tmp/, removes the sandbox and
# fails the run naming each leftover: a test that writes outside its tmp_path (a doctest's
# mkdtemp(), a killed child's multiprocessing folder, ...) is caught, whatever process wrote.
# ---------------------------------------------------------------------------------------------
_SANDBOX_VAR = "_LUNGSEGDB_TEST_SANDBOX"  # "<pid of the owning session>:<sandbox folder>"


def _sandbox() -> tuple[Path, bool]:
    """The sandbox folder, and whether this process owns it (made it: the controller, or a
    run without xdist). An xdist worker (a child of the owner, with ``PYTEST_XDIST_WORKER``
    set) reuses the owner's; any other process (a pytest run started by a test) makes its
    own."""
    owner, _, where = os.environ.get(_SANDBOX_VAR, "").partition(":")
    if owner.isdigit() and Path(where).is_dir():
        if int(owner) == os.getpid():
            return Path(where), True
        if int(owner) == os.getppid() and os.environ.get("PYTEST_XDIST_WORKER"):
            return Path(where), False
    system = tempfile.gettempdir()
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", system)  # tmp_path: where pytest keeps it
    where = tempfile.mkdtemp(prefix="lungsegdb-tests-", dir=system)
    (Path(where) / "tmp").mkdir()
    os.environ[_SANDBOX_VAR] = f"{os.getpid()}:{where}"
    return Path(where), True


SANDBOX, _OWNER = _sandbox()
os.environ["TMPDIR"] = str(SANDBOX / "tmp")
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(SANDBOX / "hypothesis")
tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def _own_multiprocessing_dir(tmp: Path) -> Path | None:
    """This process's own multiprocessing folder (``pymp-*``, made when a test started a fork
    server here), which multiprocessing removes when the process exits: not a leftover."""
    if not any(p.name.startswith("pymp-") for p in tmp.iterdir()):
        return None
    import multiprocessing.util

    return Path(multiprocessing.util.get_temp_dir())


def _leftovers(tmp: Path, own: Path | None) -> list[str]:
    """What is left in the session's temp folder, each as ``name (N files, B bytes)``."""
    found = []
    for entry in sorted(tmp.iterdir()):
        if entry == own:
            continue
        walk = entry.is_dir() and not entry.is_symlink()
        files = [p for p in entry.rglob("*") if not p.is_dir()] if walk else [entry]
        size = sum(p.lstat().st_size for p in files)
        found.append(f"{entry.name} ({len(files)} files, {size:,} bytes)")
    return found


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> Any:
    """After the xdist workers have exited: fail the run if anything was left in the temp
    dir, and remove the sandbox."""
    result = yield
    if not _OWNER:
        return result
    tmp = SANDBOX / "tmp"
    own = _own_multiprocessing_dir(tmp)
    found = _leftovers(tmp, own)
    if own is None:
        shutil.rmtree(SANDBOX, ignore_errors=True)
    else:  # multiprocessing removes its folder at exit (priority -100); the sandbox after it
        import multiprocessing.util

        for entry in tmp.iterdir():
            if entry == own:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
        shutil.rmtree(SANDBOX / "hypothesis", ignore_errors=True)
        multiprocessing.util.Finalize(
            None,
            shutil.rmtree,
            args=(SANDBOX,),
            kwargs={"ignore_errors": True},
            exitpriority=-200,
        )
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "files left behind", red=True)
            reporter.write_line(
                f"{len(found)} {'entry was' if len(found) == 1 else 'entries were'} left in "
                f"the temp dir outside any tmp_path ({tmp}, removed now); a test must write "
                "only under its tmp_path:"
            )
            for line in found:
                reporter.write_line(f"  {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    return result


# ---------------------------------------------------------------------------------------------
# synth: small synthetic LungSegDB trees, built once per test session.
# They are shared: never modify them in a test; copy first (shutil.copytree / copy2).
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def synth_result(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A clean synth run: 3 pairs per group, seed 0, zip archive, no defects.

    Returns the :class:`lungsegdb_cli.synthetic.make.SynthResult` (``.tree``, ``.archive.path``,
    ``.out``, ``.to_dict()``).
    """
    from lungsegdb_cli.synthetic import make as synth

    return synth.synthesize(tmp_path_factory.mktemp("synth-clean"), pairs=3, seed=0, fmt="zip")


@pytest.fixture(scope="session")
def synth_tree(synth_result: Any) -> Path:
    """The LungSegDB folder of :func:`synth_result` (3 clean pairs per group). Read-only."""
    return Path(synth_result.tree)


@pytest.fixture(scope="session")
def synth_defects(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A synth run with ``--defects``: 3 clean pairs per group plus one of each defect.

    ``.defects`` lists what was planted (code, severity, path relative to the LungSegDB
    folder, group, stem, where); ``raw data/V2`` holds only junk (no finding expected).
    """
    from lungsegdb_cli.synthetic import make as synth

    return synth.synthesize(
        tmp_path_factory.mktemp("synth-defects"), pairs=3, seed=0, fmt="zip", defects=True
    )


# ---------------------------------------------------------------------------------------------
# download (issue 3): a local fake of Google Drive on 127.0.0.1 (see tests/support/drive_fake.py)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fake_drive() -> Any:
    """A running :class:`drive_fake.FakeDrive` on 127.0.0.1 (stopped after the test)."""
    from support.drive_fake import FakeDrive

    with FakeDrive() as fake:
        yield fake


# ---------------------------------------------------------------------------------------------
# hypothesis (tests/test_fuzz.py): one deterministic profile, the same examples on every
# pytest-xdist worker and in every run (derandomized, no example database on disk).
# ---------------------------------------------------------------------------------------------
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass
else:
    # Hypothesis writes under its storage directory (./.hypothesis by default): the sandbox
    # holds it (HYPOTHESIS_STORAGE_DIRECTORY, set above), out of the work tree and removed at
    # the end of the session.
    settings.register_profile(
        "lungsegdb",
        derandomize=True,
        database=None,
        max_examples=100,
        deadline=500,
        print_blob=False,
        report_multiple_bugs=False,  # the first bug's own exception, for xfail(raises=...)
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("lungsegdb")


# ---------------------------------------------------------------------------------------------
# sources and publish (issue 14): a real S3-compatible server (moto's) on 127.0.0.1, one per
# session; ``s3_env`` points the AWS chain at it with fake credentials for one test.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Any:
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    from support import s3_server as s3

    server = s3.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in s3_server.environ().items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/lungsegdb-test")
    return s3_server


# ---------------------------------------------------------------------------------------------
# synth --like-kaggle (real-format matrix): the format real CT slices arrive in. Read-only.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def synth_kaggle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A ``like_kaggle`` synth run: 3 pairs per group, seed 0, zip archive. ``raw data``:
    512x512 signed int16 HU, corners padded at -2600 or -1800; ``preprocessed data``: the
    windowed uint8 copy. Never modify it: link or copy it into ``tmp_path`` first (commands
    that keep a decode cache write beside the LungSegDB folder)."""
    from lungsegdb_cli.synthetic import make as synth

    return synth.synthesize(
        tmp_path_factory.mktemp("synth-kaggle"), pairs=3, seed=0, fmt="zip", like_kaggle=True
    )
