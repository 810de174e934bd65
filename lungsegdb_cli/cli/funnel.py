"""The error funnel's pieces that need no typer: shared by the typer app (:func:`.app.run`)
and the fast path (:mod:`.fast`), so an error reads the same whichever path ran the command.

:func:`report` turns what a command raised -- a
:class:`~lungsegdb_cli.errors.LungSegDBError`, or an ``OSError`` nothing mapped -- into the
two-line message (or the ``--json`` error document) and the contract's exit code, with the
traceback first under ``--debug`` / ``LUNGSEGDB_DEBUG=1``. :func:`safe_streams` is the net
under human output (an unencodable character escaped, never a ``UnicodeEncodeError``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from lungsegdb_cli._redact import redact
from lungsegdb_cli.cli.output import report_error, report_stdout_closed
from lungsegdb_cli.cli.phase import StdoutClosed
from lungsegdb_cli.errors import LungSegDBError, from_unmapped_os_error

__all__ = ["debug_wanted", "report", "safe_streams", "show_traceback"]


def debug_wanted(argv: Sequence[str]) -> bool:
    """``--debug`` in ``argv``, or ``LUNGSEGDB_DEBUG`` set to anything but what every other
    switch reads as off (blank, ``0``, ``false``, ``no``, ``off``, any case)."""
    value = os.environ.get("LUNGSEGDB_DEBUG", "").strip().lower()
    return "--debug" in argv or value not in ("", "0", "false", "no", "off")


def show_traceback() -> None:
    """``--debug``'s traceback of the error being handled (URLs in it redacted)."""
    import traceback

    sys.stderr.write(redact(traceback.format_exc()))
    sys.stderr.flush()


def report(exc: LungSegDBError | OSError | StdoutClosed, argv: Sequence[str]) -> int:
    """Show ``exc`` (being handled: call it from an ``except`` block) and return its exit
    code: the traceback first with ``--debug``, then the message or the JSON error document.

    Examples
    --------
    >>> from lungsegdb_cli.errors import UsageError
    >>> try:
    ...     raise UsageError("Bad value", hint="Use a good one.")
    ... except UsageError as exc:
    ...     code = report(exc, ["--json"])  # doctest: +ELLIPSIS
    {"ok": false, "schema": 1, "error": {"code": 2, "kind": "usage", "message": "Bad value", ...}}
    >>> code
    2
    """
    if debug_wanted(argv):
        show_traceback()
    if isinstance(exc, (BrokenPipeError, StdoutClosed)):
        return report_stdout_closed()
    if isinstance(exc, LungSegDBError):
        return report_error(exc.to_dict(), argv)
    # the same mapping as the Python API's boundary (lungsegdb_cli.api.common.boundary)
    return report_error(from_unmapped_os_error(exc).to_dict(), argv)


def safe_streams() -> None:
    """Make a strict stdout/stderr (e.g. Python's default under an ``en_US.UTF-8`` locale) show
    an unencodable character as an escape instead of raising ``UnicodeEncodeError``: human
    output escapes names from data already (:mod:`~lungsegdb_cli.utils.textsafe`); this is the
    net under it. Streams that already handle errors (``surrogateescape``, ...) are left
    alone."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # COLUMNS/LINES that are not plain ASCII digits (``COLUMNS=²``: ``str.isdigit`` takes it,
    # ``int`` refuses it) are dropped from this process's environment: rich would fail on them
    # with a traceback; without them it asks the terminal.
    for var in ("COLUMNS", "LINES"):
        value = os.environ.get(var)
        if value is not None and not (value.isascii() and value.isdigit()):
            del os.environ[var]
