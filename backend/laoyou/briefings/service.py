"""Briefings: stewards write them for the communities they serve; residents and family of those communities
read them, thank for them; stewards see how many households of each community have read them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Role
from laoyou.briefings.models import (
    Briefing,
    BriefingAudience,
    BriefingItemKind,
    BriefingMedia,
    BriefingRead,
    BriefingStatus,
    BriefingThanks,
)
from laoyou.core import jobs
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.events import announce
from laoyou.core.pagination import Page
from laoyou.core.text import check_text
from laoyou.core.time import as_utc, start_of_local_day, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.media import service as media_service
from laoyou.media.models import MediaFile
from laoyou.notify import service as notify

MAX_PHOTOS = 9
MAX_ITEMS = 30
MAX_BODY = 2000
MAX_SCHEDULE = timedelta(days=30)


@dataclass(frozen=True)
class BriefingDraft:
    """What a steward fills in; validated by check_draft."""

    community_ids: list[int]
    title: str
    body: str = ""
    items: list[tuple[str, str]] | None = None  # (kind, text)
    photo_ids: list[int] | None = None
    video_id: int | None = None


def _pairs(result) -> dict:  # noqa: ANN001
    """Two-column rows as a dict (a Result has keys(), so dict() would take it for a mapping)."""
    return {key: value for key, value in result}


def items_of(briefing: Briefing) -> list[dict[str, str]]:
    return orjson.loads(briefing.items_json or "[]")


def resident_households_by_community(actor: Actor) -> dict[int, list[int]]:
    """The viewer's own and followed households, by community."""
    result: dict[int, list[int]] = {}
    for grant in actor.grants_of(Role.resident, Role.family):
        if grant.household_id and grant.community_id:
            result.setdefault(grant.community_id, []).append(grant.household_id)
    return result


async def audience_ids(session: AsyncSession, briefing_id: int) -> list[int]:
    rows = await session.exec(
        select(BriefingAudience.community_id)
        .where(BriefingAudience.briefing_id == briefing_id)
        .order_by(BriefingAudience.community_id)
    )
    return list(rows)


def community_channel(community_id: int) -> str:
    return f"briefings:community:{community_id}"


async def _tell_audience(session: AsyncSession, briefing_id: int) -> None:
    """Open home pages in the audience communities hear that what they show of today's briefings changed."""
    for community_id in await audience_ids(session, briefing_id):
        announce(session, community_channel(community_id), {"id": briefing_id})


# --- who may see and change what -----------------------------------------------------------------------


async def access_briefing(session: AsyncSession, *, actor: Actor, briefing_id: int) -> Briefing:
    """Staff of an audience community see every state; residents and family see it once published."""
    actor.require_login()
    briefing = await session.get(Briefing, briefing_id)
    if briefing is None:
        raise NotFound()
    audience = set(await audience_ids(session, briefing_id))
    staff = await estates.staff_community_ids(session, actor)
    if briefing.author_id == actor.person_id or staff is None or audience & staff:
        return briefing
    if briefing.status == BriefingStatus.published.value and audience & set(
        resident_households_by_community(actor)
    ):
        return briefing
    raise NotFound()


async def access_briefing_as_editor(session: AsyncSession, *, actor: Actor, briefing_id: int) -> Briefing:
    """Only a steward of every community it is for (or the admin) changes a briefing."""
    briefing = await access_briefing(session, actor=actor, briefing_id=briefing_id)
    allowed = await notify.steward_community_ids(session, actor)
    if allowed is not None and not set(await audience_ids(session, briefing_id)) <= allowed:
        raise PermissionDenied("Only the steward of these communities can change this briefing.")
    return briefing


async def steward_communities(session: AsyncSession, *, actor: Actor) -> list[Community]:
    """The communities the actor may post briefings to."""
    allowed = await notify.steward_community_ids(session, actor)
    query = select(Community).order_by(Community.id)
    if allowed is not None:
        if not allowed:
            return []
        query = query.where(col(Community.id).in_(allowed))
    return list(await session.exec(query.limit(200)))


async def community_districts(session: AsyncSession, community_ids: list[int]) -> dict[int, int]:
    """Each community's district."""
    if not community_ids:
        return {}
    return _pairs(
        await session.exec(
            select(Community.id, Community.district_id).where(col(Community.id).in_(community_ids))
        )
    )


# --- writing ---------------------------------------------------------------------------------------------


async def check_draft(
    session: AsyncSession, *, actor: Actor, draft: BriefingDraft
) -> tuple[list[Community], list[MediaFile]]:
    communities = await notify.check_steward_communities(
        session, actor=actor, community_ids=draft.community_ids
    )
    title = draft.title.strip()
    if not (0 < len(title) <= 100):
        raise LaoyouError(ErrorCode.INVALID, "A title has 1 to 100 characters.", field="title")
    check_text(title, field="title")
    if len(draft.body.strip()) > MAX_BODY:
        raise LaoyouError(
            ErrorCode.INVALID, "Please keep the text under %(max)s characters.", field="body", max=MAX_BODY
        )
    check_text(draft.body, field="body")
    items = draft.items or []
    if len(items) > MAX_ITEMS:
        raise LaoyouError(
            ErrorCode.INVALID, "Please list at most %(max)s things.", field="items", max=MAX_ITEMS
        )
    for kind, text in items:
        if kind not in BriefingItemKind.__members__:
            raise LaoyouError(ErrorCode.INVALID, "That kind of work is not offered.", field="items")
        if not (0 < len(text.strip()) <= 100):
            raise LaoyouError(ErrorCode.INVALID, "Each thing done has 1 to 100 characters.", field="items")
        check_text(text, field="items")
    photo_ids = list(dict.fromkeys(draft.photo_ids or []))
    if len(photo_ids) > MAX_PHOTOS:
        raise LaoyouError(
            ErrorCode.INVALID, "A briefing has at most %(max)s photos.", field="photoIds", max=MAX_PHOTOS
        )
    wanted = photo_ids + ([draft.video_id] if draft.video_id else [])
    media = (
        {m.id: m for m in await session.exec(select(MediaFile).where(col(MediaFile.id).in_(wanted)))}
        if wanted
        else {}
    )
    ordered = []
    for media_id in photo_ids:
        found = media.get(media_id)
        if (
            found is None
            or (found.uploaded_by_id != actor.person_id and not actor.is_admin)
            or found.kind != "image"
        ):
            raise LaoyouError(
                ErrorCode.INVALID, "One of the photos cannot be used. Please add it again.", field="photoIds"
            )
        ordered.append(found)
    if draft.video_id:
        found = media.get(draft.video_id)
        if (
            found is None
            or (found.uploaded_by_id != actor.person_id and not actor.is_admin)
            or found.kind != "video"
        ):
            raise LaoyouError(
                ErrorCode.INVALID, "The video cannot be used. Please add it again.", field="videoId"
            )
        ordered.append(found)
    return communities, ordered


def check_schedule(publish_at: datetime | None, now: datetime) -> datetime:
    if publish_at is None:
        raise LaoyouError(ErrorCode.INVALID, "Please choose when to publish.", field="publishAt")
    when = as_utc(publish_at)
    if when <= now or when - now > MAX_SCHEDULE:
        raise LaoyouError(
            ErrorCode.INVALID, "Please choose a time within the next 30 days.", field="publishAt"
        )
    return when


async def _write_content(
    session: AsyncSession, briefing: Briefing, draft: BriefingDraft, media: list[MediaFile]
) -> None:
    briefing.title = draft.title.strip()
    briefing.body = draft.body.strip()
    briefing.items_json = orjson.dumps(
        [{"kind": k, "text": t.strip()} for k, t in (draft.items or [])]
    ).decode()
    briefing.updated_at = utcnow()
    session.add(briefing)
    await session.flush()
    for old in await session.exec(select(BriefingMedia).where(BriefingMedia.briefing_id == briefing.id)):
        await session.delete(old)
    await session.flush()
    for position, item in enumerate(media):
        session.add(
            BriefingMedia(briefing_id=briefing.id, media_id=item.id, kind=item.kind, position=position)
        )
    await session.flush()


async def do_create_briefing(
    session: AsyncSession,
    *,
    actor: Actor,
    draft: BriefingDraft,
    mode: str = "draft",
    publish_at: datetime | None = None,
) -> Briefing:
    """Save a briefing as a draft, publish it now, or schedule it (the worker publishes it when due)."""
    communities, media = await check_draft(session, actor=actor, draft=draft)
    now = utcnow()
    when = check_schedule(publish_at, now) if mode == "scheduled" else None
    briefing = Briefing(
        author_id=actor.person_id,
        title=draft.title.strip(),
        share_token=secrets.token_urlsafe(24),
        status=BriefingStatus.draft.value,
    )
    session.add(briefing)
    await session.flush()
    for community in communities:
        session.add(
            BriefingAudience(
                briefing_id=briefing.id, community_id=community.id, district_id=community.district_id
            )
        )
    await _write_content(session, briefing, draft, media)
    if mode == "now":
        await _publish(session, briefing, now)
    elif mode == "scheduled":
        briefing.status, briefing.publish_at = BriefingStatus.scheduled.value, when
        session.add(briefing)
        await session.flush()
    return briefing


async def do_update_briefing(
    session: AsyncSession,
    *,
    actor: Actor,
    briefing_id: int,
    draft: BriefingDraft,
    mode: str | None = None,
    publish_at: datetime | None = None,
) -> Briefing:
    """Change a draft freely; a published briefing's correction is shown as edited, with the time."""
    briefing = await access_briefing_as_editor(session, actor=actor, briefing_id=briefing_id)
    if briefing.status == BriefingStatus.withdrawn.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This briefing was withdrawn and cannot be changed.")
    published = briefing.status == BriefingStatus.published.value
    current = await audience_ids(session, briefing.id)
    if published and sorted(set(draft.community_ids)) != current:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED,
            "The communities of a published briefing cannot be changed.",
            field="communityIds",
        )
    communities, media = await check_draft(session, actor=actor, draft=draft)
    now = utcnow()
    when = check_schedule(publish_at, now) if mode == "scheduled" and not published else None
    if not published:
        wanted = {c.id: c for c in communities}
        for row in await session.exec(
            select(BriefingAudience).where(BriefingAudience.briefing_id == briefing.id)
        ):
            if row.community_id not in wanted:
                await session.delete(row)
        for cid, community in wanted.items():
            if cid not in current:
                session.add(
                    BriefingAudience(
                        briefing_id=briefing.id, community_id=cid, district_id=community.district_id
                    )
                )
    await _write_content(session, briefing, draft, media)
    if published:
        briefing.edited_at = now
        await _tell_audience(session, briefing.id)
    elif mode == "now":
        await _publish(session, briefing, now)
    elif mode == "scheduled":
        briefing.status, briefing.publish_at = BriefingStatus.scheduled.value, when
    elif mode == "draft":
        briefing.status, briefing.publish_at = BriefingStatus.draft.value, None
    session.add(briefing)
    await session.flush()
    return briefing


async def _publish(session: AsyncSession, briefing: Briefing, now: datetime) -> None:
    briefing.status, briefing.published_at, briefing.publish_at = BriefingStatus.published.value, now, None
    session.add(briefing)
    await session.flush()
    await _announce(session, briefing)


async def _announce(session: AsyncSession, briefing: Briefing) -> None:
    """Every resident of the audience communities, and family following their households, is told."""
    await _tell_audience(session, briefing.id)
    communities = await audience_ids(session, briefing.id)
    people = await notify.community_audience(session, communities)
    body = briefing.body if len(briefing.body) <= 120 else briefing.body[:119] + "…"
    await notify.do_notify_people(
        session,
        person_ids=people,
        kind="briefings",
        title=briefing.title,
        body=body,
        link=f"/briefings/{briefing.id}",
        # Their live counts hear of it once per community, not once per person (one NOTIFY each on PostgreSQL).
        communities=list(communities),
    )


async def do_publish_briefing(session: AsyncSession, *, actor: Actor, briefing_id: int) -> Briefing:
    briefing = await access_briefing_as_editor(session, actor=actor, briefing_id=briefing_id)
    if briefing.status not in (BriefingStatus.draft.value, BriefingStatus.scheduled.value):
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "Only a draft or a scheduled briefing can be published.")
    await _publish(session, briefing, utcnow())
    return briefing


async def do_publish_due(session: AsyncSession, *, now: datetime | None = None) -> int:
    """The job: publish scheduled briefings whose time has come; a guarded update publishes each once."""
    now = now or utcnow()
    scheduled = Briefing.status == BriefingStatus.scheduled.value
    due = list(
        await session.exec(
            jobs.due(
                select(Briefing.id)
                .where(scheduled, col(Briefing.publish_at) <= now)
                .order_by(Briefing.id)
                .limit(100)
            )
        )
    )
    published = 0
    for briefing_id in due:
        values = {"status": BriefingStatus.published.value, "published_at": now, "publish_at": None}
        if await jobs.claim(session, Briefing, [briefing_id], scheduled, **values):
            briefing = await session.get(Briefing, briefing_id)
            await session.refresh(briefing)
            await _announce(session, briefing)
            published += 1
    return published


async def do_withdraw_briefing(session: AsyncSession, *, actor: Actor, briefing_id: int) -> Briefing:
    """Residents stop seeing it at once; the steward still sees it, marked withdrawn."""
    briefing = await access_briefing_as_editor(session, actor=actor, briefing_id=briefing_id)
    if briefing.status == BriefingStatus.withdrawn.value:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This briefing was already withdrawn.")
    briefing.status, briefing.withdrawn_at, briefing.publish_at = (
        BriefingStatus.withdrawn.value,
        utcnow(),
        None,
    )
    session.add(briefing)
    await session.flush()
    await _tell_audience(session, briefing.id)
    return briefing


# --- reading ---------------------------------------------------------------------------------------------


async def list_briefings(
    session: AsyncSession, *, actor: Actor, first: int, after: int | None
) -> Page[Briefing]:
    """Newest first. Staff: every briefing for their communities; residents and family: published ones."""
    actor.require_login()
    staff = await estates.staff_community_ids(session, actor)
    query = select(Briefing).order_by(col(Briefing.id).desc())
    if staff is not None:
        mine = set(resident_households_by_community(actor))
        staff_ids = select(BriefingAudience.briefing_id).where(col(BriefingAudience.community_id).in_(staff))
        resident_ids = select(BriefingAudience.briefing_id).where(
            col(BriefingAudience.community_id).in_(mine)
        )
        query = query.where(
            col(Briefing.id).in_(staff_ids)
            | (col(Briefing.author_id) == actor.person_id)
            | (col(Briefing.id).in_(resident_ids) & (col(Briefing.status) == BriefingStatus.published.value))
        )
    if after is not None:
        query = query.where(Briefing.id < after)
    rows = list(await session.exec(query.limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


def todays_channels(actor: Actor) -> list[str]:
    """Where the viewer hears of a change to their homes' briefings: their own and followed communities only."""
    return [community_channel(cid) for cid in sorted(resident_households_by_community(actor))]


async def todays_briefings(
    session: AsyncSession, *, actor: Actor, now: datetime | None = None
) -> list[Briefing]:
    """Published today (Shanghai time) for the viewer's own and followed communities, newest first."""
    actor.require_login()
    mine = set(resident_households_by_community(actor))
    if not mine:
        return []
    since = start_of_local_day(now or utcnow())
    rows = await session.exec(
        select(Briefing)
        .where(
            col(Briefing.id).in_(
                select(BriefingAudience.briefing_id).where(col(BriefingAudience.community_id).in_(mine))
            ),
            Briefing.status == BriefingStatus.published.value,
            col(Briefing.published_at) >= since,
        )
        .order_by(col(Briefing.published_at).desc(), col(Briefing.id).desc())
        .limit(5)
    )
    return list(rows)


async def briefing_by_share_token(session: AsyncSession, *, token: str) -> Briefing:
    """The public share page: published briefings only, by their unguessable token."""
    if not token or len(token) > 64:
        raise NotFound()
    briefing = (await session.exec(select(Briefing).where(Briefing.share_token == token))).first()
    if briefing is None or briefing.status != BriefingStatus.published.value:
        raise NotFound()
    return briefing


async def media_by_briefing(
    session: AsyncSession, briefing_ids: list[int]
) -> dict[int, list[tuple[BriefingMedia, MediaFile]]]:
    result: dict[int, list[tuple[BriefingMedia, MediaFile]]] = {bid: [] for bid in briefing_ids}
    if not briefing_ids:
        return result
    rows = await session.exec(
        select(BriefingMedia, MediaFile)
        .join(MediaFile, MediaFile.id == BriefingMedia.media_id)
        .where(col(BriefingMedia.briefing_id).in_(briefing_ids))
        .order_by(BriefingMedia.briefing_id, BriefingMedia.position)
    )
    for link, media in rows:
        result[link.briefing_id].append((link, media))
    return result


async def audience_by_briefing(session: AsyncSession, briefing_ids: list[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {bid: [] for bid in briefing_ids}
    if briefing_ids:
        for bid, cid in await session.exec(
            select(BriefingAudience.briefing_id, BriefingAudience.community_id)
            .where(col(BriefingAudience.briefing_id).in_(briefing_ids))
            .order_by(BriefingAudience.community_id)
        ):
            result[bid].append(cid)
    return result


async def access_briefing_media(session: AsyncSession, *, briefing: Briefing, media_id: int) -> MediaFile:
    """A file attached to this briefing (the caller has already been allowed to see the briefing)."""
    row = (
        await session.exec(
            select(MediaFile)
            .join(BriefingMedia, BriefingMedia.media_id == MediaFile.id)
            .where(BriefingMedia.briefing_id == briefing.id, MediaFile.id == media_id)
        )
    ).first()
    if row is None:
        raise NotFound()
    return row


async def check_media_access(session: AsyncSession, actor: Actor, media_file: MediaFile) -> None:
    """A briefing's photo or video is seen by whoever may see the briefing: a draft's only by the staff who may
    see the draft (registered with media)."""
    attached_to = select(BriefingMedia.briefing_id).where(BriefingMedia.media_id == media_file.id)
    for briefing_id in list(await session.exec(attached_to)):
        await access_briefing(session, actor=actor, briefing_id=briefing_id)


if check_media_access not in media_service.ACCESS_GUARDS:
    media_service.ACCESS_GUARDS.append(check_media_access)


# --- read receipts and thanks ----------------------------------------------------------------------------


async def do_mark_read(session: AsyncSession, *, actor: Actor, briefing_id: int) -> bool:
    """Record that the viewer's households in the audience have seen it; once per person and household."""
    briefing = await access_briefing(session, actor=actor, briefing_id=briefing_id)
    if briefing.status != BriefingStatus.published.value:
        return False
    audience = set(await audience_ids(session, briefing.id))
    households = {
        hid: cid
        for cid, hids in resident_households_by_community(actor).items()
        if cid in audience
        for hid in hids
    }
    if not households:
        return False
    seen = set(
        await session.exec(
            select(BriefingRead.household_id).where(
                BriefingRead.briefing_id == briefing.id, BriefingRead.person_id == actor.person_id
            )
        )
    )
    community_districts = _pairs(
        await session.exec(
            select(Community.id, Community.district_id).where(col(Community.id).in_(set(households.values())))
        )
    )
    added = False
    for hid, cid in households.items():
        if hid in seen:
            continue
        session.add(
            BriefingRead(
                briefing_id=briefing.id,
                person_id=actor.person_id,
                household_id=hid,
                community_id=cid,
                district_id=community_districts[cid],
            )
        )
        added = True
    if added:
        await session.flush()
    return added


async def do_thank(session: AsyncSession, *, actor: Actor, briefing_id: int) -> Briefing:
    """One tap says thank you; a second tap changes nothing."""
    briefing = await access_briefing(session, actor=actor, briefing_id=briefing_id)
    audience = set(await audience_ids(session, briefing.id))
    households = [
        (cid, hid)
        for cid, hids in resident_households_by_community(actor).items()
        if cid in audience
        for hid in hids
    ]
    if briefing.status != BriefingStatus.published.value or not households:
        raise LaoyouError(
            ErrorCode.NOT_ALLOWED, "Only residents of this community can thank for this briefing."
        )
    existing = (
        await session.exec(
            select(BriefingThanks).where(
                BriefingThanks.briefing_id == briefing.id, BriefingThanks.person_id == actor.person_id
            )
        )
    ).first()
    if existing is None:
        cid, hid = sorted(households)[0]
        community = await session.get(Community, cid)
        session.add(
            BriefingThanks(
                briefing_id=briefing.id,
                person_id=actor.person_id,
                household_id=hid,
                community_id=cid,
                district_id=community.district_id,
            )
        )
        await session.flush()
    await do_mark_read(session, actor=actor, briefing_id=briefing_id)
    return briefing


@dataclass
class ReadReceipt:
    community: Community
    households: int
    households_read: int
    thanks: int


async def read_receipts(session: AsyncSession, *, actor: Actor, briefing: Briefing) -> list[ReadReceipt]:
    """Per audience community the actor serves as staff: households, households that read it, thanks."""
    staff = await estates.staff_community_ids(session, actor)
    audience = await audience_ids(session, briefing.id)
    mine = [cid for cid in audience if staff is None or cid in staff]
    if not mine:
        if briefing.author_id == actor.person_id:
            return []
        raise NotFound()
    stats = await estates.community_stats(session, mine)
    read = _pairs(
        await session.exec(
            select(BriefingRead.community_id, func.count(func.distinct(BriefingRead.household_id)))
            .where(BriefingRead.briefing_id == briefing.id, col(BriefingRead.community_id).in_(mine))
            .group_by(BriefingRead.community_id)
        )
    )
    thanks = _pairs(
        await session.exec(
            select(BriefingThanks.community_id, func.count())
            .where(BriefingThanks.briefing_id == briefing.id, col(BriefingThanks.community_id).in_(mine))
            .group_by(BriefingThanks.community_id)
        )
    )
    communities = {c.id: c for c in await session.exec(select(Community).where(col(Community.id).in_(mine)))}
    return [
        ReadReceipt(communities[cid], stats[cid].households, read.get(cid, 0), thanks.get(cid, 0))
        for cid in mine
    ]


async def viewer_marks(
    session: AsyncSession, *, person_id: int, briefing_ids: list[int]
) -> tuple[set[int], set[int]]:
    """Which of these briefings the person has read and thanked for (two queries for any number)."""
    if not briefing_ids:
        return set(), set()
    read = set(
        await session.exec(
            select(BriefingRead.briefing_id).where(
                BriefingRead.person_id == person_id, col(BriefingRead.briefing_id).in_(briefing_ids)
            )
        )
    )
    thanked = set(
        await session.exec(
            select(BriefingThanks.briefing_id).where(
                BriefingThanks.person_id == person_id, col(BriefingThanks.briefing_id).in_(briefing_ids)
            )
        )
    )
    return read, thanked
