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
from lungsegdb_cli.textsafe import escape as _e

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
    rich_markup_mode="markdown",
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


#: The version of the shape of every ``--json`` document (its ``"schema"`` key): bumped on an
#: incompatible change (a key removed or its meaning changed), not when keys are added.
JSON_SCHEMA = 1


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as a ``--json`` document: ``"ok"`` (the result's own, else True: a command that
    emits a result without one succeeded) and ``"schema"`` (:data:`JSON_SCHEMA`) first."""
    rest = {k: v for k, v in doc.items() if k not in ("ok", "schema")}
    return {"ok": doc.get("ok", True), "schema": JSON_SCHEMA, **rest}


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
        from lungsegdb_cli.progress import make_progress, wants_bars

        # rich is imported only when bars will be drawn (a terminal outside CI)
        console = self.err if not self.quiet and wants_bars(sys.stderr) else None
        return make_progress(quiet=self.quiet, console=console)

    def emit(self, doc: dict[str, Any], human: Callable[[Any], None]) -> None:
        """One JSON document in ``--json`` mode (with ``ok`` and ``schema``, see
        :func:`_document`), else the human rendering on stdout."""
        if self.json:
            sys.stdout.write(json.dumps(_document(doc), indent=2, default=str) + "\n")
            sys.stdout.flush()
        else:
            human(self.out)

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"warning: {_e(message)}", markup=False)


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


def _output_file(path: Path | None, option: str) -> Path | None:
    """``path`` if a file can be written there; a folder in its place, or a file in place of
    one of its folders, is a :class:`UsageError` (exit 2) naming the option."""
    if path is None:
        return None
    if path.is_dir():
        raise UsageError(
            f"{option} {path} is a folder; it needs a file name",
            hint=f"Give a file name, e.g. {option} {path / ('stats' + _suffix(option))}.",
            path=str(path),
        )
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(
                    f"{option} {path}: {parent} is a file, not a folder",
                    hint="Check the path.",
                    path=str(path),
                )
            break
    return path


def _suffix(option: str) -> str:
    return ".png" if option == "--plot" else ".csv"


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
# download
# ---------------------------------------------------------------------------------------------
@app.command()
def download(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="LUNGSEGDB_URL",
            help=(
                "Where to get the archive: a Google Drive link in any form (/file/d/ID/view, "
                "uc?id=ID, open?id=ID) or any http(s) mirror. Default: the dataset's Drive "
                "file. Env: LUNGSEGDB_URL."
            ),
            show_default=False,
        ),
    ] = None,
    archive: ArchiveOpt = None,
    sha256: Sha256Opt = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Never touch the network; exit 3 if the data (or a kept archive) is not here.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Download and extract again even if the tree is complete."),
    ] = False,
    no_extract: Annotated[
        bool,
        typer.Option(
            "--no-extract", help="Only download and check the archive (kept in <root>/downloads)."
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Fetch the archive, check its SHA-256, extract it into the tree, write the manifest.

    On a complete, intact tree it does nothing (no network). Interrupted downloads resume.
    """
    from lungsegdb_cli import download as download_mod

    out = Output(json_mode=json_out, quiet=quiet)
    pin = _check_sha256(sha256)
    archive_path = _existing_file(archive, "Archive")
    result = download_mod.download(
        _paths(data_dir),
        url=url,
        archive=archive_path,
        sha256=pin,
        offline=offline,
        force=force,
        extract=not no_extract,
        progress=out.progress(),
    )
    doc = result.to_dict()

    def human(con: Any) -> None:
        if doc["action"] == "up-to-date":
            what = "archive" if no_extract else "dataset"
            con.print(f"LungSegDB {what} already complete: nothing to do.", markup=False)
        elif doc["extracted"]:
            con.print(f"LungSegDB is ready: {_e(doc['dataset_dir'])}", markup=False)
        else:
            con.print("Archive downloaded and checked (not extracted).", markup=False)
        if doc["files"] is not None:
            con.print(f"  files:    {doc['files']:,}", markup=False)
        arch = doc["archive"]
        if arch:
            con.print(f"  archive:  {_e(arch['path'])} ({_fmt_bytes(arch['size'])})", markup=False)
            con.print(f"  sha256:   {arch['sha256']}", markup=False)
            if arch.get("md5"):
                con.print(f"  md5:      {arch['md5']}", markup=False)
        src = doc["source"] or {}
        if src.get("link") or src.get("url"):
            con.print(f"  source:   {_e(src.get('link') or src.get('url'))}", markup=False)
        if doc["manifest"]:
            con.print(f"  manifest: {_e(doc['manifest'])}", markup=False)
        if doc["pin_hint"]:
            con.print(_e(doc["pin_hint"]), markup=False)

    out.emit(doc, human)
    return 0


# ---------------------------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------------------------
def _archive_to_extract(paths: Any) -> Path:
    from lungsegdb_cli import extract as extract_mod

    return extract_mod.archive_to_extract(paths)


@app.command()
def extract(
    archive: Annotated[
        Path | None,
        typer.Option(
            "--archive",
            help=(
                "The archive to extract (zip, tar, tar.gz/.bz2/.xz; 7z and RAR with an extra). "
                "Default: the archive 'lungsegdb download' kept."
            ),
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Extract again even if the tree is complete and intact."),
    ] = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Extract the archive into the documented tree, safely and atomically, with a manifest.

    Finds the tree anywhere in the archive (wrapper or renamed folders); skips OS junk.

    Exit 4: the archive is unusable, unsafe or holds no tree. Exit 5: not enough disk space.

    Safety caps: LUNGSEGDB_MAX_BYTES, LUNGSEGDB_MAX_FILES, LUNGSEGDB_MAX_RATIO.
    """
    from lungsegdb_cli import extract as extract_mod

    out = Output(json_mode=json_out, quiet=quiet)
    paths = _paths(data_dir)
    source = _existing_file(archive, "Archive") or _archive_to_extract(paths)
    result = extract_mod.extract_archive(paths, source, force=force, progress=out.progress())
    doc = result.to_dict()
    if doc["missing"] and not json_out:
        out.warn("not in the archive: " + ", ".join(doc["missing"]))

    def human(con: Any) -> None:
        if doc["already"]:
            con.print(
                f"Already extracted: {doc['files']:,} files ({_fmt_bytes(doc['bytes'])}) in "
                f"{_e(doc['dataset_dir'])}; nothing to do (--force extracts again).",
                markup=False,
            )
            con.print(f"  manifest: {_e(doc['manifest'])}", markup=False)
            return
        con.print(
            f"Extracted {doc['files']:,} files ({_fmt_bytes(doc['bytes'])}) from "
            f"{_e(Path(doc['archive']).name)} into {_e(doc['dataset_dir'])} in "
            f"{doc['seconds']:.1f} s",
            markup=False,
        )
        con.print(f"  manifest: {_e(doc['manifest'])}", markup=False)
        for src, dst in doc["mapped"].items():
            con.print(f"  mapped:   {_e(src)} -> {_e(dst)}", markup=False)
        if doc["skipped_count"]:
            shown = ", ".join(f"{_e(s['path'])} ({_e(s['reason'])})" for s in doc["skipped"][:5])
            more = " ..." if doc["skipped_count"] > 5 else ""
            con.print(f"  skipped:  {doc['skipped_count']:,} files: {shown}{more}", markup=False)
        if doc["junk"]:
            con.print(f"  skipped:  {doc['junk']:,} OS junk files (__MACOSX, .DS_Store, ...)")
        if doc["missing"]:
            con.print("  missing:  " + ", ".join(doc["missing"]), markup=False)

    out.emit(doc, human)
    return 0


# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------
_VERIFY_MAX_ROWS = 20


@app.command()
def verify(
    sha256: Sha256Opt = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help=(
                "Check presence and sizes only, reading no file contents (sub-second at full "
                "scale). Misses a change that keeps the size; the archive is checked by size."
            ),
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Check the archive and every file of the tree against the manifest.

    The kept archive is checked against its pinned (--sha256) or recorded SHA-256, every file
    of the tree against the manifest: missing, modified, extra. Exit 0 intact, 1 if anything
    differs, 3 if there is nothing to verify (no manifest), 5 if a file cannot be read."""
    from lungsegdb_cli import verify as verify_mod

    out = Output(json_mode=json_out, quiet=quiet)
    pin = _check_sha256(sha256)
    result = verify_mod.verify(
        _paths(data_dir, must_exist=True),
        sha256=pin,
        quick=quick,
        # No progress object at all when quiet: rich is then never imported (~30 ms).
        progress=None if quick or quiet else out.progress(),
    )
    if result.ok and not json_out:
        # All is well: plain lines, no rich console to load (start-up counts at this speed).
        sys.stdout.write("".join(line + "\n" for line in _verify_ok_lines(result)))
        sys.stdout.flush()
        return 0
    doc = result.to_dict()

    def human(con: Any) -> None:
        from rich.table import Table
        from rich.text import Text

        how = " (quick: sizes only)" if result.quick else ""
        arch = result.archive
        files = f"{result.checked:,} files ({_fmt_bytes(result.bytes)})"
        parts = [
            f"{len(items)} {kind}"
            for kind, items in (
                ("missing", result.missing),
                ("modified", result.modified),
                ("extra", result.extra),
            )
            if items
        ]
        if arch is not None and not arch.ok:
            parts.insert(0, "archive differs")
        scope = f"checked {files} against the manifest" if result.manifest else "no tree"
        con.print(
            f"FAILED{how}: {', '.join(parts)}; {scope} in {result.seconds:.1f} s",
            markup=False,
        )
        if arch is not None and not arch.ok:
            con.print(f"  archive:  {_e(arch.path)}", markup=False)
            con.print(f"  expected: {arch.expected} ({arch.source})", markup=False)
            con.print(f"  actual:   {arch.sha256 or '-'}", markup=False)
            if arch.problem:
                con.print(f"  problem:  {_e(arch.problem)}", markup=False)
        table = Table("problem", "path", box=None, pad_edge=False, show_edge=False)
        for i, (kind, path) in enumerate(result.problems()):
            if i >= _VERIFY_MAX_ROWS:
                break
            table.add_row(kind, Text(_e(path)))
        con.print(table)
        more = result.problem_count - _VERIFY_MAX_ROWS
        if more > 0:
            con.print(f"... and {more:,} more (the full lists: lungsegdb verify --json)")

    out.emit(doc, human)
    return 0 if result.ok else int(ExitCode.CHECK_FAILED)


def _verify_ok_lines(result: Any) -> list[str]:
    """The human report of a verify that found nothing wrong."""
    how = " (quick: sizes only)" if result.quick else ""
    files = f"{result.checked:,} files ({_fmt_bytes(result.bytes)})"
    what = f"{files} match the manifest" if result.manifest else "no tree to check"
    lines = [f"OK{how}: {what} in {result.seconds:.1f} s"]
    arch = result.archive
    if arch is not None:
        ref = {"pin": "the pin", "provenance": "the recorded checksum"}.get(
            arch.source or "", "nothing (no pin, no record)"
        )
        if arch.sha256:
            state = f"sha256 matches {ref}"
        elif arch.present:
            state = "size matches the download record (quick: not hashed)"
        else:
            state = "not kept; the checksum recorded at download matches the pin"
        lines.append(f"  archive {_e(arch.path)}: {state}")
        lines.append(f"  sha256 {arch.sha256 or arch.expected or '-'}")
    return lines


# ---------------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------------
#: Paths listed per finding code on a terminal (all of them when piped, all in --json).
_FINDINGS_PER_CODE = 10

NoCacheOpt = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help=(
            "Decode every file again instead of reusing the decode cache (kept in the data "
            "dir's .lungsegdb/cache, keyed on path, size and mtime; shared by validate and "
            "stats). Env: LUNGSEGDB_NO_CACHE=1."
        ),
    ),
]


@app.command()
def validate(
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help=(
                "Warnings fail too: every finding is reported with severity 'error' and the "
                "exit code is 1 if there is any (count-mismatch included)."
            ),
        ),
    ] = False,
    no_cache: NoCacheOpt = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Check pairs, readability, shapes and mask contents of the whole tree.

    Every image must have its mask and every mask its image (paired by file stem), every
    file must decode, image and mask shapes must agree, and masks must be binary,
    single-channel and not empty. Exit 0 when there is no error (no finding at all with
    --strict), 1 otherwise or when there is no tree, 2 if --data-dir does not exist.
    """
    from lungsegdb_cli import validate as validate_mod

    out = Output(json_mode=json_out, quiet=quiet)
    result = validate_mod.validate(
        _paths(data_dir, must_exist=True),
        strict=strict,
        progress=out.progress(),
        use_cache=not no_cache,
    )
    doc = result.to_dict()

    def human(con: Any) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(f"LungSegDB at {_e(result.dataset_dir)}"), title_justify="left")
        for col in ("group", "pairs", "published", "errors", "warnings", "masks"):
            table.add_column(col, justify="left" if col in ("group", "masks") else "right")
        for g in result.groups:
            table.add_row(
                Text(_e(f"{g.variant}/{g.version}")),
                f"{g.pairs:,}" if g.present else "absent",
                f"{g.published:,}",
                f"[red]{g.errors}[/red]" if g.errors else "0",
                f"[yellow]{g.warnings}[/yellow]" if g.warnings else "0",
                Text(_e(g.convention)),
            )
        con.print(table)
        cap = _FINDINGS_PER_CODE if con.is_terminal else None
        for code, items in result.by_code().items():
            sev = items[0].severity
            colour = "red" if sev == "error" else "yellow"
            con.print(f"[{colour}]{code}[/{colour}] ({sev}, {len(items):,}):")
            for f in items[:cap]:
                con.print(Text(_e(f"  {f.path}: {f.message}")))
            if cap is not None and len(items) > cap:
                con.print(f"  ... and {len(items) - cap:,} more (all of them: --json)")
        counts = f"{result.errors:,} errors, {result.warnings:,} warnings"
        if result.ok:
            con.print(f"[green]OK[/green]: {result.pairs:,} pairs, {counts}")
        else:
            con.print(f"[red]FAILED[/red]: {result.pairs:,} pairs, {counts}")

    out.emit(doc, human)
    return 0 if result.ok else int(ExitCode.CHECK_FAILED)


# ---------------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------------
def _fmt_num(v: float | int | None, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.{digits}f}"


def _shapes_summary(shapes: dict[str, int]) -> str:
    if not shapes:
        return "-"
    if len(shapes) <= 2:
        return ", ".join(shapes)
    dims = [tuple(int(d) for d in k.split("x")) for k in shapes]
    hs, ws = [d[0] for d in dims], [d[1] for d in dims]
    chans = sorted({d[2] if len(d) > 2 else 1 for d in dims})
    c = "" if chans == [1] else "x" + "/".join(str(x) for x in chans)
    return f"{len(shapes)} sizes {min(hs)}-{max(hs)} x {min(ws)}-{max(ws)}{c}"


@app.command()
def stats(
    variant: Annotated[
        str | None,
        typer.Option(
            "--variant",
            help="Only this variant: preprocessed or raw ('preprocessed data'/'raw data' too).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Only this version: V1 or V2.", show_default=False),
    ] = None,
    csv_path: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            metavar="FILE",
            help=(
                "Also write one row per pair: variant, version, stem, image, mask, shape, "
                "dtype, min, max, mean, std, foreground, error."
            ),
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE.png",
            help=(
                "Also write a PNG: a few image/mask overlays per group, intensity and "
                "foreground histograms. Needs matplotlib: pip install 'lungsegdb-cli\\[plot]'."
            ),
            show_default=False,
        ),
    ] = None,
    no_cache: NoCacheOpt = False,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Pairs, shapes, dtypes, intensity and mask statistics per group.

    Per group (variant x version): pairs, shapes, dtypes, intensity min/max/mean/std over
    every pixel (the normalisation constants), mask foreground fraction, mask conventions and
    bytes on disk. Unreadable files are skipped and counted (see 'lungsegdb validate')."""
    from lungsegdb_cli import stats as stats_mod

    out = Output(json_mode=json_out, quiet=quiet)
    csv_path = _output_file(csv_path, "--csv")
    plot = _output_file(plot, "--plot")
    paths = _paths(data_dir, must_exist=True)
    if plot is not None:
        from lungsegdb_cli import plot as plot_mod

        plot_mod.require()
    result = stats_mod.compute(
        paths,
        variant=variant,
        version=version,
        csv=csv_path,
        progress=out.progress(),
        use_cache=not no_cache,
    )
    doc = result.to_dict()
    if plot is not None:
        doc["plot"] = str(plot_mod.render(result, paths, plot))

    def human(con: Any) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        con.print(Text(_e(f"LungSegDB at {result.dataset_dir}")))
        for g in doc["groups"]:
            i, fg = g["intensity"], g["foreground"]
            table = Table(
                title=Text(_e(f"{g['variant']}/{g['version']}"), style="bold"),
                title_justify="left",
                show_header=False,
                box=box.SIMPLE,
            )
            table.add_column("what", style="dim")
            table.add_column("value")
            if not g["present"]:
                table.add_row("pairs", "0 (group not found)")
                con.print(table)
                continue
            dtypes = ", ".join(f"{k} ({v:,})" for k, v in g["dtypes"].items()) or "-"
            if g["mixed_dtypes"]:
                dtypes += "  [yellow]mixed[/yellow]"
            rows = [
                ("pairs", f"{g['pairs']:,}"),
                ("shapes", Text(_shapes_summary(g["shapes"]))),
                ("dtypes", dtypes),
                ("min / max", f"{_fmt_num(i['min'])} / {_fmt_num(i['max'])}"),
                ("mean / std", f"[bold]{_fmt_num(i['mean'])} / {_fmt_num(i['std'])}[/bold]"),
                (
                    "foreground",
                    (
                        f"mean {fg['mean']:.2%}, min {fg['min']:.2%}, median "
                        f"{fg['p50']:.2%}, max {fg['max']:.2%}"
                        if fg["mean"] is not None
                        else "-"
                    ),
                ),
                ("masks", Text(stats_mod.conventions_summary(g["conventions"]))),
                ("size", _fmt_bytes(g["bytes"])),
            ]
            if g["unreadable"]:
                rows.append(("unreadable", f"[red]{g['unreadable']:,} skipped[/red]"))
            for k, v in rows:
                table.add_row(k, v)
            con.print(table)
        con.print("Normalisation constants (over every pixel of each group's images):")
        for g in doc["groups"]:
            i = g["intensity"]
            if i["mean"] is None:
                continue
            line = f"  {g['variant']}/{g['version']}: mean = {i['mean']:.6g}, std = {i['std']:.6g}"
            con.print(Text(_e(line)))
            for dt, m in g["intensity_by_dtype"].items():
                con.print(Text(f"    {dt} only: mean = {m['mean']:.6g}, std = {m['std']:.6g}"))
        total = doc["total"]
        con.print(f"Total: {total['pairs']:,} pairs, {_fmt_bytes(total['bytes'])}")
        if result.csv:
            con.print(Text(_e(f"CSV: {result.csv}")))
        if doc.get("plot"):
            con.print(Text(_e(f"Plot: {doc['plot']}")))

    for g in doc["groups"]:
        if g["unreadable"]:
            out.warn(
                f"{g['variant']}/{g['version']}: {g['unreadable']} unreadable file(s) skipped; "
                "run 'lungsegdb validate' for the list"
            )
        if g["mixed_dtypes"]:
            out.warn(
                f"{g['variant']}/{g['version']}: mixed image dtypes "
                f"({', '.join(g['dtypes'])}); per-dtype numbers in --json intensity_by_dtype"
            )
    out.emit(doc, human)
    return 0


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
    doc = info_mod.collect(_paths(data_dir)).to_dict()

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
        con.print(f"  data dir:    {_e(doc['data_dir'])}", markup=False)
        con.print(f"  dataset dir: {_e(doc['dataset_dir'])}", markup=False)
        arch = doc["archive"]
        if arch:
            size = _fmt_bytes(arch["size"])
            con.print(f"  archive:     {_e(arch['path'])} ({size})", markup=False)
            con.print(f"  sha256:      {arch['sha256']}", markup=False)
            con.print(f"  pin in CI:   LUNGSEGDB_SHA256={arch['sha256']}", markup=False)
        else:
            con.print("  archive:     (none kept)")
        con.print(f"  manifest:    {_e(doc['manifest'] or '(none)')}", markup=False)

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
        con.print(f"Synthetic LungSegDB tree: {_e(doc['tree'])}", markup=False)
        for label, n in doc["pairs"].items():
            con.print(f"  {label}: {n} pairs", markup=False)
        con.print(f"  {doc['files']:,} files, {_fmt_bytes(doc['bytes'])}")
        if doc.get("archive"):
            a = doc["archive"]
            con.print(f"Archive: {_e(a['path'])} ({_fmt_bytes(a['size'])})", markup=False)
            con.print(f"  sha256: {a['sha256']}", markup=False)
        if doc.get("defects"):
            con.print(f"Planted {len(doc['defects'])} defects:")
            for d in doc["defects"]:
                con.print(f"  {d['code']}: {_e(d['path'])}", markup=False)

    out.emit(doc, human)
    return 0


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
        doc = _document({"ok": False, "error": error})
        sys.stdout.write(json.dumps(doc, default=str) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write(f"error: {_e(message)}\n  next: {_e(hint)}\n")
        sys.stderr.flush()
    return code


def _network_error(exc: OSError) -> LungSegDBError | None:
    """An HTTP-library error (``requests``/``urllib3`` errors are ``OSError``s) that the
    download code did not map: the download failed (exit 3), not the local machine."""
    module = type(exc).__module__.split(".")[0]
    if module not in ("requests", "urllib3"):
        return None
    from lungsegdb_cli.errors import DownloadError

    return DownloadError(f"Download failed: {type(exc).__name__}: {exc}")


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
        err = _network_error(exc) or from_os_error(exc, "accessing a local file")
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


def _safe_streams() -> None:
    """Make a strict stdout/stderr (e.g. Python's default under an ``en_US.UTF-8`` locale) show
    an unencodable character as an escape instead of raising ``UnicodeEncodeError``: human
    output escapes names from data already (:mod:`~lungsegdb_cli.textsafe`); this is the net
    under it. Streams that already handle errors (``surrogateescape``, ...) are left alone."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    _safe_streams()
    code = run(argv)
    # The process ends now: put every object out of the collector's reach, so the
    # interpreter's final collections skip typer's and pydantic's tens of thousands of
    # objects (~20 ms of every command's wall time). All our files are closed by now.
    import gc

    gc.freeze()
    sys.exit(code)
