"""The assessment's figures with exact numbers: a district of its own built in the test's transaction, months in
Shanghai time, medians and 90th percentiles at their boundaries, a month with nothing in it as None ("—")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count

import pytest
from sqlmodel import select

from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.billing.models import Bill, BillStatus, FeePlan
from laoyou.core.errors import LaoyouError, NotFound, PermissionDenied
from laoyou.core.time import day_start, local_date, utcnow
from laoyou.estates.models import Building, Community, District, Household, Unit
from laoyou.governance.assessment import service as assessment
from laoyou.governance.assessment.models import SurveyAnswer
from laoyou.support.models import Conversation, Message
from laoyou.tickets.models import Kind, Status, WorkOrder

from ..billing.helpers import actor_for
from ..conftest import ADMIN, OFFICIAL_XIUSHAN, OFFICIAL_ZHUJIAJIAO, RESIDENT_XIUSHAN, STEWARD_XIUSHAN

ORDER_KEYS = count()


@dataclass
class Place:
    district: District
    communities: list[Community]
    households: list[Household]
    admin: Actor
    now: datetime
    this_month: date
    last_month: date

    def at(self, month: date, minutes: float = 0) -> datetime:
        return day_start(month) + timedelta(minutes=minutes)


def previous(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


@pytest.fixture
async def place(db) -> Place:  # noqa: ANN001
    """Two communities of a new district: A with 4 households of long standing and one new this month, B empty."""
    now = utcnow()
    this_month = local_date(now).replace(day=1)
    district = District(
        name="测试片区", city="测试", operator_name="测试物业", operator_phone="+8613800009999"
    )
    db.add(district)
    await db.flush()
    communities = [
        Community(district_id=district.id, name=name, address="测试路", on_duty_phone="+8613800009999")
        for name in ("甲小区", "乙小区")
    ]
    db.add_all(communities)
    await db.flush()
    a = communities[0]
    building = Building(community_id=a.id, district_id=district.id, name="1幢")
    db.add(building)
    await db.flush()
    households = []
    for number in range(5):
        unit = Unit(
            building_id=building.id,
            community_id=a.id,
            district_id=district.id,
            number=f"10{number}",
            floor_area_centi_m2=6000,
        )
        db.add(unit)
        await db.flush()
        created = day_start(date(2020, 1, 1)) if number < 4 else day_start(this_month)
        household = Household(
            unit_id=unit.id, community_id=a.id, district_id=district.id, head_name="户主", created_at=created
        )
        db.add(household)
        households.append(household)
    await db.flush()
    admin = await actor_for(db, ADMIN)
    return Place(district, communities, households, admin, now, this_month, previous(this_month))


async def figures(db, place: Place, **kwargs) -> assessment.Assessment:  # noqa: ANN001, ANN003
    kwargs.setdefault("actor", place.admin)
    return await assessment.assessment(db, district_id=place.district.id, now=place.now, **kwargs)


def month(result: assessment.Assessment, which: date) -> assessment.Month:
    return next(m for m in result.months if m.month == which)


async def add_bills(db, place: Place, rows: list[tuple[int, str, int, int]]) -> None:  # noqa: ANN001
    """(household index, status, amount, paid) for last month's period."""
    a = place.communities[0]
    plan = FeePlan(district_id=place.district.id, community_id=a.id, scope_key=f"c:{a.id}", name="测试")
    db.add(plan)
    await db.flush()
    start = place.last_month
    end = place.this_month - timedelta(days=1)
    for index, status, amount, paid in rows:
        db.add(
            Bill(
                household_id=place.households[index].id,
                community_id=a.id,
                district_id=place.district.id,
                plan_id=plan.id,
                period=f"{start:%Y-%m}",
                period_start=start,
                period_end=end,
                due_date=end,
                amount_fen=amount,
                paid_fen=paid,
                status=status,
            )
        )
    await db.flush()


async def add_order(
    db,  # noqa: ANN001
    place: Place,
    *,
    created: datetime,
    done: datetime | None = None,
    kind: Kind = Kind.repair,
    category: str = "water",
    status: Status | None = None,
    rating: int | None = None,
    visited: datetime | None = None,
) -> None:
    a = place.communities[0]
    db.add(
        WorkOrder(
            community_id=a.id,
            district_id=place.district.id,
            kind=kind.value,
            category=category,
            status=(status or (Status.done if done else Status.reported)).value,
            created_by_id=place.admin.person_id,
            client_id=f"assessment-{next(ORDER_KEYS)}",
            created_at=created,
            response_due_at=created,
            completion_due_at=created,
            done_at=done,
            rating=rating,
            return_visit_done_at=visited,
        )
    )
    await db.flush()


async def test_a_month_with_nothing_counted_is_none_not_zero(db, place):
    # Given a district with households but no bills, orders, messages or answers
    result = await figures(db, place)
    # Then every month is there, oldest first, the current one last, and no rate is 0 %
    assert [m.month for m in result.months][-2:] == [place.last_month, place.this_month]
    assert len(result.months) == 12
    last = month(result, place.last_month)
    assert last.households == 4 and last.covered == 0
    assert last.coverage_permille == 0  # households, none covered: a real 0 %
    assert last.collection_permille is None
    assert last.rating_permille is None and last.survey_permille is None
    assert last.median_handling_minutes is None and last.p90_handling_minutes is None
    assert last.median_reply_minutes is None
    # And a community with no household has no coverage either
    only_b = await figures(db, place, community_id=place.communities[1].id)
    assert month(only_b, place.last_month).coverage_permille is None


async def test_coverage_and_collection_of_a_month(db, place):
    # Given last month's bills: paid, partly paid, a trial statement, and a cancelled bill
    await add_bills(
        db,
        place,
        [
            (0, BillStatus.paid.value, 10000, 10000),
            (1, BillStatus.partly_paid.value, 10000, 2500),
            (2, BillStatus.statement.value, 0, 0),
            (3, BillStatus.cancelled.value, 10000, 0),
        ],
    )
    result = await figures(db, place)
    last = month(result, place.last_month)
    # Then three of four households were covered (a statement is service; a cancelled bill is not)
    assert (last.households, last.covered, last.coverage_permille) == (4, 3, 750)
    # And 125.00 of 200.00 yuan were collected
    assert (last.billed_fen, last.paid_fen, last.collection_permille) == (20000, 12500, 625)
    # And this month counts the new household, with no bill yet
    now = month(result, place.this_month)
    assert (now.households, now.covered, now.collection_permille) == (5, 0, None)


async def test_handling_time_median_and_p90_by_shanghai_month(db, place):
    # Given five repairs done last month after 60, 120, 180, 240 and 600 minutes
    start = place.at(place.last_month, 60)
    for minutes in (60, 120, 180, 240, 600):
        await add_order(db, place, created=start, done=start + timedelta(minutes=minutes), rating=5)
    # And one done in the last second of last month (Shanghai), one in the first second of this month
    edge = place.at(place.this_month)
    await add_order(db, place, created=edge - timedelta(minutes=20), done=edge - timedelta(seconds=1))
    await add_order(db, place, created=edge - timedelta(minutes=10), done=edge, category="lift", rating=2)
    result = await figures(db, place)
    last, now = month(result, place.last_month), month(result, place.this_month)
    # Then last month has six: median between 120 and 180, p90 by interpolation (PostgreSQL's percentile_cont)
    assert last.handled == 6
    assert last.median_handling_minutes == 150.0
    assert last.p90_handling_minutes == 420.0  # 4.5th of 0..5: halfway from 240 to 600
    assert (last.ratings, last.ratings_satisfied, last.rating_permille) == (5, 5, 1000)
    # And this month has the one done at midnight: its median and p90 are its own
    assert (now.handled, now.median_handling_minutes, now.p90_handling_minutes) == (1, 10.0, 10.0)
    assert (now.ratings, now.rating_permille) == (1, 0)
    # And reports count in the month they were made, by category
    assert last.work_orders == 7 and last.by_category == {"water": 6, "lift": 1}
    assert now.work_orders == 0


async def test_complaints_outcomes_and_return_visits(db, place):
    start = place.at(place.last_month, 30)
    for status in (Status.confirmed, Status.closed, Status.in_progress, Status.cancelled, Status.reported):
        await add_order(db, place, created=start, kind=Kind.complaint, category="noise", status=status)
    await add_order(db, place, created=start, done=start, visited=place.at(place.this_month))
    result = await figures(db, place)
    last, now = month(result, place.last_month), month(result, place.this_month)
    assert (last.complaints, last.complaints_resolved, last.complaints_open, last.complaints_withdrawn) == (
        5,
        2,
        2,
        1,
    )
    assert (last.return_visits, now.return_visits) == (0, 1)


async def test_first_reply_after_a_residents_message(db, place):
    # Given a conversation: the resident writes twice, an automatic answer, then an agent replies after 10
    # minutes; she writes again and waits 30 minutes; then a last question not answered yet
    a = place.communities[0]
    resident = (await db.exec(select(Person).where(Person.phone == "+86" + RESIDENT_XIUSHAN))).one()
    conversation = Conversation(
        community_id=a.id, district_id=place.district.id, resident_id=resident.id, created_at=place.now
    )
    db.add(conversation)
    await db.flush()
    t0 = place.at(place.last_month, 100)
    script = [
        (0, False, resident.id),
        (1, True, None),
        (5, False, resident.id),
        (10, True, place.admin.person_id),
        (20, False, resident.id),
        (50, True, place.admin.person_id),
        (60, False, resident.id),
    ]
    for seq, (minutes, staff, sender) in enumerate(script, start=1):
        db.add(
            Message(
                conversation_id=conversation.id,
                community_id=a.id,
                district_id=place.district.id,
                seq=seq,
                sender_id=sender,
                from_staff=staff,
                created_at=t0 + timedelta(minutes=minutes),
            )
        )
    await db.flush()
    last = month(await figures(db, place), place.last_month)
    # Then two answered waits, of 10 and 30 minutes
    assert last.answered == 2
    assert (last.median_reply_minutes, last.p90_reply_minutes) == (20.0, 28.0)


async def test_the_survey_is_counted_in_the_month_it_was_answered(db, place):
    a = place.communities[0]
    for index, score in enumerate((3, 3, 2, 1)):
        db.add(
            SurveyAnswer(
                household_id=place.households[index].id,
                community_id=a.id,
                district_id=place.district.id,
                person_id=place.admin.person_id,
                quarter="2000-Q1",
                score=score,
                created_at=place.at(place.last_month, 10),
            )
        )
    await db.flush()
    last = month(await figures(db, place), place.last_month)
    assert (last.survey_answers, last.survey_satisfied, last.survey_permille) == (4, 2, 500)


async def test_care_visits_are_counted_by_the_month_they_were_made(db, place):
    from laoyou.care.ledger.models import CareRecord, CareVisit

    a, b = place.communities
    record = CareRecord(
        resident_id=place.admin.person_id,
        household_id=place.households[0].id,
        community_id=a.id,
        district_id=place.district.id,
        consent_method="phone",
        consent_by_id=place.admin.person_id,
        consent_at=place.now,
    )
    db.add(record)
    await db.flush()
    last_day = place.this_month - timedelta(days=1)
    for community, day in ((a, place.last_month), (a, last_day), (a, place.this_month), (b, last_day)):
        db.add(
            CareVisit(
                record_id=record.id,
                community_id=community.id,
                visited_on=day,
                visitor_id=place.admin.person_id,
                finding="all_well",
            )
        )
    await db.flush()
    result = await figures(db, place)
    # The first and the last day of last month are last month's; the first of this month is this month's
    assert month(result, place.last_month).care_visits == 3
    assert month(result, place.this_month).care_visits == 1
    # and a community's own figures count only its visits
    only_a = await figures(db, place, community_id=a.id)
    assert month(only_a, place.last_month).care_visits == 2


async def test_the_ranking_puts_the_best_collection_first_and_none_last(db, place):
    await add_bills(db, place, [(0, BillStatus.paid.value, 10000, 10000)])
    result = await figures(db, place)
    assert [c.name for c, _m in result.ranking] == ["甲小区", "乙小区"]
    assert result.ranking_month == place.last_month


async def test_scope_officials_see_exactly_theirs(db):
    # Given the demo: 周主任 oversees 秀山花园; 吴科长 the Zhujiajiao district; a resident and a stranger
    xiushan = (await db.exec(select(Community).where(Community.name == "秀山花园"))).one()
    zhujiajiao = (await db.exec(select(District).where(District.name.startswith("朱家角")))).one()
    committee = await actor_for(db, OFFICIAL_XIUSHAN)
    street = await actor_for(db, OFFICIAL_ZHUJIAJIAO)
    # Then the committee official sees her community and no more
    mine = await assessment.assessment(db, actor=committee, district_id=xiushan.district_id)
    assert [c.name for c in mine.communities] == ["秀山花园"]
    # And nobody reads a district or community that is not theirs
    with pytest.raises(NotFound):
        await assessment.assessment(db, actor=committee, district_id=zhujiajiao.id)
    with pytest.raises(NotFound):
        await assessment.assessment(
            db, actor=street, district_id=xiushan.district_id, community_id=xiushan.id
        )
    street_view = await assessment.assessment(db, actor=street, district_id=zhujiajiao.id)
    assert len(street_view.communities) == 9
    # And a resident is refused outright; so is a bad number of months
    with pytest.raises(PermissionDenied):
        await assessment.assessment(
            db, actor=await actor_for(db, RESIDENT_XIUSHAN), district_id=xiushan.district_id
        )
    with pytest.raises(LaoyouError):
        await assessment.assessment(db, actor=committee, district_id=xiushan.district_id, months=0)
    # And a steward of 秀山花园 sees it, as on the figures page
    steward = await actor_for(db, STEWARD_XIUSHAN)
    assert (await assessment.assessment(db, actor=steward, district_id=xiushan.district_id)).communities


async def test_a_household_answers_the_quarters_survey_once(db):
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    [household] = await assessment.open_surveys(db, actor=resident)
    with pytest.raises(LaoyouError):
        await assessment.do_answer_survey(db, actor=resident, household_id=household, score=5)
    answer = await assessment.do_answer_survey(db, actor=resident, household_id=household, score=3)
    assert answer.quarter == assessment.quarter_of(utcnow())
    assert await assessment.open_surveys(db, actor=resident) == []
    with pytest.raises(LaoyouError):
        await assessment.do_answer_survey(db, actor=resident, household_id=household, score=2)
    # And nobody answers for a household that is not theirs
    grant = (
        await db.exec(
            select(RoleGrant).where(
                RoleGrant.role == Role.resident.value, RoleGrant.household_id != household
            )
        )
    ).first()
    with pytest.raises(NotFound):
        await assessment.do_answer_survey(db, actor=resident, household_id=grant.household_id, score=3)


def test_a_share_is_rounded_as_a_reader_expects():
    # 2 of 3 reads 66.7 %, not 66.6 %; 14 of 19, 73.7 %; nothing to divide is no figure, never 0 %
    assert [
        assessment.permille(2, 3),
        assessment.permille(14, 19),
        assessment.permille(18, 28),
        assessment.permille(1, 2000),
        assessment.permille(0, 5),
    ] == [
        667,
        737,
        643,
        1,
        0,
    ]
    assert assessment.permille(1, 0) is None
