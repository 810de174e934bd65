"""Google Drive's quota page ("Too many users have viewed or downloaded this file recently"),
recognised in whatever language Drive serves it.

Drive localises the page (``hl=``, ``Accept-Language``, the signed-in account's language), so
its words are a weak mark. Its structure is the mark: it is the error page of Drive's download
endpoint -- ``<div class="uc-main">`` holding a ``<p class="uc-error-caption">`` and a
``<p class="uc-error-subcaption">`` (Drive's own words, which gdown reports too) -- with,
unlike the virus-scan page (``uc-warning-*`` classes, a ``#download-form`` or
``uc-download-link`` to follow), nothing to follow. :func:`by_structure` takes that page as the
quota page unless the server answered 404/410 (then the file is missing).
:func:`by_words` is the second mark, for a page whose markup changed: the English sentence, or
"Quota exceeded" in the page title ("Google Drive - <words>") in the languages Drive serves
most.
"""

from __future__ import annotations

__all__ = ["QUOTA_TEXT", "QUOTA_TITLES", "UC_ERROR_CLASSES", "by_structure", "by_words"]

QUOTA_TEXT = "Too many users have viewed or downloaded this file recently"

#: The classes of the caption and subcaption of Drive's download error page.
UC_ERROR_CLASSES = frozenset({"uc-error-caption", "uc-error-subcaption"})

#: "Quota exceeded" as the quota page's title says it, by language (lower case).
QUOTA_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("quota exceeded",),
    "de": ("kontingent überschritten",),
    "fr": ("quota dépassé",),
    "es": ("cuota excedida", "se ha superado la cuota", "se ha excedido la cuota"),
    "pt": ("cota excedida", "cota ultrapassada", "quota excedida"),
    "it": ("quota superata",),
    "nl": ("quotum overschreden",),
    "pl": ("przekroczono limit",),
    "ru": ("превышена квота", "квота превышена"),
    "ja": ("割り当て超過", "割り当てを超え", "上限を超え"),
    "zh": ("超出配额", "超出配額", "配额已用完"),
    "ko": ("할당량 초과",),
}

_TITLE_WORDS = tuple(w for words in QUOTA_TITLES.values() for w in words)


def by_words(title: str, text: str) -> bool:
    """The English sentence is in the page, or the title says "Quota exceeded" in one of
    :data:`QUOTA_TITLES`' languages."""
    if QUOTA_TEXT.lower() in text.lower():
        return True
    low = " ".join(title.split()).lower()
    return any(w in low for w in _TITLE_WORDS)


def by_structure(*, uc_error: bool, followable: bool, status: int) -> bool:
    """Drive's download error page (``uc_error``: an element with a class of
    :data:`UC_ERROR_CLASSES`) with no form or link to follow, not a 404/410."""
    return uc_error and not followable and status not in (404, 410)
