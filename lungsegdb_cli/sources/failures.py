"""The errors ``download`` raises, each with the next step spelled out: a page instead of the
archive (:func:`page_error`, exit 3: Drive's, or a mirror's refusal, never labelled as Drive's),
a checksum that is not the pin (:func:`mismatch`,
exit 1) and ``--offline`` without the dataset (:func:`offline_error`, exit 3)."""

from __future__ import annotations

from pathlib import Path

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import ChecksumMismatch, DrivePageError, MirrorRefused, OfflineError
from lungsegdb_cli.sources.drive import pages as drive
from lungsegdb_cli.utils.textsafe import shell_word


def pin_hint(command: str, *, storage_options: bool = False) -> str:
    """How to pin the archive just recorded: ``command`` is the download line that repeats
    the source with the pin (:meth:`~lungsegdb_cli.sources.request.DownloadRequest.command`);
    ``storage_options``: the run was given some, which are never shown (they may hold keys),
    so the line says they are needed again."""
    sha256 = command.rsplit(" ", 1)[-1]
    again = "  with the same --storage-option values (not shown)" if storage_options else ""
    return f"Pin it in CI: {command}{again}  (or LUNGSEGDB_SHA256={sha256})"


def _manual_step(source: drive.Source, paths: DataPaths, pin: str | None) -> str:
    cmd = f"lungsegdb download --archive PATH --data-dir {shell_word(str(paths.root))}"
    if pin:
        cmd += f" --sha256 {pin}"
    if source.is_drive:
        return f"open {source.link} in a browser, save the file, then run: {cmd}"
    return f"get the archive another way (the mirror was {source.link}), then run: {cmd}"


_PAGE_WHAT = {
    drive.PageKind.QUOTA: (
        'Google Drive refused the download: quota exceeded ("Too many users have viewed or '
        'downloaded this file recently")'
    ),
    drive.PageKind.NOT_FOUND: "Google Drive says the file does not exist (not found)",
    drive.PageKind.PERMISSION: (
        "Google Drive refused the download: permission denied (sign-in or access request page)"
    ),
    drive.PageKind.VIRUS_SCAN: "Google Drive's virus-scan warning page could not be followed",
    drive.PageKind.HTML: "Got an HTML page instead of the archive",
    drive.PageKind.HTTP: "The server refused the download",
}
#: The same pages served by a mirror (``--url`` that is not a Drive link): not Drive's words.
_MIRROR_WHAT = {
    drive.PageKind.NOT_FOUND: "The server says the file does not exist (not found)",
    drive.PageKind.PERMISSION: "The server refused the download: permission denied",
    drive.PageKind.VIRUS_SCAN: "The server sent a download form that could not be followed",
}


def _page_hint(kind: drive.PageKind, source: drive.Source, manual: str) -> str:
    if kind is drive.PageKind.QUOTA:
        return (
            "Wait a few hours and run again, or download as a signed-in user with "
            "--cookies FILE (a cookies.txt exported from a browser signed in to Google), "
            f"or pass a mirror with --url URL, or {manual}"
        )
    if kind is drive.PageKind.NOT_FOUND:
        return f"Check the link given to --url (or unset LUNGSEGDB_URL); or {manual}"
    if kind is drive.PageKind.PERMISSION and not source.is_drive:
        return (
            "Check that the mirror lets this machine read the file (a signed URL may have "
            f"expired; a token or cookie may be missing); or {manual}"
        )
    if kind is drive.PageKind.PERMISSION:
        return (
            "The file must be shared as 'Anyone with the link'; pass a mirror with --url, "
            f"or {manual}"
        )
    if not source.is_drive:
        return f"Open the URL in a browser to see the page and fix --url; or {manual}"
    return f"Pass a mirror with --url URL, or {manual}"


def page_error(
    page: drive.Page, source: drive.Source, paths: DataPaths, pin: str | None
) -> DrivePageError | MirrorRefused:
    """The exit-3 error for a page instead of the archive, with what to do next: a
    :class:`DrivePageError` (kind ``drive-page``) from Drive, a :class:`MirrorRefused` (kind
    ``mirror-refused``) from any other source."""
    what = _PAGE_WHAT[page.kind]
    cls: type[DrivePageError | MirrorRefused] = DrivePageError
    if not source.is_drive:
        what = _MIRROR_WHAT.get(page.kind, what)
        cls = MirrorRefused
    title = f" (page title {page.title!r})" if page.title else ""
    status = f", HTTP {page.status}" if page.status != 200 else ""
    return cls(
        f"{what}{title}{status}: {page.url}",
        hint=_page_hint(page.kind, source, _manual_step(source, paths, pin)),
        page=page.kind.value,
        url=page.url,
        status=page.status,
        title=page.title,
        link=source.link,
        data_dir=str(paths.root),
        expected_sha256=pin,
    )


def mismatch(
    *,
    what: str,
    expected: str,
    actual: str | None,
    size: int,
    head: bytes,
    moved_to: Path | None,
    algorithm: str = "sha256",
) -> ChecksumMismatch:
    """The exit-1 error for bytes whose SHA-256 (or, with ``algorithm="md5"``, MD5) is not
    the pin (nothing was extracted)."""
    where = f"; moved aside to {moved_to}" if moved_to else ""
    name, option = (
        ("MD5", "--md5")
        if algorithm == "md5"
        else (
            "SHA-256",
            "--sha256 / LUNGSEGDB_SHA256",
        )
    )
    return ChecksumMismatch(
        f"{name} mismatch for {what}: expected {expected}, got {actual} "
        f"({size:,} bytes, starting {head[:64]!r}){where}",
        hint=(
            "Nothing was extracted. If the source changed on purpose, update the pin "
            f"({option}); else run again later or pass a mirror with --url."
        ),
        algorithm=algorithm,
        expected=expected,
        actual=actual,
        size=size,
        first_bytes=repr(head[:64]),
        rejected=str(moved_to) if moved_to else None,
    )


def offline_error(why: str, paths: DataPaths, source: drive.Source) -> OfflineError:
    """The exit-3 error for ``--offline`` when ``why`` (the dataset is not here, say)."""
    return OfflineError(
        f"--offline and {why} ({paths.dataset_dir})",
        hint=(
            "Run 'lungsegdb download' with network access, or download "
            f"{source.link} in a browser and run 'lungsegdb download --archive PATH'."
        ),
        data_dir=str(paths.root),
    )
