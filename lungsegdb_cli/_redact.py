"""Secrets never leave memory: the one rule for how a URL is shown, recorded and put into an
error.

:func:`redact` takes a URL, or any text that contains URLs (an error message, a retry line, a
``requests`` exception naming ``/path?query``), and replaces with ``***``:

* the user info of every ``scheme://user:password@host`` (``scheme://***@host``);
* the value of every query (or fragment) parameter that carries a credential, names compared
  case-insensitively: ``X-Amz-*``, ``X-Goog-*`` (signed S3/GCS URLs), ``sig``, ``signature``,
  ``token``, ``access_token``, ``key``, ``apikey``, ``api_key``, ``auth``,
  ``AWSAccessKeyId``, ``GoogleAccessId``, the ``sv``, ``se``, ``sp``, ``sr`` fields of an
  Azure SAS, the session ids ``jsessionid``, ``phpsessid``, ``sessionid``, ``sid``, and
  ``pwd``, ``pass``, ``jwt``, ``code`` (OAuth), ``AccessKeyId``, any name ending in ``_key``,
  ``apikey``, ``privatekey`` or ``session_id`` (a ``-`` in a name counts as ``_``: ``api-key``,
  ``x-api-key``, ``subscription-key``, ``session-id``), any name
  containing ``token``, ``secret``, ``password``, ``passwd``, ``signature`` or
  ``credential``, and every name listed in ``LUNGSEGDB_REDACT`` (comma-separated).

The user info runs to the ``@`` even when a raw password holds ``/`` or ``?`` (an AWS secret
key often holds ``/``). Parameters are also taken after ``;`` (a ``;jsessionid=`` path
parameter); a hidden parameter's value is hidden to the next ``&`` (a ``?`` is legal in it),
while for any other a ``?`` inside its value starts a new parameter (``?next=/x?token=T``).
A value that is itself a URL or a query, plain or percent-encoded (an SSO gate's ``?next=``,
a CDN's ``?origin=``), is decoded and redacted by the same rule: if anything in it would be
hidden, the whole value becomes ``***``. User info quoted without its scheme
(``'user:password@host'``, as a library's message names a netloc or a bucket) is hidden
too: ``'***@host'``.

Other parameters stay as they are (``?id=...&export=download`` of a Drive link, a mirror's
``?version=3``). It is applied where a URL leaves memory: error construction
(:class:`lungsegdb_cli.errors.LungSegDBError`), the provenance and resume-state records, a
:class:`~lungsegdb_cli.sources.drive.links.Source`'s shown forms, progress and retry lines, and the
``--json`` document.

:func:`url_sha256` is what is recorded instead of the full URL: the SHA-256 of the URL with
its secrets, so a later run given the same URL recognises its partial download and its
record without the URL ever being written down. Only this module's imports are stdlib.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["ENV_REDACT", "MASK", "redact", "secret_name", "url_sha256"]

ENV_REDACT = "LUNGSEGDB_REDACT"
MASK = "***"

_NAMES = frozenset(
    {
        "sig",
        "signature",
        "token",
        "access_token",
        "key",
        "apikey",
        "api_key",
        "auth",
        "awsaccesskeyid",
        "googleaccessid",
        "sv",
        "se",
        "sp",
        "sr",  # an Azure SAS: version, expiry, permissions, resource
        "jsessionid",
        "phpsessid",
        "sessionid",  # a session cookie's id carried in the URL
        "sid",
        "pwd",
        "pass",
        "jwt",
        "code",  # an OAuth authorization code
        "accesskeyid",
    }
)
_PREFIXES = ("x-amz-", "x-goog-")
_SUBSTRINGS = ("token", "secret", "password", "passwd", "signature", "credential")
#: names ending so (a ``-`` read as ``_``): ``x-api-key``, ``subscription-key``,
#: ``x-functions-key``, ``session-id``
_SUFFIXES = ("_key", "apikey", "privatekey", "session_id")

#: ``scheme://userinfo@``: the user info runs to the last ``@`` before the path; or, as
#: ``user:password@``, to the first ``@`` after the ``:``, whatever the password holds (a raw
#: AWS secret key holds ``/``; a password may hold ``?``)
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?:[^/?#\s'\"<>\\]*@|[^/?#:@\s'\"<>\\]*:[^@\s'\"<>\\]*@)"
)
#: ``user:password@host`` without a scheme, quoted or after white space or ``(`` (a netloc or a
#: bucket name as a library's message quotes it): the part before ``@`` holds a ``:``
_BARE_USERINFO = re.compile(
    r"(?:(?<=^)|(?<=[\s'\"(`]))[^\s'\"`/@:<>\\()]+:[^\s'\"`/@<>\\]*@(?=[\w\[])"
)
#: ``name=value`` after ``?``, ``&``, ``;``, ``#``, white space or at the start; a ``?`` ends
#: the value (``?next=/x?token=T``: two parameters); punctuation that ends the value right
#: before a delimiter (``?token=T),`` or ``?token=T:`` in a sentence) is the sentence's, not
#: the value's
_PARAM = re.compile(
    r"(?<![^?&;#\s])(?P<name>[^=?&;#\s'\"<>\\]+)=(?P<value>[^?&;#\s'\"<>\\]*?)"
    r"(?=[),.:]*(?:[?&;#\s'\"<>\\]|$))"
)
#: a query parameter (after ``?``, ``&`` or ``#``: a ``;`` path parameter ends at the query's
#: ``?``) with a ``?`` kept in its value: a hidden one is hidden whole (``password=a?b`` -- a
#: ``?`` is legal in a query value)
_WHOLE_PARAM = re.compile(
    r"(?<=[?&#])(?P<name>[^=?&;#\s'\"<>\\]+)=(?P<value>[^&;#\s'\"<>\\]*?)"
    r"(?=[),.:]*(?:[&;#\s'\"<>\\]|$))"
)
#: how many layers of percent-encoding a nested URL is looked through
_DEPTH = 3


def _extra_names(env: Mapping[str, str] | None) -> frozenset[str]:
    env = os.environ if env is None else env
    return frozenset(n.strip().lower() for n in (env.get(ENV_REDACT) or "").split(",") if n.strip())


def _hidden(name: str, extra: frozenset[str]) -> bool:
    import urllib.parse  # on first use: errors.py imports this module, and it is imported early

    low = urllib.parse.unquote_plus(name).strip().lower()
    return (
        low in _NAMES
        or low.replace("-", "_") in _NAMES  # api-key, access-token: a header's spelling
        or low.replace("-", "_").endswith(_SUFFIXES)  # x-api-key, subscription-key
        or low.startswith(_PREFIXES)
        or any(s in low for s in _SUBSTRINGS)
        or low in extra
    )


def secret_name(name: str, env: Mapping[str, str] | None = None) -> bool:
    """True if a query parameter called ``name`` carries a credential (see the module doc)."""
    return _hidden(name, _extra_names(env))


def redact(text: str, env: Mapping[str, str] | None = None, *, bare: bool = True) -> str:
    """``text`` (a URL, or any text naming URLs) with user info and credential parameters
    replaced by ``***`` (see the module docstring). ``env``: where ``LUNGSEGDB_REDACT`` is
    read (None: the process environment). ``bare``: also user info without a scheme
    (``'user:pw@host'``, for messages; off for a document of data, where ``"scan:2@2x"``
    is a file's name)."""
    if not text:
        return text
    return _redact(text, _extra_names(env), _DEPTH, bare)


def _redact(text: str, extra: frozenset[str], depth: int, bare: bool = True) -> str:
    def whole(m: re.Match[str]) -> str:
        return f"{m['name']}={MASK}" if m["value"] and _hidden(m["name"], extra) else m.group(0)

    def param(m: re.Match[str]) -> str:
        value = m["value"]
        hidden = value and (_hidden(m["name"], extra) or _nested_secret(value, extra, depth))
        return f"{m['name']}={MASK}" if hidden else m.group(0)

    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    if bare and "@" in text:
        text = _BARE_USERINFO.sub(f"{MASK}@", text)
    if "=" not in text:
        return text
    return _PARAM.sub(param, _WHOLE_PARAM.sub(whole, text))


def _nested_secret(value: str, extra: frozenset[str], depth: int) -> bool:
    """True if ``value`` (a parameter's), percent-decoded, is a URL or query that holds
    something :func:`redact` hides (``?next=http%3A%2F%2Fh%2Fx%3Ftoken%3DT``), looking
    through up to ``depth`` layers of encoding."""
    import urllib.parse

    for _ in range(depth):
        if "%" not in value and "+" not in value:
            return False
        decoded = urllib.parse.unquote_plus(value)
        if decoded == value:
            return False
        if _redact(decoded, extra, 0) != decoded:
            return True
        value = decoded
    return False


def url_sha256(url: str) -> str:
    """The SHA-256 (hex) of the full URL, secrets included: how a source is recognised
    without being recorded. A URL's partial download is ``url-<first 12 hex digits>.part``."""
    import hashlib

    return hashlib.sha256(url.strip().encode("utf-8", "surrogatepass")).hexdigest()
