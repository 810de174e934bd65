"""Archives on any fsspec URL (``s3://``, ``gs://``, ``az://``, ``hf://``), and ``file://``.

:func:`fetch` streams the object into ``<root>/downloads/<key>.part`` the way the HTTP
transfer does: every block is written once and fed to a
:class:`~lungsegdb_cli.sources.http.streamhash.StreamHasher`, so the digests are ready when the
last byte
lands. A ``.part`` of the same source, whose sidecar records the same size and validator (ETag
or mtime), is resumed with ``seek(offset)`` on the remote file (a ranged read on every backend
that supports one); otherwise the download starts from byte 0. Transient failures are retried
with the policy's backoff; a missing object or a refused permission fails at once
(:class:`~lungsegdb_cli.errors.MirrorRefused`). The ``.part`` never grows past the cap of
:mod:`lungsegdb_cli.sources.http.bounds` (the pinned archive's size, else the object's size, else
``LUNGSEGDB_MAX_DOWNLOAD``); past it the transfer stops and the ``.part`` is removed.

:func:`check_url` refuses, before anything is fetched, a URL that cannot name a file:
no bucket (``s3://``), no object key (``s3://bucket``, ``s3://bucket/dir/``), no path
(``file://``) -- exit 2; a URL that turns out to name a folder is exit 2 as well.

fsspec and its backends are imported here only, when such a URL is fetched: a missing backend
is a :class:`~lungsegdb_cli.errors.UsageError` (exit 2) naming the extra that installs it.
A ``file://`` URL is read with the standard library (:mod:`lungsegdb_cli.sources.localfile`):
no extra, and fsspec is not imported.
Credentials and endpoints come from the backend's usual places (``AWS_ENDPOINT_URL``, the AWS
credential chain, ...) plus ``storage_options`` (``--storage-option KEY=VALUE``); their values
are scrubbed from every message this module raises.
"""

from __future__ import annotations

import importlib.util
import posixpath
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lungsegdb_cli._redact import url_sha256
from lungsegdb_cli.errors import (
    DownloadError,
    DownloadTooLarge,
    LungSegDBError,
    MirrorRefused,
    UsageError,
    from_os_error,
)
from lungsegdb_cli.sources.localfile import LocalFiles, local_path
from lungsegdb_cli.sources.request import parse_storage_options
from lungsegdb_cli.utils.install import extra_hint
from lungsegdb_cli.utils.progress import Progress, ensure, note
from lungsegdb_cli.utils.units import counted

# The transfer machinery (bounds, resume state, hashing, write-behind) is imported by the
# transfer itself: telling an fsspec URL apart, which every download plan does, needs none.
if TYPE_CHECKING:
    from lungsegdb_cli.sources.http.bounds import Bounds, Cap

__all__ = [
    "BACKENDS",
    "check_backend",
    "check_url",
    "handles",
    "missing_backend",
    "open_fs",
    "parse_storage_options",
    "scrub",
]

#: scheme -> (the module that implements it, the extra that installs it); None: built in
BACKENDS: dict[str, tuple[str | None, str | None]] = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
    "hf": ("huggingface_hub", "hf"),
    "file": (None, None),
}

_HEAD_BYTES = 64


def scheme_of(url: str) -> str:
    return urllib.parse.urlsplit(url.strip()).scheme.lower()


def handles(url: str) -> bool:
    """The URL is one fsspec serves (not http(s), which the HTTP transfer serves)."""
    try:
        return scheme_of(url) in BACKENDS
    except ValueError:
        return False


def _bad_url(url: str, why: str, *, folder: bool = False) -> UsageError:
    hint = (
        "Give a local folder or a folder URL, e.g. s3://my-bucket/lungsegdb or file:///srv/mirror."
        if folder
        else "Give the URL of the archive file itself, e.g. "
        "s3://my-bucket/lungsegdb/LungSegDB.zip or file:///data/LungSegDB.zip "
        "(or a Google Drive link or an http(s) mirror)."
    )
    return UsageError(f"Invalid URL {url!r}: {why}", hint=hint, url=url)


def check_url(url: str, *, folder: bool = False) -> None:
    """Exit 2 (:class:`UsageError`, naming the URL) for an fsspec URL that cannot name a
    file: unparsable, no bucket or container (``s3://``, ``s3:key``, ``s3:///key``, ``s3:/``),
    no object key or one ending in ``/`` (``s3://bucket``, ``gs://bucket/dir/``), no path at
    all (``file://``, ``file:///``). With ``folder`` (``publish DEST``) the URL names a
    folder (a prefix): a bucket alone, a trailing ``/`` and ``file:///`` are fine; no bucket,
    or no path at all (``file://``), is still refused."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError as exc:
        raise _bad_url(url, str(exc), folder=folder) from None
    scheme = parts.scheme.lower()
    what = "PATH/TO/FOLDER" if folder else "PATH/TO/FILE"
    if scheme == "file":
        where = parts.netloc + parts.path
        if not where or (not folder and (not where.strip("/") or where.endswith("/"))):
            raise _bad_url(
                url,
                f"no {'folder' if folder else 'file'} path (write file:///{what})",
                folder=folder,
            )
        return
    if not parts.netloc:
        rest = "PREFIX" if folder else "PATH/FILE"
        raise _bad_url(url, f"no bucket (write {scheme}://BUCKET/{rest})", folder=folder)
    if folder:
        return
    if not parts.path.strip("/") or parts.path.endswith("/"):
        raise _bad_url(url, f"no file in the bucket (write {scheme}://BUCKET/PATH/FILE)")


def missing_backend(url: str, module: str | None = None) -> UsageError:
    """Exit 2 for an fsspec URL whose backend is not installed, naming the extra."""
    scheme = scheme_of(url)
    mod, extra = BACKENDS.get(scheme, (module, None))
    wanted = [m for m in ("fsspec", module or mod) if m]
    missing = [m for m in wanted if importlib.util.find_spec(m) is None] or wanted[-1:]
    hint = extra_hint(extra or "cloud", f"pip install {' '.join(wanted)}")
    return UsageError(
        f"{scheme}:// URLs need {' and '.join(missing)}, which is not installed ({url})",
        hint=hint,
        url=url,
    )


def check_backend(url: str) -> None:
    """Raise :func:`missing_backend` when fsspec or the URL's backend is not importable
    (looked up, not imported: fast). ``file://`` needs neither."""
    if scheme_of(url) == "file":
        return
    mod, _extra = BACKENDS[scheme_of(url)]
    for name in ("fsspec", mod):
        if name is not None and importlib.util.find_spec(name) is None:
            raise missing_backend(url, mod)


def scrub(text: str, options: Mapping[str, Any] | None, url: str | None = None) -> str:
    """``text`` with every string option value (a secret key, a token) replaced by ``***``,
    and the user info of ``url`` (``s3://KEY:SECRET@bucket/...``) wherever the backend's
    message quotes it without its scheme (``Invalid bucket name "KEY:SECRET@bucket"``).

    Examples
    --------
    >>> scrub('Invalid bucket name "TOKEN@bkt"', None, "s3://TOKEN@bkt/x.zip")
    'Invalid bucket name "***@bkt"'
    """
    import os

    secrets = [str(v) for v in (options or {}).values() if isinstance(v, str) and len(v) >= 4]
    try:
        userinfo = urllib.parse.urlsplit(url or "").netloc.rpartition("@")[0]
    except ValueError:
        userinfo = ""
    if userinfo:
        text = text.replace(f"{userinfo}@", "***@")
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY", "HF_TOKEN"):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            secrets.append(value)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def open_fs(url: str, options: Mapping[str, Any] | None) -> tuple[Any, str]:
    """``(filesystem, path)`` of ``url``; exit 2 for a missing backend or bad options.
    ``file://``: the local disk through the standard library (the options do not apply)."""
    if scheme_of(url) == "file":
        return LocalFiles(), local_path(url)
    check_backend(url)
    try:
        from fsspec.core import url_to_fs

        # a fresh instance: the endpoint and credentials of this run, not a cached one's
        return url_to_fs(url, skip_instance_cache=True, **dict(options or {}))
    except ImportError as exc:
        raise missing_backend(url) from exc
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"Cannot open {url}: {scrub(str(exc), options, url)}",
            hint="Check the URL and the --storage-option values.",
            url=url,
        ) from None


# ---------------------------------------------------------------------------------------------
# Fetching
# ---------------------------------------------------------------------------------------------
def _fail(url: str, exc: BaseException, options: Mapping[str, Any] | None) -> DownloadError:
    local = url.startswith("file:")  # a file on this machine: no bucket, no credentials
    if isinstance(exc, FileNotFoundError):
        return MirrorRefused(
            f"Could not read {url}: not found",
            hint="Check the path: no such file on this machine."
            if local
            else "Check the URL (bucket and key).",
            url=url,
            page="not-found",
        )
    if isinstance(exc, PermissionError):
        return MirrorRefused(
            f"Could not read {url}: permission denied",
            hint="Check the file's permissions."
            if local
            else "Check the credentials (the backend's usual places, or --storage-option).",
            url=url,
            page="permission-denied",
        )
    what = f"{type(exc).__name__}: {exc}"
    return DownloadError(
        f"Could not read {url}: {scrub(what, options, url)}",
        hint="Check the URL, the endpoint and the network.",
        url=url,
    )


#: What a backend raises for the user's configuration rather than the network: missing or
#: half-given credentials, a region or parameter it cannot use (botocore, google-auth).
#: Matched by class name anywhere in the exception's MRO, so no backend is imported for it.
_CONFIG_ERRORS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "NoRegionError",
        "InvalidRegionError",
        "ParamValidationError",
        "InvalidConfigError",
        "ProfileNotFound",
        "ConfigNotFound",
        "InvalidEndpointConfigurationError",
        "DefaultCredentialsError",
    }
)


def config_error(
    url: str, exc: BaseException, options: Mapping[str, Any] | None
) -> UsageError | None:
    """The :class:`UsageError` (exit 2, no retry) for ``exc`` when it is the user's
    configuration, not the network: the backend refusing a ``--storage-option`` keyword
    (``TypeError: ... unexpected keyword argument 'endpont_url'``) or value (``ValueError``,
    e.g. an endpoint that is not a URL), or credentials that are missing or incomplete. With
    ``--storage-option`` given, an ``AttributeError`` or ``KeyError`` too: a value of the wrong
    kind (``client_kwargs=oops`` where the backend wants a mapping) fails as the backend
    builds or first uses its client, never as the network does. None for anything else (a
    network fault, to be retried)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    wrong_kind = bool(options) and isinstance(exc, (AttributeError, KeyError))
    if isinstance(exc, (TypeError, ValueError)) or wrong_kind or names & _CONFIG_ERRORS:
        option = None
        if isinstance(exc, TypeError):
            import re

            found = re.search(r"keyword argument '(\w+)'", str(exc))
            option = found.group(1) if found else None
        if option:
            named = f" (--storage-option {option})"
        elif options and not names & _CONFIG_ERRORS:  # which value, the backend does not say
            named = f" (--storage-option {', '.join(sorted(map(str, options)))})"
        else:
            named = ""
        creds = bool(
            names & {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"}
        )
        return UsageError(
            f"Cannot open {url}{named}: {scrub(f'{type(exc).__name__}: {exc}', options, url)}",
            hint="Check the credentials: give both key= and secret= (or neither, for the "
            "backend's usual places)."
            if creds
            else "Check the --storage-option names and values (they are the fsspec backend's "
            "keyword arguments, e.g. endpoint_url=..., anon=true).",
            url=url,
            **({"option": option} if option else {}),
        )
    return None


def _not_a_file(url: str) -> UsageError:
    return UsageError(
        f"{url} names a folder, not a file",
        hint="Give the URL of the archive file itself (bucket, path and file name).",
        url=url,
    )


def _validator(info: Mapping[str, Any]) -> str | None:
    for key in ("ETag", "etag", "md5", "mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if value is not None:
            return str(value)
    return None


class _Stream:
    """One fsspec download into ``part``: resume, then read with retries."""

    def __init__(self, url: str, part: Path, fs: Any, path: str, **kw: Any) -> None:
        from lungsegdb_cli.sources.http.bounds import Bounds
        from lungsegdb_cli.sources.http.streamhash import StreamHasher

        self.url, self.part, self.fs, self.path = url, part, fs, path
        self.key: str = kw["source_key"]
        self.options: Mapping[str, Any] | None = kw["storage_options"]
        self.progress: Progress = kw["progress"]
        self.sleep: Callable[[float], None] = kw["sleep"]
        self.policy = kw["policy"]
        self.hasher = StreamHasher(md5=bool(kw.get("md5")))
        self.cap: Cap = Bounds().cap(None)  # set once the object's size is known
        self.offset = self.resumed_from = self.restarts = self.attempts = 0
        self.head = b""
        self.notes: list[str] = []

    def info(self) -> Mapping[str, Any]:
        failures = 0
        while True:
            try:
                return self.fs.info(self.path)
            except (FileNotFoundError, PermissionError) as exc:
                raise _fail(self.url, exc, self.options) from None
            except Exception as exc:
                failures = self._retry(failures, exc)

    def resume(self, total: int | None, validator: str | None) -> None:
        from lungsegdb_cli.sources.http.resume import ResumeState, discard_part, resumable_offset

        state = ResumeState.load(self.part)
        offset = resumable_offset(self.part, self.key, state, url=self.url)
        # a part adopted from another source of this run has no validator: the size decides
        same = state.total == total and state.validator in (None, validator)
        if offset and same and (total is None or offset <= total):
            self.offset = self.resumed_from = offset
            with open(self.part, "rb") as fh:
                self.head = fh.read(_HEAD_BYTES)
            self.hasher.update_from_file(self.part, offset)
        else:
            discard_part(self.part)

    def _retry(self, failures: int, exc: BaseException) -> int:
        if isinstance(exc, LungSegDBError):
            raise exc
        usage = config_error(self.url, exc, self.options)
        if usage is not None:  # the user's configuration: retrying cannot fix it
            raise usage from None
        failures += 1
        if failures > self.policy.retries:
            err = _fail(self.url, exc, self.options)
            err.message = f"{err.message} (after {counted(failures, 'attempt')})"
            err.args = (err.message,)
            raise err from None
        delay = self.policy.delay(failures, None)
        reason = scrub(f"{type(exc).__name__}: {exc}", self.options, self.url)
        self.notes.append(f"retry in {delay:.1f} s after: {reason}")
        note(self.progress, f"retrying in {delay:.0f} s: {reason}")
        self.sleep(delay)
        return failures

    def copy(self, total: int | None) -> None:
        failures = 0
        while total is None or self.offset < total:
            self.attempts += 1
            before = self.offset
            try:
                with self.fs.open(self.path, "rb") as src:
                    if self.offset:
                        src.seek(self.offset)
                    self._pump(src)
                if total is None or self.offset >= total:
                    return
                raise EOFError(f"the object ended after {self.offset:,} of {total:,} bytes")
            except (FileNotFoundError, PermissionError) as exc:
                raise _fail(self.url, exc, self.options) from None
            except Exception as exc:
                failures = 0 if self.offset > before else failures
                failures = self._retry(failures, exc)

    def _pump(self, src: BinaryIO) -> None:
        """Copy ``src`` (from where it is) to the end of ``part``, until it ends."""
        from lungsegdb_cli.sources.http.writeback import WriteBehind

        mode = "ab" if self.offset else "wb"
        try:
            out = open(self.part, mode)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise from_os_error(exc, f"writing {self.part}") from exc
        with out:
            behind = WriteBehind(out.fileno(), self.offset)
            while True:
                block = src.read(self.policy.chunk_size)
                if not block:
                    return
                if self.offset + len(block) > self.cap.limit:
                    raise self.cap.exceeded()
                try:
                    out.write(block)
                except OSError as exc:
                    raise from_os_error(exc, f"writing {self.part}") from exc
                behind.wrote(len(block))
                self.hasher.update(block)
                if len(self.head) < _HEAD_BYTES:
                    self.head = (self.head + block)[:_HEAD_BYTES]
                self.offset += len(block)
                self.progress.advance(len(block))


def fetch(
    url: str,
    part: Path,
    *,
    source_key: str,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    policy: Any = None,
    before_body: Callable[[int | None, int], None] | None = None,
    md5: bool = False,
    bounds: Bounds | None = None,
) -> Any:
    """Download the object at ``url`` into ``part`` (MD5 computed too with ``md5``); a
    :class:`~lungsegdb_cli.sources.http.transfer.FetchResult`. Raises :class:`DownloadError` (exit
    3) for
    a missing object, refused permission, retries exhausted or more bytes than the cap of
    ``bounds`` (None: from the environment; ``part`` removed), :class:`UsageError` for a
    folder."""
    from lungsegdb_cli.sources.http.bounds import Bounds
    from lungsegdb_cli.sources.http.resume import ResumeState, discard_part, state_path
    from lungsegdb_cli.sources.http.transfer import FetchResult, RetryPolicy
    from lungsegdb_cli.utils.fsutil import atomic_write_text

    t0 = clock()
    progress = ensure(progress)
    fs, path = open_fs(url, storage_options)
    stream = _Stream(
        url,
        part,
        fs,
        path,
        source_key=source_key,
        storage_options=storage_options,
        progress=progress,
        sleep=sleep,
        policy=policy or RetryPolicy(),
        md5=md5,
    )
    bounds = bounds if bounds is not None else Bounds.from_env()
    try:
        info = stream.info()
        if info.get("type") == "directory":
            raise _not_a_file(url)
        size = info.get("size")
        total = int(size) if isinstance(size, int) else None
        stream.cap = bounds.cap(total)
        validator = _validator(info)
        part.parent.mkdir(parents=True, exist_ok=True)
        stream.resume(total, validator)
        if before_body is not None:
            before_body(total, stream.offset)
        name = posixpath.basename(path.rstrip("/")) or None
        state = ResumeState(
            source=source_key,
            validator=validator,
            total=total,
            filename=name,
            url=url,
            source_sha256=url_sha256(url),
        )
        atomic_write_text(state_path(part), state.to_json())
        progress.start(f"Downloading {name or part.name}", total, "B")
        if stream.offset:
            progress.advance(stream.offset)
        stream.copy(total)
        if stream.offset == 0:
            # an empty object (a 0-byte file): nothing was copied, so no .part was opened;
            # an empty one stands for it, and the archive check refuses it (exit 4), as the
            # same bytes over http or from --archive
            part.touch()
        digests = stream.hasher.finish()
    except DownloadTooLarge:
        discard_part(part)
        raise
    finally:
        stream.hasher.close()
    progress.done()
    return FetchResult(
        path=part,
        size=digests.size,
        sha256=digests.sha256,
        md5=digests.md5,
        url=url,
        filename=name,
        content_type=None,
        head=stream.head,
        resumed_from=stream.resumed_from,
        restarts=stream.restarts,
        attempts=max(1, stream.attempts),
        retries=stream.notes,
        elapsed=clock() - t0,
    )
