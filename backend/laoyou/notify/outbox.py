"""The push outbox every capability writes through (do_enqueue), in the same transaction as its event.

The sender only ever sees committed rows, and the outbox's unique (event, device) key means one event
reaches one device at most once. It reads only push tables, so accounts can queue its notifications here.

A notice to more than INLINE_AUDIENCE people (a whole community's emergency notice) is written as one
NoticeFanout row instead, and the worker writes its device and climb rows (expand_fanouts): the steward's
request, and every resident's live count that waits on its commit, do not wait on thousands of rows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import orjson
from sqlalchemy import func, insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import jobs
from laoyou.core.db import session_scope
from laoyou.core.events import announce
from laoyou.core.pubsub import PubSub
from laoyou.core.time import as_utc, utcnow
from laoyou.notify.models import (
    NoticeFanout,
    OutboxStatus,
    PushKind,
    PushOutbox,
    PushPreference,
    PushSubscription,
)
from laoyou.notify.reach import plan as reach_plan

OUTBOX_CHANNEL = "push:outbox"
MAX_BODY = 300
# Above this many people a notice fans out in the worker: about a second of rows per five thousand.
INLINE_AUDIENCE = 500

log = logging.getLogger("laoyou.notify")


@dataclass(frozen=True)
class KindRule:
    ttl: int  # seconds a push service keeps it for a phone that is off
    urgency: str  # very-low, low, normal, high (RFC 8030 section 5.3)
    topic: str | None  # a newer message with the same topic replaces an undelivered older one


RULES: dict[PushKind, KindRule] = {
    PushKind.briefings: KindRule(ttl=24 * 3600, urgency="normal", topic="briefings"),
    PushKind.bills: KindRule(ttl=3 * 24 * 3600, urgency="normal", topic="bills"),
    PushKind.work_orders: KindRule(ttl=24 * 3600, urgency="normal", topic=None),
    PushKind.chat: KindRule(ttl=3600, urgency="high", topic=None),
    # Every emergency notice must arrive, so no topic: one never replaces another.
    PushKind.emergencies: KindRule(ttl=12 * 3600, urgency="high", topic=None),
    PushKind.general: KindRule(ttl=24 * 3600, urgency="normal", topic=None),
}


def push_kind(kind: str) -> PushKind:
    """Map a notification kind (e.g. "bill_overdue", "work_order_done") to the preference that governs it."""
    if kind in PushKind.__members__:
        return PushKind(kind)
    for prefix, mapped in (
        ("briefing", PushKind.briefings),
        ("bill", PushKind.bills),
        ("payment", PushKind.bills),
        ("work_order", PushKind.work_orders),
        ("ticket", PushKind.work_orders),
        ("chat", PushKind.chat),
        ("support", PushKind.chat),
        ("emergenc", PushKind.emergencies),
    ):
        if kind.startswith(prefix):
            return mapped
    return PushKind.general


def opened_url(link: str, token: str, via: str) -> str:
    """The page a notice opens, carrying her token and the channel it came by: opening it stops the climb."""
    return f"{link}{'&' if '?' in link else '?'}r={token}.{via}"


def _topic(text: str | None) -> str | None:
    """Topics are at most 32 characters of the URL-safe base64 alphabet."""
    if not text:
        return None
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "-" for ch in text)
    return cleaned[:32] or None


async def do_enqueue(
    session: AsyncSession,
    *,
    person_ids: list[int] | set[int],
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    urgency: str | None = None,
    topic: str | None = None,
    event_key: str | None = None,
    community_id: int | None = None,
) -> int:
    """Write one outbox row per device of these people that wants this kind, and plan the climb to other
    channels for what matters or for whom push cannot reach (notify.reach.plan); delivered after commit.
    For a large audience this writes one fan-out row, expanded the same way by the worker: returns 0."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0
    notice = NoticeFanout(
        event_key=event_key or uuid.uuid4().hex,
        person_ids=ids,
        kind=kind[:30],
        title=title[:200],
        body=body,
        link=link[:200],
        urgency=urgency,
        topic=topic,
        community_id=community_id,
    )
    if len(ids) > INLINE_AUDIENCE:
        session.add(notice)
        await session.flush()
        announce(session, OUTBOX_CHANNEL, {"fanout": 1})  # wakes the worker
        return 0
    return await _enqueue_now(session, notice)


async def _enqueue_now(session: AsyncSession, notice: NoticeFanout) -> int:
    """The notice's outbox rows and climbs, now (a small audience at once, a large one in the worker)."""
    ids, kind, title, body, link = notice.person_ids, notice.kind, notice.title, notice.body, notice.link
    urgency, topic, event_key = notice.urgency, notice.topic, notice.event_key
    pkind = push_kind(kind)
    rule = RULES[pkind]
    wanted = select(PushSubscription.id, PushSubscription.person_id).where(
        col(PushSubscription.person_id).in_(ids)
    )
    if pkind is not PushKind.general:
        switched_off = select(PushPreference.person_id).where(
            PushPreference.kind == pkind.value,
            col(PushPreference.enabled).is_(False),
            col(PushPreference.person_id).in_(ids),
        )
        wanted = wanted.where(col(PushSubscription.person_id).not_in(switched_off))
    devices = list(await session.exec(wanted))
    plans = await reach_plan.do_plan(
        session,
        person_ids=ids,
        with_push={pid for _, pid in devices},
        kind=kind,
        title=title,
        body=body,
        link=link,
        event_key=event_key,
        community_id=notice.community_id,
    )
    url = link if link.startswith("/") else "/"

    def payload(plan: reach_plan.Planned | None) -> str:
        return orjson.dumps(
            {
                "title": title[:100],
                "body": body[:MAX_BODY],
                # Her own token: opening the push stops the climb to other channels.
                "url": opened_url(url, plan.token, "push") if plan and plan.token else url,
                "kind": pkind.value,
                "tag": _topic(topic) or _topic(rule.topic) or f"{pkind.value}-{event_key[:12]}",
                "urgency": urgency or rule.urgency,
            }
        ).decode()

    shared = payload(None)
    now = utcnow()
    rows = [
        {
            "event_key": event_key,
            "subscription_id": sid,
            "person_id": pid,
            "kind": pkind.value,
            "payload": payload(plan) if plan and plan.token else shared,
            "ttl": rule.ttl,
            "urgency": urgency or rule.urgency,
            "topic": _topic(topic) if topic else rule.topic,
            "status": "pending",
            "attempts": 0,
            # Quiet hours hold a push that is not an emergency until they end.
            "next_attempt_at": (plan.not_before if plan and plan.not_before else now),
            "created_at": now,
        }
        for sid, pid in devices
        if (plan := plans.get(pid)) is None or plan.push
    ]
    if not rows:
        return 0
    for start in range(0, len(rows), 1000):
        await session.exec(insert(PushOutbox), params=rows[start : start + 1000])  # type: ignore[call-overload]
    announce(session, OUTBOX_CHANNEL, {"count": len(rows)})
    return len(rows)


async def expand_fanout(session: AsyncSession) -> NoticeFanout | None:
    """Claim the oldest waiting fan-out and write its device and climb rows in this transaction; None when
    none waits. Committed together, so a worker that dies midway leaves it waiting for the next one."""
    waiting = await session.exec(
        jobs.due(
            select(NoticeFanout.id)
            .where(col(NoticeFanout.expanded_at).is_(None))
            .order_by(col(NoticeFanout.id))
            .limit(1)
        )
    )
    ids = await jobs.claim(
        session, NoticeFanout, list(waiting), col(NoticeFanout.expanded_at).is_(None), expanded_at=utcnow()
    )
    if not ids:
        return None
    fanout = await session.get(NoticeFanout, ids[0], populate_existing=True)
    assert fanout is not None  # claimed in this transaction
    await _enqueue_now(session, fanout)
    return fanout


async def expand_fanouts(sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub) -> int:
    """Expand every waiting fan-out, one transaction each (the worker's round does this before sending)."""
    expanded = 0
    while True:
        async with session_scope(sessionmaker, pubsub) as session:
            fanout = await expand_fanout(session)
        if fanout is None:
            return expanded
        log.info("fanned out %s to %s people", fanout.event_key, len(fanout.person_ids))
        expanded += 1


async def backlog(session: AsyncSession) -> tuple[int, float]:
    """Push deliveries waiting to be sent (pending, or claimed by a sender and not yet done), and the age in
    seconds of the oldest: an operator's figure (/metrics)."""
    waiting = col(PushOutbox.status).in_((OutboxStatus.pending.value, OutboxStatus.sending.value))
    count, oldest = (
        await session.exec(select(func.count(), func.min(PushOutbox.created_at)).where(waiting))
    ).one()
    if not count or oldest is None:
        return 0, 0.0
    return count, max(0.0, (utcnow() - as_utc(oldest)).total_seconds())
