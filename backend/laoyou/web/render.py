"""Server rendering: run one of the PWA's persisted operations in-process, render a Jinja2 template."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role, TextSize
from laoyou.billing import service as billing
from laoyou.core import i18n
from laoyou.core.errors import NotFound, PermissionDenied
from laoyou.core.settings import Settings
from laoyou.core.time import local
from laoyou.graphql.context import CSRF_COOKIE, Context
from laoyou.graphql.router import build_context, check_csrf
from laoyou.tickets import service as tickets

log = logging.getLogger("laoyou.web")


class OperationFailed(Exception):
    """A page's own operation answered with top-level errors (not a user mistake)."""

    def __init__(self, errors: list[Any]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


def make_templates(settings: Settings) -> Environment:
    env = Environment(
        loader=FileSystemLoader(settings.pwa_dir / "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message, **kw: i18n.gettext(message, **kw),
        lambda singular, plural, n, **kw: i18n.ngettext(singular, plural, n, **kw),
        newstyle=True,
    )
    env.filters["localtime"] = lambda value, fmt="%Y-%m-%d %H:%M": local(_as_datetime(value)).strftime(fmt)
    return env


def _as_datetime(value: Any):  # noqa: ANN202
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


class Can:
    """What the actor's roles let them use: a page links only to what works for its viewer. Each rule is the
    coarse role check of the service behind the link (which checks it again, with the scope); where the service
    names its roles, they are read from it."""

    def __init__(self, actor: Actor) -> None:
        self._actor = actor

    @property
    def see_board(self) -> bool:
        """The district board and its figures (tickets.list_board, tickets.figures)."""
        return self._actor.has(*tickets.BOARD_ROLES)

    @property
    def take_work(self) -> bool:
        """Work orders assigned to them: field staff take repairs, stewards and the admin complaints (do_grab)."""
        return self._actor.has(Role.field_staff, Role.steward, Role.admin)

    @property
    def grab_from_pool(self) -> bool:
        """The pool of unassigned repairs (tickets.list_pool)."""
        return self._actor.has(Role.field_staff)

    @property
    def manage_work(self) -> bool:
        """Return visits and the field workers' profiles (tickets.list_return_visits, list_field_staff)."""
        return self._actor.has(*tickets.MANAGER_ROLES)

    @property
    def log_reports(self) -> bool:
        """Log a report on a resident's behalf (tickets.DESK_ROLES)."""
        return self._actor.has(*tickets.DESK_ROLES)

    @property
    def write_to_communities(self) -> bool:
        """Briefings and emergency notices to whole communities (notify.steward_community_ids)."""
        return self._actor.has(Role.steward, Role.admin)

    @property
    def keep_care(self) -> bool:
        """The check-in board and care records: the community's stewards (care.ledger.care_community_ids)."""
        return self._actor.has(Role.steward)

    @property
    def answer_support(self) -> bool:
        """The customer-service console: agents answer, stewards take what is handed to them and keep the FAQ."""
        return self._actor.has(Role.agent, Role.steward, Role.admin)

    @property
    def manage_estates(self) -> bool:
        """Communities, buildings and units: the admin and stewards (estates.onboarding scopes them)."""
        return self._actor.has(Role.steward, Role.admin)

    @property
    def manage_staff(self) -> bool:
        """Staff roles and password setups (accounts.staff_roles): the operator's admin only."""
        return self._actor.is_admin

    @property
    def manage_districts(self) -> bool:
        """Adding, changing and archiving districts (estates.onboarding): the operator's admin only."""
        return self._actor.is_admin

    @property
    def see_reach_costs(self) -> bool:
        """SMS and call costs per community (notify.reach.costs takes any staff; those answering for money)."""
        return self._actor.has(Role.steward, Role.official, Role.admin)

    @property
    def print_cards(self) -> bool:
        """Household login cards (estates.access_household_as_steward)."""
        return self._actor.has(Role.steward, Role.admin)

    @property
    def manage_residents(self) -> bool:
        """Adding and taking people off a household (estates.onboarding.do_add_resident)."""
        return self._actor.has(Role.steward, Role.admin)

    @property
    def take_money(self) -> bool:
        """Counter payments and refunds (billing.check_can_write: a community's stewards, the admin)."""
        return self._actor.has(Role.steward, Role.admin)

    def bill_district(self, district_id: str) -> bool:
        """A district's bill run, once for all its communities (billing.can_bill_district)."""
        return district_id.isdigit() and billing.can_bill_district(self._actor, int(district_id))


# A page shown for a GET: for this browser only (never a shared proxy: pages hold the person's own data), and
# checked with the server before it is shown again from the HTTP cache, so a fresh visit always gets a fresh
# page. Not no-store: that keeps the page out of the back/forward cache, and Back on a slow phone would load it
# all again. What Back shows after logging out is handled by app.js (logging out renews the CSRF cookie, so a
# restored page of the old session reloads). Anything else (an answer to a form, a redirect, an error) and a
# page holding a one-time secret (`secret_page`) is not kept at all.
PAGE_CACHE = "private, no-cache"
NOT_KEPT = "no-store"


def page_cache_control(method: str, status: int) -> str:
    return PAGE_CACHE if method == "GET" and status == 200 else NOT_KEPT


def secret_page(response: Response) -> Response:
    """A page holding a one-time secret (a login card's or a password link's token): kept nowhere, not even
    for Back, so it cannot be shown again from this phone once it is spent."""
    response.headers["Cache-Control"] = NOT_KEPT
    return response


class Page:
    """One page request: its GraphQL context, cookies to set, and the rendering."""

    def __init__(self, request: Request, context: Context) -> None:
        self.request = request
        self.context = context
        self.sub_response = Response()
        del self.sub_response.headers["content-length"]  # only its cookies are carried over
        context.response = self.sub_response
        self.csrf_token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)

    @classmethod
    async def open(cls, request: Request) -> Page:
        return cls(request, await build_context(request))

    async def run(self, name: str, **variables: Any) -> dict[str, Any]:
        state = self.request.app.state
        operation = state.persisted[name]
        result = await state.schema.execute(
            operation.document, variable_values=variables, context_value=self.context, operation_name=name
        )
        self.context.apply_cookies(self.sub_response)
        if result.errors:
            raise OperationFailed(result.errors)
        return result.data or {}

    def _finish(self, response: Response) -> Response:
        response.headers.raw.extend(self.sub_response.headers.raw)
        if CSRF_COOKIE not in self.request.cookies:
            response.set_cookie(
                CSRF_COOKIE,
                self.csrf_token,
                httponly=False,
                samesite="lax",
                secure=self.context.settings.cookie_secure,
                path="/",
            )
        response.headers.setdefault(
            "Cache-Control", page_cache_control(self.request.method, response.status_code)
        )
        return response

    def render(self, template: str, status_code: int = 200, **data: Any) -> Response:
        i18n.current_language.set(self.context.language)
        env: Environment = self.request.app.state.templates
        html = env.get_template(template).render(
            request=self.request,
            csrf_token=self.csrf_token,
            language=self.context.language,
            html_lang=i18n.html_lang(self.context.language),
            languages=i18n.LANGUAGE_NAMES,
            settings=self.context.settings,
            actor=self.context.actor,
            can=Can(self.context.actor),
            prefs=self.preferences(),
            operations=self.request.app.state.persisted.manifest(),
            **data,
        )
        return self._finish(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> Response:
        return self._finish(RedirectResponse(url, status_code=303))

    def preferences(self) -> dict[str, str]:
        """Text size and mode: the person's choice, else the cookie, else the elderly default."""
        person = self.context.actor.person
        cookies = self.request.cookies
        if person is not None:
            return {"text_size": person.text_size, "ui_mode": person.ui_mode}
        return {
            "text_size": cookies.get("laoyou_text") if cookies.get("laoyou_text") in TEXT_SIZES else "large",
            "ui_mode": cookies.get("laoyou_mode")
            if cookies.get("laoyou_mode") in ("elderly", "standard")
            else "elderly",
        }

    async def close(self) -> None:
        await (
            self.request.close()
        )  # a posted form's files: starlette closes them only for FastAPI's form parameters
        await self.context.close()


Handler = Callable[[Page], Awaitable[Response]]


async def _on_the_side(page: Page, operation: str, what: str, **variables: Any) -> None:
    """Run an operation the page does not depend on: a failure is logged, its transaction given back, and the
    page goes on."""
    try:
        await page.run(operation, **variables)
    except Exception:
        log.exception("%s failed", what)
        try:
            await page.context.rollback()
        except Exception:
            log.exception("rolling back after %s failed", what)


async def open_notice_link(page: Page) -> None:
    """A page opened from a notice's link (?r=TOKEN.VIA, sent by push, WeChat or SMS) stops the notice's climb
    to her other channels, before any login: the token is the proof. Never at the page's expense."""
    opened = page.request.query_params.get("r")
    if not opened or page.request.method != "GET":
        return
    await _on_the_side(page, "OpenNotice", "opening a notice's link", opened=opened[:50])


async def mark_page_seen(page: Page) -> None:
    """She opened, logged in, a page a notice of hers is about (a bill, an SOS, her check-in): that notice stops
    climbing, however she came here. Like a link's token, never at the page's expense."""
    request = page.request
    if request.method != "GET" or not page.context.actor.is_authenticated:
        return
    query = "&".join(f"{k}={v}" for k, v in request.query_params.multi_items() if k != "r")
    path = f"{request.url.path}?{query}" if query else request.url.path
    await _on_the_side(page, "MarkPageSeen", "marking a page seen", path=path)


def page_endpoint(
    handler: Handler, *, login: bool = True, staff: bool = False, may: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """Every page's request: open the page (session, actor, CSRF), send a visitor who is not logged in to the
    login page, and always close the page, so an error cannot leave the session or the write gate held.
    What the operations refuse as not there or not theirs (someone else's order, a photo for another
    community) is a plain 404: a page never says whether a thing it does not show exists."""

    async def endpoint(request: Request) -> Response:
        page = await Page.open(request)
        try:
            await open_notice_link(page)
            actor = page.context.actor
            if login and not actor.is_authenticated:
                return page.redirect("/login")
            if (staff and not actor.is_staff) or (may and not getattr(Can(actor), may)):
                raise HTTPException(404, "not found")
            await mark_page_seen(page)
            try:
                return await handler(page)
            except (OperationFailed, NotFound, PermissionDenied):
                raise HTTPException(404, "not found") from None
        finally:
            await page.close()

    return endpoint


@dataclass(frozen=True)
class PageRoute:
    """One page of a page group: its method, path and handler, and who may open it."""

    method: str
    path: str
    handler: Handler
    login: bool = True  # False: the login pages, the offline page, settings and public shares
    staff: bool = False  # True: anyone but staff gets a 404
    # A Can rule (its name) the viewer must pass, else a 404: a page whose every use the service would refuse
    # is not shown at all, rather than walked through to a refusal at its last step.
    may: str | None = None

    def __post_init__(self) -> None:
        if self.may is not None and not isinstance(getattr(Can, self.may, None), property):
            raise ValueError(f"{self.path}: no Can rule named {self.may}")


def add_pages(app: FastAPI, routes: Iterable[PageRoute]) -> None:
    """Install a page group's table of pages (each module under web/ keeps one, next to its handlers)."""
    for route in routes:
        endpoint = page_endpoint(route.handler, login=route.login, staff=route.staff, may=route.may)
        app.add_api_route(route.path, endpoint, methods=[route.method], include_in_schema=False)


TEXT_SIZES = tuple(size.value for size in TextSize)


async def form_with_csrf(request: Request) -> dict[str, str]:
    """Read a posted form; refuse it unless it carries the CSRF token from its own page."""
    form = await request.form()
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    return {key: str(value) for key, value in form.items()}
