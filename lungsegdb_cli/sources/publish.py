"""``lungsegdb publish DEST``: put the verified archive on a mirror the fleet downloads from.

After a verified download (the kept archive matches its recorded -- or pinned -- SHA-256 and
every file of the tree matches the manifest), three objects go to ``DEST`` (any fsspec URL
or a local folder): the archive under its own name, the manifest (``LungSegDB.sha256``) and
``lungsegdb.json`` (sha256, md5, size, file counts, the redacted source, the lungsegdb
version). Each is uploaded under ``DEST/.lungsegdb-tmp-<random>/`` first and then moved to its
final key (``os.replace`` in a local folder, ``fs.mv`` on a bucket: a copy on the server and
a delete), ``lungsegdb.json`` last, so a reader that sees it sees the rest. The result names
the one ``lungsegdb download --url ... --sha256 ...`` command the fleet should run.

Refused before anything is uploaded: nothing downloaded, or the archive was not kept
(:class:`UsageError`, exit 2, with how to get it back), or the archive or the tree do not
verify (:class:`CheckFailed`, exit 1).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli._version import __version__
from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.errors import CheckFailed, DownloadError, UsageError, from_os_error
from lungsegdb_cli.sources import cloud as fsspec_source
from lungsegdb_cli.sources.localfile import MIRROR_META
from lungsegdb_cli.sources.plan import redact
from lungsegdb_cli.state.provenance import Provenance
from lungsegdb_cli.utils.progress import Progress
from lungsegdb_cli.utils.units import counted

__all__ = ["META_NAME", "PublishResult", "Target", "join_url", "publish"]

META_NAME = MIRROR_META  # what a download from the folder reads to find the archive
META_SCHEMA = 1


@dataclass
class PublishResult:
    """What ``publish`` uploaded, and the command that downloads it."""

    dest: str
    archive_url: str
    manifest_url: str
    meta_url: str
    sha256: str
    size: int
    files: int
    command: str
    counts: dict[str, int] = field(default_factory=dict)
    #: the export uploaded beside the archive (``publish --export OUT``), else None
    export: Any = None

    @property
    def ok(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dest": self.dest,
            "archive": {"url": self.archive_url, "sha256": self.sha256, "size": self.size},
            "manifest": self.manifest_url,
            "meta": self.meta_url,
            "files": self.files,
            "counts": dict(self.counts),
            "command": self.command,
            "export": None if self.export is None else self.export.to_dict(),
        }


def _is_url(dest: str) -> bool:
    return "://" in dest


def join_url(dest: str, name: str) -> str:
    return dest.rstrip("/") + "/" + name


def _verified(
    paths: DataPaths, sha256: str | None, progress: Progress | None = None
) -> tuple[Provenance, Path, Any]:
    """The record, the kept archive and the verify result, if all of it verifies."""
    from lungsegdb_cli.checks import verify as _verify

    record = Provenance.load(paths.provenance)  # corrupt: ProvenanceCorrupt, never vouched
    if record is None or not record.sha256:
        raise UsageError(
            f"Nothing downloaded in {paths.root}: no archive to publish",
            hint="Run 'lungsegdb download' (or --archive FILE) first, then publish.",
        )
    kept = None if record.discarded else record.kept_archive(paths.root)
    if kept is None:
        gone = "was deleted (--no-keep-archive)" if record.discarded else "is not there"
        raise UsageError(
            f"The archive {gone}: only a kept archive can be published",
            hint="Run 'lungsegdb download --force' without --no-keep-archive, then publish.",
        )
    result = _verify.verify(paths, sha256=sha256, progress=progress)
    if not result.ok:
        bad = len(result.missing) + len(result.modified) + len(result.extra)
        arch = result.archive
        if arch and not arch.ok:
            why = "the archive does not match its SHA-256"
        elif result.tree_problem is not None:
            why = result.tree_problem
        else:
            differ = "differs" if bad == 1 else "differ"
            why = f"{counted(bad, 'file')} of the tree {differ} from the manifest"
        raise CheckFailed(
            f"Not publishing: {why}",
            hint="Run 'lungsegdb verify' to see what differs, then 'lungsegdb download --force'.",
        )
    return record, kept, result


def _counts(paths: DataPaths) -> dict[str, int]:
    """Files per ``variant/version/kind`` folder, from the manifest."""
    from lungsegdb_cli.checks import manifest

    counts: dict[str, int] = {}
    for entry in manifest.read(paths) or []:
        group = "/".join(entry.path.split("/")[:3])
        counts[group] = counts.get(group, 0) + 1
    return dict(sorted(counts.items()))


class Target:
    """DEST as a place to write: a local folder or an fsspec filesystem."""

    def __init__(self, dest: str, options: Mapping[str, Any] | None) -> None:
        self.dest = dest.rstrip("/") or dest
        self.options = options
        self.fs: Any = None
        self.root = self.dest
        if _is_url(dest) and not dest.lower().startswith("file://"):
            if not fsspec_source.handles(dest):
                raise UsageError(
                    f"Cannot publish to {redact(dest)}: not a folder or a supported URL",
                    hint="Give a local folder or an s3://, gs://, az://, hf:// or file:// URL.",
                )
            self.fs, self.root = fsspec_source.open_fs(dest, options)
        elif dest.lower().startswith("file://"):
            from urllib.parse import unquote, urlsplit

            self.root = unquote(urlsplit(dest).path)
        self.tmp = join_url(self.root, f".lungsegdb-tmp-{secrets.token_hex(6)}")

    def url(self, name: str) -> str:
        if self.fs is None:
            return Path(join_url(self.root, name)).absolute().as_uri()
        return join_url(self.dest, name)

    def put(self, local: Path | bytes, name: str) -> None:
        """Upload ``local`` (a file, or the bytes themselves) as ``name``: staged under the
        destination's own temporary prefix, then moved into place. Nothing is written
        anywhere else (the data dir is only read: it may be read-only)."""
        staged, final = join_url(self.tmp, name), join_url(self.root, name)
        if self.fs is None:
            try:
                os.makedirs(os.path.dirname(staged), exist_ok=True)  # name may hold folders
                os.makedirs(os.path.dirname(final), exist_ok=True)
                if isinstance(local, bytes):
                    Path(staged).write_bytes(local)
                else:
                    shutil.copyfile(local, staged)
                os.replace(staged, final)
            except OSError as exc:
                raise from_os_error(exc, f"write {final}") from exc
            return
        try:
            if isinstance(local, bytes):
                self.fs.pipe_file(staged, local)
            else:
                self.fs.put_file(str(local), staged)
            self.fs.mv(staged, final)
        except Exception as exc:
            raise DownloadError(
                f"Could not upload {name} to {redact(self.dest)}: "
                + fsspec_source.scrub(f"{type(exc).__name__}: {exc}", self.options),
                hint="Check DEST, the credentials and the endpoint; nothing final was replaced.",
            ) from None

    def cleanup(self) -> None:
        try:
            if self.fs is None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            elif self.fs.exists(self.tmp):
                self.fs.rm(self.tmp, recursive=True)
        except Exception:  # a leftover temporary prefix is harmless
            pass


def publish(
    paths: DataPaths,
    dest: str,
    *,
    sha256: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> PublishResult:
    """Upload the verified archive, the manifest and ``lungsegdb.json`` to ``dest`` (see the
    module docstring)."""
    record, archive, verified = _verified(paths, sha256.lower() if sha256 else None, progress)
    target = Target(dest, storage_options)
    sha = str(record.sha256).lower()
    counts = _counts(paths)
    meta = {
        "schema": META_SCHEMA,
        "archive": archive.name,
        "sha256": sha,
        "md5": record.md5,
        "size": archive.stat().st_size,
        "files": verified.checked,
        "counts": counts,
        "manifest": paths.manifest.name,
        "source": redact(record.source) if record.source else None,
        "lungsegdb_version": __version__,
    }
    meta_bytes = (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")
    try:
        target.put(archive, archive.name)
        target.put(paths.manifest, paths.manifest.name)
        target.put(meta_bytes, META_NAME)
    finally:
        target.cleanup()
    archive_url = target.url(archive.name)
    return PublishResult(
        dest=redact(dest),
        archive_url=redact(archive_url),
        manifest_url=redact(target.url(paths.manifest.name)),
        meta_url=redact(target.url(META_NAME)),
        sha256=sha,
        size=int(meta["size"]),  # type: ignore[call-overload]
        files=verified.checked,
        command=f"lungsegdb download --url {redact(archive_url)} --sha256 {sha}",
        counts=counts,
    )
