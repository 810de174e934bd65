"""``lungsegdb download``: get the archive, check it, extract it, write the manifest.

The order of decisions, under the data dir's lock (a second process waits, then finds the
work done; step 4's extraction takes the same lock itself, right after this one is released,
because two lock objects on one lock file would deadlock within one process):

1. Nothing to do: the tree is complete (manifest present, every file at its recorded size) --
   or, with ``extract=False``, the kept archive is -- and ``force`` is off. With a pinned
   ``sha256`` the recorded provenance must match the pin too. No network; about a second.
2. ``archive``: a file the user downloaded by hand. No network: hash it (one read), check the
   pin, record its provenance (the file stays where it is), extract.
3. ``offline``: never touch the network. A kept archive is extracted; else :class:`OfflineError`.
4. Otherwise fetch (:mod:`lungsegdb_cli.fetch`) into ``<root>/downloads/<key>.part``; hashes
   come from the stream. A pin mismatch moves the file aside (``<name>.rejected``) and raises
   :class:`ChecksumMismatch`; nothing is extracted. Else the file moves into place, provenance
   is written, and :func:`lungsegdb_cli.extract.extract_archive` builds the tree + manifest.

Drive pages instead of the archive become :class:`DrivePageError` (exit 3) saying which page it
was and what to do next.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lungsegdb_cli import __version__, dataset, drive, fsutil, locking, manifest, provenance
from lungsegdb_cli.errors import (
    ChecksumMismatch,
    DrivePageError,
    OfflineError,
    UsageError,
    from_os_error,
)
from lungsegdb_cli.fetch import FetchResult, RetryPolicy, discard_part, fetch
from lungsegdb_cli.paths import DataPaths
from lungsegdb_cli.progress import Progress, ensure

ENV_URL = "LUNGSEGDB_URL"
ENV_SHA256 = "LUNGSEGDB_SHA256"
#: Free space needed for extraction, as a multiple of the archive size (TIFFs compress little).
EXTRACT_FACTOR = 1.2
USER_AGENT = f"Mozilla/5.0 (compatible; lungsegdb/{__version__}; +python-requests)"

ACTION_UP_TO_DATE = "up-to-date"
ACTION_DOWNLOADED = "downloaded"
ACTION_LOCAL = "local-archive"
ACTION_KEPT = "kept-archive"


@dataclass
class DownloadResult:
    """What ``download`` did; :meth:`to_dict` is the contract's ``download --json`` shape."""

    dataset_dir: Path
    archive: dict[str, Any] | None
    files: int | None
    source: dict[str, Any]
    action: str
    extracted: bool
    pinned: bool
    manifest: str | None = None
    pin_hint: str | None = None
    waited_for_lock: bool = False
    resumed_from: int = 0
    restarts: int = 0
    retries: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    extract: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dataset_dir": str(self.dataset_dir),
            "archive": self.archive,
            "files": self.files,
            "source": self.source,
            "action": self.action,
            "extracted": self.extracted,
            "pinned": self.pinned,
            "manifest": self.manifest,
            "pin_hint": self.pin_hint,
            "waited_for_lock": self.waited_for_lock,
            "resumed_from": self.resumed_from,
            "restarts": self.restarts,
            "retries": list(self.retries),
            "elapsed": round(self.elapsed, 3),
            "extract": self.extract,
        }


# ---------------------------------------------------------------------------------------------
# What is already here
# ---------------------------------------------------------------------------------------------
def tree_intact(paths: DataPaths) -> int | None:
    """Number of files if the manifest exists and every file in it has its recorded size."""
    entries = manifest.intact(paths)
    return None if entries is None else len(entries)


def kept_archive(record: dict[str, Any] | None) -> Path | None:
    """The archive the provenance record names, if it is still there at its recorded size."""
    if not record or not record.get("path"):
        return None
    path = Path(str(record["path"]))
    try:
        size = path.stat().st_size
    except OSError:
        return None
    return path if record.get("size") in (None, size) else None


def _archive_info(record: dict[str, Any] | None) -> dict[str, Any] | None:
    path = kept_archive(record)
    if record is None or path is None:
        return None
    return {
        "path": str(path),
        "sha256": record.get("sha256"),
        "md5": record.get("md5"),
        "size": record.get("size"),
    }


def _pin_hint(sha256: str) -> str:
    return f"Pin it in CI: lungsegdb download --sha256 {sha256}  (or LUNGSEGDB_SHA256={sha256})"


def _files_of(extract_doc: dict[str, Any] | None) -> int | None:
    if not extract_doc:
        return None
    files = extract_doc.get("files")
    if isinstance(files, bool):
        return None
    if isinstance(files, int):
        return files
    if isinstance(files, (list, dict)):
        return len(files)
    return None


def _run_extract(
    paths: DataPaths, archive: Path, *, force: bool, progress: Progress | None
) -> dict[str, Any]:
    from lungsegdb_cli import extract as extract_mod

    result = extract_mod.extract_archive(paths, archive, force=force, progress=progress)
    doc = result.to_dict()
    return doc if isinstance(doc, dict) else {}


# ---------------------------------------------------------------------------------------------
# Errors with the next step spelled out
# ---------------------------------------------------------------------------------------------
def _manual_step(source: drive.Source, paths: DataPaths, pin: str | None) -> str:
    cmd = f"lungsegdb download --archive PATH --data-dir '{paths.root}'"
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


def page_error(
    page: drive.Page, source: drive.Source, paths: DataPaths, pin: str | None
) -> DrivePageError:
    """The exit-3 error for a page instead of the archive, with what to do next."""
    what = _PAGE_WHAT[page.kind]
    title = f" (page title {page.title!r})" if page.title else ""
    status = f", HTTP {page.status}" if page.status != 200 else ""
    message = f"{what}{title}{status}: {page.url}"
    manual = _manual_step(source, paths, pin)
    if page.kind is drive.PageKind.QUOTA:
        hint = f"Wait a few hours and run again, pass a mirror with --url URL, or {manual}"
    elif page.kind is drive.PageKind.NOT_FOUND:
        hint = f"Check the link given to --url (or unset LUNGSEGDB_URL); or {manual}"
    elif page.kind is drive.PageKind.PERMISSION:
        hint = (
            "The file must be shared as 'Anyone with the link'; pass a mirror with --url, "
            f"or {manual}"
        )
    elif not source.is_drive:
        hint = f"Open the URL in a browser to see the page and fix --url; or {manual}"
    else:
        hint = f"Pass a mirror with --url URL, or {manual}"
    return DrivePageError(
        message,
        hint=hint,
        page=page.kind.value,
        url=page.url,
        status=page.status,
        title=page.title,
        link=source.link,
        data_dir=str(paths.root),
        expected_sha256=pin,
    )


def _mismatch(
    *, what: str, expected: str, actual: str, size: int, head: bytes, moved_to: Path | None
) -> ChecksumMismatch:
    where = f"; moved aside to {moved_to}" if moved_to else ""
    return ChecksumMismatch(
        f"SHA-256 mismatch for {what}: expected {expected}, got {actual} "
        f"({size:,} bytes, starting {head[:64]!r}){where}",
        hint=(
            "Nothing was extracted. If the source changed on purpose, update the pin "
            "(--sha256 / LUNGSEGDB_SHA256); else run again later or pass a mirror with --url."
        ),
        expected=expected,
        actual=actual,
        size=size,
        first_bytes=repr(head[:64]),
        rejected=str(moved_to) if moved_to else None,
    )


# ---------------------------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------------------------
_RESERVED_SUFFIXES = (".part", ".json", ".rejected")


def _archive_name(res: FetchResult) -> str:
    """The server's file name (sanitised by fetch), else one from the magic bytes."""
    if res.filename and not res.filename.lower().endswith(_RESERVED_SUFFIXES):
        return res.filename
    if res.head.startswith(b"PK\x03\x04") or res.head.startswith(b"PK\x05\x06"):
        return f"{dataset.NAME}.zip"
    if res.head.startswith(b"\x1f\x8b"):
        return f"{dataset.NAME}.tar.gz"
    if res.head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return f"{dataset.NAME}.7z"
    if res.head.startswith(b"Rar!"):
        return f"{dataset.NAME}.rar"
    return f"{dataset.NAME}.archive"


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _make_session() -> Any:
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def download(
    paths: DataPaths,
    *,
    url: str | None = None,
    archive: Path | None = None,
    sha256: str | None = None,
    offline: bool = False,
    force: bool = False,
    extract: bool = True,
    progress: Progress | None = None,
    session: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    drive_base: str | None = None,
    policy: RetryPolicy | None = None,
) -> DownloadResult:
    """Make the dataset available under ``paths`` (see the module docstring for the order)."""
    t0 = clock()
    pin = sha256.lower() if sha256 else None
    source = drive.resolve_source(url, base=drive_base)
    if archive is not None and not Path(archive).is_file():
        raise UsageError(f"Archive does not exist: {archive}", hint="Check the path.")

    if offline and archive is None and not paths.root.exists():
        raise OfflineError(
            f"--offline and the dataset is not here ({paths.dataset_dir})",
            hint=(
                "Run 'lungsegdb download' with network access, or download "
                f"{source.link} in a browser and run 'lungsegdb download --archive PATH'."
            ),
            data_dir=str(paths.root),
        )
    with locking.data_lock(paths) as waited:
        record = provenance.read(paths.provenance)
        done = None if force else _up_to_date(paths, record, pin, extract, source)
        if done is not None:
            done.waited_for_lock = waited
            done.elapsed = clock() - t0
            return done
        if archive is not None:
            result = _from_local(paths, Path(archive), pin, force, extract, progress)
        elif offline or (not force and extract and _kept_matches(record, pin)):
            # a kept archive (say, the extraction failed or the tree was deleted) is reused
            result = _from_kept(paths, record, pin, force, extract, progress, source)
        else:
            result = _from_network(
                paths,
                source,
                pin,
                force,
                extract,
                progress,
                session=session,
                sleep=sleep,
                clock=clock,
                policy=policy,
                record=record,
            )
        result.waited_for_lock = waited
        if extract and result.archive is not None:
            # The data lock is re-entrant in one process, so extraction runs under ours: a
            # process that waited for us finds the tree complete.
            archive_path = Path(str(result.archive["path"]))
            doc = _run_extract(paths, archive_path, force=force, progress=progress)
            result.extract = doc
            result.files = _files_of(doc)
            result.extracted = not doc.get("already", False)
            result.manifest = str(paths.manifest) if paths.manifest.is_file() else None
    result.elapsed = clock() - t0
    return result


def _up_to_date(
    paths: DataPaths,
    record: dict[str, Any] | None,
    pin: str | None,
    extract: bool,
    source: drive.Source,
) -> DownloadResult | None:
    if pin and (not record or str(record.get("sha256", "")).lower() != pin):
        return None
    if extract:
        n = tree_intact(paths)
        if n is None:
            return None
    else:
        n = None
        if kept_archive(record) is None:
            return None
    return DownloadResult(
        dataset_dir=paths.dataset_dir,
        archive=_archive_info(record),
        files=n,
        source=_recorded_source(record, source),
        action=ACTION_UP_TO_DATE,
        extracted=False,
        pinned=pin is not None,
        manifest=str(paths.manifest) if paths.manifest.is_file() else None,
    )


def _recorded_source(record: dict[str, Any] | None, source: drive.Source) -> dict[str, Any]:
    if record and (record.get("source") or record.get("drive_id")):
        return {
            "url": record.get("source"),
            "drive_id": record.get("drive_id"),
            "link": record.get("link"),
        }
    return source.to_dict()


def _from_local(
    paths: DataPaths,
    archive: Path,
    pin: str | None,
    force: bool,
    extract: bool,
    progress: Progress | None,
) -> DownloadResult:
    from lungsegdb_cli.streamhash import digest_file

    archive = archive.absolute()
    size = archive.stat().st_size
    if extract:
        fsutil.check_free_space(paths.root, int(size * EXTRACT_FACTOR), "extracting the archive")
    prog = ensure(progress)
    prog.start(f"Hashing {archive.name}", size, unit="B")
    try:
        digests = digest_file(archive, on_bytes=prog.advance)
    except OSError as exc:
        raise from_os_error(exc, f"reading {archive}") from exc
    prog.done()
    if pin and digests.sha256 != pin:
        with open(archive, "rb") as fh:
            head = fh.read(64)
        raise _mismatch(
            what=str(archive),
            expected=pin,
            actual=digests.sha256,
            size=digests.size,
            head=head,
            moved_to=None,
        )
    record = {
        "path": str(archive),
        "size": digests.size,
        "sha256": digests.sha256,
        "md5": digests.md5,
        "source": archive.as_uri(),
        "drive_id": None,
        "link": None,
        "tool_version": __version__,
        "time": _now(),
        "pinned": pin is not None,
    }
    provenance.write(paths.provenance, record)
    return _finish(paths, record, pin, ACTION_LOCAL)


def _kept_matches(record: dict[str, Any] | None, pin: str | None) -> bool:
    if record is None or kept_archive(record) is None:
        return False
    return not pin or str(record.get("sha256", "")).lower() == pin


def _from_kept(
    paths: DataPaths,
    record: dict[str, Any] | None,
    pin: str | None,
    force: bool,
    extract: bool,
    progress: Progress | None,
    source: drive.Source,
) -> DownloadResult:
    kept = kept_archive(record)
    pin_ok = _kept_matches(record, pin)
    if kept is not None and record is not None and pin_ok and extract:
        return _finish(paths, record, pin, ACTION_KEPT)
    why = "the dataset is not here"
    if kept is not None and not pin_ok:
        why = f"the kept archive {kept} does not match the pinned SHA-256"
    raise OfflineError(
        f"--offline and {why} ({paths.dataset_dir})",
        hint=(
            "Run 'lungsegdb download' with network access, or download "
            f"{source.link} in a browser and run 'lungsegdb download --archive PATH'."
        ),
        data_dir=str(paths.root),
    )


def _from_network(
    paths: DataPaths,
    source: drive.Source,
    pin: str | None,
    force: bool,
    extract: bool,
    progress: Progress | None,
    *,
    session: Any,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    policy: RetryPolicy | None,
    record: dict[str, Any] | None,
) -> DownloadResult:
    downloads = paths.downloads_dir
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise from_os_error(exc, f"creating {downloads}") from exc
    part = downloads / f"{source.key}.part"

    def before_body(total: int | None, offset: int) -> None:
        if total is None:
            return
        needed = max(0, total - offset) + (int(total * EXTRACT_FACTOR) if extract else 0)
        fsutil.check_free_space(downloads, needed, "the download and its extraction")

    own_session = session is None
    sess = _make_session() if own_session else session
    try:
        res = fetch(
            source.url,
            part,
            session=sess,
            source_key=source.key,
            progress=progress,
            sleep=sleep,
            clock=clock,
            policy=policy,
            before_body=before_body,
        )
    except drive.Refused as exc:
        raise page_error(exc.page, source, paths, pin) from exc
    finally:
        if own_session:
            sess.close()

    name = _archive_name(res)
    final = downloads / name
    if pin and res.sha256 != pin:
        rejected = downloads / f"{name}.rejected"
        try:
            os.replace(part, rejected)
        except OSError as exc:
            raise from_os_error(exc, f"moving {part} aside") from exc
        discard_part(part)
        raise _mismatch(
            what=f"the download from {source.link}",
            expected=pin,
            actual=res.sha256,
            size=res.size,
            head=res.head,
            moved_to=rejected,
        )
    try:
        os.replace(part, final)
    except OSError as exc:
        raise from_os_error(exc, f"moving {part} into place") from exc
    discard_part(part)
    old = kept_archive(record)
    if old is not None and old != final and old.parent == downloads:
        with contextlib.suppress(OSError):
            old.unlink()
    new_record = {
        "path": str(final),
        "size": res.size,
        "sha256": res.sha256,
        "md5": res.md5,
        "source": source.url,
        "final_url": res.url,
        "drive_id": source.drive_id,
        "link": source.link,
        "tool_version": __version__,
        "time": _now(),
        "pinned": pin is not None,
    }
    provenance.write(paths.provenance, new_record)
    result = _finish(paths, new_record, pin, ACTION_DOWNLOADED)
    result.resumed_from = res.resumed_from
    result.restarts = res.restarts
    result.retries = list(res.retries)
    return result


def _finish(
    paths: DataPaths,
    record: dict[str, Any],
    pin: str | None,
    action: str,
) -> DownloadResult:
    archive_path = Path(str(record["path"]))
    return DownloadResult(
        dataset_dir=paths.dataset_dir,
        archive={
            "path": str(archive_path),
            "sha256": record["sha256"],
            "md5": record.get("md5"),
            "size": record["size"],
        },
        files=None,
        source={
            "url": record.get("source"),
            "drive_id": record.get("drive_id"),
            "link": record.get("link"),
        },
        action=action,
        extracted=False,
        pinned=pin is not None,
        manifest=None,
        pin_hint=None if pin else _pin_hint(str(record["sha256"])),
    )
