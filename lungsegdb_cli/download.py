"""``lungsegdb download``: get the archive, check it, extract it, write the manifest.

The order of decisions:

1. Nothing to do: the tree is complete (manifest present, every file at its recorded size) --
   or, with ``extract=False``, the kept archive is -- and ``force`` is off. With a pinned
   ``sha256`` the tree must have been extracted from the archive the pin names (recorded in the
   manifest's sidecar at the same commit as the tree). No network; about a second. Checked as a
   reader first, so an intact read-only data dir is fine; then again under the writer lock.
2. ``archive``: a file the user downloaded by hand. No network: hash it (one read), check the
   pin, stage its provenance (the file stays where it is), extract.
3. ``offline`` (or a kept archive that matches): never touch the network; extract the kept
   archive; else :class:`OfflineError`.
4. Otherwise fetch (:mod:`lungsegdb_cli.fetch`) into ``<root>/downloads/<key>.part``; hashes
   come from the stream. A pin mismatch moves the file aside (``<name>.rejected``) and raises
   :class:`ChecksumMismatch`; nothing is extracted. An archive that turns out unusable (exit 4)
   is moved aside the same way.

Everything a run changes -- the archive under its final name, the provenance, the tree, the
manifest -- is staged and committed at one step (:mod:`lungsegdb_cli.commit`), under the data
dir's writer lock held from the first check to the commit: the record never changes before the
tree does, and a run killed at any point leaves the old state or the new one.

Drive pages instead of the archive become :class:`DrivePageError` (exit 3) saying which page it
was and what to do next.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lungsegdb_cli import __version__, commit, dataset, drive, fsutil, manifest, provenance
from lungsegdb_cli.errors import (
    ArchiveError,
    ChecksumMismatch,
    DrivePageError,
    LocalError,
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
    #: where the archive is read from during this run (a finished ``.part`` before the commit)
    read_from: Path | None = field(default=None, repr=False)

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


def _archive_info(paths: DataPaths, record: dict[str, Any] | None) -> dict[str, Any] | None:
    path = provenance.kept_archive(record, paths.root)
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
    if not force and paths.state_dir.is_dir():
        done = _up_to_date_as_reader(paths, pin, extract, source)
        if done is not None:
            done.elapsed = clock() - t0
            return done
    with commit.writing(paths) as waited:
        record = provenance.read(paths.provenance)
        done = None if force else _up_to_date(paths, record, pin, extract, source)
        if done is not None:
            done.waited_for_lock = waited
            done.elapsed = clock() - t0
            return done
        with commit.Transaction(paths) as txn:
            if archive is not None:
                result = _from_local(txn, paths, Path(archive), pin, extract, progress)
            elif offline or (not force and extract and _kept_matches(paths, record, pin)):
                # a kept archive (say, the extraction failed or the tree was deleted) is reused
                result = _from_kept(paths, record, pin, extract, source)
            else:
                result = _from_network(
                    txn,
                    paths,
                    source,
                    pin,
                    extract,
                    progress,
                    session=session,
                    sleep=sleep,
                    clock=clock,
                    policy=policy,
                    record=record,
                )
            result.waited_for_lock = waited
            if extract:
                _stage_extraction(txn, paths, result, progress)
            commit.checkpoint("download staged")
            txn.commit()
        if result.read_from is not None and result.read_from.name.endswith(".part"):
            discard_part(result.read_from)  # committed under its final name: only the sidecar
    result.elapsed = clock() - t0
    return result


def _stage_extraction(
    txn: commit.Transaction, paths: DataPaths, result: DownloadResult, progress: Progress | None
) -> None:
    """Stage the tree extracted from the archive ``result`` describes into ``txn``."""
    from lungsegdb_cli import extract as extract_mod

    assert result.archive is not None and result.read_from is not None
    try:
        ex = extract_mod.stage_tree(
            txn,
            paths,
            result.read_from,
            progress=progress,
            archive_sha256=str(result.archive["sha256"]),
        )
    except ArchiveError as exc:
        moved = _reject_unusable(paths, result)
        if moved is not None:
            exc.message += f"; the archive was moved aside to {moved}"
            exc.args = (exc.message,)
            exc.context["rejected"] = str(moved)
        raise
    result.extract = ex.to_dict()
    result.files = ex.files
    result.extracted = True
    result.manifest = str(paths.manifest)


def _reject_unusable(paths: DataPaths, result: DownloadResult) -> Path | None:
    """Move an archive of ours that cannot be extracted to ``<name>.rejected``, so the next
    run fetches it afresh instead of failing on the same bytes (the user's own file stays)."""
    src = result.read_from
    if src is None or src.parent != paths.downloads_dir or result.action == ACTION_LOCAL:
        return None
    name = Path(str(result.archive["path"])).name if result.archive else src.name
    rejected = paths.downloads_dir / f"{name}.rejected"
    try:
        os.replace(src, rejected)
    except OSError:
        return None
    if src.name.endswith(".part"):
        discard_part(src)
    return rejected


def _up_to_date_as_reader(
    paths: DataPaths, pin: str | None, extract: bool, source: drive.Source
) -> DownloadResult | None:
    """The nothing-to-do check without the writer lock (works on a read-only data dir). A
    half-done commit is rolled forward first (by :func:`commit.reading`)."""
    try:
        with commit.reading(paths):
            record = provenance.read(paths.provenance)
            return _up_to_date(paths, record, pin, extract, source)
    except LocalError as exc:
        if commit.is_read_only(exc):
            return None  # the writer's path below reports what cannot be written
        raise


def _tree_matches_pin(paths: DataPaths, record: dict[str, Any] | None, pin: str) -> bool:
    made_from = manifest.tree_archive(paths)
    if made_from == manifest.UNRECORDED:  # written before this was recorded: trust provenance
        return bool(record) and str(record.get("sha256", "")).lower() == pin
    return made_from == pin


def _up_to_date(
    paths: DataPaths,
    record: dict[str, Any] | None,
    pin: str | None,
    extract: bool,
    source: drive.Source,
) -> DownloadResult | None:
    if extract:
        n = tree_intact(paths)
        if n is None or (pin and not _tree_matches_pin(paths, record, pin)):
            return None
    else:
        n = None
        if provenance.kept_archive(record, paths.root) is None:
            return None
        if pin and str(record.get("sha256", "")).lower() != pin:  # type: ignore[union-attr]
            return None
    return DownloadResult(
        dataset_dir=paths.dataset_dir,
        archive=_archive_info(paths, record),
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
    txn: commit.Transaction,
    paths: DataPaths,
    archive: Path,
    pin: str | None,
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
        raise from_os_error(exc, f"read {archive}") from exc
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
        "path": provenance.record_path(archive, paths.root),
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
    txn.stage_bytes(paths.provenance, provenance.render(record))
    return _finish(paths, record, pin, ACTION_LOCAL, read_from=archive)


def _kept_matches(paths: DataPaths, record: dict[str, Any] | None, pin: str | None) -> bool:
    if record is None or provenance.kept_archive(record, paths.root) is None:
        return False
    return not pin or str(record.get("sha256", "")).lower() == pin


def _from_kept(
    paths: DataPaths,
    record: dict[str, Any] | None,
    pin: str | None,
    extract: bool,
    source: drive.Source,
) -> DownloadResult:
    kept = provenance.kept_archive(record, paths.root)
    pin_ok = _kept_matches(paths, record, pin)
    if kept is not None and record is not None and pin_ok and extract:
        return _finish(paths, record, pin, ACTION_KEPT, read_from=kept)
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
    txn: commit.Transaction,
    paths: DataPaths,
    source: drive.Source,
    pin: str | None,
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
        raise from_os_error(exc, f"create {downloads}") from exc
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
    commit.checkpoint("fetched")

    name = _archive_name(res)
    final = downloads / name
    if pin and res.sha256 != pin:
        rejected = downloads / f"{name}.rejected"
        try:
            os.replace(part, rejected)
        except OSError as exc:
            raise from_os_error(exc, f"move {part} aside") from exc
        discard_part(part)
        raise _mismatch(
            what=f"the download from {source.link}",
            expected=pin,
            actual=res.sha256,
            size=res.size,
            head=res.head,
            moved_to=rejected,
        )
    # The finished .part becomes the kept archive at the commit, its resume sidecar goes, and
    # so does an older archive of another name; until then all of it stays as it is.
    txn.stage_file(final, part)
    old = provenance.kept_archive(record, paths.root)
    if old is not None and old != final and old.parent == downloads:
        txn.remove(old)
    new_record = {
        "path": provenance.record_path(final, paths.root),
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
    txn.stage_bytes(paths.provenance, provenance.render(new_record))
    result = _finish(paths, new_record, pin, ACTION_DOWNLOADED, read_from=part)
    result.archive = {**(result.archive or {}), "path": str(final)}
    result.resumed_from = res.resumed_from
    result.restarts = res.restarts
    result.retries = list(res.retries)
    return result


def _finish(
    paths: DataPaths,
    record: dict[str, Any],
    pin: str | None,
    action: str,
    *,
    read_from: Path,
) -> DownloadResult:
    archive_path = provenance.archive_path(record, paths.root)
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
        read_from=read_from,
    )
