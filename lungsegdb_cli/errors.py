"""The exception tree of the library, and the exit codes the CLI maps it to.

Every error the library raises on purpose is a :class:`LungSegDBError`. Each subclass carries
the contract's exit code, a one-line ``message`` (what failed) and a one-line ``hint`` (what to
do next), plus free-form ``context`` for ``--json`` output. The CLI has one funnel that turns
any of these into the two-line message and the exit code; nothing else catches them.

An error never carries a secret: its message and hint (also when reassigned) and the text of
its context are redacted (:func:`lungsegdb_cli._redact.redact`: user info and credential
parameters of any URL they name become ``***``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

from lungsegdb_cli._redact import redact

_E = TypeVar("_E", bound=BaseException)


class ExitCode(IntEnum):
    """Exit codes of the command line (docs/cli.md)."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    DOWNLOAD = 3
    ARCHIVE = 4
    LOCAL = 5
    INTERRUPTED = 130
    #: the reader of stdout went away (``| head``), or there was no stdout: the command
    #: line's alone, no error of the library has it
    STDOUT_CLOSED = 141


class LungSegDBError(Exception):
    """Root of every error the library raises deliberately."""

    exit_code: ExitCode = ExitCode.CHECK_FAILED
    #: the kind of error, as in the ``--json`` error document (``error.kind``)
    kind: str = "error"
    default_hint: str = "Run the command again with --debug for details."

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.context: dict[str, Any] = {
            k: redact(v) if isinstance(v, str) else v for k, v in context.items()
        }

    @property
    def message(self) -> str:
        """What failed (redacted, also when set later)."""
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = redact(value)

    @property
    def hint(self) -> str:
        """What to do next (redacted, also when set later)."""
        return self._hint

    @hint.setter
    def hint(self, value: str) -> None:
        self._hint = redact(value)

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the contract's JSON error document."""
        out: dict[str, Any] = {
            "code": int(self.exit_code),
            "kind": self.kind,
            "message": self.message,
            "hint": self.hint,
        }
        if self.context:
            out["context"] = {k: _jsonable(v) for k, v in self.context.items()}
        return out


class CheckFailed(LungSegDBError):
    """The data failed a check: checksum mismatch, missing or modified files, findings."""

    exit_code = ExitCode.CHECK_FAILED
    kind = "check-failed"


class ChecksumMismatch(CheckFailed):
    kind = "checksum-mismatch"
    default_hint = "Delete the file and download again, or check the pinned --sha256."


class ProvenanceCorrupt(CheckFailed):
    """The archive's record ``<state>/provenance.json`` is there but is not a valid record
    (not JSON, a wrong type, not a regular file): a finding, never read as "nothing recorded".
    Raised where the record is vouched for (``verify``, ``download``'s up-to-date check,
    ``publish``, ``croissant``); ``download --force`` writes it afresh."""

    kind = "provenance-corrupt"
    default_hint = (
        "Run 'lungsegdb download --force' (or 'download --archive FILE --force') "
        "to fetch the archive again and rewrite the record."
    )


class NotDownloaded(CheckFailed):
    """There is no LungSegDB tree where one is needed (exit 1, as for every command that
    finds no tree): the hint is the command that downloads it. Raised by
    :class:`~lungsegdb_cli.training.pairs.PairDataset` without ``download=True``."""

    kind = "not-downloaded"
    default_hint = "Run 'lungsegdb download' first (or pass download=True)."


class UsageError(LungSegDBError):
    """Bad input from the user: malformed option value, path that does not exist."""

    exit_code = ExitCode.USAGE
    kind = "usage"
    default_hint = "See 'lungsegdb COMMAND --help'."


class Interrupted(LungSegDBError):
    """Ctrl-C, said with what the command knows of where it stopped (an export interrupted
    after it was put in place); the plain case is the CLI's generic "interrupted" message."""

    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"


class DownloadError(LungSegDBError):
    """The download failed: network, Drive quota, permission, not found, offline."""

    exit_code = ExitCode.DOWNLOAD
    kind = "download-failed"
    default_hint = "Check the network, or download in a browser and use --archive PATH."


class ArchiveError(LungSegDBError):
    """The archive is unusable: corrupt, truncated, unsafe, unsupported, no tree in it."""

    exit_code = ExitCode.ARCHIVE
    kind = "bad-archive"
    default_hint = "Download the archive again (lungsegdb download --force)."


class UnsafeArchiveError(ArchiveError):
    kind = "unsafe-archive"
    default_hint = "Do not extract this archive by hand either; get it from the official source."


class LocalError(LungSegDBError):
    """The local machine refused: disk full, permission denied, lock held too long."""

    exit_code = ExitCode.LOCAL
    kind = "local-failure"
    default_hint = "Free disk space or fix permissions, then run the command again."


class DiskFullError(LocalError):
    kind = "disk-full"


class SourceTooBigForDisk(DiskFullError):
    """The free space is short of the size one source announces (its ``Content-Length``, its
    object's size), the pinned archive's size not being known: a server that lies about the
    size fails only itself, so the next source is tried. Exit 5 when there is no other source,
    or when every source fell short of space the same way (the disk really is too full)."""

    default_hint = (
        "Free some space or choose another --data-dir if the archive really is that big; "
        "else the source announces a wrong size: pass another mirror with --url."
    )


class LockTimeout(LocalError):
    kind = "lock-timeout"
    default_hint = "Another lungsegdb process is working on this data dir; wait for it to finish."


class OutBusy(LockTimeout):
    """Another lungsegdb export holds the export folder OUT (its lock beside OUT)."""

    kind = "out-busy"
    default_hint = "Wait for the other export to finish, or export to another folder."


class OutChanged(LocalError):
    """The export folder OUT changed while an export was made: it was left as it was."""

    kind = "out-changed"
    default_hint = "Move what was put in OUT elsewhere (or choose another OUT), then export again."


def _jsonable(value: Any) -> Any:
    """``value`` as JSON, every string in it redacted (context may be added to after the
    error was made)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return redact(str(value))


#: Verbs call sites use in ``action``, in both forms: gerund -> base ("writing" -> "write").
_VERBS: dict[str, str] = {
    "accessing": "access",
    "copying": "copy",
    "creating": "create",
    "deleting": "delete",
    "extracting": "extract",
    "hashing": "hash",
    "listing": "list",
    "locking": "lock",
    "moving": "move",
    "opening": "open",
    "reading": "read",
    "removing": "remove",
    "renaming": "rename",
    "replacing": "replace",
    "stating": "stat",
    "writing": "write",
}


def _failed(action: str) -> str:
    """What failed, as a sentence start: "writing X" and "write X" -> "Could not write X"."""
    action = action.strip()
    verb, sep, rest = action.partition(" ")
    low = verb.lower()
    if low in _VERBS:
        return f"Could not {_VERBS[low]}{sep}{rest}"
    if low.endswith("ing") and low not in _VERBS.values():
        return f"Failed while {action}"  # a gerund not in the table still reads right
    return f"Could not {action}"


def _os_reason(exc: OSError) -> str:
    import errno

    reasons = {
        errno.ENOSPC: "Disk full",
        errno.EDQUOT: "Disk quota exceeded",
        errno.EACCES: "Permission denied",
        errno.EPERM: "Operation not permitted",
        errno.EROFS: "Read-only file system",
        errno.ENAMETOOLONG: "File name too long for this file system",
        errno.EISDIR: "Is a folder, not a file",
        errno.ENOTDIR: "A part of the path is not a folder",
    }
    reason = reasons.get(exc.errno or -1) or exc.strerror or str(exc) or type(exc).__name__
    return reason


def _os_hint(exc: OSError, filename: object, target: str | None = None) -> str:
    import errno

    code = exc.errno
    where = str(filename) if filename is not None else "the data dir"
    # what to change: the place the caller names (publish's DEST, synth's OUT), else any of them
    other = target if target is not None else "--data-dir (or LUNGSEGDB_HOME), OUT or DEST"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"Free disk space on the disk holding {where}, or choose another {other}."
    if code == errno.EROFS:
        return f"{where} is on a read-only file system: choose another {other}."
    if code in (errno.EACCES, errno.EPERM):
        return f"Fix the permissions of {where}, or choose another {other}."
    if code == errno.ENAMETOOLONG:
        return f"Choose a shorter {other}, or a file system that allows longer names."
    if code in (errno.EISDIR, errno.ENOTDIR) and filename is None:
        return "A path given is a folder where a file is expected, or the other way round."
    if code == errno.EISDIR:
        return f"{where} is a folder; move it away or name a file instead."
    if code == errno.ENOTDIR:
        return f"Part of the path {where} is a file, not a folder; check the path."
    if filename is None:
        return "Run the command again with --debug for details."
    return f"Check {where}, then run the command again (--debug shows details)."


def from_os_error(exc: OSError, action: str, *, target: str | None = None) -> LocalError:
    """Wrap an ``OSError`` from the local file system as a :class:`LocalError` (exit 5).

    ``action`` says what was being done, with its object, in either form: ``"writing X"`` or
    ``"write X"``. The message reads ``Could not write X: <reason>`` (the failing file is
    added when the action does not name it); the hint matches the errno: free space
    (ENOSPC, EDQUOT, as :class:`DiskFullError`), permissions or a writable data dir (EACCES,
    EPERM, EROFS), a shorter path (ENAMETOOLONG), a path problem (EISDIR, ENOTDIR), else a
    neutral hint naming the path. ``target``: the argument naming where the output goes when
    it is not the data dir (``"DEST"`` for publish): the hints for space, permissions, a
    read-only file system and a long name then name it instead of ``--data-dir``.
    """
    import errno

    filename = exc.filename
    if exc.filename2 is not None and str(exc.filename2) in action:
        filename = exc.filename2  # os.replace(tmp, target): the target is the one named
    reason = _os_reason(exc)
    if filename is not None and str(filename) not in action:
        reason = f"{reason} ({filename})"
    message = f"{_failed(action)}: {reason}"
    hint = _os_hint(exc, filename, target)
    cls = DiskFullError if exc.errno in (errno.ENOSPC, errno.EDQUOT) else LocalError
    return cls(message, hint=hint, path=filename, errno=exc.errno)


def from_stdout_error(exc: OSError) -> LocalError:
    """An ``OSError`` writing the result to standard output (``> /dev/full``, a full disk
    under the file stdout is redirected to): exit 5, the hint about the redirection, not the
    data dir.

    Examples
    --------
    >>> import errno
    >>> err = from_stdout_error(OSError(errno.ENOSPC, "No space left on device"))
    >>> type(err).__name__, err.message
    ('DiskFullError', 'Could not write the result to standard output: Disk full')
    """
    import errno

    message = f"Could not write the result to standard output: {_os_reason(exc)}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = (
            "Standard output is redirected to a place that is full (a full disk, /dev/full): "
            "free space there, or redirect it elsewhere."
        )
        return DiskFullError(message, hint=hint, errno=exc.errno)
    hint = "Check where standard output is redirected, then run the command again."
    return LocalError(message, hint=hint, errno=exc.errno)


def from_unmapped_os_error(exc: OSError) -> LungSegDBError:
    """An ``OSError`` no code below mapped, as both the command line's funnel and the Python
    API's boundary report it: an HTTP library's error (``requests``/``urllib3`` errors are
    ``OSError``s) that the download code did not map is a failed download (exit 3), anything
    else the local machine's (exit 5, :func:`from_os_error`: ENAMETOOLONG, EACCES, ...)."""
    module = type(exc).__module__.split(".")[0]
    if module in ("requests", "urllib3"):
        return DownloadError(f"Download failed: {type(exc).__name__}: {exc}")
    return from_os_error(exc, "accessing a local file")


def hide_secret_chain(exc: _E) -> _E:
    """``exc`` without its chain when any exception in it (every ``__cause__`` and
    ``__context__``, transitively) reads differently once redacted: an internal exception
    holding the full URL (``HTTP 500 from http://user:PW@host/x?token=T``). ``exc``'s own
    message is redacted when made; its chain is replaced by notes giving each link's type and
    redacted message, so a traceback or ``logging.exception`` still says what happened.

    Examples
    --------
    >>> try:
    ...     try:
    ...         raise RuntimeError("HTTP 500 from http://me:PW@h/x?token=T")
    ...     except RuntimeError:
    ...         raise DownloadError("The mirror failed")
    ... except DownloadError as exc:
    ...     err = hide_secret_chain(exc)
    >>> err.__cause__, err.__context__, err.__notes__
    (None, None, ['caused by RuntimeError: HTTP 500 from http://***@h/x?token=***'])
    """
    import traceback

    links: list[BaseException] = []
    todo = [exc.__cause__, exc.__context__]
    while todo:
        link = todo.pop()
        if link is None or link is exc or any(link is seen for seen in links):
            continue
        links.append(link)
        todo += [link.__context__, link.__cause__]
    texts = ["".join(traceback.format_exception_only(link)).strip() for link in links]
    if all(redact(text) == text for text in texts):
        return exc
    exc.__cause__ = exc.__context__ = None
    exc.__suppress_context__ = True
    notes = [f"caused by {redact(text)}" for text in texts]
    # add_note is Python 3.11+; typeshed for 3.10 knows no __notes__
    exc.__notes__ = [*getattr(exc, "__notes__", []), *notes]  # type: ignore[attr-defined]
    return exc


class NothingToVerify(DownloadError):
    """``verify`` found nothing local to check: no manifest (exit 3, like --offline with
    nothing local: the fix is to download or extract, not to repair data)."""

    kind = "nothing-to-verify"
    default_hint = (
        "Run 'lungsegdb download' (or 'lungsegdb extract --force' to re-extract and write one)."
    )


class DrivePageError(DownloadError):
    """Google Drive (or a mirror) answered with a page instead of the archive: quota exceeded,
    not found, permission/sign-in, a virus-scan warning that could not be followed."""

    kind = "drive-page"


class MirrorRefused(DownloadError):
    """A source that is not Google Drive (a mirror, a bucket) answered with a page or an error
    instead of the archive: not found, permission denied, an HTML page, another HTTP error."""

    kind = "mirror-refused"


class DownloadTooLarge(DownloadError):
    """A transfer brought more bytes than it may: the pinned archive's size, the announced
    ``Content-Length`` or ``LUNGSEGDB_MAX_DOWNLOAD``; the partial file was removed."""

    kind = "download-too-large"
    default_hint = "Pass another mirror with --url; the partial file was removed."


class DownloadTooSlow(DownloadError):
    """A transfer ran below ``LUNGSEGDB_MIN_RATE`` for ``LUNGSEGDB_RATE_WINDOW`` seconds (a
    trickling server); the partial file was removed."""

    kind = "download-too-slow"
    default_hint = "Pass another mirror with --url; the partial file was removed."


class OfflineError(DownloadError):
    """``--offline`` and the data is not already here."""

    kind = "offline"
    default_hint = "Run 'lungsegdb download' with network access, or pass --archive PATH."
