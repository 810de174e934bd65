"""The exception tree of the library, and the exit codes the CLI maps it to.

Every error the library raises on purpose is a :class:`LungSegDBError`. Each subclass carries
the contract's exit code, a one-line ``message`` (what failed) and a one-line ``hint`` (what to
do next), plus free-form ``context`` for ``--json`` output. The CLI has one funnel that turns
any of these into the two-line message and the exit code; nothing else catches them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes of the command-line contract (``shared/CONTRACT.md``)."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    DOWNLOAD = 3
    ARCHIVE = 4
    LOCAL = 5
    INTERRUPTED = 130


class LungSegDBError(Exception):
    """Root of every error the library raises deliberately."""

    exit_code: ExitCode = ExitCode.CHECK_FAILED
    code: str = "error"
    default_hint: str = "Run the command again with --debug for details."

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.context: dict[str, Any] = context

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the contract's JSON error document."""
        out: dict[str, Any] = {
            "code": int(self.exit_code),
            "kind": self.code,
            "message": self.message,
            "hint": self.hint,
        }
        if self.context:
            out["context"] = {k: _jsonable(v) for k, v in self.context.items()}
        return out


class CheckFailed(LungSegDBError):
    """The data failed a check: checksum mismatch, missing or modified files, findings."""

    exit_code = ExitCode.CHECK_FAILED
    code = "check-failed"


class ChecksumMismatch(CheckFailed):
    code = "checksum-mismatch"
    default_hint = "Delete the file and download again, or check the pinned --sha256."


class UsageError(LungSegDBError):
    """Bad input from the user: malformed option value, path that does not exist."""

    exit_code = ExitCode.USAGE
    code = "usage"
    default_hint = "See 'lungsegdb COMMAND --help'."


class DownloadError(LungSegDBError):
    """The download failed: network, Drive quota, permission, not found, offline."""

    exit_code = ExitCode.DOWNLOAD
    code = "download-failed"
    default_hint = "Check the network, or download in a browser and use --archive PATH."


class ArchiveError(LungSegDBError):
    """The archive is unusable: corrupt, truncated, unsafe, unsupported, no tree in it."""

    exit_code = ExitCode.ARCHIVE
    code = "bad-archive"
    default_hint = "Download the archive again (lungsegdb download --force)."


class UnsafeArchiveError(ArchiveError):
    code = "unsafe-archive"
    default_hint = "Do not extract this archive by hand either; get it from the official source."


class LocalError(LungSegDBError):
    """The local machine refused: disk full, permission denied, lock held too long."""

    exit_code = ExitCode.LOCAL
    code = "local-failure"
    default_hint = "Free disk space or fix permissions, then run the command again."


class DiskFullError(LocalError):
    code = "disk-full"


class LockTimeout(LocalError):
    code = "lock-timeout"
    default_hint = "Another lungsegdb process is working on this data dir; wait for it to finish."


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def from_os_error(exc: OSError, action: str) -> LocalError:
    """Wrap an ``OSError`` from the local file system as a :class:`LocalError`."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"Disk full while {action}: {exc}", path=exc.filename)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return LocalError(
            f"Permission denied while {action}: {exc.filename or exc}",
            hint="Choose a writable --data-dir (or set LUNGSEGDB_HOME).",
            path=exc.filename,
        )
    return LocalError(f"Could not {action}: {exc}", path=exc.filename)


class NothingToVerify(DownloadError):
    """``verify`` found nothing local to check: no manifest (exit 3, like --offline with
    nothing local: the fix is to download or extract, not to repair data)."""

    code = "nothing-to-verify"
    default_hint = (
        "Run 'lungsegdb download' (or 'lungsegdb extract --force' to re-extract and write one)."
    )


class DrivePageError(DownloadError):
    """Google Drive (or a mirror) answered with a page instead of the archive: quota exceeded,
    not found, permission/sign-in, a virus-scan warning that could not be followed."""

    code = "drive-page"


class OfflineError(DownloadError):
    """``--offline`` and the data is not already here."""

    code = "offline"
    default_hint = "Run 'lungsegdb download' with network access, or pass --archive PATH."
