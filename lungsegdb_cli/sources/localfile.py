"""``file://`` URLs and plain paths as download sources, with the standard library only.

A mirror on a local disk or a mounted share needs no extra: :class:`LocalFiles` offers the
two calls the streaming copy of :mod:`lungsegdb_cli.sources.cloud` makes of a filesystem
(``info`` and ``open``), so a ``file://`` source gets the same resume (size and mtime as the
validator), size cap, retries and pins as a bucket, and fsspec is never imported for it.
:func:`source_url` turns a plain path given as ``--url`` (``/srv/LungSegDB.zip``,
``./LungSegDB.zip``, ``~/LungSegDB.zip``, or any name of an existing file or folder) into
its ``file://`` URL; :func:`local_path` is the way back. A folder ``publish`` wrote (its
``lungsegdb.json`` names the archive beside it) stands for that archive
(:func:`published_archive`), so ``--url /mnt/mirror`` works as well as the archive's own path.
An archive given by hand (``download --archive FILE``) is hashed and checked against the pins
by :func:`digest_archive`.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils.statejson import loads

if TYPE_CHECKING:
    from lungsegdb_cli.sources.http.streamhash import Digests
    from lungsegdb_cli.utils.progress import Progress

__all__ = [
    "MIRROR_META",
    "LocalFiles",
    "digest_archive",
    "local_path",
    "published_archive",
    "source_url",
]

#: the file ``publish`` writes last into a mirror: it names the archive (and its SHA-256)
MIRROR_META = "lungsegdb.json"
#: a mirror's ``lungsegdb.json`` is a few hundred bytes: more is not one
_META_LIMIT = 1 << 20

_PATH_STARTS = ("/", "./", "../", "~")


def source_url(value: str) -> str | None:
    """The ``file://`` URL of ``value`` when it is a plain path, else None (a URL, a Drive
    id: left to the other sources).

    Examples
    --------
    >>> source_url("/srv/mirror/LungSegDB.zip")
    'file:///srv/mirror/LungSegDB.zip'
    >>> source_url("https://mirror.example/LungSegDB.zip") is None
    True
    """
    text = value.strip()
    if not text or "://" in text:
        return None
    if not text.startswith(_PATH_STARTS) and not os.path.exists(text):
        return None
    return Path(text).expanduser().absolute().as_uri()


def local_path(url: str) -> str:
    """The local path a ``file://`` URL names; a URL naming another host is a
    :class:`UsageError` (exit 2).

    Examples
    --------
    >>> local_path("file:///srv/mirror/Lung%20SegDB.zip")
    '/srv/mirror/Lung SegDB.zip'
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.netloc not in ("", "localhost"):
        _userinfo, at, host = parts.netloc.rpartition("@")
        why = (  # the host alone: never the user info
            "file:// URLs name a file on this machine: no user name or password"
            if at and host in ("", "localhost")
            else f"file:// URLs name a file on this machine, not on {host!r}"
        )
        raise UsageError(
            f"Invalid URL {url!r}: {why}",
            hint="Write file:///PATH/TO/LungSegDB.zip (three slashes), or the path itself.",
            url=url,
        )
    return urllib.parse.unquote(parts.path)


def published_archive(url: str) -> str:
    """``url`` itself, unless it is the ``file://`` URL of a folder ``publish`` wrote: then
    the URL of the archive its ``lungsegdb.json`` names (a bare file name in that folder).
    A folder without one stays as it is (the download refuses it: not a file).

    Examples
    --------
    >>> published_archive("https://mirror.example/LungSegDB.zip")
    'https://mirror.example/LungSegDB.zip'
    """
    if urllib.parse.urlsplit(url.strip()).scheme.lower() != "file":
        return url
    folder = local_path(url)
    meta = os.path.join(folder, MIRROR_META)
    if not folder or not os.path.isdir(folder) or not os.path.isfile(meta):
        return url
    try:
        with open(meta, "rb") as fh:
            doc = loads(fh.read(_META_LIMIT + 1))
    except (OSError, ValueError):
        doc = None
    name = doc.get("archive") if isinstance(doc, dict) else None
    if (
        not isinstance(name, str)
        or not name
        or name != os.path.basename(name)
        or name in (".", "..")
    ):
        raise UsageError(
            f"{meta} does not name an archive in its folder",
            hint="Give the archive's own path with --url, or publish to the folder again.",
            url=url,
        )
    return Path(folder, name).absolute().as_uri()


class LocalFiles:
    """The local disk, seen through the two calls a streaming copy makes of a filesystem.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as fh:
    ...     _ = fh.write(b"PK"); fh.flush()
    ...     LocalFiles().info(fh.name)["size"]
    2
    """

    def info(self, path: str) -> dict[str, Any]:
        """``type`` (``file`` or ``directory``), ``size`` and ``mtime`` (the validator a
        resumed copy is checked against); the ``OSError`` of ``stat`` otherwise. A FIFO, a
        device or a socket is a :class:`UsageError` (exit 2), as ``--archive`` refuses it: it
        has no size to check and reading it may never end (``/dev/zero``) or never start."""
        st = os.stat(path)
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise UsageError(
                f"Archive is not a file: {path} (a FIFO, device or socket, not a regular file)",
                hint="Give the path (or file:// URL) of the archive file itself.",
                path=path,
            )
        kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
        return {"type": kind, "size": st.st_size, "mtime": st.st_mtime_ns}

    def open(self, path: str, mode: str = "rb") -> BinaryIO:
        """The file opened for reading (binary)."""
        if mode != "rb":
            raise ValueError(f"read-only: mode {mode!r}")
        return open(path, "rb")


def digest_archive(
    archive: Path, *, pin: str | None, md5: str | None, progress: Progress | None
) -> Digests:
    """The digests of an archive given by hand (``download --archive FILE``), read once
    (MD5 only with an ``md5`` pin), checked against the pins: a
    :class:`~lungsegdb_cli.errors.ChecksumMismatch` (exit 1) names the file, which stays
    where it is (the user's)."""
    from lungsegdb_cli.errors import from_os_error
    from lungsegdb_cli.sources.failures import mismatch
    from lungsegdb_cli.sources.http.streamhash import digest_file
    from lungsegdb_cli.utils.progress import ensure

    prog = ensure(progress)
    prog.start(f"Hashing {archive.name}", archive.stat().st_size, "B")
    try:
        digests = digest_file(archive, on_bytes=prog.advance, md5=md5 is not None)
    except OSError as exc:
        raise from_os_error(exc, f"read {archive}") from exc
    prog.done()
    for algorithm, want, got in (("sha256", pin, digests.sha256), ("md5", md5, digests.md5)):
        if want and got != want:
            with open(archive, "rb") as fh:
                head = fh.read(64)
            raise mismatch(
                what=str(archive),
                expected=want,
                actual=got,
                size=digests.size,
                head=head,
                moved_to=None,
                algorithm=algorithm,
            )
    return digests
