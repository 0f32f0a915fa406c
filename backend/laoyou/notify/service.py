"""Web push: devices, preferences per kind, notifying many people and emergency notices.

Every notification reaches a person's devices through the outbox (notify.outbox.do_enqueue), written in the
same transaction as the event.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Notification, Role, RoleGrant
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.events import announce
from laoyou.core.text import check_text
from laoyou.estates import service as estates
from laoyou.notify.models import (
    EmergencyKind,
    EmergencyNotice,
    PushKind,
    PushPreference,
    PushSubscription,
)
from laoyou.notify.outbox import do_enqueue

MAX_DEVICES_PER_PERSON = 10

# The kinds a person may switch off, in the order the settings page shows them.
CHOOSABLE = (PushKind.briefings, PushKind.bills, PushKind.work_orders, PushKind.chat, PushKind.emergencies)


def _now():  # noqa: ANN202
    from laoyou.core.time import utcnow

    return utcnow()


async def do_notify_people(
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
    communities: list[int] | None = None,
) -> int:
    """accounts.do_notify for many people at once: notification rows in bulk, live counts, one push event.

    `communities`: the people are these communities' audience (community_audience), so their live counts hear
    of it through one event per community rather than one per person."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0
    now = _now()
    rows = [
        {
            "person_id": pid,
            "kind": kind[:30],
            "title": title[:200],
            "body": body[:1000],
            "link": link[:200],
            "created_at": now,
        }
        for pid in ids
    ]
    for start in range(0, len(rows), 1000):
        await session.exec(insert(Notification), params=rows[start : start + 1000])  # type: ignore[call-overload]
    if communities is not None:
        channels = [accounts.community_notices_channel(c) for c in sorted(set(communities))]
    else:
        channels = [accounts.notifications_channel(pid) for pid in ids]
    for channel in channels:
        announce(session, channel, {"kind": kind})
    await do_enqueue(
        session,
        person_ids=ids,
        kind=kind,
        title=title,
        body=body,
        link=link,
        urgency=urgency,
        topic=topic,
        event_key=event_key,
        community_id=community_id,
    )
    return len(ids)


async def community_audience(session: AsyncSession, community_ids: list[int] | set[int]) -> list[int]:
    """Everyone living in these communities, and the family members following their households."""
    if not community_ids:
        return []
    rows = await session.exec(
        select(RoleGrant.person_id)
        .where(
            col(RoleGrant.community_id).in_(list(community_ids)),
            col(RoleGrant.role).in_([Role.resident.value, Role.family.value]),
            col(RoleGrant.revoked_at).is_(None),
        )
        .distinct()
    )
    return list(rows)


# --- devices ------------------------------------------------------------------------------------------


def check_subscription(endpoint: str, p256dh: str, auth: str) -> None:
    from laoyou.notify.vapid import b64url_decode

    if not endpoint.startswith("https://") or len(endpoint) > 1000:
        raise LaoyouError(
            ErrorCode.INVALID, "This phone's notification address is not valid.", field="endpoint"
        )
    try:
        key = b64url_decode(p256dh)
        secret = b64url_decode(auth)
    except (ValueError, TypeError):
        key = secret = b""
    if len(key) != 65 or key[0] != 4 or len(secret) != 16:
        raise LaoyouError(ErrorCode.INVALID, "This phone's notification keys are not valid.", field="p256dh")


async def do_register_subscription(
    session: AsyncSession, *, actor: Actor, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Turn notifications on for this device; the same device registering again replaces its keys."""
    actor.require_login()
    endpoint, p256dh, auth = endpoint.strip(), p256dh.strip(), auth.strip()
    check_subscription(endpoint, p256dh, auth)
    existing = (
        await session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    ).first()
    if existing is not None:
        # A shared phone that changed hands: the device now belongs to whoever turned it on last.
        existing.person_id, existing.p256dh, existing.auth = actor.person_id, p256dh, auth
        existing.user_agent = (user_agent or "")[:300]
        session.add(existing)
        await session.flush()
        return existing
    count = await session.scalar(
        select(func.count())
        .select_from(PushSubscription)
        .where(PushSubscription.person_id == actor.person_id)
    )
    if (count or 0) >= MAX_DEVICES_PER_PERSON:
        oldest = (
            await session.exec(
                select(PushSubscription)
                .where(PushSubscription.person_id == actor.person_id)
                .order_by(PushSubscription.id)
                .limit(1)
            )
        ).first()
        await session.delete(oldest)
    subscription = PushSubscription(
        person_id=actor.person_id,
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
        user_agent=(user_agent or "")[:300],
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def do_remove_subscription(session: AsyncSession, *, actor: Actor, endpoint: str) -> int:
    actor.require_login()
    result = await session.exec(
        delete(PushSubscription).where(
            PushSubscription.endpoint == endpoint.strip(), PushSubscription.person_id == actor.person_id
        )
    )
    return result.rowcount or 0


async def device_count(session: AsyncSession, *, actor: Actor) -> int:
    actor.require_login()
    return (
        await session.scalar(
            select(func.count())
            .select_from(PushSubscription)
            .where(PushSubscription.person_id == actor.person_id)
        )
    ) or 0


async def preferences(session: AsyncSession, *, actor: Actor) -> dict[PushKind, bool]:
    actor.require_login()
    rows = await session.exec(select(PushPreference).where(PushPreference.person_id == actor.person_id))
    off = {row.kind for row in rows if not row.enabled}
    return {kind: kind.value not in off for kind in CHOOSABLE}


async def do_set_preferences(
    session: AsyncSession, *, actor: Actor, enabled: dict[str, bool]
) -> dict[PushKind, bool]:
    actor.require_login()
    for kind in enabled:
        if kind not in {k.value for k in CHOOSABLE}:
            raise LaoyouError(ErrorCode.INVALID, "That kind of notification is not offered.", field="kind")
    rows = {
        row.kind: row
        for row in await session.exec(
            select(PushPreference).where(PushPreference.person_id == actor.person_id)
        )
    }
    for kind, on in enabled.items():
        row = rows.get(kind) or PushPreference(person_id=actor.person_id, kind=kind)
        row.enabled = bool(on)
        session.add(row)
    await session.flush()
    return await preferences(session, actor=actor)


# --- emergency notices ---------------------------------------------------------------------------------


def emergency_event_key(notice_id: int) -> str:
    return f"emergency:{notice_id}"


async def steward_community_ids(session: AsyncSession, actor: Actor) -> set[int] | None:
    """Communities the actor may address as a steward (None: every community, for the admin)."""
    actor.require_login()
    if actor.is_admin:
        return None
    if not actor.has(Role.steward):
        return set()
    scoped = Actor(person=actor.person, grants=actor.grants_of(Role.steward))
    return await estates.staff_community_ids(session, scoped) or set()


async def check_steward_communities(session: AsyncSession, *, actor: Actor, community_ids: list[int]) -> list:
    """The communities, each one served by the actor as steward; any other answers Not found."""
    from laoyou.estates.models import Community

    if not community_ids:
        raise LaoyouError(ErrorCode.INVALID, "Please choose at least one community.", field="communityIds")
    if len(community_ids) > 50:
        raise LaoyouError(ErrorCode.INVALID, "Please choose at most 50 communities.", field="communityIds")
    allowed = await steward_community_ids(session, actor)
    if allowed is not None and not set(community_ids) <= allowed:
        raise NotFound()
    found = list(
        await session.exec(
            select(Community).where(col(Community.id).in_(community_ids)).order_by(Community.id)
        )
    )
    if len(found) != len(set(community_ids)):
        raise NotFound()
    return found


async def do_send_emergency(
    session: AsyncSession,
    *,
    actor: Actor,
    community_ids: list[int],
    kind: str,
    title: str,
    body: str = "",
    client_id: str | None = None,
) -> list[EmergencyNotice]:
    """A steward warns whole communities (water cut, lift out, typhoon): every household, high urgency.

    `client_id` (the form's or the app's) makes it one send however often it comes: a second press, a reload
    or a retry after a lost answer gets the notices the first one sent, and nobody hears it twice."""
    communities = await check_steward_communities(session, actor=actor, community_ids=community_ids)
    if client_id is not None:
        client_id = client_id.strip()
        if not (0 < len(client_id) <= 64):
            raise LaoyouError(ErrorCode.INVALID, "The form's id is not valid.", field="clientId")
        earlier = await _emergencies_sent_with(session, actor, client_id)
        if earlier:
            return earlier
    if kind not in EmergencyKind.__members__:
        raise LaoyouError(ErrorCode.INVALID, "Please choose what happened.", field="kind")
    title, body = (title or "").strip(), (body or "").strip()
    if not (0 < len(title) <= 100):
        raise LaoyouError(ErrorCode.INVALID, "A title has 1 to 100 characters.", field="title")
    if len(body) > 500:
        raise LaoyouError(ErrorCode.INVALID, "Please keep the text under 500 characters.", field="body")
    check_text(title, field="title")
    check_text(body, field="body")
    audiences = {c.id: await community_audience(session, [c.id]) for c in communities}
    try:
        # A savepoint: the same send committed meanwhile by a second press fails the first insert on its unique
        # key, and what that one sent is the answer. Nothing is read in it before that insert: on SQLite a read
        # would fix the transaction's snapshot, and a write after another's commit then fails as "locked".
        async with session.begin_nested():
            notices = await _send_emergencies(
                session, actor, communities, audiences, kind, title, body, client_id
            )
    except IntegrityError:
        earlier = await _emergencies_sent_with(session, actor, client_id) if client_id else []
        if not earlier:
            raise
        return earlier
    await accounts.audit(
        session,
        actor=actor,
        action="emergency.send",
        subject_type="emergency_notice",
        subject_id=notices[0].id if notices else None,
        detail=f"{kind} {community_ids}",
    )
    return notices


async def _emergencies_sent_with(
    session: AsyncSession, actor: Actor, client_id: str
) -> list[EmergencyNotice]:
    rows = await session.exec(
        select(EmergencyNotice)
        .where(EmergencyNotice.author_id == actor.person_id, EmergencyNotice.client_id == client_id)
        .order_by(EmergencyNotice.id)
    )
    return list(rows)


async def _send_emergencies(  # noqa: PLR0913
    session: AsyncSession,
    actor: Actor,
    communities: list,
    audiences: dict[int, list[int]],
    kind: str,
    title: str,
    body: str,
    client_id: str | None,
) -> list[EmergencyNotice]:
    notices = []
    for community in communities:
        people = audiences[community.id]
        notice = EmergencyNotice(
            community_id=community.id,
            district_id=community.district_id,
            author_id=actor.person_id,
            kind=kind,
            title=title,
            body=body,
            people_notified=len(people),
            client_id=client_id,
        )
        session.add(notice)
        await session.flush()
        await do_notify_people(
            session,
            person_ids=people,
            kind="emergencies",
            title=title,
            body=body,
            link=f"/emergencies/{notice.id}",
            urgency="high",
            # The steward's report of who was reached finds the notice's climbs by this key.
            event_key=emergency_event_key(notice.id),
            community_id=community.id,
            communities=[community.id],
        )
        notices.append(notice)
    return notices


async def access_emergency(session: AsyncSession, *, actor: Actor, notice_id: int) -> EmergencyNotice:
    """One notice, for those who live in, follow or serve its community; to anyone else it is not there."""
    actor.require_login()
    notice = await session.get(EmergencyNotice, notice_id)
    visible = await estates.visible_community_ids(session, actor)
    if notice is None or (visible is not None and notice.community_id not in visible):
        raise NotFound()
    return notice


async def list_emergencies(session: AsyncSession, *, actor: Actor, first: int) -> list[EmergencyNotice]:
    """Notices of the communities the viewer lives in, follows or serves, newest first."""
    actor.require_login()
    visible = await estates.visible_community_ids(session, actor)
    query = select(EmergencyNotice).order_by(col(EmergencyNotice.id).desc()).limit(first)
    if visible is not None:
        query = query.where(col(EmergencyNotice.community_id).in_(visible))
    return list(await session.exec(query))
