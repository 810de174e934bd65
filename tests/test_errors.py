"""The exception tree and its exit codes."""

from __future__ import annotations

import errno

import pytest

from lungsegdb_cli import errors


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.CheckFailed, 1),
        (errors.ChecksumMismatch, 1),
        (errors.UsageError, 2),
        (errors.DownloadError, 3),
        (errors.ArchiveError, 4),
        (errors.UnsafeArchiveError, 4),
        (errors.LocalError, 5),
        (errors.DiskFullError, 5),
        (errors.LockTimeout, 5),
    ],
)
def test_exit_codes(cls: type[errors.LungSegDBError], code: int) -> None:
    exc = cls("boom", path="/x")
    assert isinstance(exc, errors.LungSegDBError)
    assert int(exc.exit_code) == code
    doc = exc.to_dict()
    assert doc["code"] == code and doc["message"] == "boom" and doc["hint"]
    assert doc["context"] == {"path": "/x"}


@pytest.mark.parametrize(
    ("err", "cls", "needle"),
    [
        (errno.ENOSPC, errors.DiskFullError, "Disk full"),
        (errno.EACCES, errors.LocalError, "Permission denied"),
        (errno.EROFS, errors.LocalError, "Permission denied"),
        (errno.EIO, errors.LocalError, "Could not"),
    ],
)
def test_from_os_error(err: int, cls: type[errors.LocalError], needle: str) -> None:
    exc = errors.from_os_error(OSError(err, "x", "/some/file"), "writing")
    assert type(exc) is cls
    assert needle in exc.message
    assert exc.exit_code == 5
