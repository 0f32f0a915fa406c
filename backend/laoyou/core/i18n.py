"""Message catalogs (Babel .po files in pwa/locales) and the language of the current request.

English msgids in the code and templates; zh_CN is the default language, zh_TW and en follow.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.pofile import read_po

from laoyou.core.settings import REPO_ROOT

LOCALES_DIR = REPO_ROOT / "pwa" / "locales"
LANGUAGES = ("zh_CN", "zh_TW", "en")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "zh_TW": "繁體中文", "en": "English"}

current_language: ContextVar[str] = ContextVar("laoyou_language", default=DEFAULT_LANGUAGE)


@lru_cache
def _catalog(language: str) -> dict[str | tuple[str, str], object]:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with Path(path).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages: dict[str | tuple[str, str], object] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else tuple(message.id)
        if isinstance(message.string, str):
            if message.string:
                messages[key] = message.string
        elif message.string and all(message.string):
            messages[key] = tuple(message.string)
    return messages


class Msgid(str):
    """A value put into a sentence that is itself an English msgid (a repair category's name, say): gettext
    translates it into the sentence's language with the sentence, so that a notice written for a person in
    her language does not carry an English word inside it."""

    __slots__ = ()


def gettext(message: str, language: str | None = None, **params: object) -> str:
    language = language or current_language.get()
    translated = _catalog(language).get(message, message)
    text = translated if isinstance(translated, str) else message
    if not params:
        return text
    return text % {k: gettext(v, language) if isinstance(v, Msgid) else v for k, v in params.items()}


def ngettext(singular: str, plural: str, n: int, language: str | None = None, **params: object) -> str:
    lang = language or current_language.get()
    forms = _catalog(lang).get((singular, plural))
    if isinstance(forms, tuple):
        text = forms[min(_plural_index(lang, n), len(forms) - 1)]
    else:
        text = singular if n == 1 else plural
    params.setdefault("num", n)
    return text % params


def _plural_index(language: str, n: int) -> int:
    # Chinese has one plural form; English has "one" and "other".
    return 0 if Locale.parse(language).plural_form(n) == "one" or language.startswith("zh") else 1


def negotiate(accept_language: str | None) -> str:
    """Pick the best of our languages from an Accept-Language header."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    wanted = []
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            wanted.append(_TRADITIONAL.get(tag, "zh_CN" if tag.startswith("zh") else tag))
    return negotiate_locale(wanted, list(LANGUAGES)) or DEFAULT_LANGUAGE


# Browsers in Hong Kong, Macau and Taiwan, or asking for Hant, read traditional characters.
_TRADITIONAL = {tag: "zh_TW" for tag in ("zh_TW", "zh_HK", "zh_MO", "zh_Hant", "zh_Hant_TW", "zh_Hant_HK")}


def valid_language(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_")
    return value if value in LANGUAGES else None


def html_lang(language: str) -> str:
    return {"zh_CN": "zh-CN", "zh_TW": "zh-TW", "en": "en"}[language]
