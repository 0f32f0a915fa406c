"""Paying inside WeChat: who the payer is under the official account (its web authorisation, remembered per
person), and the state that ties an authorisation to the session that asked for it."""

from __future__ import annotations

import time
from urllib.parse import quote

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.billing.gateways.wechat_oauth import OAuthFailed, WeChatOAuth
from laoyou.billing.models import WechatPayer
from laoyou.billing.service.common import log
from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.security import constant_equals, keyed_hash
from laoyou.core.time import utcnow

# Long enough for a slow phone to go to WeChat and back; a state older than this is refused.
STATE_LIFETIME_SECONDS = 600
CALLBACK_PATH = "/bills/wechat"


def in_wechat(user_agent: str) -> bool:
    """WeChat's built-in browser, where H5 payment does not work and JSAPI does."""
    return "MicroMessenger" in user_agent


def safe_return_path(path: str) -> str:
    """A path on this site to come back to; anything else (another site included) comes back to the bills."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path or len(path) > 200:
        return "/bills"
    return path


def _state_signature(secret_key: str, session_id: int, stamp: str) -> str:
    return keyed_hash(secret_key, f"wechat-payer:{session_id}:{stamp}")[:32]


def payer_state(*, secret_key: str, actor: Actor, now: float | None = None) -> str:
    """The OAuth state: a time and an HMAC of it with this session, in the characters WeChat allows
    (a-zA-Z0-9, at most 128), so a code fetched for one session cannot be fed to another."""
    actor.require_login()
    stamp = f"{int(now if now is not None else time.time()):010d}"
    return stamp + _state_signature(secret_key, actor.session_id or 0, stamp)


def check_payer_state(*, secret_key: str, actor: Actor, state: str, now: float | None = None) -> None:
    stamp, signature = state[:10], state[10:]
    now = now if now is not None else time.time()
    if (
        not stamp.isdigit()
        or not constant_equals(signature, _state_signature(secret_key, actor.session_id or 0, stamp))
        or not 0 <= now - int(stamp) <= STATE_LIFETIME_SECONDS
    ):
        raise LaoyouError(
            ErrorCode.INVALID,
            "This link from WeChat is not for this page or has expired. Please tap Pay again.",
            field="state",
        )


def begin_wechat_payer_link(
    *, actor: Actor, oauth: WeChatOAuth | None, secret_key: str, public_url: str, return_path: str
) -> str:
    """Where the browser goes so that WeChat tells us, without asking the person anything, who is paying."""
    actor.require_login()
    if oauth is None:
        raise LaoyouError(ErrorCode.INVALID, "Paying inside WeChat is not available.", field="method")
    redirect_uri = (
        f"{public_url.rstrip('/')}{CALLBACK_PATH}?next={quote(safe_return_path(return_path), safe='/')}"
    )
    return oauth.authorize_url(
        redirect_uri=redirect_uri, state=payer_state(secret_key=secret_key, actor=actor)
    )


async def do_link_wechat_payer(
    session: AsyncSession,
    *,
    actor: Actor,
    oauth: WeChatOAuth | None,
    secret_key: str,
    code: str,
    state: str,
) -> WechatPayer:
    """WeChat came back with a code: check it is this session's, exchange it, and remember the openid."""
    actor.require_login()
    if oauth is None:
        raise LaoyouError(ErrorCode.INVALID, "Paying inside WeChat is not available.", field="method")
    check_payer_state(secret_key=secret_key, actor=actor, state=state)
    if not code or len(code) > 128:
        raise LaoyouError(ErrorCode.INVALID, "WeChat did not say who is paying. Please tap Pay again.")
    try:
        openid = await oauth.openid(code)
    except OAuthFailed as exc:
        log.warning("WeChat web authorisation failed: %s", exc)
        raise LaoyouError(
            ErrorCode.GATEWAY_ERROR, "WeChat did not say who is paying. Please tap Pay again."
        ) from None
    payer = (
        await session.exec(
            select(WechatPayer).where(
                WechatPayer.person_id == actor.person_id, WechatPayer.appid == oauth.appid
            )
        )
    ).first()
    if payer is None:
        payer = WechatPayer(person_id=actor.person_id, appid=oauth.appid, openid=openid)
    payer.openid, payer.updated_at = openid, utcnow()
    session.add(payer)
    await session.flush()
    return payer


async def wechat_openid(session: AsyncSession, *, person_id: int, appid: str) -> str | None:
    return (
        await session.exec(
            select(WechatPayer.openid).where(WechatPayer.person_id == person_id, WechatPayer.appid == appid)
        )
    ).first()
