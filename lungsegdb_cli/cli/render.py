"""The human output of every command: one ``render_COMMAND(con, result)`` per command, turning
its typed result into text on a rich console, plus the formatting helpers they share.

Every name or message that comes from data goes through
:func:`~lungsegdb_cli.utils.textsafe.escape`.
Nothing here prints on its own or decides an exit code; rich is imported inside the renderers
only (``lungsegdb --help`` never loads it), and :func:`_verify_ok_lines` needs no rich at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lungsegdb_cli.utils.textsafe import escape as _e
from lungsegdb_cli.utils.units import counted, human_bytes

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from lungsegdb_cli.api.housekeeping import CleanResult
    from lungsegdb_cli.archive.extract import ExtractResult
    from lungsegdb_cli.checks.info import InfoResult
    from lungsegdb_cli.checks.stats import GroupStats, StatsResult
    from lungsegdb_cli.checks.validate import ValidateResult
    from lungsegdb_cli.checks.verify import VerifyResult
    from lungsegdb_cli.checks.verify_result import ArchiveCheck
    from lungsegdb_cli.sources.download import DownloadResult
    from lungsegdb_cli.sources.publish import PublishResult
    from lungsegdb_cli.synthetic.make import SynthResult
    from lungsegdb_cli.training.export.check import ExportCheckResult
    from lungsegdb_cli.training.export.describe import CroissantResult
    from lungsegdb_cli.training.export.record import ExportResult
    from lungsegdb_cli.training.pairs import PairsResult
    from lungsegdb_cli.training.preview import PreviewResult
    from lungsegdb_cli.training.split import SplitResult

#: Problem rows verify lists before "... and N more".
_VERIFY_MAX_ROWS = 20
#: Paths listed per finding code on a terminal (all of them when piped, all in --json).
_FINDINGS_PER_CODE = 10


# ---------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------
def _n(count: int, noun: str, plural: str | None = None) -> str:
    """``1 pair``, ``2 pairs``, ``1,800 pairs``: the count with its noun in the right number
    (:func:`~lungsegdb_cli.utils.units.counted`, the one helper)."""
    return counted(count, noun, plural)


def _fmt_bytes(n: int | float | None) -> str:
    """``n`` bytes as ``123 B``, ``4.5 MiB``, ... (``-`` for None)."""
    return "-" if n is None else human_bytes(n)


def _fmt_num(v: float | int | None, digits: int = 4) -> str:
    """A whole number with thousands separators, else ``digits`` decimals (``-`` for None)."""
    if v is None:
        return "-"
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.{digits}f}"


def _shapes_summary(shapes: dict[str, int]) -> str:
    """One or two shapes as they are; more as ``20 sizes: height 303-482, width 401-596``
    (plus ``, 3 channels`` or ``, 1/3 channels``)."""
    if not shapes:
        return "-"
    if len(shapes) <= 2:
        return ", ".join(shapes)
    dims = [tuple(int(d) for d in k.split("x")) for k in shapes]
    hs, ws = [d[0] for d in dims], [d[1] for d in dims]
    chans = sorted({d[2] if len(d) > 2 else 1 for d in dims})
    c = "" if chans == [1] else ", " + "/".join(str(x) for x in chans) + " channels"
    return f"{_n(len(shapes), 'size')}: height {min(hs)}-{max(hs)}, width {min(ws)}-{max(ws)}{c}"


def _print(con: Console, text: str) -> None:
    """``text`` without rich markup, escaped (:func:`~lungsegdb_cli.utils.textsafe.escape` is
    idempotent, so text escaped already is unchanged): a field read from a state file, such
    as a recorded MD5, never reaches the terminal raw or raises ``UnicodeEncodeError``."""
    con.print(_e(text), markup=False)


# ---------------------------------------------------------------------------------------------
# download, extract
# ---------------------------------------------------------------------------------------------
def download_lines(result: DownloadResult, *, no_extract: bool) -> list[str]:
    """The human report of ``download`` as plain lines (escaped): what it did, then the
    archive, its source and the manifest. No rich needed (the fast path prints them as they
    are, see :mod:`~lungsegdb_cli.cli.fast`)."""
    from lungsegdb_cli.sources.download import ACTION_UP_TO_DATE

    lines: list[str] = []
    part = f" (incomplete: {_n(len(result.missing), 'folder')} missing)" if result.missing else ""
    if result.action == ACTION_UP_TO_DATE:
        what = "archive" if no_extract else "dataset"
        done = "complete" if not part else f"extracted{part}"
        lines.append(f"LungSegDB {what} already {done}: nothing to do.")
    elif result.extracted:
        lines.append(f"LungSegDB is ready{part}: {_e(result.dataset_dir)}")
    else:
        lines.append("Archive downloaded and checked (not extracted).")
    if result.files is not None:
        lines.append(f"  files:    {result.files:,}")
    if result.missing:
        lines.append(f"  missing:  {', '.join(result.missing)} (not in the archive)")
    arch = result.archive
    if arch and result.archive_kept is False:
        lines.append(f"  archive:  discarded ({_fmt_bytes(arch.size)} freed; the tree is kept)")
    elif arch:
        lines.append(f"  archive:  {_e(arch.path)} ({_fmt_bytes(arch.size)})")
        lines.append(f"  sha256:   {arch.sha256}")
        if arch.md5:
            lines.append(f"  md5:      {arch.md5}")
    where = result.source.link or result.source.url
    if where:
        lines.append(f"  source:   {_e(where)}")
    if result.client == "gdown":
        lines.append("  client:   gdown (Drive sent a page lungsegdb's own parser does not follow)")
    if result.manifest:
        lines.append(f"  manifest: {_e(result.manifest)}")
    linked = result.extract.replaced_link if result.extract is not None else None
    if linked:
        lines.append(
            f"  note:     {_e(result.dataset_dir)} was a symbolic link to {_e(linked)}: "
            "the new tree replaced the link, and that folder was left as it was"
        )
    if result.pin_hint:
        lines.append(_e(result.pin_hint))
    return [_e(line) for line in lines]


def render_extract(con: Console, result: ExtractResult) -> None:
    """What ``extract`` wrote (or that it had nothing to do), mapped folders, what it skipped."""
    size = _fmt_bytes(result.bytes)
    if result.already:
        _print(
            con,
            f"Already extracted: {_n(result.files, 'file')} ({size}) in "
            f"{_e(result.dataset_dir)}; nothing to do (--force extracts again).",
        )
        _print(con, f"  manifest: {_e(result.manifest)}")
        return
    # an extraction read an archive: None only when there was nothing to do (above)
    source = f" from {_e(result.archive.name)}" if result.archive is not None else ""
    _print(
        con,
        f"Extracted {_n(result.files, 'file')} ({size}){source} into "
        f"{_e(result.dataset_dir)} in {round(result.seconds, 3):.1f} s",
    )
    _print(con, f"  manifest: {_e(result.manifest)}")
    if result.replaced_link:
        _print(
            con,
            f"  note:     {_e(result.dataset_dir)} was a symbolic link to "
            f"{_e(result.replaced_link)}: the new tree replaced the link, and that "
            "folder was left as it was (remove it if you no longer need it)",
        )
    for src, dst in result.mapped.items():
        _print(con, f"  mapped:   {_e(src)} -> {_e(dst)}")
    if result.skipped_count:
        shown = ", ".join(f"{_e(s['path'])} ({_e(s['reason'])})" for s in result.skipped[:5])
        more = " ..." if result.skipped_count > 5 else ""
        _print(con, f"  skipped:  {_n(result.skipped_count, 'file')}: {shown}{more}")
    if result.junk:
        con.print(f"  skipped:  {result.junk:,} OS junk files (__MACOSX, .DS_Store, ...)")
    if result.missing:
        _print(con, "  missing:  " + ", ".join(result.missing))


# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------
def _verify_ok_lines(result: VerifyResult) -> list[str]:
    """The human report of a verify that found nothing wrong (plain lines: no rich needed)."""
    how = " (quick: sizes only)" if result.quick else ""
    if result.quick and not result.sizes_checked:
        how = " (quick: presence only -- no sizes record: run 'lungsegdb verify')"
    files = f"{_n(result.checked, 'file')} ({_fmt_bytes(result.bytes)})"
    what = f"{files} match the manifest" if result.manifest else "no tree to check"
    if result.quick and not result.sizes_checked and result.manifest:
        what = f"{_n(result.checked, 'file')} present, none extra"
    lines = [f"OK{how}: {what} in {result.seconds:.1f} s"]
    arch = result.archive
    if arch is not None:
        if arch.discarded:
            lines.append(
                "  archive: discarded (deleted by choice once the tree verified: "
                "--no-keep-archive or clean); the tree was checked"
            )
        else:
            lines.append(f"  archive {_e(arch.path)}: {_archive_state(arch)}")
        if arch.present:
            lines.append(f"  sha256 {arch.sha256 or arch.expected or '-'}")
        elif arch.source == "pin":
            lines.append(f"  pin {arch.expected}: the tree's record names it (no archive hashed)")
        else:
            lines.append(f"  sha256 {arch.expected or '-'} (recorded at download, not checked)")
    return lines


def _archive_state(arch: ArchiveCheck) -> str:
    ref = {"pin": "the pin", "provenance": "the recorded checksum"}.get(
        arch.source or "", "nothing (no pin, no record)"
    )
    if arch.sha256:
        return f"sha256 matches {ref}"
    if arch.present:
        return "size matches the download record (quick: not hashed)"
    return arch.note or "not kept: not checked"


def _verify_failed_line(result: VerifyResult) -> str:
    """``FAILED: 2 missing, 1 modified; checked ... in 0.3 s``."""
    how = " (quick: sizes only)" if result.quick else ""
    if result.quick and not result.sizes_checked:
        how = " (quick: presence only, no sizes record)"
    files = f"{_n(result.checked, 'file')} ({_fmt_bytes(result.bytes)})"
    lists = (("missing", result.missing), ("modified", result.modified), ("extra", result.extra))
    parts = [f"{len(items)} {kind}" for kind, items in lists if items]
    if result.tree_problem is not None:
        parts.insert(0, "tree not from the pinned archive")
    if result.archive is not None and not result.archive.ok:
        parts.insert(0, "archive differs")
    scope = f"checked {files} against the manifest" if result.manifest else "no tree"
    return f"FAILED{how}: {', '.join(parts)}; {scope} in {result.seconds:.1f} s"


def render_verify(con: Console, result: VerifyResult) -> None:
    """A verify that found problems: the summary, the archive's check, the first problems."""
    from rich.table import Table
    from rich.text import Text

    _print(con, _verify_failed_line(result))
    arch = result.archive
    if arch is not None and not arch.ok:
        _print(con, f"  archive:  {_e(arch.path)}")
        _print(con, f"  expected: {arch.expected} ({arch.source})")
        _print(con, f"  actual:   {arch.sha256 or '-'}")
        if arch.problem:
            _print(con, f"  problem:  {_e(arch.problem)}")
    elif arch is not None and arch.note:
        _print(con, f"  archive:  {_e(arch.path)}: {_e(arch.note)}")
    if result.tree_problem is not None:
        _print(con, f"  tree:     {_e(result.tree_problem)}")
        if result.tree_hint:
            _print(con, f"  next:     {_e(result.tree_hint)}")
    table = Table("problem", "path", box=None, pad_edge=False, show_edge=False)
    for i, (kind, path) in enumerate(result.problems()):
        if i >= _VERIFY_MAX_ROWS:
            break
        table.add_row(kind, Text(_e(path)))
    con.print(table)
    more = result.problem_count - _VERIFY_MAX_ROWS
    if more > 0:
        con.print(f"... and {more:,} more (the full lists: lungsegdb verify --json)")


# ---------------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------------
def render_validate(con: Console, result: ValidateResult) -> None:
    """The per-group table, the findings by code (capped on a terminal), OK or FAILED."""
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
    for code, all_items in result.by_code().items():
        for sev in ("error", "warning"):  # a code of both severities (symlink): two headings
            items = [f for f in all_items if f.severity == sev]
            if not items:
                continue
            colour = "red" if sev == "error" else "yellow"
            con.print(f"[{colour}]{code}[/{colour}] ({sev}, {len(items):,}):")
            for f in items[:cap]:
                con.print(Text(_e(f"  {f.path}: {f.message}")))
            if cap is not None and len(items) > cap:
                con.print(f"  ... and {len(items) - cap:,} more (all of them: --json)")
    counts = f"{_n(result.errors, 'error')}, {_n(result.warnings, 'warning')}"
    if result.ok:
        con.print(f"[green]OK[/green]: {_n(result.pairs, 'pair')}, {counts}")
    else:
        con.print(f"[red]FAILED[/red]: {_n(result.pairs, 'pair')}, {counts}")


# ---------------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------------
def stats_warnings(result: StatsResult) -> list[str]:
    """The warnings ``stats`` gives on stderr: unreadable files skipped, mixed image dtypes."""
    warnings = []
    for g in result.groups:
        label = f"{g.variant}/{g.version}"
        if g.unreadable:
            warnings.append(
                f"{label}: {_n(g.unreadable, 'unreadable file')} skipped; "
                "run 'lungsegdb validate' for the list"
            )
        if len(g.dtypes) > 1:
            dtypes = ", ".join(dict(g.dtypes.most_common()))
            warnings.append(
                f"{label}: mixed image dtypes ({dtypes}); per-dtype numbers in --json "
                "intensity_by_dtype"
            )
    return warnings


def _foreground_line(g: GroupStats) -> str:
    fg = g.foreground_dict()
    if fg["mean"] is None:
        return "-"
    return (
        f"mean {fg['mean']:.2%}, min {fg['min']:.2%}, median {fg['p50']:.2%}, max {fg['max']:.2%}"
    )


def _stats_table(g: GroupStats) -> Table:
    """One group's table (``pairs 0 (group not found)`` for an absent group)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from lungsegdb_cli.checks.stats import conventions_summary

    table = Table(
        title=Text(_e(f"{g.variant}/{g.version}"), style="bold"),
        title_justify="left",
        show_header=False,
        box=box.SIMPLE,
    )
    table.add_column("what", style="dim")
    table.add_column("value")
    if not g.present:
        table.add_row("pairs", "0 (group not found)")
        return table
    i = g.intensity.to_dict()
    dtypes = ", ".join(f"{k} ({v:,})" for k, v in g.dtypes.most_common()) or "-"
    if len(g.dtypes) > 1:
        dtypes += "  [yellow]mixed[/yellow]"
    rows: list[tuple[str, str | Text]] = [
        ("pairs", f"{g.pairs:,}"),
        ("shapes", Text(_shapes_summary(dict(g.shapes.most_common())))),
        ("dtypes", dtypes),
        ("min / max", f"{_fmt_num(i['min'])} / {_fmt_num(i['max'])}"),
        ("mean / std", f"[bold]{_fmt_num(i['mean'])} / {_fmt_num(i['std'])}[/bold]"),
        ("foreground", _foreground_line(g)),
        ("masks", Text(conventions_summary(dict(g.conventions.most_common())))),
        ("size", _fmt_bytes(g.bytes)),
    ]
    if g.unreadable:
        rows.append(("unreadable", f"[red]{g.unreadable:,} skipped[/red]"))
    for k, v in rows:
        table.add_row(k, v)
    return table


def _print_constants(con: Console, groups: list[GroupStats]) -> None:
    """Each group's mean and std over every pixel (and per dtype when they are mixed)."""
    from rich.text import Text

    con.print("Normalisation constants (over every pixel of each group's images):")
    for g in groups:
        i = g.intensity.to_dict()
        if i["mean"] is None:
            continue
        line = f"  {g.variant}/{g.version}: mean = {i['mean']:.6g}, std = {i['std']:.6g}"
        con.print(Text(_e(line)))
        if len(g.by_dtype) > 1:
            for dt, moments in sorted(g.by_dtype.items()):
                m = moments.to_dict()
                con.print(Text(f"    {dt} only: mean = {m['mean']:.6g}, std = {m['std']:.6g}"))


def render_stats(con: Console, result: StatsResult, *, plot: Path | None = None) -> None:
    """A table per group, the normalisation constants, the total, the files written."""
    from rich.text import Text

    con.print(Text(_e(f"LungSegDB at {result.dataset_dir}")))
    for g in result.groups:
        con.print(_stats_table(g))
    _print_constants(con, result.groups)
    total_bytes = sum(g.bytes for g in result.groups)
    con.print(f"Total: {_n(result.pairs, 'pair')}, {_fmt_bytes(total_bytes)}")
    if result.csv:
        con.print(Text(_e(f"CSV: {result.csv}")))
    if plot is not None:
        con.print(Text(_e(f"Plot: {plot}")))


# ---------------------------------------------------------------------------------------------
# info, synth
# ---------------------------------------------------------------------------------------------
def render_info(con: Console, result: InfoResult) -> None:
    """The dataset card (source, citation, licence, counts), then the local state."""
    from lungsegdb_cli.dataset import card as dataset

    con.print(dataset.DESCRIPTION)  # it begins with the name
    for version, n in dataset.PUBLISHED_PAIRS.items():
        con.print(f"  {version}: {_n(n, 'pair')} per variant ({dataset.SOURCES[version]})")
    con.print(f"  source:   {dataset.DRIVE_URL}")
    _print(con, f"  citation: {dataset.CITATION}")
    _print(con, f"  licence:  {dataset.LICENCE}")
    con.print("")
    con.print("[bold]Local state[/bold]: " + result.state)
    _print(con, f"  data dir:    {_e(result.data_dir)}")
    _print(con, f"  dataset dir: {_e(result.dataset_dir)}")
    arch = result.archive
    if arch:
        _print(con, f"  archive:     {_e(arch.path)} ({_fmt_bytes(arch.size)})")
        if arch.changed:
            _print(
                con,
                f"  warning:     not the recorded archive (recorded "
                f"{_fmt_bytes(arch.recorded_size or 0)}, sha256 {arch.sha256}): "
                "run 'lungsegdb verify'",
            )
        else:
            _print(con, f"  sha256:      {arch.sha256}")
            if result.pin_not_the_trees:
                con.print(
                    "  pin in CI:   (none: the tree's own record does not name this archive -- "
                    "'extract --archive' of another file, or a tree copied in; "
                    "'lungsegdb download --archive FILE' records one)"
                )
            else:
                _print(con, f"  pin in CI:   LUNGSEGDB_SHA256={arch.sha256}")
    elif result.provenance_unreadable:
        con.print(
            "  archive:     (its record .lungsegdb/provenance.json is unreadable: "
            "'lungsegdb download --force' rewrites it)"
        )
    elif result.provenance is not None and result.provenance.discarded:
        con.print("  archive:     (discarded once the tree verified: --no-keep-archive or clean)")
        if result.pin is not None:  # the record keeps the pin: CI can still pin the archive
            _print(con, f"  sha256:      {result.pin}")
            _print(con, f"  pin in CI:   LUNGSEGDB_SHA256={result.pin}")
    else:
        con.print("  archive:     (none kept)")
    _print(con, f"  manifest:    {_e(result.manifest or '(none)')}")
    if result.space.get("total"):
        used = ", ".join(
            f"{what} {_fmt_bytes(n)}" for what, n in result.space.items() if n and what != "total"
        )
        _print(con, f"  space:       {_fmt_bytes(result.space['total'])} ({used})")


def render_croissant(con: Console, result: CroissantResult) -> None:
    """The document written, what it describes and how to load it."""
    a = result.archive
    _print(con, f"Croissant metadata: {_e(str(result.out))} ({_fmt_bytes(result.bytes)})")
    _print(con, f"  sha256:  {result.sha256}")
    split = f", split from {_e(result.splits_file)}" if result.splits_file else ", no split"
    _print(con, f"  pairs:   {result.pairs:,} ({', '.join(result.variants)}{split})")
    _print(con, f"  archive: {_e(a.name)} ({_fmt_bytes(a.size)}) {_e(a.content_url)}")
    if a.kept is not None:
        _print(
            con,
            f"  load:    mlcroissant.Dataset({_e(repr(str(result.out)))}, "
            f"mapping={_e(repr(result.mapping))})",
        )


def render_clean(con: Console, result: CleanResult) -> None:
    """What was (or would be) removed, one line each with its size, then what was kept."""
    verb = "Would remove" if result.dry_run else "Removed"
    if not result.removed:
        _print(con, f"Nothing to remove in {_e(result.data_dir)}")
    else:
        n = len(result.removed)
        _print(
            con,
            f"{verb} {n:,} item{'s' if n != 1 else ''}, {_fmt_bytes(result.bytes)}, "
            f"from {_e(result.data_dir)}:",
        )
        for part in result.removed:
            _print(con, f"  {part.what:<18} {_fmt_bytes(part.bytes):>10}  {_e(str(part.path))}")
    for kept in result.kept:
        _print(con, f"Kept {_e(kept['path'])} ({_fmt_bytes(kept['bytes'])}): {_e(kept['why'])}")


def render_synth(con: Console, result: SynthResult) -> None:
    """The tree written (pairs per group, files, bytes), its archive, the planted defects."""
    _print(con, f"Synthetic LungSegDB tree: {_e(result.tree)}")
    clean = result.clean_pairs or result.pairs
    for label, n in result.pairs.items():
        extra = n - clean.get(label, n)
        note = f" ({clean[label]:,} clean, {extra:,} with a planted defect)" if extra else ""
        _print(con, f"  {label}: {_n(n, 'pair')}{note}")
    con.print(f"  {_n(result.files, 'file')}, {_fmt_bytes(result.bytes)}")
    if result.archive:
        a = result.archive
        _print(con, f"Archive: {_e(a.path)} ({_fmt_bytes(a.size)})")
        _print(con, f"  sha256: {a.sha256}")
    if result.defects:
        findings, junk = result.findings, result.junk
        errors = sum(d.severity == "error" for d in findings)
        con.print(
            f"Planted {_n(len(findings), 'defect')} validate must report "
            f"({_n(errors, 'error')}, {_n(len(findings) - errors, 'warning')}) and "
            f"{_n(len(junk), 'OS junk file')} it must ignore:"
        )
        for d in result.defects:
            _print(con, f"  {d.code}: {_e(d.path)}")


# ---------------------------------------------------------------------------------------------
# pairs, split
# ---------------------------------------------------------------------------------------------
def render_pairs(con: Console, result: PairsResult) -> None:
    """The count per group, then the first few pairs."""
    from lungsegdb_cli.training.pairs import SHOWN

    _print(con, f"LungSegDB at {_e(result.dataset_dir)}: {_n(len(result.pairs), 'pair')}")
    for label, n in result.counts().items():
        _print(con, f"  {_e(label)}: {_n(n, 'pair')}")
    if result.splits_file:
        _print(con, f"Splits from {_e(result.splits_file)}")
    for p in result.pairs[:SHOWN]:
        where = f" [{p.split}]" if p.split else ""
        _print(con, f"  {_e(p.key)}{where}: {_e(str(p.image))} + {_e(p.mask.name)}")
    if len(result.pairs) > SHOWN:
        _print(con, f"  ... and {len(result.pairs) - SHOWN:,} more (--json or --csv for all)")
    if result.csv:
        _print(con, f"CSV: {_e(result.csv)}")


def render_split(con: Console, result: SplitResult) -> None:
    """Pairs and groups per split per version, the achieved ratios, the file written."""
    achieved = result.achieved()
    _print(
        con,
        f"Split {_n(result.pairs, 'pair')} (seed {result.seed}, group by "
        f"{_e(result.group_by) if result.group_by else 'stem'}"
        f"{', stratified by ' + result.stratify if result.stratify else ''}):",
    )
    for name, per_version in result.counts.items():
        parts = ", ".join(
            f"{v} {_n(c['pairs'], 'pair')} / {_n(c['groups'], 'group')}"
            for v, c in per_version.items()
        )
        _print(con, f"  {name:<5} {achieved[name]:6.1%}  {parts}")
    asked = "/".join(f"{r:g}" for r in result.ratios)
    _print(con, f"  asked for {asked}")
    _print(con, f"Written: {_e(result.path)}")
    if result.suggestion:
        groups = result.suggestion_groups or 0
        _print(con, f"Suggestion: --group-by '{_e(result.suggestion)}' ({_n(groups, 'group')})")


# ---------------------------------------------------------------------------------------------
# export, verify-export
# ---------------------------------------------------------------------------------------------
def render_export(con: Console, result: ExportResult) -> None:
    """Where the export went, the splits it used, pairs per split, how files were placed."""
    _print(con, f"Exported {result.format} to {_e(result.out)}")
    for top, info in result.datasets.items():
        if list(info["pairs"]) == [top]:  # a split's own shards (webdataset): said once
            counts = _n(info["pairs"][top], "pair")
        else:
            counts = ", ".join(f"{s} {n:,}" for s, n in info["pairs"].items())
        if info.get("shards"):
            counts += f" ({_n(info['shards'], 'shard')}, {_fmt_bytes(info.get('bytes'))})"
        _print(con, f"  {_e(top)}: {counts}")
    if result.made_default_split:
        _print(
            con,
            "Splits: none in force, so the default split was made (seed 0, "
            "0.7/0.15/0.15); a copy is in lungsegdb-splits.json",
        )
    else:
        _print(con, f"Splits: {_e(str(result.splits_file))} ({result.splits_source})")
    placed = ", ".join(f"{how} {n:,}" for how, n in sorted(result.placed.items()))
    if placed:
        _print(con, f"Files: {placed}")
    if result.shards:
        size = sum(int(s["size"]) for s in result.shards)
        _print(
            con,
            f"Shards: {len(result.shards):,} ({_fmt_bytes(size)}), each with its "
            "SHA-256 in the record",
        )
    if result.fell_back:
        _print(
            con,
            f"Note: copied, not linked: {_n(result.fell_back, 'file')} (OUT is on "
            "another file system than the tree)",
        )
    _print(con, f"Record: {_e(result.record)}")


def render_check_export(con: Console, result: ExportCheckResult) -> None:
    """Matches or not, and each difference."""
    verdict = "matches" if result.ok else "does NOT match"
    _print(con, f"Export {_e(result.out)} ({result.format}) {verdict} what it was made from")
    if not result.manifest["ok"]:
        _print(
            con,
            f"  manifest changed: {result.manifest['recorded']} -> {result.manifest['current']}",
        )
    if not result.splits["ok"]:
        _print(con, f"  splits file changed: {_e(str(result.splits['path']))}")
    for what in ("missing", "changed", "source_changed", "extra"):
        items = getattr(result, what)
        if items:
            shown = ", ".join(_e(p) for p in items[:5])
            more = f" ... and {len(items) - 5:,} more" if len(items) > 5 else ""
            _print(con, f"  {what.replace('_', ' ')}: {len(items):,}: {shown}{more}")
    _print(con, f"  {_n(result.checked, 'entry', 'entries')} checked")


def render_preview(con: Console, result: PreviewResult) -> None:
    """The PNG written, then per row how many of its candidates it shows."""
    what = "flagged item" if result.mode == "findings" else "pair"
    _print(
        con,
        f"Preview: {_e(result.out)} ({result.width}x{result.height} px, "
        f"{_n(len(result.rows), 'row')}, {_n(result.tiles, what)})",
    )
    if result.note:
        _print(con, f"  {_e(result.note)}")
    for row in result.rows:
        stems = ", ".join(_e(t.stem) for t in row.tiles)
        windows = f"; window {', '.join(row.windows)}" if row.windows else ""
        _print(
            con,
            f"  {_e(row.label)}: {len(row.tiles):,} of {row.candidates:,} ({stems}){windows}",
        )
        for t in row.tiles:
            if t.note:
                _print(con, f"    {_e(t.stem)}: not shown: {_e(t.note)}")
    if result.not_shown:
        codes = sorted({f["code"] for f in result.not_shown})
        _print(
            con,
            f"  {_n(len(result.not_shown), 'finding')} "
            f"{'is' if len(result.not_shown) == 1 else 'are'} about no single file "
            f"({', '.join(codes)}): see 'lungsegdb validate'",
        )


def render_publish(con: Console, result: PublishResult) -> None:
    """What ``publish`` uploaded, then the one command the fleet should run."""
    con.print(
        f"Published {_e(result.archive_url)} ({result.size:,} bytes, {_n(result.files, 'file')} "
        f"in the manifest), {_e(result.manifest_url)} and {_e(result.meta_url)}",
        markup=False,
        highlight=False,
    )
    if result.export is not None:
        up = result.export
        con.print(
            f"Export: {_n(up.files, 'file')} ({up.bytes:,} bytes) under {_e(up.url)}, "
            f"index {_e(up.index_url)}",
            markup=False,
            highlight=False,
        )
    con.print("Download it with:", markup=False, highlight=False)
    con.print(f"  {_e(result.command)}", markup=False, highlight=False, soft_wrap=True)
