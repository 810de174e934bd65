"""The typer declarations of the command line's options: the ones every command takes
(:data:`DataDirOpt`, :data:`JsonOpt`, :data:`QuietOpt`, ``--debug`` through :class:`Command`)
and each command's own, named ``<Command><Option>Opt``. Their help texts are the reference
that ``lungsegdb COMMAND --help`` prints (and docs/cli.md repeats).
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
import typer.main


# ---------------------------------------------------------------------------------------------
# Options every command takes
# ---------------------------------------------------------------------------------------------
def _path_or_blank(value: str | Path) -> Path | str:
    """A path's value as a ``Path``; an empty or blank one is kept as the text, for the
    operation to refuse (``Path("")`` would be the current folder): ``--data-dir``, export's
    OUT. A NUL byte is refused as typer refuses it in a ``Path`` (exit 2)."""
    text = str(value)  # run() in-process may be given Path objects
    if "\0" in text:
        raise typer.BadParameter("Value error, embedded null byte")
    return Path(text) if text.strip() else text


DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=(
            "Data root (holds LungSegDB/), or the LungSegDB folder itself, or any folder laid "
            "out like it. Default: $LUNGSEGDB_HOME, else the user cache dir "
            "(~/.cache/lungsegdb on Linux)."
        ),
        parser=_path_or_blank,
        metavar="<path>",  # as typer shows a Path option's
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON document on stdout, nothing else.")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress; only results and errors.")
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
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
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


DebugOpt = Annotated[
    bool,
    typer.Option("--debug", help="Show a traceback on errors (or set LUNGSEGDB_DEBUG=1)."),
]


@cache
def _debug_option() -> Any:
    """``--debug`` as typer builds it from :data:`DebugOpt` (the same help line and parsing
    as any other flag), but with no value passed to the command: the error funnel
    (``cli.run``) reads it from argv before parsing, so option errors get a traceback too.
    A click ``Parameter``, typed ``Any``: typer 0.29 carries its own click (``typer._click``)."""

    def probe(debug: DebugOpt = False) -> None: ...

    app = typer.Typer(add_completion=False)
    app.command()(probe)
    (param,) = (p for p in typer.main.get_command(app).params if p.name == "debug")
    param.expose_value = False
    return param


def _flags_without_placeholder(params: list[Any]) -> list[Any]:
    """A flag takes no value: no ``<bool>`` placeholder beside it in ``--help`` (typer 0.29
    shows one for every flag, ``--help`` included). Typer may carry its own click, so the
    check is by attribute, not by class."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    return params


class Command(typer.core.TyperCommand):
    """A command that also takes ``--debug`` (declared once, see :func:`_debug_option`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(_debug_option())

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_placeholder(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``export FORMAT [OUT]``, the convention of most commands' usage lines, rather
        than typer's ``{FORMAT}`` for a required argument."""
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class Group(typer.core.TyperGroup):
    """The root command: its flags (``--version``, ``--help``, completion) without ``<bool>``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_placeholder(super().get_params(ctx))


# ---------------------------------------------------------------------------------------------
# Each command's own options
# ---------------------------------------------------------------------------------------------
class SynthFormat(str, Enum):
    zip = "zip"
    tar_gz = "tar.gz"
    none = "none"


RootVersionOpt = Annotated[
    bool,
    typer.Option("--version", "-V", help="Print the version and exit.", is_eager=True, metavar=""),
]
DownloadUrlOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--url",
        envvar=["LUNGSEGDB_URLS", "LUNGSEGDB_URL"],
        metavar="URL",
        help=(
            "Where to get the archive: a Google Drive link in any form (/file/d/ID/view, "
            "uc?id=ID, open?id=ID), any http(s) mirror, or an fsspec URL (s3://, gs://, "
            "az://, hf://, file://; backends are the \\[s3], \\[gcs], \\[azure], \\[hf] "
            "or \\[cloud] extras). Repeat it for ordered sources under the one pin; the "
            "dataset's Drive file is tried last unless --no-drive. Env: LUNGSEGDB_URLS "
            "(whitespace-separated) or LUNGSEGDB_URL."
        ),
        show_default=False,
    ),
]
DownloadOfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline",
        help=(
            "Never touch the network; exit 3 if the data (or a kept archive) is not here. "
            "Env: LUNGSEGDB_OFFLINE=1."
        ),
    ),
]
DownloadForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Download and extract again even if the tree is complete."),
]
DownloadNoExtractOpt = Annotated[
    bool,
    typer.Option(
        "--no-extract", help="Only download and check the archive (kept in `<root>/downloads`)."
    ),
]
DownloadMd5Opt = Annotated[
    str | None,
    typer.Option(
        "--md5",
        help=(
            "Pin the archive's MD5 too (32 hex digits; Drive's own checksum). Without it no "
            "MD5 is computed."
        ),
        show_default=False,
    ),
]
ExtractArchiveOpt = Annotated[
    Path | None,
    typer.Option(
        "--archive",
        help=(
            "The archive to extract (zip, tar, tar.gz/.bz2/.xz; 7z and RAR with an extra). "
            "Default: the archive 'lungsegdb download' kept."
        ),
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
ExtractForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Extract again even if the tree is complete and intact."),
]
VerifyQuickOpt = Annotated[
    bool,
    typer.Option(
        "--quick",
        help=(
            "Check presence and sizes only, reading no file contents (sub-second at full "
            "scale). Misses a change that keeps the size; the archive is checked by size."
        ),
    ),
]
ValidateStrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help=(
            "Warnings fail too: every finding is reported with severity 'error' and the "
            "exit code is 1 if there is any (count-mismatch included)."
        ),
    ),
]
StatsVariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Only this variant: preprocessed or raw ('preprocessed data'/'raw data' too).",
        show_default=False,
    ),
]
StatsVersionOpt = Annotated[
    str | None,
    typer.Option("--version", help="Only this version: V1 or V2.", show_default=False),
]
StatsCsvPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        metavar="FILE",
        help=(
            "Also write one row per pair: variant, version, stem, image, mask, shape, "
            "dtype, min, max, mean, std, foreground, error."
        ),
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
StatsPlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="FILE.png",
        help=(
            "Also write a PNG: a few image/mask overlays per group, intensity and "
            "foreground histograms. Needs matplotlib: the \\[plot] extra "
            "(pip install '.\\[plot]' in a checkout)."
        ),
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
SynthOutDirOpt = Annotated[
    Path,
    typer.Argument(
        metavar="OUT",
        help="Folder to write the tree and archive into.",
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
SynthPairsOpt = Annotated[
    int | None,
    typer.Option("--pairs", help="Pairs per group (variant x version). Default: 4."),
]
SynthScaleOpt = Annotated[
    float | None,
    typer.Option(
        "--scale",
        help="Fraction of the published counts per group (1.0 = 1,800 V1 / 700 V2 pairs).",
    ),
]
SynthFmtOpt = Annotated[
    SynthFormat, typer.Option("--format", help="Archive format, or none for the tree only.")
]
SynthWrapOpt = Annotated[
    str | None,
    typer.Option("--wrap", help="Nest the tree inside this folder in the archive."),
]
SynthDefectsOpt = Annotated[
    bool,
    typer.Option(
        "--defects",
        help=(
            "Plant one of each defect validate must report, and OS junk files it must "
            "ignore; listed in OUT/defects.json."
        ),
    ),
]
SynthLikeKaggleOpt = Annotated[
    bool,
    typer.Option(
        "--like-kaggle",
        help=(
            "Write images the way real CT slices arrive: raw data signed int16 Hounsfield "
            "units with the corners outside the round scan field padded far below air, "
            "preprocessed data a windowed uint8 copy; masks 0/255."
        ),
    ),
]
PairsVariantOpt = StatsVariantOpt
PairsVersionOpt = StatsVersionOpt
PairsSplitOpt = Annotated[
    str | None,
    typer.Option(
        "--split",
        metavar="S",
        help=(
            "Only the pairs of this split (train, val or test) of the splits in force "
            "(written by 'lungsegdb split' to `<root>/.lungsegdb/splits.json`)."
        ),
        show_default=False,
    ),
]
PairsCsvPathOpt = Annotated[
    Path | None,
    typer.Option(
        "--csv",
        metavar="FILE",
        help="Also write one row per pair: variant, version, stem, group, split, image, mask.",
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
SplitRatiosOpt = Annotated[
    str,
    typer.Option(
        "--ratios",
        metavar="TRAIN,VAL,TEST",
        help="Three positive numbers summing to 1.",
    ),
]
SplitSeedOpt = Annotated[
    int, typer.Option("--seed", help="The hash key: same seed and pairs, byte-identical file.")
]
SplitGroupByOpt = Annotated[
    str | None,
    typer.Option(
        "--group-by",
        metavar="REGEX",
        help=(
            "Group key: the first capture group of REGEX searched in the stem (e.g. "
            "'^(.*\\D)\\d+$': the slices of one scan stay together). Default: the stem."
        ),
        show_default=False,
    ),
]
SplitStratifyOpt = Annotated[
    str | None,
    typer.Option(
        "--stratify",
        metavar="version",
        help=(
            "Meet the ratios within each version (groups in hash order, cut by pair count); "
            "adding pairs may then move groups next to a cut."
        ),
        show_default=False,
    ),
]
SplitOutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="FILE",
        help="Write the splits here instead of `<root>/.lungsegdb/splits.json` (the one in force).",
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
ExportFormatArg = Annotated[
    str,
    typer.Argument(
        metavar="FORMAT",
        help="nnunet, monai, folders, csv, hf (Hugging Face datasets: Parquet + card), "
        "webdataset (tar shards + index) or croissant (the Croissant metadata) (with --check: "
        "the export folder to check).",
        show_default=False,
    ),
]
ExportOutArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="OUT",
        help="The export folder (absent, empty, or with --force a previous export).",
        parser=_path_or_blank,
        show_default=False,
    ),
]
ExportSplitFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--split-file",
        metavar="FILE",
        help=(
            "Splits to export with (from 'lungsegdb split --out FILE'). Default: the splits in "
            "force, else the default split made now (and said so)."
        ),
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
ExportLinkOpt = Annotated[
    str,
    typer.Option(
        "--link",
        metavar="hardlink|symlink|copy",
        help="How images get into OUT: hard links (no second copy; copied across file "
        "systems, and said so), symbolic links, or copies.",
    ),
]
ExportVariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Only this variant: preprocessed or raw. Default: both, each in its own folder.",
        show_default=False,
    ),
]
ExportDatasetIdOpt = Annotated[
    int,
    typer.Option(
        "--dataset-id",
        metavar="N",
        help="nnunet: the dataset id of the preprocessed variant (raw: N+1); with --variant, "
        "the id of that one dataset.",
    ),
]
ExportShardSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--shard-size",
        metavar="N|SIZE",
        help="hf, webdataset: samples per shard (1000) or bytes per shard (256MB, 1GiB). "
        "Default: 256MB.",
        show_default=False,
    ),
]
ExportForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Replace a previous export at OUT (atomically)."),
]
ExportCheckOpt = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Check an existing export instead (same as 'lungsegdb verify-export OUT').",
    ),
]
CroissantOutArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="OUT.json",
        help="Write the document here (atomically); not inside the tree. Default: print it "
        "on stdout.",
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
CroissantVariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Only this variant: preprocessed or raw. Default: both.",
        show_default=False,
    ),
]
CleanDryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="List what would be removed, with sizes; remove nothing."),
]
VerifyExportOutArg = Annotated[
    Path,
    typer.Argument(
        metavar="OUT",
        help="The export folder to check.",
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
PreviewOutOpt = Annotated[
    Path,
    typer.Argument(
        metavar="OUT.png",
        help="The PNG to write (atomically); not a folder, not inside the tree.",
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
PreviewNOpt = Annotated[
    int,
    typer.Option("--n", metavar="N", help="Pairs per row (variant x version), 1 to 64."),
]
PreviewSplitOpt = Annotated[
    str | None,
    typer.Option(
        "--split",
        metavar="S",
        help="Only pairs of this split (train, val or test) of the splits in force.",
        show_default=False,
    ),
]
PreviewFindingsOpt = Annotated[
    bool,
    typer.Option(
        "--findings",
        help="Show the pairs and files validate flagged, captioned with their finding codes.",
    ),
]
#: ``--window`` of ``preview`` and ``stats`` (checked by ``training.window.parse``).
WINDOW_HELP = (
    "Display window for grey slices: lung (level -600, width 1500), mediastinum (40, 400), "
    "LEVEL,WIDTH (e.g. --window=-600,1500; in the image's units) or auto (default: the lung "
    "window for CT in Hounsfield units, else the 1st-99th percentile of the body; 8-bit grey: "
    "of the frame). A fixed window applies to every grey image that is not 8-bit."
)
PreviewWindowOpt = Annotated[
    str | None,
    typer.Option("--window", metavar="WINDOW", help=WINDOW_HELP),
]
StatsWindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window",
        metavar="WINDOW",
        help="With --plot: the window of the overlays. " + WINDOW_HELP,
    ),
]
DownloadCookiesOpt = Annotated[
    Path | None,
    typer.Option(
        "--cookies",
        envvar="LUNGSEGDB_COOKIES",
        metavar="FILE",
        help=(
            "A Netscape cookies.txt exported from a browser signed in to Google: its Google "
            "cookies are sent to Drive (the workaround for the quota page). Read only, never "
            "written. Env: LUNGSEGDB_COOKIES."
        ),
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
DownloadRequirePinOpt = Annotated[
    bool,
    typer.Option(
        "--require-pin",
        help=(
            "Refuse to download without a pin (--sha256 or LUNGSEGDB_SHA256; empty counts as "
            "none): exit 2 before anything is fetched. For CI. Env: LUNGSEGDB_REQUIRE_PIN=1."
        ),
    ),
]
DownloadNoKeepArchiveOpt = Annotated[
    bool,
    typer.Option(
        "--no-keep-archive",
        help=(
            "Delete the archive from the data dir's downloads folder once the tree is "
            "extracted and intact (keeps CI caches small); verify then checks the tree and "
            "reports the archive as discarded. A file given with --archive is never deleted."
        ),
    ),
]
DownloadRetriesOpt = Annotated[
    int | None,
    typer.Option(
        "--retries",
        envvar="LUNGSEGDB_RETRIES",
        metavar="N",
        show_default=False,
        help="Failed attempts in a row before a source is given up (0-100; default 6, 2 for "
        "a source with another behind it; a refused connection: 1).",
    ),
]
DownloadTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        envvar="LUNGSEGDB_TIMEOUT",
        metavar="S",
        show_default=False,
        help="Seconds a connection or a read may stall before it counts as failed (default 60).",
    ),
]
DownloadNoDriveOpt = Annotated[
    bool,
    typer.Option(
        "--no-drive",
        help="Do not fall back to the dataset's Google Drive file after the --url sources.",
    ),
]
DownloadStorageOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        metavar="KEY=VALUE",
        help=(
            "A keyword argument of the fsspec backend of s3:// (...) sources, e.g. "
            "endpoint_url=http://127.0.0.1:9000 or anon=true; repeatable. Credentials come "
            "from the backend's usual places; values are never printed or recorded."
        ),
        show_default=False,
    ),
]
PublishExportOpt = Annotated[
    Path | None,
    typer.Option(
        "--export",
        metavar="OUT",
        help=(
            "Also upload this export's files (e.g. 'export webdataset OUT') to "
            "DEST/<OUT's name>/, its index (shards.json, README.md) last; it must still pass "
            "verify-export."
        ),
        show_default=False,
        readable=False,  # permission is the operation's to report, as on the fast path
    ),
]
PublishDestArg = Annotated[
    str,
    typer.Argument(
        metavar="DEST",
        help="Where to publish: s3://bucket/prefix (or gs://, az://, hf://, file://) or a folder.",
        show_default=False,
    ),
]
