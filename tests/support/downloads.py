"""Tests call the download machinery with the request and the injected side effects in one
keyword list, as they always did: :func:`run_download` splits them (the options become the one
frozen :class:`~lungsegdb_cli.sources.request.DownloadRequest`, built as the API builds it)."""

from __future__ import annotations

from typing import Any

from lungsegdb_cli.dataset.paths import DataPaths
from lungsegdb_cli.sources import download
from lungsegdb_cli.sources.request import DownloadRequest

#: What :func:`lungsegdb_cli.sources.download.run` takes besides the request.
INJECTED = ("progress", "session", "sleep", "clock", "drive_base", "policy")


def run_download(paths: DataPaths, **kw: Any) -> download.DownloadResult:
    injected = {k: kw.pop(k) for k in INJECTED if k in kw}
    return download.run(paths, DownloadRequest.build(**kw), **injected)
