"""No sequence of operations, by anyone, drives a work order along an edge that is not in the transition table."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person
from laoyou.core.errors import LaoyouError, PermissionDenied
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.tickets import service as tickets
from laoyou.tickets.models import OPEN_STATUSES, Status, WorkOrder, WorkOrderEvent

from ..conftest import FIELD_ZHUJIAJIAO, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_ZHUJIAJIAO

WHO = ("steward", "worker", "stranger", "stranger_staff")


async def _actor(db, phone: str) -> Actor:  # noqa: ANN001
    person = (await db.exec(select(Person).where(Person.phone == "+86" + phone))).first()
    return Actor(person=person, grants=await accounts.live_grants(db, person.id))


async def _run(db, op: str, actor: Actor, order_id: int, worker_id: int) -> None:  # noqa: ANN001
    s = tickets
    calls = {
        "assign": lambda: s.do_assign(db, actor=actor, order_id=order_id, assignee_id=worker_id, note="因为"),
        "auto": lambda: s.do_assign(db, actor=actor, order_id=order_id, assignee_id=None, note="因为"),
        "grab": lambda: s.do_grab(db, actor=actor, order_id=order_id),
        "accept": lambda: s.do_accept(db, actor=actor, order_id=order_id),
        "release": lambda: s.do_transfer(db, actor=actor, order_id=order_id, assignee_id=None, note="缺零件"),
        "transfer": lambda: s.do_transfer(
            db, actor=actor, order_id=order_id, assignee_id=worker_id, note="换人"
        ),
        "start": lambda: s.do_start(db, actor=actor, order_id=order_id),
        "finish": lambda: s.do_finish(db, actor=actor, order_id=order_id, note="好了"),
        "note": lambda: s.do_add_note(db, actor=actor, order_id=order_id, note="记一笔"),
        "confirm": lambda: s.do_confirm(db, actor=actor, order_id=order_id, rating=3),
        "reopen": lambda: s.do_reopen(db, actor=actor, order_id=order_id, note="没修好"),
        "cancel": lambda: s.do_cancel(db, actor=actor, order_id=order_id),
        "escalate": lambda: s.do_escalate(db, actor=actor, order_id=order_id, note="太慢"),
        "return_visit": lambda: s.do_record_return_visit(db, actor=actor, order_id=order_id, note="回访"),
        "jobs": lambda: s.run_auto_close(db, now=utcnow() + timedelta(days=8)),
        "escalations": lambda: s.run_escalations(db, now=utcnow() + timedelta(days=30)),
    }
    await calls[op]()


OPS = (
    "assign",
    "auto",
    "grab",
    "accept",
    "release",
    "transfer",
    "start",
    "finish",
    "note",
    "confirm",
    "reopen",
    "cancel",
    "escalate",
    "return_visit",
    "jobs",
    "escalations",
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from(WHO)), min_size=1, max_size=12),
    kind=st.sampled_from(["repair", "complaint"]),
)
async def test_no_operation_makes_an_illegal_transition(db, steps, kind):
    actors = {
        "steward": await _actor(db, STEWARD_ZHUJIAJIAO),
        "worker": await _actor(db, FIELD_ZHUJIAJIAO),
        "stranger": await _actor(db, RESIDENT_XIUSHAN),
        "stranger_staff": await _actor(db, STEWARD_XIUSHAN),
    }
    legal = tickets.legal_edges()
    savepoint = await db.begin_nested()
    try:
        community_id = sorted(await estates.staff_community_ids(db, actors["steward"]))[0]
        data = tickets.ReportInput(
            client_id="prop",
            category="water",
            kind=kind,
            source="phone",
            community_id=community_id,
            place="common",
            place_note="x",
            description="漏水",
        )
        order = (await tickets.do_report(db, actor=actors["steward"], data=data)).order
        for op, who in steps:
            before = order.status
            try:
                await _run(db, op, actors[who], order.id, actors["worker"].person_id)
            except (LaoyouError, PermissionDenied):
                await db.refresh(order)
                assert order.status == before, (op, who)
            await db.refresh(order)
            assert Status(order.status) in Status
            assert order.is_open == (Status(order.status) in OPEN_STATUSES)
            if who.startswith("stranger") and op not in ("jobs", "escalations"):
                assert order.status == before, (op, who)
        events = list(
            await db.exec(
                select(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id == order.id)
                .order_by(WorkOrderEvent.id)
            )
        )
        for event in events:
            assert (event.from_status, event.to_status) in legal, (
                event.action,
                event.from_status,
                event.to_status,
            )
        # The events chain: each starts where the last one ended, and the last is where the order is.
        for previous, event in pairwise(events):
            assert event.from_status == previous.to_status
        assert events[-1].to_status == (await db.get(WorkOrder, order.id)).status
    finally:
        await savepoint.rollback()
