"""The command line's fast path: the calls every CI job makes, served without typer.

A CI job restores its cache and runs ``lungsegdb download`` (an intact tree: nothing to do),
often ``lungsegdb verify --quick``; people and scripts run ``lungsegdb --help``. Through the
typer app each of these first imports typer, click, pydantic and rich (typer 0.29 imports
pydantic to coerce options): ~0.15 s before any work, for commands whose work takes
milliseconds. ``stats`` pays the same before its decode workers start, with the second core
idle. :func:`recognise` picks exactly these invocations out of argv and serves them by
calling the public API (:func:`lungsegdb_cli.download`, :func:`lungsegdb_cli.verify`,
:func:`lungsegdb_cli.stats`) with the same :class:`~lungsegdb_cli.cli.output.Output`, option
checks, renderers and error funnel (:mod:`~lungsegdb_cli.cli.funnel`) the typer commands use;
the root help is rendered by :mod:`~lungsegdb_cli.cli.helptext`. Output and exit codes are
the typer path's, byte for byte (``tests/cli/test_fast.py`` runs both).

Recognised: ``download``, ``verify`` and ``stats`` followed only by their own options, spelled
``--name value``, ``--name=value`` or ``-q``, each value non-empty and not starting with
``-``, the options' environment variables read as typer reads them (:data:`DOWNLOAD`,
:data:`VERIFY`, :data:`STATS`); and the root help (``--help``, ``-h`` or no argument at
all). Anything else -- shell completion (:data:`COMPLETE_ENV` set), another command,
``--help`` of a command, an unknown, misspelt or malformed option, an argument, ``--`` --
returns None, and the typer app
runs the command as it always did (its usage errors included). So an option the typer app
gains is handled there until it is added here: correct, only slower.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["DOWNLOAD", "STATS", "VERIFY", "Opt", "parse", "recognise", "run"]

FLAG, VALUE, LIST = "flag", "value", "list"
#: Set by the shell completion scripts click installs: click answers, whatever argv is.
COMPLETE_ENV = "_LUNGSEGDB_COMPLETE"


class Opt(NamedTuple):
    """One option of a command, as :mod:`lungsegdb_cli.cli.options` declares it for typer:
    its parameter name, spellings, whether it is a flag, takes a value or a repeatable value,
    the environment variables (first non-empty one wins) used when it is not given, and the
    value's type (``str``, ``int`` or ``float``: a value not spelt plainly as one is left to
    typer, whose conversion and error message then apply)."""

    dest: str
    names: tuple[str, ...]
    takes: str = FLAG
    envvar: tuple[str, ...] = ()
    kind: str = "str"


#: Every command takes these (``--debug`` is read from argv by the error funnel).
COMMON: tuple[Opt, ...] = (
    Opt("data_dir", ("--data-dir",), VALUE),
    Opt("json_out", ("--json",)),
    Opt("quiet", ("--quiet", "-q")),
    Opt("debug", ("--debug",)),
)
_SHA256 = Opt("sha256", ("--sha256",), VALUE, ("LUNGSEGDB_SHA256",))

VERIFY: tuple[Opt, ...] = (*COMMON, _SHA256, Opt("quick", ("--quick",)))
STATS: tuple[Opt, ...] = (
    *COMMON,
    Opt("variant", ("--variant",), VALUE),
    Opt("version", ("--version",), VALUE),
    Opt("csv_path", ("--csv",), VALUE),
    Opt("plot", ("--plot",), VALUE),
    Opt("no_cache", ("--no-cache",)),
)
DOWNLOAD: tuple[Opt, ...] = (
    *COMMON,
    _SHA256,
    Opt("url", ("--url",), LIST, ("LUNGSEGDB_URLS", "LUNGSEGDB_URL")),
    Opt("archive", ("--archive",), VALUE),
    Opt("offline", ("--offline",)),
    Opt("force", ("--force",)),
    Opt("no_extract", ("--no-extract",)),
    Opt("require_pin", ("--require-pin",)),
    Opt("no_keep_archive", ("--no-keep-archive",)),
    Opt("cookies", ("--cookies",), VALUE, ("LUNGSEGDB_COOKIES",)),
    Opt("no_drive", ("--no-drive",)),
    Opt("retries", ("--retries",), VALUE, ("LUNGSEGDB_RETRIES",), "int"),
    Opt("timeout", ("--timeout",), VALUE, ("LUNGSEGDB_TIMEOUT",), "float"),
    Opt("storage_option", ("--storage-option",), LIST),
    Opt("md5", ("--md5",), VALUE),
)


def parse(args: Sequence[str], spec: Sequence[Opt]) -> dict[str, Any] | None:
    """The options ``args`` gives a command whose options are ``spec``, as typer would pass
    them (flags False, values None when absent; environment variables filled in), or None if
    ``args`` is anything this parser does not recognise exactly.

    Examples
    --------
    >>> parse(["--quick", "--data-dir=data", "-q"], VERIFY)["data_dir"]
    'data'
    >>> parse(["--quick", "extra"], VERIFY) is None  # an argument: for typer to refuse
    True
    """
    by_name = {name: opt for opt in spec for name in opt.names}
    got: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        opt = by_name.get(name)
        if opt is None:
            return None
        i += 1
        if opt.takes == FLAG:
            if eq:
                return None  # "--quick=1": typer's usage error
            got[opt.dest] = True
            continue
        if eq:
            value = inline
        elif i < len(args):
            value = args[i]
            i += 1
        else:
            return None  # a value is missing
        if not value or value.startswith("-"):
            return None
        if opt.takes == LIST:
            got.setdefault(opt.dest, []).append(value)
        else:
            got[opt.dest] = value
    for opt in spec:
        if opt.dest not in got:
            got[opt.dest] = _from_env(opt)
        if opt.kind != "str" and got[opt.dest] is not None:
            got[opt.dest] = _typed(got[opt.dest], opt.kind)
            if got[opt.dest] is None:
                return None
    return got


#: The plain spellings of a number the fast path converts itself (anything else: typer's).
_PLAIN = {"int": re.compile(r"[0-9]+"), "float": re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")}


def _typed(value: str, kind: str) -> int | float | None:
    """``value`` as an ``int`` or ``float`` if spelt plainly as one, else None.

    Examples
    --------
    >>> _typed("3", "int"), _typed("2.5", "float"), _typed("x", "int"), _typed(" 3", "int")
    (3, 2.5, None, None)
    """
    if not _PLAIN[kind].fullmatch(value):
        return None
    return int(value) if kind == "int" else float(value)


def _from_env(opt: Opt) -> Any:
    """The option's value from its environment variables as click reads them (an empty
    variable counts as unset; a repeatable option splits on whitespace), else its default."""
    for var in opt.envvar:
        raw = os.environ.get(var)
        if raw:
            return raw.split() if opt.takes == LIST else raw
    return False if opt.takes == FLAG else None


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


# ---------------------------------------------------------------------------------------------
# The commands: the bodies the typer commands in cli/app.py call too (cli/bodies.py)
# ---------------------------------------------------------------------------------------------
#: The options that name files: typer passes them as ``Path``.
_PATHS = frozenset({"data_dir", "archive", "cookies", "csv_path", "plot"})


def _body(name: str) -> Callable[[dict[str, Any]], int]:
    """The body of command ``name``, called with the parsed options as typer passes them
    (paths as ``Path``; ``--debug`` is the funnel's, read from argv)."""

    def call(o: dict[str, Any]) -> int:
        from lungsegdb_cli.cli import bodies

        kwargs = {k: _path(v) if k in _PATHS else v for k, v in o.items() if k != "debug"}
        code: int = getattr(bodies, name)(**kwargs)
        return code

    return call


def _root_help() -> Callable[[], int] | None:
    """The root help's text is known now (None: only the typer app can render it here)."""
    from lungsegdb_cli.cli import helptext

    text = helptext.root_help()
    if text is None:
        return None

    def show() -> int:
        from lungsegdb_cli.cli import phase
        from lungsegdb_cli.errors import LungSegDBError

        try:
            phase.write_out(text)
        except (LungSegDBError, phase.StdoutClosed) as exc:  # no stdout, a full device: as
            from lungsegdb_cli.cli import funnel  # a result's

            return funnel.report(exc, ["--help"])
        return 0

    return show


_COMMANDS: dict[str, tuple[Sequence[Opt], Callable[[dict[str, Any]], int]]] = {
    "download": (DOWNLOAD, _body("download")),
    "stats": (STATS, _body("stats")),
    "verify": (VERIFY, _body("verify")),
}


def recognise(argv: Sequence[str]) -> Callable[[], int] | None:
    """A function that serves ``argv`` and returns its exit code, if ``argv`` is one of the
    invocations of this module (see its docstring); None if not (nothing was done: run the
    typer app).

    Like the typer app's funnel, a :class:`~lungsegdb_cli.errors.LungSegDBError` or
    ``OSError`` from the command becomes its message and exit code; ``KeyboardInterrupt``
    propagates to the entry point, which reports it (exit 130).

    Examples
    --------
    >>> recognise(["stats"]) is None and recognise(["verify", "--bogus"]) is None
    True
    >>> callable(recognise(["verify", "--quick", "--json"]))
    True
    """
    argv = list(argv)
    if os.environ.get(COMPLETE_ENV):
        return None  # a shell asking for completions (its script runs bare `lungsegdb`)
    if not argv or (len(argv) == 1 and argv[0] in ("--help", "-h")):
        return _root_help()  # bare ``lungsegdb`` prints the root help too
    command = _COMMANDS.get(argv[0]) if argv else None
    if command is None:
        return None
    spec, body = command
    options = parse(argv[1:], spec)
    if options is None:
        return None
    return lambda: _serve(body, options, argv)


def _serve(body: Callable[[dict[str, Any]], int], options: dict[str, Any], argv: list[str]) -> int:
    """What ``cli.app.serve`` does around a command: the interpreter-wide tuning, safe
    streams, the error funnel."""
    from lungsegdb_cli.cli import funnel, phase
    from lungsegdb_cli.cli import tuning as _tuning
    from lungsegdb_cli.errors import LungSegDBError

    _tuning.apply()
    funnel.safe_streams()
    try:
        code = body(options)
    except (LungSegDBError, OSError, phase.StdoutClosed) as exc:
        code = funnel.report(exc, argv)
    _tuning.freeze_before_exit()
    return code


def run(argv: Sequence[str]) -> int | None:
    """Serve ``argv`` (:func:`recognise`) and return its exit code; None if it is not one
    of the fast path's invocations (nothing was done)."""
    serve = recognise(argv)
    return None if serve is None else serve()
