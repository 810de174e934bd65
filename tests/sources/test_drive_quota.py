"""Drive's quota page in the languages Drive serves most: recognised by its structure (the
``uc-main`` download error page with nothing to follow), and by its title's words when the
markup changed; the German page gets the quota message and its next steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.drive_fake import FakeDrive, quota_page

# internals: exercises cli/app, sources/drive, ... directly (not public API)
from lungsegdb_cli.cli.app import run
from lungsegdb_cli.sources.drive import pages as drive

URL = "https://drive.usercontent.google.com/download?id=X1&export=download"

#: (language, title, caption, subcaption): the quota page as Drive words it, by language.
PAGES = [
    (
        "en",
        "Google Drive - Quota exceeded",
        "Sorry, you can't view or download this file at this time.",
        "Too many users have viewed or downloaded this file recently. Please try accessing the "
        "file again later.",
    ),
    (
        "de",
        "Google Drive \u2013 Kontingent überschritten",  # an en dash, as Drive writes it
        "Sie können diese Datei derzeit nicht ansehen oder herunterladen.",
        "Diese Datei wurde in letzter Zeit von zu vielen Nutzern angesehen oder heruntergeladen. "
        "Versuchen Sie später noch einmal, auf die Datei zuzugreifen.",
    ),
    (
        "fr",
        "Google Drive - Quota dépassé",
        "Désolé, vous ne pouvez pas afficher ni télécharger ce fichier pour le moment.",
        "Un nombre trop élevé d'utilisateurs ont consulté ou téléchargé ce fichier récemment. "
        "Veuillez réessayer plus tard.",
    ),
    (
        "es",
        "Google Drive - Se ha superado la cuota",
        "Lo sentimos, pero no puedes ver ni descargar este archivo en este momento.",
        "Demasiados usuarios han visto o descargado este archivo recientemente. Vuelve a "
        "intentarlo más tarde.",
    ),
    (
        "pt-BR",
        "Google Drive - Cota excedida",
        "Não é possível ver ou fazer o download deste arquivo no momento.",
        "Muitos usuários visualizaram ou fizeram o download deste arquivo recentemente. Tente "
        "acessar o arquivo novamente mais tarde.",
    ),
    (
        "ja",
        "Google ドライブ - 割り当て超過",
        "現在、このファイルを表示またはダウンロードすることはできません。",
        "最近このファイルを表示またはダウンロードしたユーザーの数が多すぎます。しばらくしてから"
        "もう一度アクセスしてください。",
    ),
    (
        "zh-CN",
        "Google 云端硬盘 - 超出配额",
        "抱歉\uff0c您目前无法查看或下载此文件。",
        "最近查看或下载此文件的用户过多。请稍后再尝试访问此文件。",
    ),
]
LANGS = [p[0] for p in PAGES]


def _words_only(title: str, caption: str, subcaption: str) -> str:
    """The same words in markup without Drive's classes (a redesigned page)."""
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body><div>"
        f"<p>{caption}</p><p>{subcaption}</p></div></body></html>"
    )


@pytest.mark.parametrize(("lang", "title", "caption", "subcaption"), PAGES, ids=LANGS)
@pytest.mark.parametrize("status", [200, 403, 429])
def test_the_quota_page_is_recognised_in_each_language(
    lang: str, title: str, caption: str, subcaption: str, status: int
) -> None:
    page = drive.classify(
        quota_page(lang, title, caption, subcaption).encode(), url=URL, status=status
    )
    assert page.kind is drive.PageKind.QUOTA and page.title == " ".join(title.split())
    assert page.detail == subcaption  # Drive's own words, whatever the language


@pytest.mark.parametrize(("lang", "title", "caption", "subcaption"), PAGES, ids=LANGS)
def test_by_structure_alone_whatever_the_words(
    lang: str, title: str, caption: str, subcaption: str
) -> None:
    """A title with no known words ("Google Drive") still gives the quota page: the mark is
    the download error page's structure, not its language."""
    body = quota_page(lang, "Google Drive", caption, subcaption).encode()
    assert drive.classify(body, url=URL).kind is drive.PageKind.QUOTA


@pytest.mark.parametrize(("lang", "title", "caption", "subcaption"), PAGES, ids=LANGS)
def test_by_title_words_when_the_markup_changed(
    lang: str, title: str, caption: str, subcaption: str
) -> None:
    body = _words_only(title, caption, subcaption).encode()
    assert drive.classify(body, url=URL).kind is drive.PageKind.QUOTA


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        # Drive's error page answered 404: the file is missing, whatever the words
        (quota_page("de", "Google Drive", "Fehler", "Nicht gefunden"), 404, "NOT_FOUND"),
        # the virus-scan page has a form to follow: never taken for the quota page
        (
            '<html><body><div class="uc-main"><p class="uc-warning-caption">x</p><form '
            'id="download-form" action="https://drive.usercontent.google.com/download">'
            '<input type="hidden" name="confirm" value="t"></form></body></html>',
            200,
            "VIRUS_SCAN",
        ),
        # an unrelated HTML page without Drive's structure or words
        (
            "<html><head><title>Anmelden</title></head><body>Bitte anmelden</body></html>",
            200,
            "HTML",
        ),
    ],
    ids=["uc-error-404", "virus-scan-form", "other-page"],
)
def test_what_is_not_the_quota_page(body: str, status: int, kind: str) -> None:
    assert drive.classify(body.encode(), url=URL, status=status).kind is drive.PageKind[kind]


def test_the_german_quota_page_gets_the_quota_message_and_next_steps(
    fake_drive: FakeDrive,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lang, title, caption, subcaption = PAGES[1]
    fake_drive.add(
        "QUOTA_DE_FILE_ID_01", b"x", quota_page=quota_page(lang, title, caption, subcaption)
    )
    monkeypatch.setenv("LUNGSEGDB_DRIVE_ENDPOINT", fake_drive.base)
    url = fake_drive.view_url("QUOTA_DE_FILE_ID_01")
    code = run(["download", "--url", url, "--no-drive", "--data-dir", str(tmp_path), "--json"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 3 and error["kind"] == "drive-page"
    assert error["context"]["page"] == "quota-exceeded"
    assert "quota exceeded" in error["message"] and "Kontingent überschritten" in error["message"]
    assert "Wait a few hours" in error["hint"] and "--cookies FILE" in error["hint"]
    assert not list((tmp_path / "downloads").glob("*.part"))
