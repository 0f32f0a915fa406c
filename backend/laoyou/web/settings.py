"""The settings page: language, text size and mode, for anyone; kept on every phone once logged in."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.core import i18n
from laoyou.graphql.context import LANGUAGE_COOKIE
from laoyou.web.render import TEXT_SIZES, Page, PageRoute, add_pages, form_with_csrf

ONE_YEAR = 365 * 24 * 3600
UI_MODES = ("elderly", "standard")


async def settings_page(
    page: Page, *, error: str | None = None, saved: bool = False, status_code: int = 200
) -> Response:
    return page.render(
        "settings.html", status_code=status_code, error=error, saved=saved, text_sizes=TEXT_SIZES
    )


async def save_settings(page: Page) -> Response:
    """Anyone may change language and text size; a logged-in person keeps them on every phone."""
    form = await form_with_csrf(page.request)
    language = i18n.valid_language(form.get("language"))
    text_size = form.get("text_size") if form.get("text_size") in TEXT_SIZES else None
    ui_mode = form.get("ui_mode") if form.get("ui_mode") in UI_MODES else None
    if page.context.actor.is_authenticated:
        data = (await page.run("UpdatePreferences", language=language, textSize=text_size, uiMode=ui_mode))[
            "updatePreferences"
        ]
        if data["__typename"] != "PreferencesUpdated":
            return await settings_page(page, error=data["message"], status_code=400)
    cookies = page.sub_response
    if language:
        page.context.language = language
        cookies.set_cookie(LANGUAGE_COOKIE, language, max_age=ONE_YEAR, samesite="lax", path="/")
    if text_size:
        cookies.set_cookie("laoyou_text", text_size, max_age=ONE_YEAR, samesite="lax", path="/")
    if ui_mode:
        cookies.set_cookie("laoyou_mode", ui_mode, max_age=ONE_YEAR, samesite="lax", path="/")
    back = form.get("next", "/settings")
    return page.redirect(back if back.startswith("/") and not back.startswith("//") else "/settings")


PAGES = (
    PageRoute("GET", "/settings", settings_page, login=False),
    PageRoute("POST", "/settings", save_settings, login=False),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
