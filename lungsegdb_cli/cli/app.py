"""The command line: the only module that parses options, prints and exits.

Every command is a thin shell over a library function: it checks its options, calls the
library and hands the typed result to its renderer in :mod:`~lungsegdb_cli.cli.render` (or prints
the result's JSON document, see :mod:`~lungsegdb_cli.cli.output`). Errors from the library
(:class:`~lungsegdb_cli.errors.LungSegDBError`) go through one funnel, :func:`run`, which maps
them to the contract's exit codes and a two-line message (or a JSON error document).
:func:`serve`, what the console script (:mod:`~lungsegdb_cli.cli.entry`) runs, is the only place
that changes interpreter-wide settings.

Heavy libraries (numpy, tifffile, requests, gdown, rich) are imported inside the commands that
need them, so ``lungsegdb --help`` starts fast.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from lungsegdb_cli import api
from lungsegdb_cli._version import __version__
from lungsegdb_cli.cli import options as opt
from lungsegdb_cli.cli import phase, render
from lungsegdb_cli.cli.funnel import report as _report_exc
from lungsegdb_cli.cli.funnel import safe_streams as _safe_streams
from lungsegdb_cli.cli.output import (
    JSON_SCHEMA,
    Output,
    _check_sha256,
    _existing_file,
)
from lungsegdb_cli.cli.output import report_error as _report
from lungsegdb_cli.cli.output import report_interrupted as _interrupted
from lungsegdb_cli.errors import (
    ExitCode,
    Interrupted,
    LungSegDBError,
    UsageError,
    from_stdout_error,
)

__all__ = ["JSON_SCHEMA", "app", "run", "serve"]

app = typer.Typer(
    name="lungsegdb",
    cls=opt.Group,
    help=(
        "Get the LungSegDB lung CT segmentation dataset onto this machine: download, verify, "
        "extract, validate and summarise it. Exit codes: 0 ok, 1 data failed a check, 2 usage, "
        "3 download failed, 4 archive unusable, 5 local machine refused, 130 interrupted. "
        "Every command takes --debug: a traceback with an error (or set LUNGSEGDB_DEBUG=1)."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: opt.RootVersionOpt = False,
) -> None:
    if version:
        typer.echo(f"lungsegdb {__version__}")
        raise typer.Exit(0)


# ---------------------------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def download(
    url: opt.DownloadUrlOpt = None,
    archive: opt.ArchiveOpt = None,
    sha256: opt.Sha256Opt = None,
    offline: opt.DownloadOfflineOpt = False,
    force: opt.DownloadForceOpt = False,
    no_extract: opt.DownloadNoExtractOpt = False,
    require_pin: opt.DownloadRequirePinOpt = False,
    no_keep_archive: opt.DownloadNoKeepArchiveOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
    cookies: opt.DownloadCookiesOpt = None,
    no_drive: opt.DownloadNoDriveOpt = False,
    retries: opt.DownloadRetriesOpt = None,
    timeout: opt.DownloadTimeoutOpt = None,
    storage_option: opt.DownloadStorageOptionOpt = None,
    md5: opt.DownloadMd5Opt = None,
) -> int:
    """Fetch the archive, check its SHA-256, extract it into the tree, write the manifest.

    On a complete, intact tree it does nothing (no network). Interrupted downloads resume.
    Env: LUNGSEGDB_OFFLINE=1 (--offline), LUNGSEGDB_REQUIRE_PIN=1 (--require-pin).
    """
    from lungsegdb_cli.cli import bodies

    return bodies.download(
        url=url,
        archive=archive,
        sha256=sha256,
        offline=offline,
        force=force,
        no_extract=no_extract,
        require_pin=require_pin,
        no_keep_archive=no_keep_archive,
        data_dir=data_dir,
        json_out=json_out,
        quiet=quiet,
        cookies=cookies,
        no_drive=no_drive,
        retries=retries,
        timeout=timeout,
        storage_option=storage_option,
        md5=md5,
    )


# ---------------------------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def extract(
    archive: opt.ExtractArchiveOpt = None,
    force: opt.ExtractForceOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Extract the archive into the documented tree, safely and atomically, with a manifest.

    Finds the tree anywhere in the archive (wrapper or renamed folders); skips OS junk.

    Exit 4: the archive is unusable, unsafe or holds no tree. Exit 5: not enough disk space.

    Safety caps: LUNGSEGDB_MAX_BYTES, LUNGSEGDB_MAX_FILES, LUNGSEGDB_MAX_RATIO.
    """
    out = Output(json_mode=json_out, quiet=quiet)
    source = _existing_file(archive, "Archive")
    result = api.extract(data_dir, archive=source, force=force, progress=out.progress())
    if result.missing:  # on stderr, --json or not (the document has it as "missing")
        out.warn("not in the archive: " + ", ".join(result.missing))
    out.emit(result.to_dict(), lambda con: render.render_extract(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def verify(
    sha256: opt.Sha256Opt = None,
    quick: opt.VerifyQuickOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Check the archive and every file of the tree against the manifest.

    The kept archive is checked against its pinned (--sha256) or recorded SHA-256, every file
    of the tree against the manifest: missing, modified, extra. Exit 0 intact, 1 if anything
    differs, 3 if there is nothing to verify (no manifest), 5 if a file cannot be read."""
    from lungsegdb_cli.cli import bodies

    return bodies.verify(
        sha256=sha256, quick=quick, data_dir=data_dir, json_out=json_out, quiet=quiet
    )


# ---------------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def validate(
    strict: opt.ValidateStrictOpt = False,
    no_cache: opt.NoCacheOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Check pairs, readability, shapes and mask contents of the whole tree.

    Every image must have its mask and every mask its image (paired by file stem), every
    file must decode, image and mask shapes must agree, and masks must be binary,
    single-channel and not empty. Exit 0 when there is no error (no finding at all with
    --strict), 1 otherwise or when there is no tree, 2 if --data-dir does not exist.
    """
    from lungsegdb_cli.cli import tuning as _tuning

    out = Output(json_mode=json_out, quiet=quiet)
    with _tuning.decode_switches():
        result = api.validate(
            data_dir,
            strict=strict,
            progress=out.progress(),
            use_cache=not no_cache,
        )
    out.emit(result.to_dict(), lambda con: render.render_validate(con, result))
    return 0 if result.ok else int(ExitCode.CHECK_FAILED)


# ---------------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def stats(
    variant: opt.StatsVariantOpt = None,
    version: opt.StatsVersionOpt = None,
    csv_path: opt.StatsCsvPathOpt = None,
    plot: opt.StatsPlotOpt = None,
    window: opt.StatsWindowOpt = None,
    no_cache: opt.NoCacheOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Pairs, shapes, dtypes, intensity and mask statistics per group.

    Per group (variant x version): pairs, shapes, dtypes, intensity min/max/mean/std over
    every pixel (the normalisation constants), mask foreground fraction, mask conventions and
    bytes on disk. Unreadable files are skipped and counted (see 'lungsegdb validate'); an
    image whose tags declare more than the decode limit fails the run (exit 1, too-large)."""
    from lungsegdb_cli.cli import bodies

    return bodies.stats(
        variant=variant,
        version=version,
        csv_path=csv_path,
        plot=plot,
        window=window,
        no_cache=no_cache,
        data_dir=data_dir,
        json_out=json_out,
        quiet=quiet,
    )


# ---------------------------------------------------------------------------------------------
# pairs, split
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def pairs(
    variant: opt.PairsVariantOpt = None,
    version: opt.PairsVersionOpt = None,
    split: opt.PairsSplitOpt = None,
    csv_path: opt.PairsCsvPathOpt = None,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """List the image/mask pairs of the tree (paired by stem, as validate pairs them).

    Each pair: stem, image, mask, variant, version, group and split (from the splits in
    force, see 'lungsegdb split'). Nothing is decoded."""
    out = Output(json_mode=json_out, quiet=quiet)
    result = api.list_pairs(
        data_dir,
        variant=variant,
        version=version,
        split=split,
        csv=csv_path,
    )
    out.emit(result.to_dict(), lambda con: render.render_pairs(con, result))
    return 0


@app.command(cls=opt.Command)
def split(
    ratios: opt.SplitRatiosOpt = "0.7,0.15,0.15",
    seed: opt.SplitSeedOpt = 0,
    group_by: opt.SplitGroupByOpt = None,
    stratify: opt.SplitStratifyOpt = None,
    out_file: opt.SplitOutOpt = None,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Assign every pair to train/val/test by a keyed hash of its group; write splits.json.

    The same pairs and seed give a byte-identical file on every machine; adding pairs never
    moves the others; a group never straddles splits; both variants of a slice share a split.
    Exit 2 for bad --ratios or a --group-by that misses a stem."""
    from lungsegdb_cli.training import split as split_mod

    out = Output(json_mode=json_out, quiet=quiet)
    parsed = split_mod.parse_ratios(ratios)
    result = api.split(
        data_dir,
        ratios=parsed,
        seed=seed,
        group_by=group_by,
        out=out_file,
        stratify=stratify,
    )
    if result.suggestion and not json_out:
        out.warn(
            "many slices share a prefix before a trailing number: slices of one scan may sit "
            f"in different splits; consider --group-by '{result.suggestion}' (it would make "
            f"{render._n(result.suggestion_groups or 0, 'group')})"
        )
    out.emit(result.to_dict(), lambda con: render.render_split(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# export, verify-export
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def export(
    fmt: opt.ExportFormatArg,
    out_dir: opt.ExportOutArg = None,
    split_file: opt.ExportSplitFileOpt = None,
    link: opt.ExportLinkOpt = "hardlink",
    variant: opt.ExportVariantOpt = None,
    dataset_id: opt.ExportDatasetIdOpt = 501,
    shard_size: opt.ExportShardSizeOpt = None,
    force: opt.ExportForceOpt = False,
    check: opt.ExportCheckOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Export the pairs, with splits, as nnunet, monai, folders, csv, hf, webdataset or croissant.

    Images are hard-linked (no second copy), masks rewritten as 0/1 where the format needs
    it; hf and webdataset pack them into shards (--shard-size). The export is atomic;
    OUT/lungsegdb-export.json records what the export was made from. Exit 2: OUT is not
    empty (give --force to replace a previous export; it replaces nothing else), a bad
    option or a --variant the tree has no pair of; exit 1: a tree with no pair, the splits
    file no longer matches the tree, or (--check) the export no longer matches; exit 5:
    another export is writing OUT, OUT changed meanwhile (nothing in it is deleted), or the
    disk is full. hf needs the [hf] extra (pyarrow): exit 2 without it."""
    out = Output(json_mode=json_out, quiet=quiet)
    if check:
        target = out_dir if out_dir is not None else fmt
        return _emit_check(out, api.check_export(target))
    if out_dir is None:
        raise UsageError("Missing argument 'OUT'", hint="lungsegdb export FORMAT OUT")
    started = time.time_ns()
    try:
        result = api.export(
            fmt,
            out_dir,
            data_dir,
            split_file=split_file,
            link=link,
            variant=variant,
            dataset_id=dataset_id,
            force=force,
            progress=out.progress(),
            shard_size=shard_size,
        )
    except KeyboardInterrupt:
        if not _placed_since(out_dir, started):
            raise  # OUT is as it was: "run the same command again" holds
        raise Interrupted(
            f"Interrupted after the export was put in place: {out_dir} holds it",
            hint=f"Check it with 'lungsegdb export --check {out_dir}'; to export again, add "
            "--force.",
            path=str(out_dir),
        ) from None
    if result.made_default_split and not json_out:
        out.warn(
            "no splits in force: exported with the default split (lungsegdb split "
            "defaults); run 'lungsegdb split' to choose your own"
        )
    out.emit(result.to_dict(), lambda con: render.render_export(con, result))
    return 0


@app.command(name="verify-export", cls=opt.Command)
def verify_export(
    out_dir: opt.VerifyExportOutArg,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Check that an export still matches what it was made from (exit 1 if not).

    The tree's manifest SHA-256, the splits file, every exported file (present, same size,
    a hard link still the tree's file) and every tree file it came from. --data-dir is
    accepted but not used: the record names the tree."""
    out = Output(json_mode=json_out, quiet=quiet)
    return _emit_check(out, api.check_export(out_dir))


def _emit_check(out: Output, result: Any) -> int:
    out.emit(result.to_dict(), lambda con: render.render_check_export(con, result))
    return 0 if result.ok else int(ExitCode.CHECK_FAILED)


# ---------------------------------------------------------------------------------------------
# croissant
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def croissant(
    out_file: opt.CroissantOutArg = None,
    variant: opt.CroissantVariantOpt = None,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """The Croissant (MLCommons) metadata of the verified tree, for Croissant loaders.

    The archive as a FileObject (its URL, SHA-256, size), the images and masks as FileSets
    in it, one RecordSet 'pairs' (image, mask, stem, variant, version, group; split when
    splits are in force), the dataset card and the manifest's SHA-256. The same tree gives
    the same bytes. Without OUT.json the document is printed on stdout. Exit 1: no tree, a
    tree that does not match its manifest, or its archive not recorded."""
    out = Output(json_mode=json_out, quiet=quiet)
    result = api.croissant(data_dir, out=out_file, variant=variant)
    if result.out is None and not json_out:
        with phase.writing_result():
            phase.write_out(result.text.decode("ascii"))
        return 0
    out.emit(result.to_dict(), lambda con: render.render_croissant(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# clean
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def clean(
    dry_run: opt.CleanDryRunOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Remove what is safe to remove from the data dir, with sizes; never the tree.

    Partial downloads (.part and their sidecars), rejected downloads (.rejected), stale
    staging a killed run left, the decode cache, and the kept archive once the tree verifies
    (every file hashed against the manifest). Holds the writer lock. 'lungsegdb verify' still
    passes afterwards. Exit 5: the lock is held too long, or a file cannot be removed."""
    out = Output(json_mode=json_out, quiet=quiet)
    result = api.clean(data_dir, dry_run=dry_run, progress=None if quiet else out.progress())
    out.emit(result.to_dict(), lambda con: render.render_clean(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def info(
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """What the dataset is (source, citation, licence, counts) and the local state."""
    out = Output(json_mode=json_out, quiet=quiet)
    result = api.info(data_dir)
    out.emit(result.to_dict(), lambda con: render.render_info(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# synth
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def synth(
    out_dir: opt.SynthOutDirOpt,
    pairs: opt.SynthPairsOpt = None,
    scale: opt.SynthScaleOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, byte-identical output.")] = 0,
    fmt: opt.SynthFmtOpt = opt.SynthFormat.zip,
    wrap: opt.SynthWrapOpt = None,
    defects: opt.SynthDefectsOpt = False,
    like_kaggle: opt.SynthLikeKaggleOpt = False,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Write a synthetic LungSegDB-shaped tree and archive, for tests and offline CI.

    --data-dir is accepted like on every command but not used: synth writes only into OUT.
    """
    out = Output(json_mode=json_out, quiet=quiet)
    result = api.synth(
        out_dir,
        pairs=pairs,
        scale=scale,
        seed=seed,
        fmt=fmt.value,
        wrap=wrap,
        defects=defects,
        like_kaggle=like_kaggle,
        progress=out.progress(),
    )
    out.emit(result.to_dict(), lambda con: render.render_synth(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# preview
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def preview(
    out_png: opt.PreviewOutOpt,
    n: opt.PreviewNOpt = 8,
    split: opt.PreviewSplitOpt = None,
    findings: opt.PreviewFindingsOpt = False,
    window: opt.PreviewWindowOpt = None,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
) -> int:
    """Write a PNG montage of slices with their mask outline, a row per variant x version.

    Up to --n pairs per row, evenly spaced in natural order (the same ones every run); only
    those are decoded. --findings: what validate flagged, captioned with the finding codes
    (nothing flagged: the PNG says so, exit 0). CT in Hounsfield units is shown in the lung
    window unless --window says otherwise. Needs Pillow, the [plot] extra (exit 2 without
    it)."""
    out = Output(json_mode=json_out, quiet=quiet)
    result = api.preview(
        out_png,
        data_dir,
        n=n,
        split=split,
        findings=findings,
        window=window,
        progress=out.progress(),
    )
    out.emit(result.to_dict(), lambda con: render.render_preview(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# publish
# ---------------------------------------------------------------------------------------------
@app.command(cls=opt.Command)
def publish(
    dest: opt.PublishDestArg,
    sha256: opt.Sha256Opt = None,
    storage_option: opt.DownloadStorageOptionOpt = None,
    data_dir: opt.DataDirOpt = None,
    json_out: opt.JsonOpt = False,
    quiet: opt.QuietOpt = False,
    export: opt.PublishExportOpt = None,
) -> int:
    """Upload the verified archive, its manifest and lungsegdb.json to a mirror.

    DEST is any fsspec URL (s3://bucket/prefix, gs://, az://, hf://, file://) or a local
    folder; each object goes to a temporary key first, then is moved into place. Prints the
    'lungsegdb download --url ... --sha256 ...' line the fleet should use. --export OUT puts
    an export's files (WebDataset or Parquet shards...) beside it. Exit 1: the archive, tree
    or export does not verify; exit 2: nothing downloaded, the archive was not kept, or DEST
    is refused (empty, a malformed URL, a file, the data dir or inside its tree, manifest,
    state or downloads, in or holding the --export folder), before anything is written."""
    from lungsegdb_cli.sources.cloud import parse_storage_options

    out = Output(json_mode=json_out, quiet=quiet)
    pin = _check_sha256(sha256)
    result = api.publish(
        dest,
        data_dir,
        sha256=pin,
        storage_options=parse_storage_options(storage_option),
        progress=out.progress(),
        export=export,
    )
    out.emit(result.to_dict(), lambda con: render.render_publish(con, result))
    return 0


# ---------------------------------------------------------------------------------------------
# The error funnel
# ---------------------------------------------------------------------------------------------
_BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def _flag_given_a_value(command: Any, argv: Sequence[str]) -> UsageError | None:
    """``--json true``: a flag followed by a yes/no word, which parsing took for an extra
    argument. Said as what it is, with the fix (flags take no value), or None."""
    flags = {
        name
        for cmd in (command, *getattr(command, "commands", {}).values())
        for param in cmd.params
        if getattr(param, "is_flag", False)
        for name in (*param.opts, *param.secondary_opts)
    }
    from itertools import pairwise

    for flag, word in pairwise(argv):
        if flag in flags and word.lower() in _BOOLEAN_WORDS:
            return UsageError(
                f"{flag} takes no value (got {flag} {word})",
                hint=f"Write {flag} alone to turn it on; leave it out to turn it off.",
            )
    return None


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code. Never raises (but SystemExit)."""
    from typer.exceptions import Abort, TyperException

    argv = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    if not argv:  # bare `lungsegdb`: the help, and success (not a usage error after it)
        argv = ["--help"]
    only_text = _only_text(argv)
    if only_text and sys.stdout is None:  # `--help >&-`: no one to read it
        return _report_exc(phase.StdoutClosed(), argv)
    try:
        rv = command.main(args=argv, prog_name="lungsegdb", standalone_mode=False)
    except LungSegDBError as exc:
        return _report_exc(exc, argv)
    except TyperException as exc:  # usage errors from option parsing
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        code = getattr(exc, "exit_code", 2)
        extra = "extra argument" in message  # what `--json true` gets from parsing
        usage = (
            (_flag_given_a_value(command, argv) if extra else None)
            or UsageError(
                message.strip().splitlines()[0] if message.strip() else "Invalid usage",
                hint="See 'lungsegdb --help' or 'lungsegdb COMMAND --help'.",
            )
        ).to_dict()
        usage["code"] = int(code) if code else int(ExitCode.USAGE)
        return _report(usage, argv)
    except (KeyboardInterrupt, Abort):
        return _interrupted(argv)
    except SystemExit as exc:
        # click's own answer to a broken pipe (`--version` into a reader that left): exit 1,
        # which says a check failed; it is the quiet 141
        if isinstance(exc.__context__, BrokenPipeError):
            return _report_exc(phase.StdoutClosed(), argv)
        raise
    except (OSError, phase.StdoutClosed) as exc:
        if only_text and isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            return _report_exc(from_stdout_error(exc), argv)  # --help > /dev/full
        return _report_exc(exc, argv)
    if isinstance(rv, bool) or not isinstance(rv, int):
        return 0
    if rv == ExitCode.INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130)
        return _interrupted(argv)
    return rv


def _only_text(argv: Sequence[str]) -> bool:
    """The run only prints a text to stdout (``--help``, ``--version``): an ``OSError``
    from it is stdout's."""
    return any(a in ("--help", "-h", "--version", "-V") for a in argv)


def _placed_since(out_dir: Path, started_ns: int) -> bool:
    """Whether ``out_dir`` holds an export record written since ``started_ns``: this run's
    export, put in place before a Ctrl-C cut the rest of the run short."""
    from lungsegdb_cli.training.export.check import RECORD

    try:
        return (Path(out_dir) / RECORD).stat().st_mtime_ns >= started_ns
    except OSError:
        return False


def serve(argv: Sequence[str]) -> int:
    """The console script's run: the only place that sets interpreter-wide switches
    (:mod:`~lungsegdb_cli.cli.tuning`); :func:`run`, used in-process, leaves them alone. Returns
    the exit code."""
    from lungsegdb_cli.cli import tuning as _tuning

    _tuning.apply()
    _safe_streams()
    code = run(argv)
    _tuning.freeze_before_exit()
    return code
