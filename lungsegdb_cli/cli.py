"""The command line: the only module that parses options, prints and exits.

Every command is a thin shell over a library function. Errors from the library
(:class:`~lungsegdb_cli.errors.LungSegDBError`) go through one funnel, :func:`run`, which maps
them to the contract's exit codes and a two-line message (or a JSON error document).

Heavy libraries (numpy, tifffile, requests, gdown) are imported inside the commands that need
them, so ``lungsegdb --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from lungsegdb_cli import __version__
from lungsegdb_cli.errors import ExitCode, LungSegDBError, UsageError, from_os_error

app = typer.Typer(
    name="lungsegdb",
    help=(
        "Get the LungSegDB lung CT segmentation dataset onto this machine: download, verify, "
        "extract, validate and summarise it. Exit codes: 0 ok, 1 data failed a check, 2 usage, "
        "3 download failed, 4 archive unusable, 5 local machine refused, 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ---------------------------------------------------------------------------------------------
# Options every command takes
# ---------------------------------------------------------------------------------------------
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=(
            "Data root (holds LungSegDB/), or the LungSegDB folder itself, or any folder laid "
            "out like it. Default: $LUNGSEGDB_HOME, else the user cache dir "
            "(~/.cache/lungsegdb on Linux)."
        ),
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout, nothing else.")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress; only results and errors.")
]
DebugOpt = Annotated[
    bool,
    typer.Option("--debug", help="Show a traceback on errors (or set LUNGSEGDB_DEBUG=1)."),
]
Sha256Opt = Annotated[
    str | None,
    typer.Option(
        "--sha256",
        envvar="LUNGSEGDB_SHA256",
        help="Pin the archive's SHA-256 (64 hex digits). Env: LUNGSEGDB_SHA256.",
        show_default=False,
    ),
]
ArchiveOpt = Annotated[
    Path | None,
    typer.Option(
        "--archive",
        help="Use this archive file (e.g. downloaded by hand in a browser): no network.",
        show_default=False,
    ),
]


class Output:
    """Where results, progress and errors go for one command run."""

    def __init__(self, *, json_mode: bool, quiet: bool) -> None:
        self.json = json_mode
        self.quiet = quiet

    @cached_property
    def out(self) -> Any:
        from rich.console import Console

        return Console(file=sys.stdout, highlight=False, soft_wrap=True)

    @cached_property
    def err(self) -> Any:
        from rich.console import Console

        return Console(file=sys.stderr, highlight=False, soft_wrap=True)

    def progress(self) -> Any:
        from lungsegdb_cli.progress import make_progress

        return make_progress(quiet=self.quiet, console=self.err)

    def emit(self, doc: dict[str, Any], human: Callable[[Any], None]) -> None:
        """One JSON document in ``--json`` mode, else the human rendering on stdout."""
        if self.json:
            sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
            sys.stdout.flush()
        else:
            human(self.out)

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"warning: {message}", markup=False)


def _paths(data_dir: Path | None, *, must_exist: bool = False) -> Any:
    from lungsegdb_cli import paths

    return paths.resolve(data_dir, must_exist=must_exist)


def _check_sha256(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    v = value.strip().lower()
    if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
        raise UsageError(
            f"Malformed SHA-256: {value!r} (expected 64 hex digits)",
            hint="Copy the checksum from 'lungsegdb info --json' or your CI pin.",
        )
    return v


def _existing_file(path: Path | None, what: str) -> Path | None:
    if path is None:
        return None
    if not path.exists():
        raise UsageError(f"{what} does not exist: {path}", hint="Check the path.", path=str(path))
    if not path.is_file():
        raise UsageError(f"{what} is not a file: {path}", hint="Check the path.", path=str(path))
    return path


def _fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if version:
        typer.echo(f"lungsegdb {__version__}")
        raise typer.Exit(0)


# ---------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------
@app.command()
def info(
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """What the dataset is (source, citation, licence, counts) and the local state."""
    from lungsegdb_cli import info as info_mod

    out = Output(json_mode=json_out, quiet=quiet)
    doc = info_mod.collect(_paths(data_dir))

    def human(con: Any) -> None:
        card = doc["dataset"]
        con.print(f"[bold]{card['name']}[/bold]: {card['description']}")
        for version, n in card["published_pairs"].items():
            con.print(f"  {version}: {n:,} pairs per variant ({card['sources'][version]})")
        con.print(f"  source:   {doc['source']['url']}")
        con.print(f"  citation: {card['citation']}", markup=False)
        con.print(f"  licence:  {card['licence']}", markup=False)
        con.print("")
        con.print("[bold]Local state[/bold]: " + doc["state"])
        con.print(f"  data dir:    {doc['data_dir']}", markup=False)
        con.print(f"  dataset dir: {doc['dataset_dir']}", markup=False)
        arch = doc["archive"]
        if arch:
            con.print(f"  archive:     {arch['path']} ({_fmt_bytes(arch['size'])})", markup=False)
            con.print(f"  sha256:      {arch['sha256']}", markup=False)
            con.print(f"  pin in CI:   LUNGSEGDB_SHA256={arch['sha256']}", markup=False)
        else:
            con.print("  archive:     (none kept)")
        con.print(f"  manifest:    {doc['manifest'] or '(none)'}", markup=False)

    out.emit(doc, human)
    return 0


# ---------------------------------------------------------------------------------------------
# synth
# ---------------------------------------------------------------------------------------------
class SynthFormat(str, Enum):
    zip = "zip"
    tar_gz = "tar.gz"
    none = "none"


@app.command()
def synth(
    out_dir: Annotated[
        Path, typer.Argument(metavar="OUT", help="Folder to write the tree and archive into.")
    ],
    pairs: Annotated[
        int | None,
        typer.Option("--pairs", help="Pairs per group (variant x version). Default: 4."),
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            "--scale",
            help="Fraction of the published counts per group (1.0 = 1,800 V1 / 700 V2 pairs).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, byte-identical output.")] = 0,
    fmt: Annotated[
        SynthFormat, typer.Option("--format", help="Archive format, or none for the tree only.")
    ] = SynthFormat.zip,
    wrap: Annotated[
        str | None,
        typer.Option("--wrap", help="Nest the tree inside this folder in the archive."),
    ] = None,
    defects: Annotated[
        bool,
        typer.Option("--defects", help="Plant one of each defect validate must find."),
    ] = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Write a synthetic LungSegDB-shaped tree and archive, for tests and offline CI.

    --data-dir is accepted like on every command but not used: synth writes only into OUT.
    """
    from lungsegdb_cli import synth as synth_mod

    out = Output(json_mode=json_out, quiet=quiet)
    result = synth_mod.synthesize(
        out_dir,
        pairs=pairs,
        scale=scale,
        seed=seed,
        fmt=fmt.value,
        wrap=wrap,
        defects=defects,
        progress=out.progress(),
    )
    doc = result.to_dict()

    def human(con: Any) -> None:
        con.print(f"Synthetic LungSegDB tree: {doc['tree']}", markup=False)
        for label, n in doc["pairs"].items():
            con.print(f"  {label}: {n} pairs", markup=False)
        con.print(f"  {doc['files']:,} files, {_fmt_bytes(doc['bytes'])}")
        if doc.get("archive"):
            a = doc["archive"]
            con.print(f"Archive: {a['path']} ({_fmt_bytes(a['size'])})", markup=False)
            con.print(f"  sha256: {a['sha256']}", markup=False)
        if doc.get("defects"):
            con.print(f"Planted {len(doc['defects'])} defects:")
            for d in doc["defects"]:
                con.print(f"  {d['code']}: {d['path']}", markup=False)

    out.emit(doc, human)
    return 0


# ---------------------------------------------------------------------------------------------
# download  (issue 3: add the command here)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# extract  (issue 4: add the command here)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# verify  (issue 5: add the command here)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# validate  (issue 6: add the command here)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# stats  (issue 7: add the command here)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# The error funnel
# ---------------------------------------------------------------------------------------------
def _debug_wanted(argv: Sequence[str]) -> bool:
    return "--debug" in argv or os.environ.get("LUNGSEGDB_DEBUG", "") not in ("", "0")


def _report(
    code: int, kind: str, message: str, hint: str, argv: Sequence[str], **extra: Any
) -> int:
    if "--json" in argv:
        error: dict[str, Any] = {"code": code, "kind": kind, "message": message, "hint": hint}
        error.update(extra)
        sys.stdout.write(json.dumps({"ok": False, "error": error}, default=str) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(f"error: {message}\n  next: {hint}\n")
        sys.stderr.flush()
    return code


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code. Never raises (but SystemExit)."""
    from typer.exceptions import Abort, TyperException

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_wanted(argv)
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="lungsegdb", standalone_mode=False)
    except LungSegDBError as exc:
        if debug:
            traceback.print_exc()
        ctx = {"context": exc.to_dict().get("context")} if exc.context else {}
        return _report(int(exc.exit_code), exc.code, exc.message, exc.hint, argv, **ctx)
    except TyperException as exc:  # usage errors from option parsing
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        code = getattr(exc, "exit_code", 2)
        return _report(
            int(code) if code else int(ExitCode.USAGE),
            "usage",
            message.strip().splitlines()[0] if message.strip() else "Invalid usage",
            "See 'lungsegdb --help' or 'lungsegdb COMMAND --help'.",
            argv,
        )
    except (KeyboardInterrupt, Abort):
        return _interrupted(argv)
    except OSError as exc:
        if debug:
            traceback.print_exc()
        err = from_os_error(exc, "access a local file")
        return _report(int(err.exit_code), err.code, err.message, err.hint, argv)
    if isinstance(rv, bool) or not isinstance(rv, int):
        return 0
    if rv == ExitCode.INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
        return _interrupted(argv)
    return rv


def _interrupted(argv: Sequence[str]) -> int:
    return _report(
        int(ExitCode.INTERRUPTED),
        "interrupted",
        "Interrupted; nothing half-written was left in the tree.",
        "Run the same command again to continue.",
        argv,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))
