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
from collections.abc import Iterator

ENV_SIGINT_AT = "LUNGSEGDB_SIGINT_AT"

_result_written = False


def result_written() -> None:
    """The result is being written: from here on it stands (call before writing it)."""
    global _result_written
    _result_written = True


@contextlib.contextmanager
def writing_result() -> Iterator[None]:
    """Around the writing of the result: it stands from here on (:func:`result_written`), and
    Ctrl-C is held back until it is all written (a signal would cut a write into a full pipe
    short; a Ctrl-C that came meanwhile is then ignored)."""
    from lungsegdb_cli.utils.signals import sigint_blocked

    result_written()
    with sigint_blocked():
        yield


def result_out() -> bool:
    """Whether :func:`result_written` was called in this process."""
    return _result_written


def sigint_at(point: str) -> None:
    """Test-only: SIGINT to this process at ``point`` (``start``, ``run``, ``result``,
    ``exit``), when ``LUNGSEGDB_SIGINT_AT`` names it."""
    if os.environ.get(ENV_SIGINT_AT) == point:
        signal.raise_signal(signal.SIGINT)
