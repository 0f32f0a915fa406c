"""Linking a person to the official account, so that notices reach her as WeChat messages: when she opens the
home page inside WeChat and is not linked yet, the browser goes once through the account's silent web
authorisation (snsapi_base: WeChat asks her nothing) and comes back here with a code, which WeChat exchanges for
her openid."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.billing.gateways.wechat_oauth import OAuthFailed, WeChatOAuth
from laoyou.billing.service.wechat import in_wechat
from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.security import constant_equals, keyed_hash
from laoyou.core.settings import Settings
from laoyou.graphql.errors import Error, context_boundary
from laoyou.notify.reach import links
from laoyou.notify.reach.models import WechatLink
from laoyou.web.render import Page, PageRoute, add_pages

log = logging.getLogger(__name__)

CALLBACK_PATH = "/wechat/link/callback"
# Set when she is sent to WeChat, for this session: whatever comes of it, she is not sent again (no loop when
# the exchange fails, or when she comes back another way than WeChat's redirect).
TRIED_COOKIE = "laoyou_wechat_link"


def link_oauth(settings: Settings) -> WeChatOAuth | None:
    """The account's web authorisation, when notices go out through it (a template is set); else None."""
    if not settings.wechat_messages_configured():
        return None
    return WeChatOAuth(
        appid=settings.wechat_mp_appid, secret=settings.wechat_mp_secret, api_base=settings.wechat_api_base
    )


def _oauth(page: Page) -> WeChatOAuth | None:
    return page.request.app.state.wechat_link_oauth


def _tried_marker(page: Page) -> str:
    """The cookie's value: bound to this session, so that a new login (a new session) may try once more."""
    session_id = page.context.actor.session_id or 0
    return keyed_hash(page.context.settings.secret_key, f"wechat-link-tried:{session_id}")[:32]


async def offer_link(page: Page) -> Response | None:
    """The redirect to WeChat's authorisation, when she is inside WeChat, not linked and not sent there yet
    in this session; else None and the page shows as usual."""
    oauth = _oauth(page)
    actor = page.context.actor
    if (
        oauth is None
        or actor.session_kind != "cookie"
        or not in_wechat(page.request.headers.get("user-agent", ""))
        # Only her own opening of the page: the service worker fetching the home page to keep it for offline
        # use (a fetch, not a navigation) would otherwise spend the one try where nobody sees it.
        or page.request.headers.get("sec-fetch-mode", "navigate") != "navigate"
        or constant_equals(page.request.cookies.get(TRIED_COOKIE, ""), _tried_marker(page))
    ):
        return None
    if (
        await links.wechat_link(page.context.session, person_id=actor.person_id, appid=oauth.appid)
        is not None
    ):
        return None
    settings = page.context.settings
    page.sub_response.set_cookie(
        TRIED_COOKIE,
        _tried_marker(page),
        max_age=settings.resident_session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    state = links.link_state(secret_key=settings.secret_key, actor=actor)
    return page.redirect(
        oauth.authorize_url(redirect_uri=f"{settings.public_url.rstrip('/')}{CALLBACK_PATH}", state=state)
    )


async def link_back(page: Page) -> Response:
    """WeChat's way back, with a one-time code and the state this session sent: check the state, exchange the
    code, remember the openid, and go home. A refusal says so and changes nothing."""
    oauth = _oauth(page)
    if oauth is None:
        raise HTTPException(404, "not found")
    context = page.context
    query = page.request.query_params
    code, state = query.get("code", "")[:200], query.get("state", "")[:200]

    async def link() -> WechatLink:
        links.check_link_state(secret_key=context.settings.secret_key, actor=context.actor, state=state)
        if not code:
            raise LaoyouError(ErrorCode.INVALID, "WeChat did not say who you are. Please try again later.")
        try:
            openid = await oauth.openid(code)
        except OAuthFailed as exc:
            log.warning("WeChat web authorisation for messages failed: %s", exc)
            raise LaoyouError(
                ErrorCode.GATEWAY_ERROR, "WeChat did not say who you are. Please try again later."
            ) from None
        return await links.do_link_wechat(
            context.session, actor=context.actor, appid=oauth.appid, openid=openid
        )

    # Not a GraphQL mutation: WeChat sends the browser back with a GET. It ends its unit of work the same way.
    linked = await context_boundary(context, Error, link)
    if isinstance(linked, Error):
        return page.render("notify/wechat_link.html", status_code=400, error=linked.message)
    return page.redirect("/")


PAGES = (PageRoute("GET", CALLBACK_PATH, link_back),)


def install(app: FastAPI) -> None:
    app.state.wechat_link_oauth = link_oauth(app.state.settings)
    add_pages(app, PAGES)
