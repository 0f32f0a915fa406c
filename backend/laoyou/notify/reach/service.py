"""Reach: what each person chose, opening a notice (which stops its climb), the climb itself, a voice call's
report, a steward's view of an emergency notice's reach with calls to the rest, and the paid sends' costs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Subquery, and_, case, distinct, exists, func, literal, tuple_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit_many
from laoyou.accounts.models import Person
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound, PermissionDenied
from laoyou.core.jobs import claim, due
from laoyou.core.pagination import clamp_first, unwrap_cursor, wrap_cursor
from laoyou.core.time import local_date, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.notify import service as notify
from laoyou.notify.models import EmergencyNotice
from laoyou.notify.reach import plan
from laoyou.notify.reach.channels import CallReport
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

CHOOSABLE = (Channel.push, Channel.wechat, Channel.sms, Channel.voice)
MAX_CAP = 1_000_000


# --- her choices --------------------------------------------------------------------------------------------


async def choice(session: AsyncSession, *, actor: Actor) -> ReachChoice:
    """Her choices (a row not yet saved when she never chose: every channel, no quiet hours)."""
    actor.require_login()
    row = (await session.exec(select(ReachChoice).where(ReachChoice.person_id == actor.person_id))).first()
    return row or ReachChoice(person_id=actor.person_id)


async def channels_had(session: AsyncSession, *, actor: Actor) -> dict[Channel, bool]:
    """Which channels could reach her at all: a phone with push on, a WeChat link she still follows, and her
    phone number (which every person has) for SMS and calls."""
    actor.require_login()
    linked = (
        await session.exec(
            select(WechatLink.id).where(
                WechatLink.person_id == actor.person_id, col(WechatLink.following).is_(True)
            )
        )
    ).first()
    has_phone = bool(actor.person is not None and actor.person.phone)
    return {
        Channel.push: await notify.device_count(session, actor=actor) > 0,
        Channel.wechat: linked is not None,
        Channel.sms: has_phone,
        Channel.voice: has_phone,
    }


def _minute(value: int, field: str) -> int:
    if not 0 <= value < 24 * 60:
        raise LaoyouError(ErrorCode.INVALID, "Please choose a time of day.", field=field)
    return value


async def do_set_choice(
    session: AsyncSession,
    *,
    actor: Actor,
    channels: list[str],
    call_me: bool,
    quiet_start: int,
    quiet_end: int,
) -> ReachChoice:
    """Which channels may reach her, "call me", and her quiet hours (start == end: none)."""
    actor.require_login()
    known = {c.value for c in CHOOSABLE}
    if not set(channels) <= known:
        raise LaoyouError(ErrorCode.INVALID, "That way of reaching you is not offered.", field="channels")
    if call_me and Channel.voice.value not in channels:
        raise LaoyouError(
            ErrorCode.INVALID, "To be called, please keep phone calls switched on.", field="callMe"
        )
    row = await choice(session, actor=actor)
    row.off = ",".join(c.value for c in CHOOSABLE if c.value not in channels)
    row.call_me = call_me
    row.quiet_start, row.quiet_end = _minute(quiet_start, "quietStart"), _minute(quiet_end, "quietEnd")
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    return row


# --- opening stops the climb --------------------------------------------------------------------------------


def _parse_opened(value: str) -> tuple[str, str]:
    token, _, via = value.partition(".")
    return token, via if via in {c.value for c in Channel} else ""


async def do_open(session: AsyncSession, *, opened: str) -> bool:
    """She opened a link a notice sent her (?r=TOKEN.VIA): the climb stops. The token is the proof, so this
    works in WeChat's browser before she logs in; an unknown or already opened token changes nothing."""
    token, via = _parse_opened(opened)
    if not token or len(token) > 32:
        return False
    result = await session.exec(
        update(Reach)
        .where(Reach.token == token, col(Reach.opened_at).is_(None))
        .values(state=ReachState.opened.value, opened_at=utcnow(), opened_via=via or None, next_step_at=None)
    )
    return bool(result.rowcount)


async def do_open_link(session: AsyncSession, *, person_id: int, path: str) -> int:
    """She opened the page a notice is about, in the app: every notice of hers about that page is seen."""
    result = await session.exec(
        update(Reach)
        .where(
            Reach.person_id == person_id,
            col(Reach.state).in_([ReachState.climbing.value, ReachState.exhausted.value]),
            Reach.link == path[:200],
            col(Reach.opened_at).is_(None),
        )
        .values(state=ReachState.opened.value, opened_at=utcnow(), opened_via="app", next_step_at=None)
    )
    return result.rowcount or 0


async def do_mark_emergency_seen(session: AsyncSession, *, actor: Actor, notice_id: int) -> int:
    """She read an emergency notice's page: its climb to her stops (a notice she may not see is not there)."""
    notice = await notify.access_emergency(session, actor=actor, notice_id=notice_id)
    if not await has_unopened(session, actor.person_id):
        return 0  # nothing to write: most views find every notice already opened
    return await do_open_link(session, person_id=actor.person_id, path=f"/emergencies/{notice.id}")


async def do_mark_page_seen(session: AsyncSession, *, actor: Actor, path: str) -> int:
    """She opened this page in the app (a bill, an SOS, her check-in): every notice of hers about it stops
    climbing. Only her own notices; the link each was sent with, query and all, is what is compared."""
    actor.require_login()
    path = (path or "").strip()
    if not path.startswith("/") or len(path) > 200:
        raise LaoyouError(ErrorCode.INVALID, "This page's address is not valid.", field="path")
    if not await has_unopened(session, actor.person_id):
        return 0  # nothing to write: most views find every notice already opened
    return await do_open_link(session, person_id=actor.person_id, path=path)


async def has_unopened(session: AsyncSession, person_id: int) -> bool:
    """Whether any notice to her is still waiting to be opened (a page checks before marking it seen)."""
    found = await session.exec(
        select(Reach.id)
        .where(
            Reach.person_id == person_id,
            col(Reach.opened_at).is_(None),
            Reach.state != ReachState.opened.value,
        )
        .limit(1)
    )
    return found.first() is not None


async def do_voice_report(session: AsyncSession, report: CallReport) -> bool:
    """A provider's call report: she answered; pressing 1 confirms, which stops the climb like opening it."""
    send = (
        await session.exec(
            select(ReachSend).where(
                ReachSend.provider_ref == report.call_id[:100], ReachSend.channel == Channel.voice.value
            )
        )
    ).first()
    if send is None:
        return False
    now = utcnow()
    if report.answered and send.answered_at is None:
        send.answered_at = now
        session.add(send)
    if report.keypress == "1":
        await session.exec(
            update(Reach)
            .where(Reach.id == send.reach_id, col(Reach.opened_at).is_(None))
            .values(state=ReachState.opened.value, opened_at=now, opened_via="voice", next_step_at=None)
        )
    await session.flush()
    return True


# --- the climb ----------------------------------------------------------------------------------------------


async def open_next_steps(session: AsyncSession, reaches: list[Reach], *, now: datetime) -> dict[int, bool]:
    """Open each reach's current step (a paid channel over its cap is recorded as capped and the climb goes on
    to the next); the last step tried leaves the reach exhausted. Whether a step was opened, by reach id.

    Paid steps are reserved per channel for all of them in a few statements (plan.reserve_many), each person
    once per pass: a climb round of hundreds costs what one did."""
    opened: dict[int, bool] = {}
    sends: list[ReachSend] = []
    waiting = list(reaches)
    while waiting:
        this_pass: list[Reach] = []
        later: list[Reach] = []
        asked: set[tuple[int, Channel]] = set()
        for reach in waiting:
            if reach.step >= len(reach.channels):
                reach.state, reach.next_step_at = ReachState.exhausted.value, None
                opened[reach.id] = False
                continue
            key = (reach.person_id, reach.channels[reach.step])
            (later if key in asked else this_pass).append(reach)  # her second notice waits for the next pass
            asked.add(key)
        granted: dict[Channel, set[int]] = {}
        for channel in PAID:
            asking = [(r.person_id, r.community_id) for r in this_pass if r.channels[r.step] is channel]
            if asking:
                granted[channel] = await plan.reserve_many(session, channel=channel, people=asking, now=now)
        waiting = later
        for reach in this_pass:
            channel = reach.channels[reach.step]
            status = SendStatus.pending
            if channel is Channel.push:
                # Push only ever goes out with the notice itself (it is free and sent to everyone who has it).
                status = SendStatus.sent
            elif channel in PAID and reach.person_id not in granted[channel]:
                status = SendStatus.capped
            sends.append(
                ReachSend(
                    reach_id=reach.id,
                    step=reach.step,
                    channel=channel.value,
                    status=status.value,
                    sent_at=now if status is SendStatus.sent else None,
                )
            )
            if status is SendStatus.capped:
                reach.step += 1
                waiting.append(reach)
                continue
            priority = Priority(reach.priority)
            reach.next_step_at = now + plan.WAIT[priority] if priority in plan.WAIT else None
            if reach.step == len(reach.channels) - 1:
                reach.state, reach.next_step_at = ReachState.exhausted.value, None
            opened[reach.id] = True
    session.add_all(sends)
    session.add_all(reaches)
    await session.flush()
    return opened


@dataclass
class ClimbReport:
    climbed: int = 0
    deferred: int = 0
    exhausted: int = 0


async def climb_due(session: AsyncSession, *, now: datetime | None = None, limit: int = 500) -> ClimbReport:
    """Every notice whose step was not opened in time goes one channel up, once (claimed), unless her quiet
    hours hold it (never an emergency's)."""
    now = now or utcnow()
    report = ClimbReport()
    still_due = (
        Reach.state == ReachState.climbing.value,
        col(Reach.next_step_at).is_not(None),
        col(Reach.next_step_at) <= now,
    )
    ids = list(await session.exec(due(select(Reach.id).where(*still_due).order_by(Reach.id).limit(limit))))
    claimed = await claim(session, Reach, ids, *still_due, next_step_at=None, step=Reach.step + 1)
    if not claimed:
        return report
    reaches = list(
        await session.exec(
            select(Reach).where(col(Reach.id).in_(claimed)).execution_options(populate_existing=True)
        )
    )
    choices = {
        row.person_id: row
        for row in await session.exec(
            select(ReachChoice).where(col(ReachChoice.person_id).in_({r.person_id for r in reaches}))
        )
    }
    climbing: list[Reach] = []
    for reach in reaches:
        if reach.step >= len(reach.channels):
            reach.state = ReachState.exhausted.value
            session.add(reach)
            report.exhausted += 1
            continue
        if reach.priority != Priority.emergency.value:
            quiet_until = plan.is_quiet(choices.get(reach.person_id), now)
            if quiet_until is not None:
                # Not yet: the step is taken back and comes due when her quiet hours end.
                reach.step -= 1
                reach.next_step_at = quiet_until
                session.add(reach)
                report.deferred += 1
                continue
        climbing.append(reach)
    for went_out in (await open_next_steps(session, climbing, now=now)).values():
        if went_out:
            report.climbed += 1
        else:
            report.exhausted += 1
    await session.flush()
    return report


# --- an emergency notice's reach, for the steward ------------------------------------------------------------


@dataclass(frozen=True)
class PersonReach:
    person: Person
    reach: Reach | None
    sends: list[ReachSend]
    homes: list[
        str
    ]  # her flats in the notice's community ("3号楼 2-301"): where to knock if no call gets through
    building: str | None = None  # in a paged report, the building she is listed under (None: no flat)

    @property
    def reached_by(self) -> str | None:
        """How she was reached: the channel she opened it on, or a call she answered."""
        if self.reach is not None and self.reach.opened_at is not None:
            return self.reach.opened_via or "app"
        if any(s.channel == Channel.voice.value and s.answered_at for s in self.sends):
            return "voice_answered"
        return None


async def access_steward_notice(session: AsyncSession, *, actor: Actor, notice_id: int) -> EmergencyNotice:
    """The emergency notice, for staff of its community; NotFound for anyone else, as if it were not there."""
    actor.require_login()
    notice = await session.get(EmergencyNotice, notice_id)
    if notice is None:
        raise NotFound()
    allowed = await notify.steward_community_ids(session, actor)
    if allowed is not None and notice.community_id not in allowed:
        raise NotFound()
    return notice


async def emergency_reach(
    session: AsyncSession, *, actor: Actor, notice_id: int
) -> tuple[EmergencyNotice, list[PersonReach]]:
    """Who an emergency notice has reached and by what, those not reached first: the steward's list to call."""
    notice = await access_steward_notice(session, actor=actor, notice_id=notice_id)
    reaches = {
        r.person_id: r
        for r in await session.exec(
            select(Reach).where(Reach.event_key == notify.emergency_event_key(notice.id))
        )
    }
    sends: dict[int, list[ReachSend]] = {}
    if reaches:
        for send in await session.exec(
            select(ReachSend)
            .where(col(ReachSend.reach_id).in_([r.id for r in reaches.values()]))
            .order_by(ReachSend.step)
        ):
            sends.setdefault(send.reach_id, []).append(send)
    audience = await notify.community_audience(session, [notice.community_id])
    people = list(await session.exec(select(Person).where(col(Person.id).in_(audience)))) if audience else []
    homes = await estates.homes_of_people(session, notice.community_id, [p.id for p in people])
    rows = [
        PersonReach(
            p,
            reaches.get(p.id),
            sends.get(reaches[p.id].id, []) if p.id in reaches else [],
            homes.get(p.id, []),
        )
        for p in people
    ]
    rows.sort(key=lambda row: (row.reached_by is not None, row.person.name, row.person.id))
    # The steward sees each person's phone number to call her: a reading of personal data.
    await audit_many(
        session,
        actor=actor,
        action="emergency.reach.read",
        subject_type="person",
        subject_ids=[row.person.id for row in rows],
        reading=True,
    )
    return notice, rows


# The steward's report in pages: a community of thousands is counted in SQL and read a page at a time, those
# not reached grouped by building so she can walk one building after another.

PAGE_SIZE = 50  # a page a cheap phone shows at once; a steward walking a building rarely needs more


@dataclass(frozen=True)
class ReachCounts:
    reached: int
    unreached: int
    by_channel: dict[str, int]  # how those reached were reached (ReachedBy values), with a count each


@dataclass(frozen=True)
class BuildingCount:
    building: str | None  # None: people with no flat on record in the community
    unreached: int


@dataclass(frozen=True)
class ReachPage:
    rows: list[PersonReach]
    has_next: bool
    has_previous: bool
    start_cursor: str | None
    end_cursor: str | None


def _status(notice: EmergencyNotice) -> Subquery:
    """Each person of the notice's community, once per building (estates.people_by_building), with her reach
    of this notice and how it reached her, as PersonReach.reached_by says it, or NULL while it has not."""
    people = estates.people_by_building(notice.community_id)
    answered = exists().where(
        ReachSend.reach_id == Reach.id,
        ReachSend.channel == Channel.voice.value,
        col(ReachSend.answered_at).is_not(None),
    )
    reached_by = case(
        (col(Reach.opened_at).is_not(None), func.coalesce(Reach.opened_via, literal("app"))),
        (answered, literal("voice_answered")),
        else_=None,
    )
    return (
        select(
            people.c.person_id,
            people.c.building,
            people.c.unit,
            col(Reach.id).label("reach_id"),
            reached_by.label("reached_by"),
        )
        .select_from(
            people.outerjoin(
                Reach,
                and_(
                    col(Reach.person_id) == people.c.person_id,
                    Reach.event_key == notify.emergency_event_key(notice.id),
                ),
            )
        )
        .subquery("status")
    )


async def reach_counts(session: AsyncSession, *, notice: EmergencyNotice) -> ReachCounts:
    """How many of the community the notice reached and by what, and how many not: one statement, whatever
    the community's size. The notice is one access_steward_notice gave."""
    status = _status(notice)
    rows = await session.exec(
        select(status.c.reached_by, func.count(distinct(status.c.person_id))).group_by(status.c.reached_by)
    )
    by_channel = {by: count for by, count in rows}
    unreached = by_channel.pop(None, 0)
    return ReachCounts(reached=sum(by_channel.values()), unreached=unreached, by_channel=by_channel)


def _natural(name):  # noqa: ANN001, ANN202
    # Shorter names first, then by text: "2号楼" before "10号楼" and "2-301" before "10-101", as a steward counts
    # them, with the same few SQL functions on every backend.
    name = func.coalesce(name, literal(""))
    return (func.length(name), name)


def _building_order(building):  # noqa: ANN001, ANN202
    # People with no flat on record come after every building.
    return (case((building.is_(None), 1), else_=0), *_natural(building))


def _list_order(status: Subquery) -> tuple:
    """The report's order: building, her first flat in it, person; a cursor is a place in it (_place)."""
    return (*_building_order(status.c.building), *_natural(status.c.unit), status.c.person_id)


def _place(building: str | None, unit: str | None, person_id: int) -> tuple:
    """A cursor's place, as the values _list_order gives its row."""
    return tuple(
        literal(value)
        for value in (
            1 if building is None else 0,
            len(building or ""),
            building or "",
            len(unit or ""),
            unit or "",
            person_id,
        )
    )


async def unreached_by_building(session: AsyncSession, *, notice: EmergencyNotice) -> list[BuildingCount]:
    """Each building with people the notice has not reached yet, and how many (a person with flats in two
    buildings counts in both: either steward's round knocks on her door)."""
    status = _status(notice)
    rows = await session.exec(
        select(status.c.building, func.count(distinct(status.c.person_id)))
        .where(status.c.reached_by.is_(None))
        .group_by(status.c.building)
        .order_by(*_building_order(status.c.building))
    )
    return [BuildingCount(building=building, unreached=count) for building, count in rows]


def _cursor(building: str | None, unit: str | None, person_id: int) -> str:
    text = json.dumps([building, unit, person_id], ensure_ascii=False, separators=(",", ":"))
    return wrap_cursor("r", text)


def decode_reach_cursor(cursor: str, field: str) -> tuple[str | None, str | None, int]:
    """A page link's place in the list: a building, a flat and a person's id (no name: page links end up in
    logs and browser histories). Anything else is refused in words."""
    try:
        building, unit, person_id = json.loads(unwrap_cursor(cursor, "r"))
        if not (
            isinstance(person_id, int)
            and 0 < person_id < 2**62
            and all(v is None or (isinstance(v, str) and len(v) <= 100) for v in (building, unit))
        ):
            raise ValueError(cursor)
    except (ValueError, TypeError):  # a list of another length, or not a list
        raise LaoyouError(ErrorCode.INVALID, "That page link is not valid.", field=field) from None
    return building, unit, person_id


def check_reach_page(
    *, first: int | None, after: str | None, before: str | None, building: str | None, maximum: int
) -> tuple[int, tuple[str | None, str | None, int] | None, bool]:
    """A page's arguments, checked before anything is read: its size, its place (after one cursor or before
    one, not both) and whether it goes backwards."""
    size = clamp_first(first, maximum, default=min(PAGE_SIZE, maximum))
    if after and before:
        raise LaoyouError(ErrorCode.INVALID, "That page link is not valid.", field="before")
    if building is not None and len(building) > 100:
        raise LaoyouError(ErrorCode.INVALID, "There is no such building here.", field="building")
    if before:
        return size, decode_reach_cursor(before, "before"), True
    return size, decode_reach_cursor(after, "after") if after else None, False


async def reach_page(
    session: AsyncSession,
    *,
    actor: Actor,
    notice: EmergencyNotice,
    reached: bool,
    building: str | None = None,
    first: int | None = None,
    after: str | None = None,
    before: str | None = None,
    maximum: int = 100,
) -> ReachPage:
    """One page of the people the notice reached (or not yet), by building, flat and person; building "" is
    those with no flat on record. A page costs the same few statements however large the community. The
    notice is one access_steward_notice gave."""
    size, place, backwards = check_reach_page(
        first=first, after=after, before=before, building=building, maximum=maximum
    )
    status = _status(notice)
    order = _list_order(status)
    query = (
        select(Person, Reach, status.c.building, status.c.unit)
        .select_from(status)
        .join(Person, col(Person.id) == status.c.person_id)
        .outerjoin(Reach, col(Reach.id) == status.c.reach_id)
        .where(status.c.reached_by.is_not(None) if reached else status.c.reached_by.is_(None))
    )
    if building == "":
        query = query.where(status.c.building.is_(None))
    elif building is not None:
        query = query.where(status.c.building == building)
    if place is not None:
        key, at = tuple_(*order), tuple_(*_place(*place))
        query = query.where(key < at if backwards else key > at)
    query = query.order_by(*(o.desc() for o in order) if backwards else order).limit(size + 1)
    found = list(await session.exec(query))
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    reach_ids = [r.id for _, r, _, _ in found if r is not None]
    sends: dict[int, list[ReachSend]] = {}
    if reach_ids:
        for send in await session.exec(
            select(ReachSend).where(col(ReachSend.reach_id).in_(reach_ids)).order_by(ReachSend.step)
        ):
            sends.setdefault(send.reach_id, []).append(send)
    person_ids = list(dict.fromkeys(p.id for p, _, _, _ in found))
    homes = await estates.homes_of_people(session, notice.community_id, person_ids)
    rows = [
        PersonReach(p, r, sends.get(r.id, []) if r is not None else [], homes.get(p.id, []), b)
        for p, r, b, _ in found
    ]
    # The steward sees each person's phone number to call her: a reading of personal data, of this page only.
    await audit_many(
        session,
        actor=actor,
        action="emergency.reach.read",
        subject_type="person",
        subject_ids=person_ids,
        reading=True,
    )
    first_row, last_row = (found[0], found[-1]) if found else (None, None)
    return ReachPage(
        rows=rows,
        has_next=backwards or more,  # going back, the page she came from is still ahead
        has_previous=more if backwards else place is not None,
        start_cursor=_cursor(first_row[2], first_row[3], first_row[0].id) if first_row else None,
        end_cursor=_cursor(last_row[2], last_row[3], last_row[0].id) if last_row else None,
    )


async def do_call_unreached(session: AsyncSession, *, actor: Actor, notice_id: int) -> int:
    """One tap: a voice call to everyone the emergency notice has not reached yet (within the caps)."""
    notice = await access_steward_notice(session, actor=actor, notice_id=notice_id)
    now = utcnow()
    reaches = list(
        await session.exec(
            select(Reach).where(
                Reach.event_key == notify.emergency_event_key(notice.id), col(Reach.opened_at).is_(None)
            )
        )
    )
    calling = set(
        await session.exec(
            select(ReachSend.reach_id).where(
                col(ReachSend.reach_id).in_([r.id for r in reaches] or [0]),
                ReachSend.channel == Channel.voice.value,
                col(ReachSend.status).in_([SendStatus.pending.value, SendStatus.sending.value]),
            )
        )
    )
    called = 0
    for reach in reaches:
        if reach.id in calling:
            continue
        if not await plan.reserve(
            session,
            channel=Channel.voice,
            person_id=reach.person_id,
            community_id=reach.community_id,
            now=now,
        ):
            continue
        last = (
            await session.exec(select(func.max(ReachSend.step)).where(ReachSend.reach_id == reach.id))
        ).first()
        session.add(
            ReachSend(
                reach_id=reach.id, step=(last or 0) + 1 + len(reach.channels), channel=Channel.voice.value
            )
        )
        called += 1
    await session.flush()
    await accounts.audit(
        session,
        actor=actor,
        action="emergency.call_unreached",
        subject_type="emergency_notice",
        subject_id=notice.id,
        detail=f"{called} calls",
    )
    return called


# --- costs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommunityCost:
    community: Community
    month: date
    sms: int
    sms_cap: int
    voice: int
    voice_cap: int


async def costs(session: AsyncSession, *, actor: Actor, month: date | None = None) -> list[CommunityCost]:
    """SMS and voice sends per community this month, against their caps: for staff of those communities."""
    actor.require_login()
    if not actor.is_staff:
        raise PermissionDenied()
    month = plan.month_of(month or local_date(utcnow()))
    allowed = await estates.staff_community_ids(session, actor)
    query = select(Community).order_by(Community.id)
    if allowed is not None:
        query = query.where(col(Community.id).in_(list(allowed) or [0]))
    communities = list(await session.exec(query))
    used: dict[tuple[int, str], int] = {
        (scope_id, channel): count
        for scope_id, channel, count in await session.exec(
            select(ReachUsage.scope_id, ReachUsage.channel, ReachUsage.used).where(
                ReachUsage.scope == "community",
                ReachUsage.period == month,
                col(ReachUsage.scope_id).in_([c.id for c in communities] or [0]),
            )
        )
    }
    result = []
    for community in communities:
        result.append(
            CommunityCost(
                community=community,
                month=month,
                sms=used.get((community.id, Channel.sms.value), 0),
                sms_cap=await plan.monthly_cap(session, community.id, Channel.sms),
                voice=used.get((community.id, Channel.voice.value), 0),
                voice_cap=await plan.monthly_cap(session, community.id, Channel.voice),
            )
        )
    return result


async def do_set_cap(
    session: AsyncSession, *, actor: Actor, community_id: int, channel: str, monthly: int
) -> ReachCap:
    """The operator (an administrator) sets a community's monthly cap on SMS or voice sends."""
    actor.require_login()
    if not actor.is_admin:
        raise PermissionDenied()
    if channel not in {c.value for c in PAID}:
        raise LaoyouError(ErrorCode.INVALID, "Only SMS and calls have a cap.", field="channel")
    if not 0 <= monthly <= MAX_CAP:
        raise LaoyouError(ErrorCode.INVALID, "A cap is a whole number from 0 to 1,000,000.", field="monthly")
    if await session.get(Community, community_id) is None:
        raise NotFound()
    row = (
        await session.exec(
            select(ReachCap).where(ReachCap.community_id == community_id, ReachCap.channel == channel)
        )
    ).first() or ReachCap(community_id=community_id, channel=channel, monthly=monthly, set_by=actor.person_id)
    row.monthly, row.set_by, row.updated_at = monthly, actor.person_id, utcnow()
    session.add(row)
    await session.flush()
    await accounts.audit(
        session,
        actor=actor,
        action="reach.cap",
        subject_type="community",
        subject_id=community_id,
        detail=f"{channel} {monthly}",
    )
    return row
