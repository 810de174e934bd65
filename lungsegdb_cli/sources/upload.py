"""``lungsegdb publish DEST --export OUT``: an export's files next to the archive on the mirror.

:func:`upload_files` puts the files of a local folder under ``DEST/<prefix>/`` (any fsspec
URL or a local folder, as :func:`~lungsegdb_cli.sources.publish.publish` writes the archive):
each file is uploaded under the destination's temporary prefix and moved to its final key,
in the order given -- the caller puts the index (``shards.json``, the record) last, so a
reader that sees it sees the shards it lists. Which files, and whether the export still
matches its record, is decided above (:func:`lungsegdb_cli.api.publish`): this module only
moves bytes, reading each file once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lungsegdb_cli.sources.plan import redact
from lungsegdb_cli.sources.publish import Target, join_url
from lungsegdb_cli.utils.progress import Progress, ensure
from lungsegdb_cli.utils.units import counted

__all__ = ["Uploaded", "upload_files"]


@dataclass(frozen=True)
class Uploaded:
    """What :func:`upload_files` put on the mirror: ``url`` (the folder, redacted), the
    number of ``files`` and their ``bytes``, and ``index_url`` (the last file's URL)."""

    url: str
    files: int
    bytes: int
    index_url: str

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "files": self.files, "bytes": self.bytes, "index": self.index_url}


def upload_files(
    dest: str,
    folder: Path,
    names: Sequence[str],
    *,
    prefix: str,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Uploaded:
    """Upload ``folder/<name>`` for each of ``names`` (relative POSIX paths, in upload order)
    to ``dest/<prefix>/<name>``, each staged then moved into place.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> work = tempfile.TemporaryDirectory()
    >>> tmp = pathlib.Path(work.name)
    >>> (tmp / "out" / "train").mkdir(parents=True)
    >>> _ = (tmp / "out" / "train" / "a.tar").write_bytes(b"x" * 10)
    >>> _ = (tmp / "out" / "index.json").write_text("{}")
    >>> up = upload_files(str(tmp / "mirror"), tmp / "out", ["train/a.tar", "index.json"],
    ...                   prefix="wds")
    >>> up.files, up.bytes, (tmp / "mirror" / "wds" / "train" / "a.tar").read_bytes()
    (2, 12, b'xxxxxxxxxx')
    >>> work.cleanup()
    """
    target = Target(dest, storage_options)
    progress = ensure(progress)
    sizes = [(folder / name).stat().st_size for name in names]
    what = f"Uploading {counted(len(names), 'file')} of {folder.name}"
    progress.start(what, sum(sizes), "B")
    try:
        for name, size in zip(names, sizes, strict=True):
            target.put(folder / name, join_url(prefix, name))
            progress.advance(size)
    finally:
        target.cleanup()
        progress.done()
    last = names[-1] if names else ""
    return Uploaded(
        url=redact(target.url(prefix)),
        files=len(names),
        bytes=sum(sizes),
        index_url=redact(target.url(join_url(prefix, last))),
    )
