"""What every command of the command line shares: where output goes (:class:`Output`), the
``--json`` document's frame (:func:`_document`, :data:`JSON_SCHEMA`) and the checks of option
values that the library does not make itself (:func:`_check_sha256`, :func:`_existing_file`,
:func:`_output_file`, :func:`_paths`).

Imports nothing heavy: rich is loaded only when a console is first used.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lungsegdb_cli._redact import redact
from lungsegdb_cli.cli import phase
from lungsegdb_cli.errors import ExitCode, LocalError, UsageError, from_stdout_error
from lungsegdb_cli.utils.fsutil import check_output_file
from lungsegdb_cli.utils.textsafe import escape as _e

if TYPE_CHECKING:
    from rich.console import Console

    from lungsegdb_cli.dataset.paths import DataPaths
    from lungsegdb_cli.utils.progress import Progress

#: The version of the shape of every ``--json`` document (its ``"schema"`` key): bumped on an
#: incompatible change (a key removed or its meaning changed), not when keys are added.
JSON_SCHEMA = 1


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as a ``--json`` document: ``"ok"`` (the result's own, else True: a command that
    emits a result without one succeeded) and ``"schema"`` (:data:`JSON_SCHEMA`) first."""
    rest = {k: v for k, v in doc.items() if k not in ("ok", "schema")}
    return {"ok": doc.get("ok", True), "schema": JSON_SCHEMA, **rest}


def _finite(value: Any) -> Any:
    """``value`` with every float that JSON cannot hold (NaN, +-inf) as None (``null``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(doc: dict[str, Any], indent: int | None = None) -> str:
    """A ``--json`` document's text: valid JSON (a number beyond JSON -- NaN, infinity --
    is ``null``: Python's ``json`` would write ``NaN``, which strict parsers refuse), and no
    URL in it carries a secret (the library's results are redacted already; this is the net
    at the one place JSON is written)."""
    try:
        text = json.dumps(doc, indent=indent, default=str, allow_nan=False)
    except ValueError:  # rare: only a document holding NaN or infinity is walked
        text = json.dumps(_finite(doc), indent=indent, default=str, allow_nan=False)
    return redact(text, bare=False)  # names from the data may read as "user:pw@host"


class Output:
    """Where results, progress and errors go for one command run."""

    def __init__(self, *, json_mode: bool, quiet: bool) -> None:
        self.json = json_mode
        self.quiet = quiet

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        class Stdout(Console):
            def on_broken_pipe(self) -> None:  # rich's own: exit 1, which says "check failed"
                raise phase.StdoutClosed()

        return Stdout(file=sys.stdout, highlight=False, soft_wrap=True)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(file=sys.stderr, highlight=False, soft_wrap=True)

    def progress(self) -> Progress:
        from lungsegdb_cli.utils.progress import make_progress, wants_bars

        # rich is imported only when bars will be drawn (a terminal outside CI)
        console = self.err if not self.quiet and wants_bars(sys.stderr) else None
        return make_progress(quiet=self.quiet, console=console)

    def emit(self, doc: dict[str, Any], human: Callable[[Console], None]) -> None:
        """One JSON document in ``--json`` mode (with ``ok`` and ``schema``, see
        :func:`_document`), else the human rendering on stdout. From here on the result
        stands: a Ctrl-C is ignored (:mod:`lungsegdb_cli.cli.phase`)."""
        with phase.writing_result():
            if self.json:
                phase.write_out(dumps(_document(doc), indent=2) + "\n")
            elif sys.stdout is None:  # fd 1 closed when Python started (``>&-``)
                raise phase.StdoutClosed()
            else:
                try:
                    human(self.out)
                    sys.stdout.flush()
                except BrokenPipeError as exc:
                    raise phase.StdoutClosed() from exc
                except OSError as exc:  # > /dev/full: the redirection's fault
                    raise from_stdout_error(exc) from exc
        phase.sigint_at("result")

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"warning: {_e(redact(message))}", markup=False)


def report_error(error: dict[str, Any], argv: Sequence[str]) -> int:
    """Show an error (an ``exc.to_dict()``: code, kind, message, hint, context) and return its
    exit code: the JSON error document with ``--json``, else the two-line message."""
    with phase.writing_result():
        written = False
        if "--json" in argv:
            doc = _document({"ok": False, "error": error})
            # stdout may be what failed (``> /dev/full``, ``>&-``): then the two lines
            with contextlib.suppress(OSError, LocalError, phase.StdoutClosed):
                phase.write_out(dumps(doc) + "\n")
                written = True
        if not written:
            message, hint = redact(error["message"]), redact(error["hint"])
            if sys.stderr is not None:
                sys.stderr.write(f"error: {_e(message)}\n  next: {_e(hint)}\n")
                sys.stderr.flush()
        _settle_stdout()
    return int(error["code"])


def _settle_stdout() -> None:
    """stdout flushed now; if it cannot take what is buffered (``> /dev/full``), fd 1 is
    pointed at the null device, so Python's exit does not fail to flush it again (that
    failure would turn the exit code into 120)."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        _stdout_to_null()


def _stdout_to_null() -> None:
    """fd 1 pointed at the null device: what is still buffered for stdout goes nowhere, and
    Python's exit does not fail to flush it."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def report_stdout_closed() -> int:
    """stdout's reader went away before the result was all read (``lungsegdb pairs | head``):
    the run ends quietly with 141, as a Unix tool that SIGPIPE ends (the reader wanted no
    more; ``set -o pipefail`` still sees it), stdout pointed at the null device first so that
    Python's exit does not fail to flush it."""
    _stdout_to_null()
    return phase.STDOUT_CLOSED


def report_interrupted(argv: Sequence[str]) -> int:
    """Ctrl-C: the message (or JSON error document) of kind ``interrupted``; returns 130."""
    error = {
        "code": int(ExitCode.INTERRUPTED),
        "kind": "interrupted",
        "message": "Interrupted; nothing half-written was left in the tree.",
        "hint": "Run the same command again to continue.",
    }
    return report_error(error, argv)


def _paths(data_dir: Path | None, *, must_exist: bool = False) -> DataPaths:
    """The data root ``--data-dir`` names (or the default one), checked (exit 2 if unusable),
    with any interrupted commit finished first (:mod:`lungsegdb_cli.state.datadir`)."""
    from lungsegdb_cli.state.datadir import open_data_dir

    return open_data_dir(data_dir, must_exist=must_exist)


def _check_sha256(value: str | None) -> str | None:
    """``--sha256``'s value in lower case (None if not given); not 64 hex digits: exit 2
    (the one check, :meth:`~lungsegdb_cli.sources.request.Pin.parse`, the API's too)."""
    from lungsegdb_cli.sources.request import Pin

    pin = Pin.parse("sha256", value)
    return None if pin is None else pin.hex


def _existing_file(path: Path | None, what: str) -> Path | None:
    """``path`` if it is an existing file (None stays None); else a :class:`UsageError`."""
    if path is None:
        return None
    if not path.exists():
        raise UsageError(f"{what} does not exist: {path}", hint="Check the path.", path=str(path))
    if not path.is_file():
        raise UsageError(f"{what} is not a file: {path}", hint="Check the path.", path=str(path))
    return path


def _output_file(
    path: Path | None, option: str, example: str, data_dir: Path | None
) -> Path | None:
    """``path`` if a file can be written there, not among the files of the data dir
    ``data_dir`` names (see :func:`lungsegdb_cli.utils.fsutil.check_output_file`); else a
    :class:`UsageError` (exit 2) naming the option, its hint suggesting ``example``."""
    if path is None:
        return None
    return check_output_file(path, option, example, protect=_paths(data_dir).own)
