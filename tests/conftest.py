"""Shared pytest fixtures. Each fixture block is self-contained; append new ones below."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


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
    import os
    import tempfile

    # Failing examples are written as patch files under hypothesis' storage directory
    # (./.hypothesis by default): keep them out of the work tree.
    os.environ.setdefault(
        "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "lungsegdb-hypothesis")
    )
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
