"""One download, asked once: the frozen :class:`DownloadRequest` that flows from where the
options are parsed (the command line, or :func:`lungsegdb_cli.download`) down to the bytes on
disk, and the :class:`Pin` values it carries.

Everything a caller can get wrong is checked in :meth:`DownloadRequest.build`, before any byte
is read, fetched or hashed, with the same :class:`~lungsegdb_cli.errors.UsageError` (exit 2)
whichever door the options came through: a malformed pin, a missing pin under ``require_pin``,
``keep_archive=False`` with ``extract=False``. Below it nothing is renamed: ``drive`` is
``drive`` from ``--no-drive`` to the source plan.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.utils.arguments import is_flag, is_path

__all__ = [
    "ALGORITHMS",
    "CALL_DEFAULTS",
    "ENVIRONMENT",
    "ENV_URL",
    "ENV_URLS",
    "DownloadRequest",
    "Pin",
    "env_urls",
    "parse_storage_options",
    "sha256_pin",
    "with_environment",
]


@dataclass(frozen=True)
class _Algorithm:
    digits: int
    label: str
    hint: str


#: The pins a download can carry: the option's name -> its form.
ALGORITHMS: dict[str, _Algorithm] = {
    "sha256": _Algorithm(
        64, "SHA-256", "Copy the checksum from 'lungsegdb info --json' or your CI pin."
    ),
    "md5": _Algorithm(32, "MD5", "Copy the md5Checksum Google Drive reports for the file."),
}


@dataclass(frozen=True)
class Pin:
    """A checksum the archive must have: ``algorithm`` (``sha256`` or ``md5``) and its
    lower-case ``hex`` digits. Make one with :meth:`parse`, which refuses a malformed value.

    Examples
    --------
    >>> Pin.parse("sha256", "AB" * 32)
    Pin(algorithm='sha256', hex='abab...abab')
    >>> Pin.parse("md5", "") is None
    True
    """

    algorithm: str
    hex: str

    def __repr__(self) -> str:
        shown = self.hex if len(self.hex) <= 12 else f"{self.hex[:4]}...{self.hex[-4:]}"
        return f"Pin(algorithm={self.algorithm!r}, hex={shown!r})"

    @classmethod
    def parse(cls, algorithm: str, value: str | None) -> Pin | None:
        """``value`` as a pin of ``algorithm`` (None when not given or blank); a value that is
        not the algorithm's number of hex digits is a :class:`UsageError` (exit 2)."""
        spec = ALGORITHMS[algorithm]
        if value is not None and not isinstance(value, str):
            raise UsageError(
                f"{spec.label} must be a string of {spec.digits} hex digits, not "
                f"{type(value).__name__}",
                hint=spec.hint,
                option=f"--{algorithm}",
            )
        if value is None or not value.strip():
            return None
        v = value.strip().lower()
        if len(v) != spec.digits or any(c not in "0123456789abcdef" for c in v):
            raise UsageError(
                f"Malformed {spec.label}: {value!r} (expected {spec.digits} hex digits)",
                hint=spec.hint,
                option=f"--{algorithm}",
            )
        return cls(algorithm, v)


def _check_bounds(retries: int | None, timeout: float | None) -> None:
    """``--retries`` a whole number from 0 to 100, ``--timeout`` seconds above 0 (at most an
    hour), else a :class:`UsageError` (exit 2)."""
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100
    ):
        raise UsageError(
            f"--retries must be a whole number from 0 to 100, not {retries!r}",
            hint="E.g. --retries 2 (or LUNGSEGDB_RETRIES=2).",
            option="--retries",
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= 3600
    ):
        raise UsageError(
            f"--timeout must be seconds above 0 and at most 3600, not {timeout!r}",
            hint="E.g. --timeout 30 (or LUNGSEGDB_TIMEOUT=30).",
            option="--timeout",
        )


def _check_types(
    *,
    urls: Any,
    url: Any,
    archive: Any,
    sha256: Any,
    md5: Any,
    cookies: Any,
    storage_options: Any,
) -> tuple[str, ...] | None:
    """Refuse a wrongly typed option with a :class:`UsageError` (exit 2) naming it, instead
    of the ``AttributeError`` or ``TypeError`` it would raise further down; return ``urls``
    as a tuple of strings (a single ``str`` is that one URL, not its characters)."""

    def bad(name: str, wanted: str, value: Any) -> UsageError:
        return UsageError(
            f"{name} must be {wanted}, not {type(value).__name__}",
            hint=f"Give {name} as {wanted}.",
            option=name,
        )

    for name, value in (("sha256", sha256), ("md5", md5)):
        if value is not None and not isinstance(value, str):
            raise bad(name, "a string of hex digits", value)
    if not (url is None or is_path(url)):
        raise bad("url", "a string (one URL) or a path", url)
    for name, value in (("archive", archive), ("cookies", cookies)):
        if value is not None and not is_path(value):
            raise bad(name, "a path (str or os.PathLike)", value)
    if storage_options is not None and (
        isinstance(storage_options, (str, bytes))
        or not isinstance(storage_options, (Mapping, Iterable))
    ):
        raise bad("storage_options", "a mapping of keyword arguments", storage_options)
    if urls is None:
        return None
    if isinstance(urls, (str, os.PathLike)):
        return (os.fspath(urls),)
    if isinstance(urls, (bytes, Mapping)) or not isinstance(urls, Iterable):
        raise bad("urls", "a list of URL strings (or paths)", urls)
    got = tuple(urls)
    for u in got:
        if not isinstance(u, (str, os.PathLike)):
            raise bad("urls", "a list of URL strings (or paths)", u)
    return tuple(os.fspath(u) for u in got)  # a path is a source too (a local archive)


ENV_URLS = "LUNGSEGDB_URLS"
ENV_URL = "LUNGSEGDB_URL"


def env_urls(env: Mapping[str, str] | None = None) -> list[str]:
    """The sources the environment names: ``LUNGSEGDB_URLS`` (whitespace-separated), else
    ``LUNGSEGDB_URL``."""
    env = os.environ if env is None else env
    many = (env.get(ENV_URLS) or "").split()
    if many:
        return many
    one = (env.get(ENV_URL) or "").strip()
    return [one] if one else []


#: The options a library caller may leave as None, and the variable each is then read from:
#: the command line's own (its options' ``Env:``), so ``lungsegdb_cli.download()`` and
#: ``PairDataset(download=True)`` download as ``lungsegdb download`` does in the same job.
ENVIRONMENT: dict[str, str] = {
    "urls": "LUNGSEGDB_URLS / LUNGSEGDB_URL",
    "sha256": "LUNGSEGDB_SHA256",
    "require_pin": "LUNGSEGDB_REQUIRE_PIN",
    "offline": "LUNGSEGDB_OFFLINE",
    "retries": "LUNGSEGDB_RETRIES",
    "timeout": "LUNGSEGDB_TIMEOUT",
}


def with_environment(options: Mapping[str, Any]) -> dict[str, Any]:
    """:meth:`DownloadRequest.build`'s keywords with each of :data:`ENVIRONMENT` left as None
    read from its variable (``urls`` only when ``url`` is not given either; a blank variable
    is unset; a bad value is a :class:`UsageError` naming it, exit 2).

    Examples
    --------
    >>> with_environment({"sha256": None, "offline": None}) == {"sha256": None, "offline": False}
    True
    """
    from lungsegdb_cli.utils import envvars

    out = dict(options)
    if "urls" in out and out.get("urls") is None and out.get("url") is None:
        out["urls"] = env_urls() or None
    if "sha256" in out and out["sha256"] is None:
        raw = (os.environ.get("LUNGSEGDB_SHA256") or "").strip() or None
        try:
            Pin.parse("sha256", raw)
        except UsageError as exc:  # said with where the value came from
            raise UsageError(f"{exc.message} in LUNGSEGDB_SHA256", hint=exc.hint) from None
        out["sha256"] = raw
    for name in ("require_pin", "offline"):
        if name in out and out[name] is None:
            out[name] = envvars.flag(ENVIRONMENT[name])
    for name, kind in (("retries", int), ("timeout", float)):
        if name in out and out[name] is None:
            out[name] = _env_number(ENVIRONMENT[name], kind)
    return out


def sha256_pin(sha256: str | None) -> str | None:
    """``sha256`` (else ``$LUNGSEGDB_SHA256``) as a pin's lower-case hex, None when neither is
    set or it is blank; anything but 64 hex digits: :class:`UsageError` (exit 2) before any
    byte is read, naming the variable when the value came from it.

    Examples
    --------
    >>> sha256_pin("AB" * 32) == "ab" * 32
    True
    """
    pin = Pin.parse("sha256", with_environment({"sha256": sha256})["sha256"])
    return None if pin is None else pin.hex


def _env_number(name: str, kind: type[int] | type[float]) -> int | float | None:
    """``$name`` as a number (None when unset or blank); not a number: exit 2 naming it."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(
            f"{name} must be a number, not {raw!r}",
            hint=f"Unset {name}, or set it as for 'lungsegdb download'.",
        ) from None


def parse_storage_options(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``--storage-option`` ``NAME=VALUE`` strings as the fsspec backend's keyword arguments
    (``true``/``false`` become booleans). A malformed item is exit 2 (nothing of it shown:
    without its ``NAME=`` it may be a pasted secret).

    Examples
    --------
    >>> parse_storage_options(["anon=true", "endpoint_url=http://127.0.0.1:9000"])
    {'anon': True, 'endpoint_url': 'http://127.0.0.1:9000'}
    """
    out: dict[str, Any] = {}
    for item in items or ():
        if not isinstance(item, str):
            raise UsageError(
                f"--storage-option wants NAME=VALUE strings, not {type(item).__name__}",
                hint="Give storage_options as a mapping, or a list of 'NAME=VALUE' strings.",
            )
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            # nothing of the item is shown: without its NAME= it may be a pasted secret
            why = (
                "it has no '='"
                if not sep
                else "the part before '=' is not an option name (letters, digits, '_')"
            )
            raise UsageError(
                f"--storage-option wants NAME=VALUE, and one given does not have that form: "
                f"{why} (its text is not shown: it may hold a secret)",
                hint="For example: --storage-option endpoint_url=http://127.0.0.1:9000",
            )
        low = value.lower()
        out[key] = True if low == "true" else False if low == "false" else value
    return out


@dataclass(frozen=True)
class DownloadRequest:
    """What one ``download`` is asked to do, validated once (:meth:`build`) and passed down
    unchanged.

    ``sources`` are the ordered URLs given (Google Drive links, http(s) mirrors, fsspec URLs),
    tried before the dataset's own Drive file unless ``drive`` is False; ``archive`` is a file
    downloaded by hand (no network); ``pins`` every checksum the archive must have.
    ``storage_options`` (fsspec backend arguments) and ``cookies`` are never shown.
    """

    sources: tuple[str, ...] = ()
    drive: bool = True
    archive: Path | None = None
    pins: tuple[Pin, ...] = ()
    offline: bool = False
    force: bool = False
    extract: bool = True
    keep_archive: bool = True
    #: failed attempts in a row before giving up, and the seconds a read may stall (None:
    #: the defaults, :class:`~lungsegdb_cli.sources.http.transfer.RetryPolicy`)
    retries: int | None = None
    timeout: float | None = None
    cookies: Path | None = field(default=None, repr=False)
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    #: the hex digits of the SHA-256 pin and of the MD5 pin (None without one): set once from
    #: ``pins``, so the stages below read them without calling back into this module
    sha256: str | None = field(init=False, repr=False, compare=False)
    md5: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for algorithm in ALGORITHMS:
            object.__setattr__(self, algorithm, self.pin(algorithm))

    def pin(self, algorithm: str) -> str | None:
        """The hex digits of the ``algorithm`` pin, None without one."""
        return next((p.hex for p in self.pins if p.algorithm == algorithm), None)

    @classmethod
    def build(
        cls,
        *,
        urls: Sequence[str] | None = None,
        url: str | os.PathLike[str] | None = None,
        drive: bool = True,
        archive: str | os.PathLike[str] | None = None,
        sha256: str | None = None,
        md5: str | None = None,
        require_pin: bool | None = False,
        keep_archive: bool = True,
        offline: bool | None = False,
        force: bool = False,
        extract: bool = True,
        cookies: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, Any] | Sequence[str] | None = None,
        retries: int | None = None,
        timeout: float | None = None,
    ) -> DownloadRequest:
        """The request for these options (the fields, in the options' own spellings), or a
        :class:`UsageError` (exit 2) before anything is read. ``url`` is the single-source
        spelling (that source alone: no Drive fallback); ``urls`` the ordered list (then Drive
        unless ``drive`` is False); ``require_pin`` refuses a missing ``sha256``; ``retries``
        (0 to 100) and ``timeout`` (seconds, above 0, at most 3600) bound each source;
        ``storage_options`` is a mapping, or the ``--storage-option`` ``KEY=VALUE`` strings
        (:func:`parse_storage_options`).

        Examples
        --------
        >>> r = DownloadRequest.build(urls=["https://mirror.example/LungSegDB.zip"], drive=False)
        >>> r.sources, r.drive, r.sha256
        (('https://mirror.example/LungSegDB.zip',), False, None)
        >>> DownloadRequest.build(sha256="<pin>")
        Traceback (most recent call last):
        ...
        lungsegdb_cli.errors.UsageError: Malformed SHA-256: '<pin>' (expected 64 hex digits)
        """
        from lungsegdb_cli.sources import discard, pinning
        from lungsegdb_cli.utils import envvars

        flags = {
            "drive": drive,
            "require_pin": require_pin,
            "keep_archive": keep_archive,
            "offline": offline,
            "force": force,
            "extract": extract,
        }
        for name, value in flags.items():
            if value is None and name in ("offline", "require_pin"):
                continue  # not asked: download()'s default, False here
            if not is_flag(value):  # "false" is not taken for True
                raise UsageError(
                    f"{name} must be True or False, not {type(value).__name__}",
                    hint=f"Give {name} as True or False.",
                    option=name,
                )
        drive, keep_archive, force, extract = (
            bool(flags[n]) for n in ("drive", "keep_archive", "force", "extract")
        )
        offline, require_pin = bool(offline), bool(require_pin)
        urls = _check_types(
            urls=urls,
            url=url,
            archive=archive,
            sha256=sha256,
            md5=md5,
            cookies=cookies,
            storage_options=storage_options,
        )
        # Every variable this download may read, read now: a bad one is exit 2 before any
        # byte is fetched, and never ignored because the tree turns out to be up to date.
        envvars.check(
            [
                *envvars.TRANSFER,
                *(envvars.EXTRACT if extract else ()),
                *envvars.WORKERS,
                envvars.LOCK,
            ]
        )
        if require_pin:
            pinning.require(sha256)
        given = (("sha256", sha256), ("md5", md5))
        pins = tuple(p for p in (Pin.parse(a, v) for a, v in given) if p is not None)
        if not keep_archive:
            discard.check_extracting(extract)
        _check_bounds(retries, timeout)
        if storage_options is not None and not isinstance(storage_options, Mapping):
            storage_options = parse_storage_options(list(storage_options))
        sources: tuple[str, ...]
        if urls is None:
            sources, drive = ((os.fspath(url),), False) if url else ((), drive)
        else:
            sources = tuple(urls)
        return cls(
            sources=sources,
            drive=drive,
            archive=None if archive is None else Path(archive),
            pins=pins,
            offline=offline,
            force=force,
            extract=extract,
            keep_archive=keep_archive,
            retries=retries,
            timeout=None if timeout is None else float(timeout),
            cookies=None if cookies is None else Path(cookies),
            storage_options=dict(storage_options or {}),
        )

    @classmethod
    def given(cls, request: object, options: Mapping[str, Any]) -> DownloadRequest:
        """The request of one ``download(...)`` call: ``request`` as it is when one is given
        (then none of ``options`` may differ from :data:`CALL_DEFAULTS`: a
        :class:`UsageError`), else the one :meth:`build` makes of ``options``, the
        environment read for those left as None (:func:`with_environment`)."""
        if request is None:
            return cls.build(**with_environment(options))
        if not isinstance(request, DownloadRequest):
            raise UsageError(
                f"request must be a DownloadRequest, not {type(request).__name__}",
                hint="Build it with DownloadRequest.build(...), or give the options themselves.",
                argument="request",
            )
        given = sorted(k for k, v in options.items() if v != CALL_DEFAULTS[k])
        if given:
            raise UsageError(
                f"download(request=...) takes no other download options (got {', '.join(given)})",
                hint="Put them in the request: DownloadRequest.build(...).",
            )
        return request

    def command(self, sha256: str) -> str:
        """The ``lungsegdb download`` line that repeats this request's source with ``sha256``
        pinned (URLs redacted: a secret in one is never printed)."""
        from lungsegdb_cli._redact import redact
        from lungsegdb_cli.utils.textsafe import shell_word

        words = ["lungsegdb download"]
        if self.archive is not None:
            words.append(f"--archive {shell_word(str(self.archive))}")
        words += [f"--url {shell_word(redact(u))}" for u in self.sources]
        if self.sources and not self.drive:
            words.append("--no-drive")
        words.append(f"--sha256 {sha256}")
        return " ".join(words)


#: the defaults of ``download()``'s request options (given with ``request=``: a UsageError)
CALL_DEFAULTS: dict[str, Any] = {
    "urls": None,
    "url": None,
    "drive": True,
    "archive": None,
    "sha256": None,
    "md5": None,
    "require_pin": None,
    "keep_archive": True,
    "offline": None,
    "force": False,
    "extract": True,
    "cookies": None,
    "storage_options": None,
    "retries": None,
    "timeout": None,
}
