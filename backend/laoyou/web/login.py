"""Login pages: SMS code, staff password, one-tap demo people, the household login card, and logging out."""

from __future__ import annotations

from urllib.parse import quote, unquote

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.graphql.context import CSRF_COOKIE
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf, secret_page

PHONE_COOKIE = "laoyou_login_phone"  # the phone a code was just sent to, for the page that asks for the code


async def login(
    page: Page,
    *,
    error: str | None = None,
    field: str | None = None,
    phone: str = "",
    tab: str = "code",
    status_code: int = 200,
) -> Response:
    if page.context.actor.is_authenticated and error is None:
        return page.redirect("/")
    data = await page.run("LoginPage")
    return page.render(
        "login.html",
        status_code=status_code,
        demo_people=data["demoPeople"],
        error=error,
        field=field,
        phone=phone,
        tab=tab,
    )


async def request_code(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (await page.run("RequestLoginCode", phone=form.get("phone", "")))["requestLoginCode"]
    if data["__typename"] != "LoginCodeSent":
        return await login(
            page, error=data["message"], field="phone", phone=form.get("phone", ""), status_code=400
        )
    # The phone goes to the next page in a cookie, not the URL: URLs end up in access logs and proxies' logs.
    page.sub_response.set_cookie(
        PHONE_COOKIE,
        quote(form.get("phone", "")[:32]),
        max_age=page.context.settings.login_code_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=page.context.settings.cookie_secure,
        path="/login",
    )
    return page.redirect("/login/verify")


async def verify_form(page: Page) -> Response:
    # (?phone= is still read: links to the page made before the cookie)
    phone = unquote(page.request.cookies.get(PHONE_COOKIE, "")) or page.request.query_params.get("phone", "")
    return page.render("verify.html", phone=phone[:32], error=None)


async def verify(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (await page.run("LoginWithCode", phone=form.get("phone", ""), code=form.get("code", "")))[
        "loginWithCode"
    ]
    if data["__typename"] != "LoggedIn":
        return page.render(
            "verify.html", status_code=400, phone=form.get("phone", "")[:32], error=data["message"]
        )
    page.sub_response.delete_cookie(PHONE_COOKIE, path="/login")
    return page.redirect("/")


async def password(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (
        await page.run("LoginWithPassword", phone=form.get("phone", ""), password=form.get("password", ""))
    )["loginWithPassword"]
    if data["__typename"] != "LoggedIn":
        return await login(
            page, error=data["message"], phone=form.get("phone", ""), tab="password", status_code=400
        )
    return page.redirect("/")


async def demo(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (await page.run("LoginAsDemoPerson", phone=form.get("phone", "")))["loginAsDemoPerson"]
    if data["__typename"] != "LoggedIn":
        return await login(page, error=data["message"], status_code=400)
    return page.redirect("/")


async def card(page: Page) -> Response:
    # Opening the link only shows a button: link previews and scanners must not spend the card.
    return secret_page(page.render("card.html", token=page.request.path_params["token"]))


async def card_login(page: Page) -> Response:
    await form_with_csrf(page.request)
    token = page.request.path_params["token"]
    data = (await page.run("LoginWithCard", token=token))["loginWithCard"]
    if data["__typename"] != "LoggedIn":
        return page.render("card.html", status_code=400, token=token, error=data["message"])
    return page.redirect("/")


def _renew_csrf(response: Response) -> Response:
    """The next page gets a new CSRF token: a page of this session that Back restores from the back/forward
    cache sees its token is no longer the cookie's and reloads (app.js), showing the login page instead."""
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


async def logout(page: Page) -> Response:
    await form_with_csrf(page.request)
    if page.context.actor.is_authenticated:
        await page.run("Logout")
    return _renew_csrf(page.redirect("/login"))


async def logout_everywhere(page: Page) -> Response:
    await form_with_csrf(page.request)
    if page.context.actor.is_authenticated:
        await page.run("LogoutEverywhere")
    return _renew_csrf(page.redirect("/login"))


PAGES = (
    PageRoute("GET", "/login", login, login=False),
    PageRoute("POST", "/login/code", request_code, login=False),
    PageRoute("GET", "/login/verify", verify_form, login=False),
    PageRoute("POST", "/login/verify", verify, login=False),
    PageRoute("POST", "/login/password", password, login=False),
    PageRoute("GET", "/card/{token}", card, login=False),
    PageRoute("POST", "/card/{token}", card_login, login=False),
    PageRoute("POST", "/logout", logout, login=False),
    PageRoute("POST", "/logout/everywhere", logout_everywhere, login=False),
)
DEMO_PAGES = (PageRoute("POST", "/login/demo", demo, login=False),)  # one-tap login exists in the demo only


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
    if app.state.settings.is_demo:
        add_pages(app, DEMO_PAGES)
