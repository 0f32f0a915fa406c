"""Planning a notice's climb, in the notice's own transaction (notify.outbox.do_enqueue calls it): for each
person, the ladder of channels she has and chose, her first step, and when the next one is due.

Push, when she has it, goes out at once as it always did and is free; the climb is for what matters
(priority important or emergency) and for people push cannot reach. Paid channels (SMS, voice) are reserved
against the person's daily and the community's monthly cap before a step is opened, by a guarded increment,
so concurrent workers never pass a cap.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Role, RoleGrant
from laoyou.core.db import insert_ignoring
from laoyou.core.settings import get_settings
from laoyou.core.time import SHANGHAI, local, local_date, utcnow
from laoyou.notify.reach.models import (
    PAID,
    Channel,
    Priority,
    Reach,
    ReachCap,
    ReachChoice,
    ReachSend,
    ReachState,
    ReachUsage,
    SendStatus,
    WechatLink,
)

# How long a step waits to be opened before the notice climbs to the next channel.
WAIT = {Priority.important: timedelta(hours=2), Priority.emergency: timedelta(minutes=2)}

_EMERGENCY_PREFIXES = ("emergenc", "sos", "care_family", "care_page")
# SOS answered, and a bill due: what must arrive, though not this minute.
_IMPORTANT_KINDS = frozenset({"sos_coming", "bill_overdue", "bill_due"})


def priority_of(kind: str) -> Priority:
    """Each kind of notice has a priority: emergencies, SOS and a missed check-in climb within minutes."""
    if kind == "sos_coming":
        return Priority.important
    if kind.startswith(_EMERGENCY_PREFIXES):
        return Priority.emergency
    if kind in _IMPORTANT_KINDS:
        return Priority.important
    return Priority.normal


def ladder(priority: Priority, *, push: bool, wechat: bool, off: set[str], call_me: bool) -> list[Channel]:
    """The channels a notice may climb, weakest first, of those she has and did not turn off.

    A normal notice takes the best free channel only. One that matters climbs on to SMS, and an emergency to a
    call; "call me" puts the call first for whatever matters (her push still arrives, for free, alongside)."""
    free = [c for c, has in ((Channel.push, push), (Channel.wechat, wechat)) if has and c.value not in off]
    if priority is Priority.normal:
        return free[:1]
    steps = list(free)
    if Channel.sms.value not in off:
        steps.append(Channel.sms)
    wants_call = Channel.voice.value not in off and (priority is Priority.emergency or call_me)
    if wants_call:
        steps.append(Channel.voice)
    if call_me and wants_call:
        steps = [Channel.voice] + [c for c in steps if c not in (Channel.push, Channel.voice)]
    return steps


def is_quiet(choice: ReachChoice | None, now: datetime) -> datetime | None:
    """When her quiet hours end, if `now` falls in them (None: not quiet, or she has none)."""
    if choice is None or choice.quiet_start == choice.quiet_end:
        return None
    here = local(now)
    minute = here.hour * 60 + here.minute
    start, end = choice.quiet_start, choice.quiet_end
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    ends = here.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if ends <= here:
        ends += timedelta(days=1)
    # Rebuilt from the wall time, so a date that crosses a zone change still lands on the wall time.
    return datetime(ends.year, ends.month, ends.day, ends.hour, ends.minute, tzinfo=SHANGHAI).astimezone(
        now.tzinfo
    )


def _off(choice: ReachChoice | None) -> set[str]:
    return {name for name in (choice.off if choice else "").split(",") if name}


@dataclass(frozen=True)
class Planned:
    """What the push outbox needs of a person's plan: her link's token, whether to push, and not before when."""

    token: str | None
    push: bool
    not_before: datetime | None


async def _communities(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    """The community each person lives in or follows (the lowest id, for one with several): it pays."""
    rows = await session.exec(
        select(RoleGrant.person_id, RoleGrant.community_id).where(
            col(RoleGrant.person_id).in_(ids),
            col(RoleGrant.role).in_([Role.resident.value, Role.family.value]),
            col(RoleGrant.revoked_at).is_(None),
            col(RoleGrant.community_id).is_not(None),
        )
    )
    found: dict[int, int] = {}
    for person_id, community_id in rows:
        if person_id not in found or community_id < found[person_id]:
            found[person_id] = community_id
    return found


async def do_plan(
    session: AsyncSession,
    *,
    person_ids: list[int],
    with_push: set[int],
    kind: str,
    title: str,
    body: str,
    link: str,
    event_key: str,
    community_id: int | None = None,
) -> dict[int, Planned]:
    """Write each person's climb for this notice and open its first step; returns what push needs per person."""
    now = utcnow()
    priority = priority_of(kind)
    choices: dict[int, ReachChoice] = {
        row.person_id: row
        for row in await session.exec(select(ReachChoice).where(col(ReachChoice.person_id).in_(person_ids)))
    }
    linked = set(
        await session.exec(
            select(WechatLink.person_id).where(
                col(WechatLink.person_id).in_(person_ids), col(WechatLink.following).is_(True)
            )
        )
    )
    communities = await _communities(session, person_ids) if priority is not Priority.normal or linked else {}
    planned: dict[int, Planned] = {}
    reaches: list[dict] = []
    for person_id in person_ids:
        choice = choices.get(person_id)
        off = _off(choice)
        push = person_id in with_push and Channel.push.value not in off
        quiet_until = None if priority is Priority.emergency else is_quiet(choice, now)
        steps = ladder(
            priority, push=push, wechat=person_id in linked, off=off, call_me=bool(choice and choice.call_me)
        )
        if not steps or steps == [Channel.push] and priority is Priority.normal:
            planned[person_id] = Planned(None, push, quiet_until)
            continue
        token = secrets.token_urlsafe(12)
        planned[person_id] = Planned(token, push, quiet_until)
        start = quiet_until or now
        reaches.append(
            {
                "event_key": event_key,
                "person_id": person_id,
                "community_id": community_id or communities.get(person_id),
                "kind": kind[:30],
                "priority": priority.value,
                "title": title[:100],
                "body": body[:500],
                "link": link[:200] if link.startswith("/") else "/",
                "token": token,
                "ladder": ",".join(steps),
                "step": 0,
                "state": ReachState.climbing.value,
                "next_step_at": start + WAIT[priority] if priority in WAIT else None,
                "created_at": now,
            }
        )
    for begin in range(0, len(reaches), 1000):
        batch = reaches[begin : begin + 1000]
        created = await session.execute(
            insert(Reach).returning(Reach.id, Reach.person_id, Reach.community_id, Reach.ladder), batch
        )
        created = list(created)
        granted: dict[Channel, set[int]] = {}
        for channel in PAID:
            paying = [(pid, cid) for _, pid, cid, steps in created if steps.split(",")[0] == channel.value]
            if paying:
                granted[channel] = await reserve_many(session, channel=channel, people=paying, now=now)
        sends = []
        for reach_id, person_id, _, steps in created:
            first = Channel(steps.split(",")[0])
            status = SendStatus.pending
            if first is Channel.push:
                status = SendStatus.sent  # the push outbox carries it, in this transaction
            elif first in PAID and person_id not in granted[first]:
                status = SendStatus.capped
            not_before = planned[person_id].not_before or now
            sends.append(
                {
                    "reach_id": reach_id,
                    "step": 0,
                    "channel": first.value,
                    "status": status.value,
                    "attempts": 0,
                    "next_attempt_at": not_before if status is SendStatus.pending else now,
                    "created_at": now,
                    "sent_at": now if status is SendStatus.sent else None,
                }
            )
        await session.exec(insert(ReachSend), params=sends)  # type: ignore[call-overload]
        capped = [send["reach_id"] for send in sends if send["status"] == SendStatus.capped.value]
        if capped:
            # Over a cap, the first step cannot go out: the notice climbs at the climb job's next round.
            await session.exec(update(Reach).where(col(Reach.id).in_(capped)).values(next_step_at=now))
    return planned


# --- caps ---------------------------------------------------------------------------------------------------


def month_of(day: date) -> date:
    return day.replace(day=1)


async def monthly_cap(session: AsyncSession, community_id: int, channel: Channel) -> int:
    """The operator's cap for the community, else the deployment's default."""
    row = (
        await session.exec(
            select(ReachCap.monthly).where(
                ReachCap.community_id == community_id, ReachCap.channel == channel.value
            )
        )
    ).first()
    if row is not None:
        return row
    settings = get_settings()
    return settings.reach_sms_monthly_cap if channel is Channel.sms else settings.reach_voice_monthly_cap


def daily_cap(channel: Channel) -> int:
    settings = get_settings()
    return (
        settings.reach_sms_daily_per_person
        if channel is Channel.sms
        else settings.reach_voice_daily_per_person
    )


async def _take(
    session: AsyncSession, scope: str, scope_id: int, period: date, channel: Channel, cap: int
) -> bool:
    await session.exec(  # type: ignore[call-overload]
        insert_ignoring(session, ReachUsage.__table__, ["scope", "scope_id", "period", "channel"]).values(
            scope=scope, scope_id=scope_id, period=period, channel=channel.value, used=0
        )
    )
    taken = await session.exec(
        update(ReachUsage)
        .where(
            ReachUsage.scope == scope,
            ReachUsage.scope_id == scope_id,
            ReachUsage.period == period,
            ReachUsage.channel == channel.value,
            ReachUsage.used < cap,
        )
        .values(used=ReachUsage.used + 1)
        .returning(ReachUsage.id)
    )
    return taken.first() is not None


async def _give_back(
    session: AsyncSession, scope: str, scope_id: int, period: date, channel: Channel
) -> None:
    await session.exec(
        update(ReachUsage)
        .where(
            ReachUsage.scope == scope,
            ReachUsage.scope_id == scope_id,
            ReachUsage.period == period,
            ReachUsage.channel == channel.value,
            ReachUsage.used > 0,
        )
        .values(used=ReachUsage.used - 1)
    )


async def reserve(
    session: AsyncSession, *, channel: Channel, person_id: int, community_id: int | None, now: datetime
) -> bool:
    """Count one paid send against her day and her community's month; False (nothing counted) if either is full."""
    day = local_date(now)
    if not await _take(session, "person", person_id, day, channel, daily_cap(channel)):
        return False
    if community_id is not None and not await _take(
        session,
        "community",
        community_id,
        month_of(day),
        channel,
        await monthly_cap(session, community_id, channel),
    ):
        await _give_back(session, "person", person_id, day, channel)
        return False
    return True


async def reserve_many(
    session: AsyncSession, *, channel: Channel, people: list[tuple[int, int | None]], now: datetime
) -> set[int]:
    """`reserve` for many (person, community) at once, in a few statements whatever their number: who of
    them may be sent one more paid message today within her daily cap, then within her community's month."""
    day = local_date(now)
    ids = [person_id for person_id, _ in people]
    values = [
        {"scope": "person", "scope_id": pid, "period": day, "channel": channel.value, "used": 0}
        for pid in ids
    ]
    for begin in range(0, len(values), 1000):
        await session.exec(  # type: ignore[call-overload]
            insert_ignoring(session, ReachUsage.__table__, ["scope", "scope_id", "period", "channel"]),
            params=values[begin : begin + 1000],
        )
    granted: set[int] = set()
    for begin in range(0, len(ids), 1000):
        taken = await session.exec(
            update(ReachUsage)
            .where(
                ReachUsage.scope == "person",
                col(ReachUsage.scope_id).in_(ids[begin : begin + 1000]),
                ReachUsage.period == day,
                ReachUsage.channel == channel.value,
                ReachUsage.used < daily_cap(channel),
            )
            .values(used=ReachUsage.used + 1)
            .returning(ReachUsage.scope_id)
        )
        granted |= set(taken.scalars())
    by_community: dict[int, list[int]] = {}
    for person_id, community_id in people:
        if person_id in granted and community_id is not None:
            by_community.setdefault(community_id, []).append(person_id)
    for community_id, members in by_community.items():
        allowed = await _take_many(
            session,
            community_id,
            month_of(day),
            channel,
            len(members),
            await monthly_cap(session, community_id, channel),
        )
        refused = members[allowed:]
        if refused:
            granted -= set(refused)
            await session.exec(
                update(ReachUsage)
                .where(
                    ReachUsage.scope == "person",
                    col(ReachUsage.scope_id).in_(refused),
                    ReachUsage.period == day,
                    ReachUsage.channel == channel.value,
                )
                .values(used=ReachUsage.used - 1)
            )
    return granted


async def _take_many(
    session: AsyncSession, community_id: int, period: date, channel: Channel, wanted: int, cap: int
) -> int:
    """Take up to `wanted` of the community's month at once; how many were taken. The UPDATE is guarded by the
    count it read, so a concurrent taker makes it read again rather than pass the cap."""
    await session.exec(  # type: ignore[call-overload]
        insert_ignoring(session, ReachUsage.__table__, ["scope", "scope_id", "period", "channel"]).values(
            scope="community", scope_id=community_id, period=period, channel=channel.value, used=0
        )
    )
    where = (
        ReachUsage.scope == "community",
        ReachUsage.scope_id == community_id,
        ReachUsage.period == period,
        ReachUsage.channel == channel.value,
    )
    while True:
        used = (await session.exec(select(ReachUsage.used).where(*where))).one()
        grant = max(0, min(wanted, cap - used))
        if grant == 0:
            return 0
        done = await session.exec(
            update(ReachUsage)
            .where(*where, ReachUsage.used == used)
            .values(used=used + grant)
            .returning(ReachUsage.id)
        )
        if done.first() is not None:
            return grant


async def release(
    session: AsyncSession, *, channel: Channel, person_id: int, community_id: int | None, when: datetime
) -> None:
    """A paid send that never went out is not paid for: its reservation is given back."""
    day = local_date(when)
    await _give_back(session, "person", person_id, day, channel)
    if community_id is not None:
        await _give_back(session, "community", community_id, month_of(day), channel)
