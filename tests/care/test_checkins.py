"""The daily check-in: a missed window walks the whole chain with a moved clock (resident, then family by push
and SMS, then the steward on duty, who records the outcome), exactly once however often the job runs; a pause stops
it; any "I'm fine" ends it; another part of Laoyou may record a miss."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Notification, Person
from laoyou.care.checkins import service as checkins
from laoyou.care.checkins.models import CheckinDay, CheckinPlan, DayState, How, Outcome
from laoyou.core.time import day_start, local_date, utcnow
from laoyou.notify.reach.models import Reach
from laoyou.support.models import SosAlert

from ..conftest import FAMILY_OF_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo

SET_UP = """mutation ($w: Int!) { setUpCheckin(windowEnd: $w) {
    __typename ... on CheckinPlanSaved { plan { window active } } ... on Error { code message field } } }"""
PAUSE = """mutation ($d: Int!) { pauseCheckin(days: $d) {
    __typename ... on CheckinPlanSaved { plan { pausedUntil } } ... on Error { code message field } } }"""
MY = "query { myCheckin { status plan { window } } }"


async def person(db, phone: str) -> Person:  # noqa: ANN001
    return (await db.exec(select(Person).where(Person.phone == "+86" + phone))).one()


async def actor_of(db, phone: str) -> Actor:  # noqa: ANN001
    found = await person(db, phone)
    return Actor(person=found, grants=await accounts.live_grants(db, found.id))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant of a Shanghai day, whatever the machine's zone."""
    return day_start(day) + timedelta(hours=hour, minutes=minute)


async def notified(db, phone: str, kind: str) -> int:  # noqa: ANN001
    who = await person(db, phone)
    return await db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.person_id == who.id, Notification.kind == kind)
    )


async def planned(gql, db) -> tuple[CheckinPlan, date]:  # noqa: ANN001
    """The resident sets it up (by 10:00); the test day is tomorrow, a day it surely counts."""
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    saved = (await resident(SET_UP, {"w": 600}))["data"]["setUpCheckin"]
    assert saved == {"__typename": "CheckinPlanSaved", "plan": {"window": "10:00", "active": True}}
    plan = await checkins.plan_of(db, (await person(db, RESIDENT_XIUSHAN)).id)
    # The demo's other plans would be counted too: only hers runs here.
    await db.exec(update(CheckinPlan).where(CheckinPlan.id != plan.id).values(active=False))
    return plan, local_date(utcnow()) + timedelta(days=1)


async def test_a_missed_check_in_walks_the_chain_once(gql, db):
    # Given the resident's check-in by 10:00 and a family member following her home
    plan, day = await planned(gql, db)
    family = await person(db, FAMILY_OF_XIUSHAN)
    # When 10:00 passes without a tap (the job runs twice: two workers)
    first = await checkins.run_checkin_jobs(db, now=at(day, 10, 1))
    again = await checkins.run_checkin_jobs(db, now=at(day, 10, 2))
    # Then she alone is reminded, once
    assert (first.missed, again.missed) == (1, 0)
    assert await notified(db, RESIDENT_XIUSHAN, "care_checkin") == 1
    assert await notified(db, FAMILY_OF_XIUSHAN, "care_family") == 0
    # When an hour has passed
    first = await checkins.run_checkin_jobs(db, now=at(day, 11, 2))
    again = await checkins.run_checkin_jobs(db, now=at(day, 11, 3))
    # Then family are told, once, by a notice that climbs to SMS and a call until they open it
    assert (first.family_told, again.family_told) == (1, 0)
    assert await notified(db, FAMILY_OF_XIUSHAN, "care_family") == 1
    [told] = (
        await db.exec(select(Reach).where(Reach.person_id == family.id, Reach.kind == "care_family"))
    ).all()
    assert told.priority == "emergency" and "sms" in told.ladder.split(",")
    assert await notified(db, STEWARD_XIUSHAN, "care_page") == 0
    # When two hours have passed with nobody confirming
    first = await checkins.run_checkin_jobs(db, now=at(day, 12, 2))
    again = await checkins.run_checkin_jobs(db, now=at(day, 12, 30))
    # Then the steward on duty is paged, once, and the board shows it missed
    assert (first.paged, again.paged) == (1, 0)
    assert await notified(db, STEWARD_XIUSHAN, "care_page") == 1
    steward = await actor_of(db, STEWARD_XIUSHAN)
    [line] = [
        line
        for line in await checkins.board(db, actor=steward, now=at(day, 12, 31))
        if line.plan.id == plan.id
    ]
    assert line.status == "missed"
    # When the steward takes it, everyone sees who handles it
    taken = await checkins.do_take(db, actor=steward, day_id=line.day.id)
    assert taken.handler_id == steward.person_id
    [line] = [
        line
        for line in await checkins.family_view(
            db, actor=await actor_of(db, FAMILY_OF_XIUSHAN), now=at(day, 12, 32)
        )
    ]
    assert line.status == "handling" and line.handler.id == steward.person_id
    # And she records the outcome after calling: all well
    done = await checkins.do_record_outcome(
        db, actor=steward, day_id=taken.id, outcome=Outcome.all_well, now=at(day, 12, 40)
    )
    assert (done.state, done.outcome, done.how) == ("resolved", "all_well", "steward")
    # Then nothing more happens that day, however often the job runs
    later = await checkins.run_checkin_jobs(db, now=at(day, 18))
    assert (later.missed, later.family_told, later.paged) == (0, 0, 0)
    assert len((await db.exec(select(Reach).where(Reach.kind == "care_family"))).all()) == 1


async def test_not_reachable_raises_an_sos(gql, db):
    plan, day = await planned(gql, db)
    await checkins.run_checkin_jobs(db, now=at(day, 10, 1))
    row = await checkins.day_of(db, plan.resident_id, day)
    steward = await actor_of(db, STEWARD_XIUSHAN)
    before = await db.scalar(select(func.count()).select_from(SosAlert))
    await checkins.do_record_outcome(
        db, actor=steward, day_id=row.id, outcome=Outcome.not_reachable, now=at(day, 10, 30)
    )
    assert await db.scalar(select(func.count()).select_from(SosAlert)) == before + 1


async def test_a_pause_stops_it(gql, db):
    # Given her check-in, paused for three days from today
    plan, day = await planned(gql, db)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    paused = (await resident(PAUSE, {"d": 3}))["data"]["pauseCheckin"]
    assert paused["__typename"] == "CheckinPlanSaved"
    # When tomorrow's window passes, and the hours after it
    for hour in (10, 11, 12, 13):
        report = await checkins.run_checkin_jobs(db, now=at(day, hour, 5))
        # Then nothing is missed and nobody alarmed
        assert (report.missed, report.family_told, report.paged) == (0, 0, 0)
    assert await notified(db, RESIDENT_XIUSHAN, "care_checkin") == 0
    # And a pause of a silly length is refused in plain words
    wrong = (await resident(PAUSE, {"d": 400}))["data"]["pauseCheckin"]
    assert wrong["code"] == "INVALID" and wrong["field"] == "days"


async def test_im_fine_after_a_miss_ends_the_escalation(gql, db):
    plan, day = await planned(gql, db)
    await checkins.run_checkin_jobs(db, now=at(day, 10, 1))
    resident = await actor_of(db, RESIDENT_XIUSHAN)
    row = await checkins.do_check_in(db, actor=resident, how=How.button, now=at(day, 10, 20))
    assert (row.state, row.how) == (DayState.resolved.value, "button")
    report = await checkins.run_checkin_jobs(db, now=at(day, 12, 30))
    assert (report.family_told, report.paged) == (0, 0)
    assert await notified(db, FAMILY_OF_XIUSHAN, "care_family") == 0


async def test_checking_in_early_means_no_alarm(gql, db):
    plan, day = await planned(gql, db)
    resident = await actor_of(db, RESIDENT_XIUSHAN)
    row = await checkins.do_check_in(db, actor=resident, how=How.app, now=at(day, 8))
    assert row.state == DayState.checked_in.value
    report = await checkins.run_checkin_jobs(db, now=at(day, 13))
    assert (report.missed, report.family_told, report.paged) == (0, 0, 0)


async def test_a_miss_recorded_from_elsewhere_escalates_once(gql, db):
    # Given her plan, before today's window
    plan, day = await planned(gql, db)
    # When a sensor reports no door activity, twice
    first = await checkins.record_missed(db, plan.resident_id, "no door activity", now=at(day, 8))
    second = await checkins.record_missed(db, plan.resident_id, "no door activity", now=at(day, 8, 30))
    # Then one miss is recorded, and the window passing adds none
    assert first is not None and first.reason == "no door activity" and second is None
    # And an hour later family are told, as for a missed window
    report = await checkins.run_checkin_jobs(db, now=at(day, 10, 1))
    assert (report.missed, report.family_told) == (0, 1)


async def test_the_window_is_refused_outside_the_day(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    wrong = (await resident(SET_UP, {"w": 3 * 60}))["data"]["setUpCheckin"]
    assert wrong["code"] == "INVALID" and wrong["field"] == "windowEnd"
    assert (await resident(MY))["data"]["myCheckin"] == {"status": None, "plan": None}


async def test_a_family_member_may_confirm_she_is_fine(gql, db):
    plan, day = await planned(gql, db)
    await checkins.run_checkin_jobs(db, now=at(day, 10, 1))
    family = await actor_of(db, FAMILY_OF_XIUSHAN)
    row = await checkins.do_check_in(
        db, actor=family, how=How.button, resident_id=plan.resident_id, now=at(day, 10, 30)
    )
    assert (row.state, row.how) == (DayState.resolved.value, "family")
    # The unique day row stays one row
    count = await db.scalar(
        select(func.count()).select_from(CheckinDay).where(CheckinDay.resident_id == plan.resident_id)
    )
    assert count == 1


async def test_the_morning_reminder_comes_once_in_the_hour_before_her_window(gql, db):
    # Given her check-in by 10:00
    plan, day = await planned(gql, db)
    # When the job runs before 09:00: nothing yet
    assert (await checkins.run_checkin_jobs(db, now=at(day, 8, 59))).reminded == 0
    # At 09:00 and again at 09:30 (two runners, or two rounds): one morning push, linking to her 我很好
    first = await checkins.run_checkin_jobs(db, now=at(day, 9, 0))
    again = await checkins.run_checkin_jobs(db, now=at(day, 9, 30))
    assert (first.reminded, again.reminded) == (1, 0)
    assert await notified(db, RESIDENT_XIUSHAN, "care_checkin") == 1
    reminder = (
        await db.exec(
            select(Notification)
            .where(Notification.person_id == plan.resident_id, Notification.kind == "care_checkin")
            .order_by(Notification.id.desc())
        )
    ).first()
    assert reminder.link == "/?checkin=push" and "10:00" in reminder.body
    # And the next day it comes again, unless she has checked in by then
    nxt = day + timedelta(days=1)
    await checkins.do_check_in(
        db, actor=await actor_of(db, RESIDENT_XIUSHAN), how=How.button, now=at(nxt, 8, 30)
    )
    assert (await checkins.run_checkin_jobs(db, now=at(nxt, 9, 15))).reminded == 0
    nxt2 = day + timedelta(days=2)
    assert (await checkins.run_checkin_jobs(db, now=at(nxt2, 9, 15))).reminded == 1
