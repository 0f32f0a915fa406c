"""Demo care in 秀山花园: five elderly residents with consented records and the daily check-in; today one has
checked in, one missed it and nobody has taken it yet, one is being handled by the steward, two are still due.
The demo's own resident (138 0000 0001) is left without, so a visitor can set it up in two taps."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.care.checkins.models import CheckinDay, CheckinPlan, DayState, How
from laoyou.care.ledger.models import CareRecord, CareVisit, ConsentMethod, Finding, Living, Mobility
from laoyou.core.time import local_date, utcnow
from laoyou.estates.models import Community

STEWARD = "+8613800000011"
# (living, mobility, needs, window end in minutes, today's state, handled by the steward)
PEOPLE = (
    (Living.alone, Mobility.walks_with_aid, "hearing,stairs", 9 * 60, DayState.checked_in, False),
    (Living.alone, Mobility.independent, "memory,medication", 9 * 60, DayState.missed, False),
    (Living.with_spouse, Mobility.wheelchair, "stairs,shopping", 10 * 60, DayState.family_told, True),
    (Living.alone, Mobility.independent, "company", 10 * 60, None, False),
    (Living.with_family, Mobility.walks_with_aid, "meals", 11 * 60, None, False),
)


async def load_care_demo(session: AsyncSession) -> None:
    community = (await session.exec(select(Community).where(Community.name == "秀山花园"))).one()
    steward = (await session.exec(select(Person).where(Person.phone == STEWARD))).one()
    homes = list(
        await session.exec(
            select(RoleGrant, Person)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(
                RoleGrant.community_id == community.id,
                RoleGrant.role == Role.resident.value,
                col(Person.phone).startswith("+86139"),
                col(RoleGrant.revoked_at).is_(None),
            )
            .order_by(RoleGrant.id)
            .limit(len(PEOPLE))
        )
    )
    now = utcnow()
    today = local_date(now)
    for (living, mobility, needs, window, state, handled), (grant, person) in zip(
        PEOPLE, homes, strict=False
    ):
        record = CareRecord(
            resident_id=person.id,
            household_id=grant.household_id,
            community_id=community.id,
            district_id=community.district_id,
            living=living.value,
            mobility=mobility.value,
            needs=needs,
            visit_times="morning",
            consent_method=ConsentMethod.phone.value,
            consent_by_id=person.id,
            consent_at=now - timedelta(days=30),
        )
        plan = CheckinPlan(
            resident_id=person.id,
            household_id=grant.household_id,
            community_id=community.id,
            district_id=community.district_id,
            window_end=window,
            starts_on=today - timedelta(days=30),
            set_by_id=person.id,
        )
        session.add_all([record, plan])
        await session.flush()
        session.add(
            CareVisit(
                record_id=record.id,
                community_id=community.id,
                visited_on=today - timedelta(days=7),
                visitor_id=steward.id,
                finding=Finding.all_well.value,
                note="精神很好，聊了半小时",
            )
        )
        if state is None:
            continue
        day = CheckinDay(
            plan_id=plan.id,
            resident_id=person.id,
            household_id=grant.household_id,
            community_id=community.id,
            day=today,
            state=state.value,
        )
        if state is DayState.checked_in:
            day.how, day.checked_in_at = How.button.value, now - timedelta(hours=1)
        else:
            day.reason, day.missed_at = "window", now - timedelta(minutes=70 if handled else 20)
            if state is DayState.family_told:
                day.family_told_at = now - timedelta(minutes=10)
            if handled:
                day.handler_id = steward.id
        session.add(day)
    await session.flush()
