"""The daily check-in: setting it up, what counts as "I'm fine", the escalation of a miss, and the board.

A plan says by when (local time) the resident checks in each day. Nothing is written on a day she checks in
early but one row (checked in); a day she does not gets a row when the window passes (the unique key of
resident and day makes that happen once however many workers run), and each later step of the escalation is
a guarded UPDATE from the state before it: the runner whose UPDATE changed the row sends that step's alarms,
every other runner sends nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.audit import audit_many
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.care.checkins.models import CheckinDay, CheckinPlan, DayState, How, Outcome
from laoyou.care.ledger import service as ledger
from laoyou.care.ledger.models import CareRecord, CareVisit
from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.events import announce
from laoyou.core.phone import national
from laoyou.core.time import day_start, local, local_date, utcnow
from laoyou.estates.models import Community
from laoyou.support import service as support

log = logging.getLogger("laoyou.care.checkins")

# The morning reminder goes out this long before her window closes, unless she has checked in already.
REMIND_BEFORE = timedelta(hours=1)
FAMILY_AFTER = timedelta(hours=1)
STEWARD_AFTER = timedelta(hours=2)
MAX_PAUSE_DAYS = 60
# Windows a resident may pick: from 07:00 to 20:00, on the hour or the half hour.
EARLIEST, LATEST = 7 * 60, 20 * 60
OPEN_STATES = (DayState.missed.value, DayState.family_told.value, DayState.steward_paged.value)


def board_channel(community_id: int) -> str:
    return f"care:board:{community_id}"


def window_instant(plan: CheckinPlan, day: date) -> datetime:
    """When the window of a local day closes, as aware UTC."""
    return day_start(day) + timedelta(minutes=plan.window_end)


def window_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def is_paused(plan: CheckinPlan, day: date) -> bool:
    return plan.paused_until is not None and day <= plan.paused_until


async def plan_of(session: AsyncSession, resident_id: int) -> CheckinPlan | None:
    return (await session.exec(select(CheckinPlan).where(CheckinPlan.resident_id == resident_id))).first()


async def day_of(session: AsyncSession, resident_id: int, day: date) -> CheckinDay | None:
    return (
        await session.exec(
            select(CheckinDay).where(CheckinDay.resident_id == resident_id, CheckinDay.day == day)
        )
    ).first()


# --- setting it up ---------------------------------------------------------------------------------------


def _check_window(window_end: int) -> None:
    if not EARLIEST <= window_end <= LATEST or window_end % 30:
        raise LaoyouError(
            ErrorCode.INVALID, "Please choose a time between 07:00 and 20:00.", field="windowEnd"
        )


async def _save_plan(
    session: AsyncSession, *, by: Actor, home: RoleGrant, window_end: int, now: datetime
) -> CheckinPlan:
    _check_window(window_end)
    today = local_date(now)
    plan = await plan_of(session, home.person_id)
    # A plan made after today's window starts tomorrow: she was not expected to check in yet.
    starts_on = (
        today if local(now).time() < time(window_end // 60, window_end % 60) else today + timedelta(days=1)
    )
    if plan is None:
        plan = CheckinPlan(
            resident_id=home.person_id,
            household_id=home.household_id,
            community_id=home.community_id,
            district_id=home.district_id,
            window_end=window_end,
            starts_on=starts_on,
            set_by_id=by.person_id,
        )
        try:
            async with session.begin_nested():
                session.add(plan)
                await session.flush()
        except IntegrityError:
            raise LaoyouError(ErrorCode.ALREADY_EXISTS, "The daily check-in is already set up.") from None
        return plan
    if not plan.active or plan.window_end != window_end:
        plan.starts_on = max(plan.starts_on, starts_on) if plan.active else starts_on
    plan.window_end, plan.active, plan.set_by_id = window_end, True, by.person_id
    plan.household_id, plan.community_id, plan.district_id = (
        home.household_id,
        home.community_id,
        home.district_id,
    )
    session.add(plan)
    await session.flush()
    return plan


async def _own_home(session: AsyncSession, actor: Actor) -> RoleGrant:
    actor.require_login()
    homes = [g for g in actor.grants_of(Role.resident) if g.household_id]
    if not homes:
        raise NotFound()
    return homes[0]


async def do_set_up(
    session: AsyncSession, *, actor: Actor, window_end: int, now: datetime | None = None
) -> CheckinPlan:
    """The resident's two taps: a time, then 开始. Setting it up herself is her consent to it."""
    home = await _own_home(session, actor)
    return await _save_plan(session, by=actor, home=home, window_end=window_end, now=now or utcnow())


async def do_set_up_for(
    session: AsyncSession, *, actor: Actor, resident_id: int, window_end: int, now: datetime | None = None
) -> CheckinPlan:
    """The steward sets it up for a resident whose consented care record she keeps."""
    record = await ledger.active_record_of(session, resident_id)
    if record is None or record.community_id not in await ledger.care_community_ids(session, actor):
        raise NotFound()
    home = next(
        (
            g
            for g in await accounts.live_grants(session, resident_id)
            if g.household_id == record.household_id
        ),
        None,
    )
    if home is None or home.role != Role.resident.value:
        raise NotFound()
    return await _save_plan(session, by=actor, home=home, window_end=window_end, now=now or utcnow())


async def my_plan(session: AsyncSession, *, actor: Actor) -> CheckinPlan | None:
    actor.require_login()
    return await plan_of(session, actor.person_id)


async def my_today(
    session: AsyncSession, *, actor: Actor, now: datetime | None = None
) -> tuple[CheckinPlan | None, str | None]:
    """Her plan and today's status (None without an active plan)."""
    plan = await my_plan(session, actor=actor)
    if plan is None or not plan.active:
        return plan, None
    today = local_date(now or utcnow())
    return plan, _status(plan, await day_of(session, plan.resident_id, today), today)


async def do_pause(
    session: AsyncSession, *, actor: Actor, days: int, now: datetime | None = None
) -> CheckinPlan:
    """Away from home: no check-in is expected from today for this many days (0 ends a pause)."""
    plan = await my_plan(session, actor=actor)
    if plan is None or not plan.active:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "The daily check-in is not set up.")
    if not 0 <= days <= MAX_PAUSE_DAYS:
        raise LaoyouError(
            ErrorCode.INVALID, "Pause for 1 to %(days)s days.", field="days", days=MAX_PAUSE_DAYS
        )
    today = local_date(now or utcnow())
    plan.paused_until = today + timedelta(days=days - 1) if days else None
    session.add(plan)
    await session.flush()
    return plan


async def do_stop(session: AsyncSession, *, actor: Actor) -> CheckinPlan:
    plan = await my_plan(session, actor=actor)
    if plan is None or not plan.active:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "The daily check-in is not set up.")
    plan.active = False
    session.add(plan)
    await session.flush()
    return plan


# --- "I'm fine" --------------------------------------------------------------------------------------------


async def _confirm(
    session: AsyncSession,
    plan: CheckinPlan,
    *,
    how: How,
    by_id: int,
    now: datetime,
    outcome: Outcome | None = None,
) -> CheckinDay:
    """Today is fine: a new row, or a guarded UPDATE of an open miss (so an alarm step racing it sends nothing)."""
    today = local_date(now)
    row = await day_of(session, plan.resident_id, today)
    if row is None:
        row = CheckinDay(
            plan_id=plan.id,
            resident_id=plan.resident_id,
            household_id=plan.household_id,
            community_id=plan.community_id,
            day=today,
            state=DayState.checked_in.value,
            how=how.value,
            checked_in_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:
            # The window closed at the same moment: the miss was written; confirm it below.
            row = await day_of(session, plan.resident_id, today)
        else:
            announce(session, board_channel(plan.community_id), {"resident": plan.resident_id})
            return row
    if row.state in OPEN_STATES:
        changed = await session.exec(
            update(CheckinDay)
            .where(CheckinDay.id == row.id, col(CheckinDay.state).in_(OPEN_STATES))
            .values(
                state=DayState.resolved.value,
                how=how.value,
                outcome=outcome.value if outcome else None,
                resolved_at=now,
                resolved_by_id=by_id,
            )
        )
        if changed.rowcount:
            await session.refresh(row)
            announce(session, board_channel(plan.community_id), {"resident": plan.resident_id})
    return row


async def do_check_in(
    session: AsyncSession,
    *,
    actor: Actor,
    how: How,
    resident_id: int | None = None,
    now: datetime | None = None,
) -> CheckinDay | None:
    """我很好, the morning push opened, the app opened (her own), or family confirming she is fine.

    None when there is nothing to confirm: no plan, or paused today.
    """
    actor.require_login()
    now = now or utcnow()
    if resident_id is None or resident_id == actor.person_id:
        if how not in (How.button, How.push, How.app):
            raise NotFound()
        plan = await plan_of(session, actor.person_id)
    else:
        plan = await plan_of(session, resident_id)
        family = {g.household_id for g in actor.grants_of(Role.family)}
        if plan is None or plan.household_id not in family:
            raise NotFound()
        how = How.family
    if plan is None or not plan.active or is_paused(plan, local_date(now)):
        return None
    return await _confirm(session, plan, how=how, by_id=actor.person_id, now=now)


async def do_record_visit(
    session: AsyncSession, *, actor: Actor, record_id: int, **visit: object
) -> CareVisit:
    """The ledger's visit; a visit logged today also counts as her check-in (she was seen well, or the miss it
    answers is resolved by it)."""
    row = await ledger.do_record_visit(session, actor=actor, record_id=record_id, **visit)
    record = await session.get(CareRecord, row.record_id)
    plan = await plan_of(session, record.resident_id)
    now = utcnow()
    if plan is not None and plan.active and row.visited_on == local_date(now):
        await _confirm(session, plan, how=How.visit, by_id=actor.person_id, now=now)
    return row


# --- the miss and its escalation ---------------------------------------------------------------------------


async def _tell(
    session: AsyncSession,
    person_ids: list[int],
    *,
    kind: str,
    title: str,
    body: str,
    link: str,
    **params: str,
) -> None:
    """In each person's own language: a notification in the app and a push to her phones."""
    for person_id in dict.fromkeys(person_ids):
        language = await support.person_language(session, person_id)
        await accounts.do_notify(
            session,
            person_id=person_id,
            kind=kind,
            title=i18n.gettext(title, language, **params),
            body=i18n.gettext(body, language, **params),
            link=link,
        )


def _(message: str) -> str:
    """Marks a msgid for extraction; translated per reader in _tell."""
    return message


async def _remind(session: AsyncSession, plans: list[CheckinPlan], today: date, *, now: datetime) -> int:
    """The morning push, in the hour before her window closes, once a day and only if she has not checked in:
    opening it (or tapping 我很好 on the page it opens) is her check-in. The day is claimed on the plan with a
    guarded UPDATE, so several runners send it once."""
    near = [
        p
        for p in plans
        if window_instant(p, today) - REMIND_BEFORE <= now < window_instant(p, today)
        and (p.reminded_on is None or p.reminded_on < today)
    ]
    if not near:
        return 0
    answered = set(
        await session.exec(
            select(CheckinDay.resident_id).where(
                CheckinDay.day == today, col(CheckinDay.resident_id).in_([p.resident_id for p in near])
            )
        )
    )
    sent = 0
    for plan in near:
        if plan.resident_id in answered:
            continue
        claimed = await session.exec(
            update(CheckinPlan)
            .where(
                CheckinPlan.id == plan.id,
                (col(CheckinPlan.reminded_on).is_(None)) | (col(CheckinPlan.reminded_on) < today),
            )
            .values(reminded_on=today)
        )
        if claimed.rowcount != 1:
            continue
        await _tell(
            session,
            [plan.resident_id],
            kind="care_checkin",
            title=_("Good morning! Tell us you are fine"),
            body=_("Tap here, then 我很好, before %(time)s."),
            link="/?checkin=push",
            time=f"{plan.window_end // 60:02d}:{plan.window_end % 60:02d}",
        )
        sent += 1
    return sent


async def _missed(
    session: AsyncSession, plan: CheckinPlan, day: date, *, reason: str, now: datetime
) -> CheckinDay | None:
    """Write the miss once (the unique key decides between runners) and remind her; None if someone else did."""
    row = CheckinDay(
        plan_id=plan.id,
        resident_id=plan.resident_id,
        household_id=plan.household_id,
        community_id=plan.community_id,
        day=day,
        state=DayState.missed.value,
        reason=reason[:100],
        missed_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return None
    await _tell(
        session,
        [plan.resident_id],
        kind="care_checkin",
        title=_("Are you well today?"),
        body=_("Tap 我很好 so your family and steward know you are fine."),
        link="/?checkin=push",
    )
    announce(session, board_channel(plan.community_id), {"resident": plan.resident_id})
    return row


async def record_missed(
    session: AsyncSession, resident_id: int, reason: str, *, now: datetime | None = None
) -> CheckinDay | None:
    """Another part of Laoyou (a door sensor quiet for hours) says she may not be well: today counts as missed
    and escalates like a missed window. Nothing happens when she has no active plan, is away (paused) or today
    already has its row (checked in, or missed once already)."""
    now = now or utcnow()
    plan = await plan_of(session, resident_id)
    today = local_date(now)
    if plan is None or not plan.active or is_paused(plan, today) or await day_of(session, resident_id, today):
        return None
    return await _missed(session, plan, today, reason=reason, now=now)


async def _advance(session: AsyncSession, row_id: int, *, came_from: str, to: str, **values: object) -> bool:
    """One step of the escalation, taken by exactly one runner."""
    changed = await session.exec(
        update(CheckinDay)
        .where(CheckinDay.id == row_id, CheckinDay.state == came_from)
        .values(state=to, **values)
    )
    return changed.rowcount == 1


@dataclass
class CheckinReport:
    reminded: int = 0
    missed: int = 0
    family_told: int = 0
    paged: int = 0


def _name(person: Person) -> str:
    return person.name or national(person.phone)


async def _family_of(session: AsyncSession, household_id: int) -> list[Person]:
    rows = await session.exec(
        select(Person)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(
            RoleGrant.household_id == household_id,
            RoleGrant.role == Role.family.value,
            col(RoleGrant.revoked_at).is_(None),
        )
        .order_by(Person.id)
    )
    return list({person.id: person for person in rows}.values())


async def run_checkin_jobs(session: AsyncSession, *, now: datetime | None = None) -> CheckinReport:
    """Remind her in the morning, write today's misses, tell family after an hour and page the steward after
    two. Never commits."""
    now = now or utcnow()
    today = local_date(now)
    report = CheckinReport()
    plans = list(
        await session.exec(
            select(CheckinPlan).where(
                col(CheckinPlan.active).is_(True),
                CheckinPlan.starts_on <= today,
                (col(CheckinPlan.paused_until).is_(None)) | (col(CheckinPlan.paused_until) < today),
            )
        )
    )
    report.reminded = await _remind(session, plans, today, now=now)
    due = [p for p in plans if window_instant(p, today) <= now]
    if due:
        seen = set(
            await session.exec(
                select(CheckinDay.resident_id).where(
                    CheckinDay.day == today, col(CheckinDay.resident_id).in_([p.resident_id for p in due])
                )
            )
        )
        for plan in due:
            if plan.resident_id not in seen and await _missed(session, plan, today, reason="window", now=now):
                report.missed += 1
    open_rows = list(
        await session.exec(
            select(CheckinDay, CheckinPlan, Person)
            .join(CheckinPlan, CheckinPlan.id == CheckinDay.plan_id)
            .join(Person, Person.id == CheckinDay.resident_id)
            .where(col(CheckinDay.state).in_([DayState.missed.value, DayState.family_told.value]))
        )
    )
    for row, plan, resident in open_rows:
        if not plan.active or is_paused(plan, row.day):
            continue
        name = _name(resident)
        if row.state == DayState.missed.value and row.missed_at + FAMILY_AFTER <= now:
            if await _advance(
                session,
                row.id,
                came_from=DayState.missed.value,
                to=DayState.family_told.value,
                family_told_at=now,
            ):
                report.family_told += 1
                family = await _family_of(session, row.household_id)
                await _tell(
                    session,
                    [p.id for p in family],
                    kind="care_family",
                    title=_("%(name)s has not checked in today"),
                    body=_("Please call her. The steward is told if nobody confirms within an hour."),
                    link="/care/family",
                    name=name,
                )
                announce(session, board_channel(row.community_id), {"resident": row.resident_id})
        elif row.state == DayState.family_told.value and row.missed_at + STEWARD_AFTER <= now:
            if await _advance(
                session,
                row.id,
                came_from=DayState.family_told.value,
                to=DayState.steward_paged.value,
                paged_at=now,
            ):
                report.paged += 1
                community = await session.get(Community, row.community_id)
                stewards = await support.on_duty_stewards(session, community)
                await _tell(
                    session,
                    [p.id for p in stewards],
                    kind="care_page",
                    title=_("Check on %(name)s: no check-in today"),
                    body=_("Nobody has confirmed she is fine. Call or visit, then record what you found."),
                    link="/care/board",
                    name=name,
                )
                announce(session, board_channel(row.community_id), {"resident": row.resident_id})
    return report


# --- the steward's side ------------------------------------------------------------------------------------


async def _access_day(session: AsyncSession, actor: Actor, day_id: int) -> CheckinDay:
    row = await session.get(CheckinDay, day_id)
    if row is None or row.community_id not in await ledger.care_community_ids(session, actor):
        raise NotFound()
    return row


async def do_take(session: AsyncSession, *, actor: Actor, day_id: int) -> CheckinDay:
    """我来处理: the steward says she handles this miss; everyone sees who does. The first to tap has it."""
    row = await _access_day(session, actor, day_id)
    if row.state not in OPEN_STATES:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This check-in needs no one now.")
    changed = await session.exec(
        update(CheckinDay)
        .where(
            CheckinDay.id == row.id,
            col(CheckinDay.handler_id).is_(None),
            col(CheckinDay.state).in_(OPEN_STATES),
        )
        .values(handler_id=actor.person_id)
    )
    await session.refresh(row)
    if not changed.rowcount and row.handler_id != actor.person_id:
        raise LaoyouError(ErrorCode.ALREADY_EXISTS, "Someone else is already handling this.")
    announce(session, board_channel(row.community_id), {"resident": row.resident_id})
    return row


async def do_record_outcome(
    session: AsyncSession, *, actor: Actor, day_id: int, outcome: Outcome, now: datetime | None = None
) -> CheckinDay:
    """What the steward found after calling or visiting; not reachable raises an SOS for the household."""
    row = await _access_day(session, actor, day_id)
    now = now or utcnow()
    if row.state not in OPEN_STATES:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This check-in needs no one now.")
    changed = await session.exec(
        update(CheckinDay)
        .where(CheckinDay.id == row.id, col(CheckinDay.state).in_(OPEN_STATES))
        .values(
            state=DayState.resolved.value,
            how=How.steward.value,
            outcome=outcome.value,
            resolved_at=now,
            resolved_by_id=actor.person_id,
            handler_id=row.handler_id or actor.person_id,
        )
    )
    if not changed.rowcount:
        raise LaoyouError(ErrorCode.NOT_ALLOWED, "This check-in needs no one now.")
    await session.refresh(row)
    if outcome is Outcome.not_reachable:
        # The SOS flow alerts the on-duty staff, the district's agents and the family with the address. It is
        # raised for the household as the resident would (support raises an SOS only from her side).
        resident = await session.get(Person, row.resident_id)
        grants = [
            g for g in await accounts.live_grants(session, resident.id) if g.household_id == row.household_id
        ]
        await support.do_raise_sos(
            session,
            actor=Actor(person=resident, grants=grants),
            household_id=row.household_id,
            client_id=f"care-{row.id}",
        )
    announce(session, board_channel(row.community_id), {"resident": row.resident_id})
    return row


def line_status(day: CheckinDay) -> str:
    """What a day's row shows: checked in, resolved, or a miss that someone is (or nobody is yet) handling."""
    if day.state in (DayState.checked_in.value, DayState.resolved.value):
        return day.state
    return "handling" if day.handler_id else "missed"


def _status(plan: CheckinPlan, day: CheckinDay | None, today: date) -> str:
    if day is None:
        return "paused" if is_paused(plan, today) else "pending"
    return line_status(day)


@dataclass(frozen=True)
class BoardLine:
    plan: CheckinPlan
    resident: Person
    day: CheckinDay | None
    status: str  # checked_in, pending, missed, handling, paused, resolved
    handler: Person | None


async def board(
    session: AsyncSession, *, actor: Actor, community_id: int | None = None, now: datetime | None = None
) -> list[BoardLine]:
    """Today's check-ins of the steward's communities: who needs someone first, then who is still due."""
    allowed = await ledger.care_community_ids(session, actor)
    if community_id is not None:
        if community_id not in allowed:
            raise NotFound()
        allowed = {community_id}
    if not allowed:
        return []
    now = now or utcnow()
    today = local_date(now)
    plans = list(
        await session.exec(
            select(CheckinPlan, Person)
            .join(Person, Person.id == CheckinPlan.resident_id)
            .where(col(CheckinPlan.community_id).in_(allowed), col(CheckinPlan.active).is_(True))
            .order_by(CheckinPlan.id)
            .limit(500)
        )
    )
    days = {
        d.resident_id: d
        for d in await session.exec(
            select(CheckinDay).where(
                CheckinDay.day == today,
                col(CheckinDay.resident_id).in_([p.resident_id for p, _ in plans] or [0]),
            )
        )
    }
    handler_ids = {d.handler_id for d in days.values() if d.handler_id}
    handlers = (
        {p.id: p for p in await session.exec(select(Person).where(col(Person.id).in_(handler_ids)))}
        if handler_ids
        else {}
    )
    lines = []
    for plan, person in plans:
        day = days.get(plan.resident_id)
        lines.append(
            BoardLine(
                plan, person, day, _status(plan, day, today), handlers.get(day.handler_id) if day else None
            )
        )
    order = {"missed": 0, "handling": 1, "pending": 2, "resolved": 3, "checked_in": 4, "paused": 5}
    lines.sort(key=lambda line: (order[line.status], line.plan.window_end, line.plan.id))
    await audit_many(
        session,
        actor=actor,
        action="care.checkin_board_read",
        subject_type="care_checkin_plan",
        subject_ids=[line.plan.id for line in lines],
    )
    return lines


async def family_view(session: AsyncSession, *, actor: Actor, now: datetime | None = None) -> list[BoardLine]:
    """Family see today's check-in of the homes they follow, and who is handling a miss."""
    actor.require_login()
    households = {g.household_id for g in actor.grants_of(Role.family) if g.household_id}
    if not households:
        return []
    today = local_date(now or utcnow())
    lines = []
    for plan, person in await session.exec(
        select(CheckinPlan, Person)
        .join(Person, Person.id == CheckinPlan.resident_id)
        .where(col(CheckinPlan.household_id).in_(households), col(CheckinPlan.active).is_(True))
    ):
        day = await day_of(session, plan.resident_id, today)
        handler = await session.get(Person, day.handler_id) if day and day.handler_id else None
        lines.append(BoardLine(plan, person, day, _status(plan, day, today), handler))
    return lines
