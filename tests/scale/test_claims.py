"""Each periodic job, run by two workers at once, does each thing once (core.jobs.due and claim): on SQLite
and on PostgreSQL, whether the second starts while the first holds its claims or both start together, and
when the first dies mid-round (its rollback frees its claims for the next round)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from laoyou.accounts.models import Notification
from laoyou.billing.jobs import run_billing_jobs
from laoyou.briefings import service as briefings
from laoyou.briefings.models import Briefing
from laoyou.core.time import utcnow
from laoyou.graphql.types import decode_id
from laoyou.support import service as support
from laoyou.support.models import Call, CallSignal, Message
from laoyou.tickets.jobs import run_ticket_jobs
from laoyou.tickets.models import WorkOrder, WorkOrderEvent

from ..conftest import RESIDENT_XIUSHAN, graphql_client, login_demo, make_database_url, make_settings, started
from ..media.test_cleanup import until_waiting_or_done
from ..support.test_calls import START

Job = Callable[[Any], Awaitable[Any]]
LATER = utcnow() + timedelta(days=40)  # every open demo bill overdue, every open work order past its time


@pytest.fixture(scope="module")
async def own_app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """An app of its own with the demo: these tests commit (each makes its work due again first)."""
    tmp = tmp_path_factory.mktemp(f"claims-{backend}")
    async with started(make_settings(tmp, make_database_url(backend, tmp, request))) as application:
        yield application


async def committed(app: Any, job: Job) -> Any:
    async with app.state.sessionmaker() as session:
        report = await job(session)
        await session.commit()
        return report


async def second_while_first_holds(app: Any, job: Job, *, first_dies: bool = False) -> None:
    """The first worker runs a round and, before it commits (or dies), a second starts the same round."""
    async with app.state.sessionmaker() as first:
        await job(first)
        second = asyncio.create_task(committed(app, job))
        await until_waiting_or_done(app, second)
        if first_dies:
            await first.rollback()
        else:
            await first.commit()
    await second


async def together(app: Any, job: Job) -> None:
    await asyncio.gather(committed(app, job), committed(app, job))


async def reminders(app: Any) -> Counter:
    async with app.state.sessionmaker() as session:
        rows = await session.exec(
            select(Notification.person_id, Notification.link).where(Notification.kind == "bill_overdue")
        )
        return Counter(rows.all())


async def order_events(app: Any) -> Counter:
    async with app.state.sessionmaker() as session:
        rows = await session.exec(
            select(WorkOrderEvent.work_order_id, WorkOrderEvent.action, WorkOrderEvent.note).where(
                col(WorkOrderEvent.action).in_(["escalate", "auto_close"])
            )
        )
        return Counter(rows.all())


ROUNDS = {
    "second_while_first_holds": second_while_first_holds,
    "together": together,
    "first_dies": lambda app, job: second_while_first_holds(app, job, first_dies=True),
}


@pytest.mark.parametrize("race", ROUNDS)
async def test_two_workers_remind_each_overdue_bill_once(own_app, race):
    # Given the demo's bills, overdue by a day of this test's own (a bill is reminded once a day)
    now = LATER + timedelta(days=list(ROUNDS).index(race))
    before = await reminders(own_app)

    async def billing(session):  # noqa: ANN001, ANN202
        return await run_billing_jobs(session, now=now, gateways={})

    # When two workers run the round at once (and, when the first dies, a later round runs after)
    await ROUNDS[race](own_app, billing)
    if race == "first_dies":
        await committed(own_app, billing)
    # Then each person was reminded of each bill once that day, and nothing is left to remind
    today = (await reminders(own_app)) - before
    assert today and set(today.values()) == {1}
    assert (await committed(own_app, billing)).reminded == 0


@pytest.mark.parametrize("race", ROUNDS)
async def test_two_workers_escalate_and_close_each_work_order_once(own_app, race):
    # Given the demo's work orders, every open one overdue and not yet escalated, and the done ones (and those
    # an earlier test closed) a week old by then
    now = LATER
    async with own_app.state.sessionmaker() as session:
        await session.exec(update(WorkOrder).values(escalation_level=0, escalated_at=None))
        closed_by_job = select(WorkOrderEvent.work_order_id).where(WorkOrderEvent.action == "auto_close")
        await session.exec(
            update(WorkOrder)
            .where(col(WorkOrder.id).in_(closed_by_job))
            .values(status="done", closed_at=None, return_visit_due_at=None)
        )
        await session.commit()

    async def work_orders(session):  # noqa: ANN001, ANN202
        return await run_ticket_jobs(session, now=now)

    before = await order_events(own_app)
    # When two workers run the round at once (and, when the first dies, a later round runs after)
    await ROUNDS[race](own_app, work_orders)
    if race == "first_dies":
        await committed(own_app, work_orders)
    # Then each order was escalated (to the next level) or closed once, and nothing is left to do now
    done = (await order_events(own_app)) - before
    assert done and set(done.values()) == {1}
    assert len({order_id for order_id, _action, _note in done}) == len(done)
    again = await committed(own_app, work_orders)
    assert (again.escalated, again.closed) == (0, 0)


@pytest.mark.parametrize("race", ROUNDS)
async def test_two_workers_publish_each_scheduled_briefing_once(own_app, race):
    # Given the demo's briefings scheduled again, due a minute ago
    now = utcnow()
    async with own_app.state.sessionmaker() as session:
        ids = list(await session.exec(select(Briefing.id)))
        await session.exec(
            update(Briefing).values(
                status="scheduled", publish_at=now - timedelta(minutes=1), published_at=None
            )
        )
        await session.commit()
    before = await told(own_app, [f"/briefings/{i}" for i in ids])

    async def publish(session):  # noqa: ANN001, ANN202
        return await briefings.do_publish_due(session, now=now)

    # When two workers run the round at once (and, when the first dies, a later round runs after)
    await ROUNDS[race](own_app, publish)
    if race == "first_dies":
        await committed(own_app, publish)
    # Then each was published, its audience told once, and nothing is left to publish
    async with own_app.state.sessionmaker() as session:
        assert set(await session.exec(select(Briefing.status))) == {"published"}
    news = (await told(own_app, [f"/briefings/{i}" for i in ids])) - before
    assert ids and news and set(news.values()) == {1}
    assert await committed(own_app, publish) == 0


@pytest.mark.parametrize("race", ROUNDS)
async def test_two_workers_end_each_unanswered_call_once(own_app, race):
    # Given 王秀英 calling her steward, whose phone then died, the ring time long over
    async with graphql_client(own_app) as http:
        resident = await login_demo(http, RESIDENT_XIUSHAN)
        call = (await resident(START, {"toSteward": True}))["data"]["startCall"]["call"]
    call_id = decode_id(call["id"])
    missed_before = await missed_calls(own_app, call_id)
    later = utcnow() + support.RING_TIMEOUT + timedelta(minutes=1)

    async def end_unanswered(session):  # noqa: ANN001, ANN202
        return await support.do_end_unanswered_calls(session, now=later)

    # When two workers run the round at once (and, when the first dies, a later round runs after)
    await ROUNDS[race](own_app, end_unanswered)
    if race == "first_dies":
        await committed(own_app, end_unanswered)
    # Then the call was ended as missed once: one hang-up, one missed-call message
    async with own_app.state.sessionmaker() as session:
        assert (await session.get(Call, call_id)).status == "missed"
        hangups = await session.exec(
            select(CallSignal.id).where(CallSignal.call_id == call_id, CallSignal.kind == "hangup")
        )
        assert len(hangups.all()) == 1
    assert await missed_calls(own_app, call_id) == missed_before + 1
    assert await committed(own_app, end_unanswered) == 0


async def told(app: Any, links: list[str]) -> Counter:
    async with app.state.sessionmaker() as session:
        rows = await session.exec(
            select(Notification.person_id, Notification.link).where(col(Notification.link).in_(links))
        )
        return Counter(rows.all())


async def missed_calls(app: Any, call_id: int) -> int:
    """Missed-call messages in the call's conversation."""
    async with app.state.sessionmaker() as session:
        call = await session.get(Call, call_id)
        rows = await session.exec(
            select(Message.id).where(
                Message.conversation_id == call.conversation_id, Message.kind == "missed_call"
            )
        )
        return len(rows.all())
