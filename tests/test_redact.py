"""The one redaction rule (:mod:`lungsegdb_cli._redact`), on what the audit S found it missed:
a URL nested in a parameter's value, plain or percent-encoded (2); user info quoted without its
scheme, as a library's message names a netloc or a bucket (3); ``;name=value`` path
parameters (5). And what it must leave alone."""

from __future__ import annotations

from urllib.parse import quote

import pytest

# internals: the redaction module itself
from lungsegdb_cli._redact import redact

NESTED = "http://cdn.example/x.zip?token=NESTEDTOK&X-Amz-Signature=NESTEDSIG"

#: (id, text, what it must become)
CASES = [
    # 2. a URL in a parameter's value: a '?' in it starts a new parameter; encoded, the whole
    # value goes when anything in it would be hidden
    ("next-plain", "http://sso/login?next=/x?token=SEC", "http://sso/login?next=/x?token=***"),
    (
        "next-encoded",
        f"http://sso/login?next={quote(NESTED, safe='')}&lang=en",
        "http://sso/login?next=***&lang=en",
    ),
    (
        "origin-encoded-twice",
        f"http://cdn/x.zip?origin={quote(quote(NESTED, safe=''), safe='')}",
        "http://cdn/x.zip?origin=***",
    ),
    (
        "encoded-user-info",
        f"http://sso/l?back={quote('https://me:PW@m.example/x', safe='')}",
        "http://sso/l?back=***",
    ),
    (
        "encoded-in-a-message",
        f"Not the file (http://sso/l?continue={quote(NESTED, safe='')}): a login page",
        "Not the file (http://sso/l?continue=***): a login page",
    ),
    # 3. user info without its scheme, as botocore and our own messages quote it
    (
        "bucket-name",
        'Invalid bucket name "AKIAKEY:S3SECRET@bkt": Bucket name must match',
        'Invalid bucket name "***@bkt": Bucket name must match',
    ),
    ("netloc-quoted", "not on 'u:FILEPW@localhost'", "not on '***@localhost'"),
    ("netloc-after-space", "host u:FILEPW@localhost refused", "host ***@localhost refused"),
    # 5. ;name=value path parameters
    (
        "path-parameter",
        "http://h/LungSegDB.zip;token=PATHSEC?v=1",
        "http://h/LungSegDB.zip;token=***?v=1",
    ),
    (
        "path-parameter-listed",
        "http://h/app/LungSegDB.zip;jsessionid=SESS",
        "http://h/app/LungSegDB.zip;jsessionid=***",
    ),
    # 6. a raw password holding / or ? (an AWS secret key); a ? inside a hidden value
    (
        "password-with-slash",
        "s3://AKIAEX:wJal/K7MD/bPxSECRET@bucket/LungSegDB.zip",
        "s3://***@bucket/LungSegDB.zip",
    ),
    ("password-with-qmark", "http://u:pa?ssSECRET@h:9/x", "http://***@h:9/x"),
    (
        "hidden-value-with-qmark",
        "https://h/x?password=a?tailSECRET&v=2",
        "https://h/x?password=***&v=2",
    ),
    ("session-id", "https://h/x.zip;JSESSIONID=S&y", "https://h/x.zip;JSESSIONID=***&y"),
    (
        "hyphenated-name",
        "https://h/x.zip?api-key=HYPHSECRET&v=2",
        "https://h/x.zip?api-key=***&v=2",
    ),
    (
        "hyphenated-upper",
        "https://h/x.zip?Access-Token=T1&Api-Key=K2",
        "https://h/x.zip?Access-Token=***&Api-Key=***",
    ),
    (
        "key-suffixes",
        "https://h/x.zip?x-api-key=A1&subscription-key=B2&x-functions-key=C3&session-id=D4&v=1",
        "https://h/x.zip?x-api-key=***&subscription-key=***&x-functions-key=***&session-id=***&v=1",
    ),
    ("not-a-key", "https://h/x.zip?keyframe=3&monkey=1", "https://h/x.zip?keyframe=3&monkey=1"),
    (
        "more-names",
        "https://h/x?pwd=P1&pass=P2&jwt=J&code=C&sid=S&privatekey=K&AccessKeyId=A&v=1",
        "https://h/x?pwd=***&pass=***&jwt=***&code=***&sid=***&privatekey=***&AccessKeyId=***&v=1",
    ),
    # left alone
    ("an-e-mail", "write to bob@example.org", "write to bob@example.org"),
    ("a-plain-query", "http://h/x?q=a+b&v=2&next=/home", "http://h/x?q=a+b&v=2&next=/home"),
    (
        "encoded-without-secret",
        f"http://sso/l?next={quote('http://h/x?v=2', safe='')}",
        f"http://sso/l?next={quote('http://h/x?v=2', safe='')}",
    ),
    ("drive-link", "https://drive.google.com/uc?id=A&export=download", None),
    ("a-port", "http://127.0.0.1:8080/x.zip", None),
]


@pytest.mark.parametrize(("text", "shown"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_redact(text: str, shown: str | None) -> None:
    env = {"LUNGSEGDB_REDACT": "jsessionid"}
    shown = text if shown is None else shown
    assert redact(text, env=env) == shown
    assert redact(shown, env=env) == shown  # redacting twice changes nothing


def test_a_document_of_data_keeps_names_that_read_as_user_info() -> None:
    """``--json`` lists file names: ``scan:2@2x`` is a slice, not ``user:password@host``."""
    assert redact('{"stem": "scan:2@2x"}', bare=False) == '{"stem": "scan:2@2x"}'
    assert redact("'u:PW@host' refused") == "'***@host' refused"  # a message: hidden
