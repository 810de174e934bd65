"""The exception tree and its exit codes."""

from __future__ import annotations

import errno
import os

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
    ("err", "cls", "reason", "hint"),
    [
        (errno.ENOSPC, errors.DiskFullError, "Disk full", "Free disk space"),
        (errno.EDQUOT, errors.DiskFullError, "quota", "Free disk space"),
        (errno.EACCES, errors.LocalError, "permission denied", "Fix the permissions"),
        (errno.EPERM, errors.LocalError, "not permitted", "Fix the permissions"),
        (errno.EROFS, errors.LocalError, "read-only", "read-only file system: choose another"),
        (errno.ENAMETOOLONG, errors.LocalError, "name too long", "shorter"),
        (errno.EISDIR, errors.LocalError, "folder", "is a folder"),
        (errno.ENOTDIR, errors.LocalError, "not a folder", "not a folder"),
        (errno.EIO, errors.LocalError, "Input/output error", "Check /some/file"),
    ],
)
def test_from_os_error_reason_and_hint_match_the_errno(
    err: int, cls: type[errors.LocalError], reason: str, hint: str
) -> None:
    exc = errors.from_os_error(OSError(err, os.strerror(err), "/some/file"), "writing /x")
    assert type(exc) is cls
    assert exc.exit_code == 5
    assert exc.message.startswith("Could not write /x: ")
    assert reason.lower() in exc.message.lower()
    assert "/some/file" in exc.message  # the failing file, when the action does not name it
    assert hint in exc.hint
    if err in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS):
        assert "--data-dir" in exc.hint and "OUT or DEST" in exc.hint  # synth, publish, export
    if err == errno.EROFS:
        assert "permissions" not in exc.hint  # not a permissions problem
    if cls is not errors.DiskFullError:
        assert "disk space" not in exc.hint.lower()


@pytest.mark.parametrize(
    ("err", "hint"),
    [
        (errno.ENOSPC, "or choose another DEST"),
        (errno.EDQUOT, "or choose another DEST"),
        (errno.EACCES, "Fix the permissions of /some/file, or choose another DEST"),
        (errno.EPERM, "Fix the permissions of /some/file, or choose another DEST"),
        (errno.EROFS, "/some/file is on a read-only file system: choose another DEST"),
        (errno.ENAMETOOLONG, "Choose a shorter DEST"),
    ],
)
def test_from_os_error_hint_names_the_target_not_the_data_dir(err: int, hint: str) -> None:
    """publish writes to DEST, not to the data dir: its write failures say what to change
    (audit A 17); without ``target`` the hints stay as they are (the table above)."""
    exc = errors.from_os_error(
        OSError(err, os.strerror(err), "/some/file"), "write /x", target="DEST"
    )
    assert hint in exc.hint and "--data-dir" not in exc.hint and "LUNGSEGDB_HOME" not in exc.hint


@pytest.mark.parametrize(
    ("action", "start"),
    [
        ("writing /d/f", "Could not write /d/f:"),
        ("write /d/f", "Could not write /d/f:"),
        ("creating /d", "Could not create /d:"),
        ("moving the new tree into /d", "Could not move the new tree into /d:"),
        ("read /d/f", "Could not read /d/f:"),
        ("hash /d/f", "Could not hash /d/f:"),
        ("locking /d/lock", "Could not lock /d/lock:"),
        ("accessing a local file", "Could not access a local file:"),
        ("frobnicating /d", "Failed while frobnicating /d:"),
    ],
)
def test_from_os_error_messages_read_correctly(action: str, start: str) -> None:
    exc = errors.from_os_error(OSError(errno.EIO, "Input/output error", "/d/f"), action)
    assert exc.message.startswith(start), exc.message
    assert "Could not writing" not in exc.message


def test_from_os_error_without_a_file_name_has_a_neutral_hint() -> None:
    exc = errors.from_os_error(OSError("something odd"), "accessing a local file")
    assert exc.message == "Could not access a local file: something odd"
    assert "disk" not in exc.hint.lower() and exc.hint


def test_from_os_error_names_the_target_of_a_rename() -> None:
    exc = OSError(errno.EISDIR, "Is a directory", "/d/.out.csv.x1.tmp", None, "/d/out.csv")
    err = errors.from_os_error(exc, "writing /d/out.csv")
    assert ".tmp" not in err.message and ".tmp" not in err.hint
    assert "/d/out.csv is a folder" in err.hint
