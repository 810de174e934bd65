"""``lungsegdb publish DEST``: put the verified archive on a mirror the fleet downloads from.

After a verified download (the kept archive matches its recorded -- or pinned -- SHA-256 and
every file of the tree matches the manifest), three objects go to ``DEST`` (any fsspec URL
or a local folder): the archive under its own name, the manifest (``LungSegDB.sha256``) and
``lungsegdb.json`` (sha256, md5, size, file counts, the redacted source, the lungsegdb
version). Each is uploaded under ``DEST/.lungsegdb-tmp-<random>/`` first and then moved to its
final key (``os.replace`` in a local folder, ``fs.mv`` on a bucket: a copy on the server and
a delete), ``lungsegdb.json`` last, so a reader that sees it sees the rest. The result names
the one ``lungsegdb download --url ... --sha256 ...`` command the fleet should run.

Refused before anything is read or written (:func:`check_dest`, :class:`UsageError`, exit 2,
naming DEST and what it would damage): an empty DEST, a URL with a query or fragment (a
presigned URL or a ``?token=`` grants one object; the files' names would land after it, in the
object keys), a URL that cannot name a folder (the checks ``download --url`` makes:
:func:`~lungsegdb_cli.sources.cloud.check_url`,
:func:`~lungsegdb_cli.sources.localfile.local_path` for a ``file://`` URL naming another host),
a scheme that is not supported, a local DEST that is a file (or below one), and a local DEST
that is, or is inside, the data dir itself or one of its own paths (the tree, the manifest,
the state folder, the downloads folder: :attr:`DataPaths.own`) or the ``--export`` folder (or
its parent, which would copy the export onto itself). Then: nothing downloaded, or the archive
was not kept (:class:`UsageError`, exit 2, with how to get it back), or the archive or the tree
do not verify (:class:`CheckFailed`, exit 1).
"""

from __future__ import annotations

import json
import os
import re
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
from lungsegdb_cli.sources.localfile import MIRROR_META, local_path
from lungsegdb_cli.sources.plan import redact
from lungsegdb_cli.state.provenance import Provenance
from lungsegdb_cli.utils.progress import Progress
from lungsegdb_cli.utils.units import counted

__all__ = ["META_NAME", "PublishResult", "Target", "check_dest", "join_url", "publish"]

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


#: ``scheme:`` at the start of DEST (two letters or more: ``C:`` is a Windows drive)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_WEB = ("http", "https")
_HINT_WHERE = "Give a local folder (e.g. ./mirror) or an s3://, gs://, az://, hf:// or file:// URL."


def _local(dest: str) -> str | None:
    """The local folder DEST names (a path, or a ``file://`` URL's path); None for a bucket
    URL (checked as a folder URL, as ``download --url`` checks one). :class:`UsageError`
    (exit 2) for an empty DEST, a malformed URL, a ``file://`` URL naming another host, or a
    scheme publish cannot write to."""
    if not dest or not dest.strip():
        raise UsageError(
            f"DEST {dest!r} is empty: it would name the current or the root folder",
            hint=_HINT_WHERE,
        )
    match = _SCHEME.match(dest)
    scheme = match.group(1).lower() if match else ""
    if "://" not in dest and scheme not in fsspec_source.BACKENDS and scheme not in _WEB:
        return dest  # a plain path (``a:b`` is a folder name, ``s3:/`` is not)
    if not fsspec_source.handles(dest):
        raise UsageError(
            f"Cannot publish to {redact(dest)}: not a folder or a supported URL",
            hint=_HINT_WHERE,
            url=redact(dest),
        )
    if "?" in dest or "#" in dest:
        # a presigned URL (or a ?token=) grants one object, not a folder: the names publish
        # writes would go after the query, into the object keys, secrets and all
        raise UsageError(
            f"DEST {redact(dest)} has a query or fragment ('?...' or '#...'): publish writes "
            "three files under a folder URL, and a query (a signature, a token) cannot name a "
            "folder",
            hint="Give the folder URL without '?...' (e.g. s3://my-bucket/lungsegdb/v1); "
            "pass credentials the backend's usual way or with --storage-option.",
            url=redact(dest),
        )
    fsspec_source.check_url(dest, folder=True)
    if fsspec_source.scheme_of(dest) == "file":
        return local_path(dest)  # refuses file://otherhost/...
    return None


def _under(path: str, own: Path) -> str | None:
    """``"is"`` / ``"is inside"`` when ``path`` is ``own`` or below it (symlinks resolved),
    else None."""
    real, mine = Path(os.path.realpath(path)), Path(os.path.realpath(own))
    if real == mine:
        return "is"
    return "is inside" if mine in real.parents else None


def check_dest(
    dest: str, paths: DataPaths, *, export: str | os.PathLike[str] | None = None
) -> None:
    """Refuse (:class:`UsageError`, exit 2, naming DEST and what it would damage) a DEST that
    cannot be published to, before anything is read or written (see the module docstring).

    Examples
    --------
    >>> p = DataPaths(root=Path("/d"), dataset_dir=Path("/d/LungSegDB"))
    >>> check_dest("s3://bucket/lungsegdb", p)  # a bucket URL: no local check
    >>> try:
    ...     check_dest("/d/LungSegDB/mirror", p)
    ... except UsageError as exc:
    ...     print(str(exc).split(":")[0])
    DEST /d/LungSegDB/mirror is inside the dataset tree /d/LungSegDB
    """
    folder = _local(dest)
    if folder is None:
        return
    where = Path(folder).absolute()
    hint = "Publish to a folder outside the data dir and the export (e.g. ./mirror) or to a bucket."
    damage = {
        "dataset tree": "publishing there would change it, and 'lungsegdb verify' would fail",
        "manifest": "publishing there would replace it",
        "state folder": "publishing there would write among lungsegdb's own records",
        "downloads folder": "publishing there would write among the downloads",
    }
    for name, own in paths.own.items():
        how = _under(str(where), own)
        if how:
            raise UsageError(
                f"DEST {dest} {how} the {name} {own}: "
                + damage.get(name, "publishing there would change it"),
                hint=hint,
                path=str(where),
            )
    for root in dict.fromkeys((paths.root, paths.dataset_dir.parent)):
        if _under(str(where), root) == "is":
            raise UsageError(
                f"DEST {dest} is the data dir {root}: publishing there would replace its "
                f"manifest {paths.manifest.name} and write the archive beside the tree",
                hint=hint,
                path=str(where),
            )
    if export is not None:
        out = Path(export).absolute()
        how = _under(str(where), out)
        why = "publishing there would change the export, and 'lungsegdb verify-export' would fail"
        if how is None and _under(str(where / out.name), out) == "is":
            how = "is the folder holding"  # DEST/<OUT's name>/ is OUT itself
            why = f"the export would be uploaded onto itself ({where / out.name})"
        if how:
            raise UsageError(
                f"DEST {dest} {how} the --export folder {out}: {why}", hint=hint, path=str(where)
            )
    if os.path.lexists(where) and not where.is_dir():
        raise UsageError(
            f"DEST {dest} is a file, not a folder",
            hint="Give a folder (it is made if missing), or move the file away.",
            path=str(where),
        )
    for parent in where.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise UsageError(
                    f"DEST {dest}: {parent} is a file, not a folder",
                    hint="Check the path.",
                    path=str(where),
                )
            break


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
        local = _local(dest)  # the checks of check_dest that need no data dir
        if local is None:
            self.fs, self.root = fsspec_source.open_fs(dest, options)
        else:
            self.root = local.rstrip("/") or local
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
                raise from_os_error(exc, f"write {final}", target="DEST") from exc
            return
        try:
            if isinstance(local, bytes):
                self.fs.pipe_file(staged, local)
            else:
                self.fs.put_file(str(local), staged)
            self.fs.mv(staged, final)
        except Exception as exc:
            usage = fsspec_source.config_error(self.dest, exc, self.options)
            if usage is not None:  # a misspelt --storage-option, half the credentials: exit 2
                raise usage from None
            raise DownloadError(
                f"Could not upload {name} to {redact(self.dest)}: "
                + fsspec_source.scrub(f"{type(exc).__name__}: {exc}", self.options, self.dest),
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
    from lungsegdb_cli.state import commit

    check_dest(dest, paths)
    target = Target(dest, storage_options)
    # One generation from the check to the last upload: a download committing meanwhile waits,
    # so the archive uploaded is the one verified and lungsegdb.json describes (reader's lock)
    with commit.reading(paths):
        record, archive, verified = _verified(paths, sha256.lower() if sha256 else None, progress)
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
        size=int(meta["size"]),
        files=verified.checked,
        command=f"lungsegdb download --url {redact(archive_url)} --sha256 {sha}",
        counts=counts,
    )
