"""Who a person is under the official account: her openid, learned by its silent web authorisation
(snsapi_base) when she opens Laoyou inside WeChat, and the state that ties that authorisation to her session."""

from __future__ import annotations

import time

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit
from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.security import constant_equals, keyed_hash
from laoyou.core.time import utcnow
from laoyou.notify.reach.models import WechatLink

# Long enough for a slow phone to go to WeChat and back; a state older than this is refused.
STATE_LIFETIME_SECONDS = 600
MAX_OPENID = 128


def _state_signature(secret_key: str, session_id: int, stamp: str) -> str:
    # Its own purpose in the HMAC: a state made for paying cannot link, nor the reverse.
    return keyed_hash(secret_key, f"wechat-link:{session_id}:{stamp}")[:32]


def link_state(*, secret_key: str, actor: Actor, now: float | None = None) -> str:
    """The OAuth state: a time and an HMAC of it with this session, in the characters WeChat allows
    (a-zA-Z0-9, at most 128), so that a code fetched for one session cannot be fed to another."""
    actor.require_login()
    stamp = f"{int(now if now is not None else time.time()):010d}"
    return stamp + _state_signature(secret_key, actor.session_id or 0, stamp)


def check_link_state(*, secret_key: str, actor: Actor, state: str, now: float | None = None) -> None:
    actor.require_login()
    stamp, signature = state[:10], state[10:]
    now = now if now is not None else time.time()
    if (
        not stamp.isdigit()
        or not constant_equals(signature, _state_signature(secret_key, actor.session_id or 0, stamp))
        or not 0 <= now - int(stamp) <= STATE_LIFETIME_SECONDS
    ):
        raise LaoyouError(
            ErrorCode.INVALID,
            "This link from WeChat is not for this page or has expired. Please open Laoyou in WeChat again.",
            field="state",
        )


async def wechat_link(session: AsyncSession, *, person_id: int, appid: str) -> WechatLink | None:
    return (
        await session.exec(
            select(WechatLink).where(WechatLink.person_id == person_id, WechatLink.appid == appid)
        )
    ).first()


async def do_link_wechat(session: AsyncSession, *, actor: Actor, appid: str, openid: str) -> WechatLink:
    """WeChat said who she is under the account: remember it, one openid per person and account."""
    actor.require_login()
    if not openid or len(openid) > MAX_OPENID or not appid:
        raise LaoyouError(ErrorCode.INVALID, "WeChat did not say who you are. Please try again later.")
    person_id = actor.person_id
    # A WeChat that opened Laoyou for someone else before now opens it for her: a phone handed down in the
    # family, or a WeChat shared by a couple. Messages follow whoever opened Laoyou with it last.
    previous = (
        await session.exec(
            select(WechatLink).where(
                WechatLink.appid == appid, WechatLink.openid == openid, WechatLink.person_id != person_id
            )
        )
    ).first()
    if previous is not None:
        await audit(
            session,
            actor=actor,
            action="wechat.unlink",
            subject_type="person",
            subject_id=previous.person_id,
            detail=f"the WeChat moved to person {person_id}",
        )
        await session.delete(previous)
        await session.flush()  # the (appid, openid) pair is free before she takes it
    link = await wechat_link(session, person_id=person_id, appid=appid)
    if link is None:
        link = WechatLink(person_id=person_id, appid=appid, openid=openid)
    elif link.openid == openid and link.following and previous is None:
        return link
    # Opening Laoyou in WeChat again is a new chance: if she still does not follow the account, the next
    # message finds out (43004) and sets it back.
    link.openid, link.following, link.linked_at = openid, True, utcnow()
    session.add(link)
    await audit(session, actor=actor, action="wechat.link", subject_type="person", subject_id=person_id)
    await session.flush()
    return link
