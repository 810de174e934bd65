"""Drive links, the pages Drive answers with, Retry-After."""

from __future__ import annotations

import pytest
from support.drive_fake import NOT_FOUND_PAGE, QUOTA_PAGE, SIGN_IN_PAGE, virus_page

# internals: exercises dataset, sources/drive, ... directly (not public API)
from lungsegdb_cli.dataset import card as dataset
from lungsegdb_cli.errors import UsageError
from lungsegdb_cli.sources.drive import pages as drive

FID = "1EjzpPq0GhpmlMoSUqnJIdukg_QQDJtgq"


@pytest.mark.parametrize(
    "url",
    [
        f"https://drive.google.com/file/d/{FID}/view?usp=drive_link",
        f"https://drive.google.com/file/d/{FID}/view",
        f"https://drive.google.com/file/d/{FID}",
        f"https://drive.google.com/file/d/{FID}/edit",
        f"https://drive.google.com/file/u/0/d/{FID}/view?usp=sharing",
        f"https://drive.google.com/uc?id={FID}",
        f"https://drive.google.com/uc?id={FID}&export=download",
        f"https://drive.google.com/uc?export=download&id={FID}",
        f"https://drive.google.com/open?id={FID}",
        f"https://docs.google.com/uc?export=download&id={FID}",
        f"https://drive.usercontent.google.com/download?id={FID}&export=download&confirm=t",
        f"  https://drive.google.com/file/d/{FID}/view  ",
    ],
)
def test_every_drive_link_form_gives_the_id(url: str) -> None:
    assert drive.parse_drive_id(url) == FID


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/LungSegDB.zip",
        f"https://example.org/file/d/{FID}/view",
        "https://zenodo.org/records/1/files/LungSegDB.zip?download=1",
    ],
)
def test_other_urls_are_mirrors(url: str) -> None:
    assert drive.parse_drive_id(url) is None
    src = drive.resolve_source(url, base=drive.DEFAULT_BASE)
    assert src.drive_id is None and src.url == url and src.key.startswith("url-")


def test_links_on_the_testing_endpoint_parse_as_drive() -> None:
    base = "http://127.0.0.1:8765"
    assert drive.parse_drive_id(f"{base}/file/d/{FID}/view", base) == FID
    assert drive.parse_drive_id(f"http://127.0.0.1:9999/file/d/{FID}/view", base) is None


def test_default_source_is_the_dataset_id_on_drive() -> None:
    src = drive.resolve_source(None, base=drive.DEFAULT_BASE)
    assert src.drive_id == dataset.DRIVE_ID
    assert src.url == f"https://drive.google.com/uc?id={dataset.DRIVE_ID}&export=download"
    assert src.link == f"https://drive.google.com/file/d/{dataset.DRIVE_ID}/view"


def test_endpoint_env_replaces_drive_host() -> None:
    base = drive.drive_base({drive.ENV_ENDPOINT: "http://127.0.0.1:1234/"})
    assert base == "http://127.0.0.1:1234"
    assert drive.drive_base({}) == drive.DEFAULT_BASE
    assert drive.resolve_source(None, base=base).url.startswith("http://127.0.0.1:1234/uc?id=")


@pytest.mark.parametrize("url", ["ftp://example.org/x.zip", "LungSegDB.zip", "file:///tmp/x"])
def test_non_http_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        drive.resolve_source(url, base=drive.DEFAULT_BASE)


def test_folder_link_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="folder"):
        drive.parse_drive_id("https://drive.google.com/drive/folders/1AbCdEfGhIjKlMnOpQrStUvWxYz")


@pytest.mark.parametrize(
    ("body", "status", "url", "kind"),
    [
        (QUOTA_PAGE, 200, "https://drive.usercontent.google.com/download", drive.PageKind.QUOTA),
        (QUOTA_PAGE, 403, "https://drive.usercontent.google.com/download", drive.PageKind.QUOTA),
        (NOT_FOUND_PAGE, 404, "https://drive.google.com/uc", drive.PageKind.NOT_FOUND),
        (SIGN_IN_PAGE, 200, "https://accounts.google.com/ServiceLogin", drive.PageKind.PERMISSION),
        (
            "<html><title>x</title>Access denied</html>",
            403,
            "https://m/",
            drive.PageKind.PERMISSION,
        ),
        (
            "<html><head><title>Welcome</title></head></html>",
            200,
            "https://m/",
            drive.PageKind.HTML,
        ),
        (
            virus_page("https://drive.usercontent.google.com/download", FID, "L.zip", 9, "u", "x"),
            200,
            "https://drive.usercontent.google.com/download",
            drive.PageKind.VIRUS_SCAN,
        ),
    ],
)
def test_classify_pages(body: str, status: int, url: str, kind: drive.PageKind) -> None:
    page = drive.classify(body.encode(), url=url, status=status)
    assert page.kind is kind


def test_virus_scan_form_is_followed_with_confirm_and_uuid() -> None:
    action = "https://drive.usercontent.google.com/download"
    body = virus_page(action, FID, "LungSegDB.zip", 5_000_000_000, "abc-123", "download-form")
    page = drive.classify(body.encode(), url=f"{action}?id={FID}&export=download")
    assert page.kind is drive.PageKind.VIRUS_SCAN
    assert page.next_url == f"{action}?id={FID}&export=download&confirm=t&uuid=abc-123"


def test_virus_scan_form_over_several_lines_and_relative_action() -> None:
    body = (
        "<html><head><title>Google Drive - Virus scan warning</title></head><body>\n"
        '<form id="download-form"\n action="/download" method="get">\n'
        '<input type="hidden" name="id" value="X1">\n<input type="hidden" name="confirm"\n'
        ' value="t">\n</form></body></html>'
    )
    page = drive.classify(body.encode(), url="http://127.0.0.1:5/uc?id=X1")
    assert page.next_url == "http://127.0.0.1:5/download?id=X1&confirm=t"


def test_legacy_confirm_link_is_followed() -> None:
    body = '<html><a id="uc-download-link" href="/uc?export=download&amp;confirm=AbC&amp;id=X1">'
    page = drive.classify(body.encode(), url="https://docs.google.com/uc?id=X1")
    assert page.next_url == "https://docs.google.com/uc?export=download&confirm=AbC&id=X1"


@pytest.mark.parametrize(
    ("head", "html"),
    [
        (b"<!DOCTYPE html><html>", True),
        (b"\xef\xbb\xbf  \n<html lang=en>", True),
        (b"<!-- x -->\n<!doctype HTML>", True),
        (b"PK\x03\x04\x14\x00", False),
        (b"\x1f\x8b\x08\x00", False),
        (b"<?xml version='1.0'?>", False),
        (b"", False),
    ],
)
def test_looks_like_html(head: bytes, html: bool) -> None:
    assert drive.looks_like_html(head) is html


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (None, None),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:30 GMT", 20.0),  # now = 10
        ("Thu, 01 Jan 1970 00:00:05 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert drive.parse_retry_after(value, now=10.0) == seconds


# ---------------------------------------------------------------------------------------------
# Malformed URLs are usage errors; odd pages never raise
# ---------------------------------------------------------------------------------------------
BAD_URLS = [
    "http://[::1",
    "http://",
    "http:///path",
    "http://h:99999/x",
    "http://h:0/x",
    "http://h:abc/x",
    "http://a b/x",
    "http://h\x00/x",
    "http://h/\x1b[31m",
    "http://h%41/x",
    "http://" + "a" * 70 + ".com/x",
    "http://a..b/x",
    "ftp://example.org/x.zip",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_malformed_url_is_a_usage_error_naming_it(url: str) -> None:
    with pytest.raises(UsageError) as info:
        drive.resolve_source(url)
    assert repr(url) in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/a.zip",
        "http://[::1]:8080/a.zip",
        "https://user:pw@example.org/a b.zip",
        "https://bücher.example/x.zip",
        "http://[fe80::1%25eth0]:80/x",
    ],
)
def test_well_formed_urls_pass(url: str) -> None:
    assert drive.resolve_source(url).url == url


def test_a_malformed_drive_endpoint_is_a_usage_error_naming_the_variable() -> None:
    with pytest.raises(UsageError, match=drive.ENV_ENDPOINT):
        drive.drive_base({drive.ENV_ENDPOINT: "http://[::1"})


ODD_PAGES = [
    b'<html><form id="download-form" action="http://[::1"><input type="hidden" name="a" '
    b'value="b"></form></html>',
    b'<html><a href="http://[::1/uc?export=download">x</a></html>',
    b'<html><form id="download-form" action="http://h:99999/x"></form></html>',
    b'<html><form id="download-form" action="javascript:alert(1)"></form></html>',
    b'<html>"downloadUrl":"http://[::1"</html>',
    b'<html><form id="download-form" action="&#0;&#xD800;"></form>',
    b"<html><title>" + b"\xff\xfe" * 10 + b"</title></html>",
    b"<![if x]><html><title>x</title><script>" + b"<" * 5000,
    b"\x00" * 100,
    b"",
]


@pytest.mark.parametrize("body", ODD_PAGES)
def test_odd_pages_are_classified_without_raising(body: bytes) -> None:
    page = drive.classify(body, url="https://drive.google.com/uc?id=x", status=200)
    assert isinstance(page.kind, drive.PageKind)
    if page.next_url is not None:  # only a link a request can be made to is followed
        assert drive.check_url(page.next_url)
