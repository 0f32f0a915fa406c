"""Languages: the browser's Accept-Language negotiated to one of ours; catalogs with placeholders."""

from __future__ import annotations

import pytest

from laoyou.core import i18n


@pytest.mark.parametrize(
    "header, language",
    [
        (None, "zh_CN"),
        ("", "zh_CN"),
        ("zh-CN", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh-SG", "zh_CN"),
        ("zh-TW", "zh_TW"),
        ("zh-HK", "zh_TW"),
        ("zh-MO", "zh_TW"),
        ("zh-Hant", "zh_TW"),
        ("zh-Hant-TW", "zh_TW"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("fr-FR,fr;q=0.9", "zh_CN"),
        ("fr-FR,en;q=0.5", "en"),
        ("de, zh-TW;q=0.8, en;q=0.5", "zh_TW"),
        ("*", "zh_CN"),
        (";;;,,", "zh_CN"),
    ],
)
def test_negotiate(header, language):
    assert i18n.negotiate(header) == language


@pytest.mark.parametrize(
    "value, expected",
    [
        ("zh_CN", "zh_CN"),
        ("zh-TW", "zh_TW"),
        ("en", "en"),
        ("fr", None),
        ("", None),
        (None, None),
        ("../../etc", None),
    ],
)
def test_valid_language(value, expected):
    assert i18n.valid_language(value) == expected


def test_html_lang():
    assert [i18n.html_lang(lang) for lang in i18n.LANGUAGES] == ["zh-CN", "zh-TW", "en"]


def test_gettext_fills_placeholders_in_every_language():
    for language in i18n.LANGUAGES:
        text = i18n.gettext("That code is not right. %(left)s tries left.", language, left=3)
        assert "3" in text and "%(" not in text


def test_gettext_falls_back_to_the_msgid():
    assert i18n.gettext("A sentence nobody translated.", "zh_CN") == "A sentence nobody translated."
    assert i18n.gettext("Hello %(name)s", "zh_TW", name="王") == "Hello 王"


def test_the_current_language_is_used_when_none_is_given():
    token = i18n.current_language.set("zh_CN")
    try:
        assert i18n.gettext("Not found.") == i18n.gettext("Not found.", "zh_CN")
    finally:
        i18n.current_language.reset(token)


def test_ngettext_chooses_the_english_plural():
    assert i18n.ngettext("%(num)s household", "%(num)s households", 1, "en") == "1 household"
    assert i18n.ngettext("%(num)s household", "%(num)s households", 3, "en") == "3 households"
