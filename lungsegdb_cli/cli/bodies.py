"""The bodies of the commands the fast path serves (``download``, ``verify``, ``stats``),
written once: the typer commands in :mod:`.app` and :mod:`.fast` both call them, so the two
paths cannot drift apart. Nothing here imports typer, click or rich up front (rich is loaded
only where a console is needed); option values arrive as typer passes them (``Path`` or
None, flags as booleans).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from lungsegdb_cli import api
from lungsegdb_cli.cli import phase, render
from lungsegdb_cli.cli.output import Output, _check_sha256, _existing_file, _output_file
from lungsegdb_cli.errors import ExitCode

__all__ = ["download", "print_lines", "stats", "verify"]

#: What rich's console would turn into an emoji (``:name:``): such a line is printed by rich.
_EMOJI_CODE = re.compile(r":\S*?:")


def print_lines(lines: list[str], out: Output) -> None:
    """Lines of plain, escaped text on stdout, as ``Output.out.print(line, markup=False)``
    prints them (soft wrap: the text as it is, then a newline) -- without loading rich. A
    line rich would change (an emoji code) goes through rich itself, and so does every line
    on Windows (its legacy console). The result, once written, stands (a Ctrl-C is then
    ignored: :mod:`lungsegdb_cli.cli.phase`)."""
    with phase.writing_result():
        if sys.platform == "win32" or any(_EMOJI_CODE.search(line) for line in lines):
            for line in lines:
                out.out.print(line, markup=False)
            return
        phase.write_out("".join(line + "\n" for line in lines))


def download(
    *,
    url: Sequence[str] | None = None,
    archive: Path | None = None,
    sha256: str | None = None,
    offline: bool = False,
    force: bool = False,
    no_extract: bool = False,
    require_pin: bool = False,
    no_keep_archive: bool = False,
    data_dir: Path | None = None,
    json_out: bool = False,
    quiet: bool = False,
    cookies: Path | None = None,
    no_drive: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    storage_option: Sequence[str] | None = None,
    md5: str | None = None,
) -> int:
    """``lungsegdb download``: the one request built where the options are parsed (every
    value checked before anything is read), one call into the API, the result shown."""
    from lungsegdb_cli.sources.request import DownloadRequest
    from lungsegdb_cli.utils import envvars

    out = Output(json_mode=json_out, quiet=quiet)
    request = DownloadRequest.build(
        urls=list(url or ()),
        drive=not no_drive,
        archive=archive,
        sha256=sha256,
        md5=md5,
        require_pin=require_pin or envvars.flag("LUNGSEGDB_REQUIRE_PIN"),
        keep_archive=not no_keep_archive,
        offline=offline or envvars.flag("LUNGSEGDB_OFFLINE"),
        force=force,
        extract=not no_extract,
        cookies=cookies,
        storage_options=list(storage_option or ()),
        retries=retries,
        timeout=timeout,
    )
    _existing_file(archive, "Archive")
    result = api.download(data_dir, request=request, progress=out.progress())
    if result.client == "gdown":
        out.warn("Google Drive sent a page lungsegdb's parser does not follow: gdown fetched it")
    if result.missing:
        out.warn("not in the archive: " + ", ".join(result.missing))
    if out.json:
        out.emit(result.to_dict(), lambda con: None)
    else:
        print_lines(render.download_lines(result, no_extract=no_extract), out)
    return 0


def verify(
    *,
    sha256: str | None = None,
    quick: bool = False,
    data_dir: Path | None = None,
    json_out: bool = False,
    quiet: bool = False,
) -> int:
    """``lungsegdb verify``: exit 0 intact, 1 if anything differs."""
    out = Output(json_mode=json_out, quiet=quiet)
    pin = _check_sha256(sha256)
    result = api.verify(
        data_dir,
        sha256=pin,
        quick=quick,
        # No progress object at all when quiet: rich is then never imported (~30 ms).
        progress=None if quick or quiet else out.progress(),
    )
    if result.ok and not json_out:
        # All is well: plain lines, no rich console to load (start-up counts at this speed).
        with phase.writing_result():
            phase.write_out("".join(line + "\n" for line in render._verify_ok_lines(result)))
        return 0
    out.emit(result.to_dict(), lambda con: render.render_verify(con, result))
    return 0 if result.ok else int(ExitCode.CHECK_FAILED)


def stats(
    *,
    variant: str | None = None,
    version: str | None = None,
    csv_path: Path | None = None,
    plot: Path | None = None,
    window: str | None = None,
    no_cache: bool = False,
    data_dir: Path | None = None,
    json_out: bool = False,
    quiet: bool = False,
) -> int:
    """``lungsegdb stats``: the numbers per group, the CSV and the plot if asked for."""
    from lungsegdb_cli.cli import plot as plot_mod
    from lungsegdb_cli.cli import tuning as _tuning

    out = Output(json_mode=json_out, quiet=quiet)
    plot = _output_file(plot, "--plot", "stats.png", data_dir)  # --csv: the API checks it
    spec = plot_mod.check_window(window, plot)
    if plot is not None:
        plot_mod.require()
    with _tuning.decode_switches():
        result = api.stats(
            data_dir,
            variant=variant,
            version=version,
            csv=csv_path,
            use_cache=not no_cache,
            progress=out.progress(),
        )
    doc = result.to_dict()
    written = plot_mod.render(result, plot, window=spec).out if plot is not None else None
    if written is not None:
        doc["plot"] = str(written)
    for warning in render.stats_warnings(result):
        out.warn(warning)
    out.emit(doc, lambda con: render.render_stats(con, result, plot=written))
    return 0
