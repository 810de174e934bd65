"""Where the ``lungsegdb`` process is, for its SIGINT handler (:mod:`lungsegdb_cli.cli.entry`).

Once a command's result -- its ``--json`` document, its human output or its error -- is being
written, the run is over: a Ctrl-C from then on is ignored, so stdout holds one document and
the exit code is the command's (it used to be 130, with a second, "interrupted", document
after the first). :func:`sigint_at` is the test hook ``LUNGSEGDB_SIGINT_AT`` names.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

ENV_SIGINT_AT = "LUNGSEGDB_SIGINT_AT"

_result_written = False


@contextlib.contextmanager
def writing_result() -> Iterator[None]:
    """Around the writing of the result: it stands from here on (:func:`result_out`), and
    Ctrl-C is held back until it is all written (a signal would cut a write into a full pipe
    short; a Ctrl-C that came meanwhile is then ignored)."""
    from lungsegdb_cli.utils.signals import sigint_blocked

    global _result_written
    _result_written = True
    with sigint_blocked():
        yield


class StdoutClosed(Exception):
    """stdout's reader went away before the result was all written (``lungsegdb pairs |
    head``), or there never was a stdout (``>&-``). Not an ``OSError``: click would turn
    that into exit 1, which says "check failed"."""


#: Exit status of a run whose reader closed stdout: what a Unix tool killed by SIGPIPE gives.
STDOUT_CLOSED = 141


def write_out(text: str) -> None:
    """Write ``text`` to stdout whole: on POSIX straight to its descriptor in a loop (a write
    cut short by a signal, or by a reader that went away, is never taken for a whole one --
    CPython's text stream can drop the rest of such a write and exit 0), else through
    ``sys.stdout``. A closed reader: :class:`StdoutClosed`. Call inside
    :func:`writing_result`."""
    stream = sys.stdout
    if stream is None:  # fd 1 was closed when Python started: no one to read the result
        raise StdoutClosed()
    try:
        stream.flush()
        fd = stream.fileno() if os.name == "posix" else None
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's capture)
        fd = None
    try:
        if fd is None:
            stream.write(text)
            stream.flush()
            return
        data = memoryview(
            text.encode(stream.encoding or "utf-8", getattr(stream, "errors", None) or "strict")
        )
        while data:
            data = data[os.write(fd, data) :]
    except BrokenPipeError as exc:
        raise StdoutClosed() from exc
    except OSError as exc:  # > /dev/full: the redirection's fault, not the data dir's
        from lungsegdb_cli.errors import from_stdout_error

        raise from_stdout_error(exc) from exc


def result_out() -> bool:
    """Whether a result has begun to be written in this process (:func:`writing_result`)."""
    return _result_written


def sigint_at(point: str) -> None:
    """Test-only: SIGINT to this process at ``point`` (``start``, ``run``, ``result``,
    ``exit``), when ``LUNGSEGDB_SIGINT_AT`` names it."""
    if os.environ.get(ENV_SIGINT_AT) == point:
        signal.raise_signal(signal.SIGINT)
