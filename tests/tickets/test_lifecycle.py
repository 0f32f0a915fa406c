"""The lifecycle: dispatch, grab, accept, finish, confirm and rate, reopen, escalate, auto-close, return visits."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Notification, Person
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Community
from laoyou.tickets import jobs
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Status, WorkOrder, WorkOrderRow

from ..conftest import FIELD_ZHUJIAJIAO, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_ZHUJIAJIAO, login_demo
from .helpers import (
    ACCEPT,
    ASSIGN,
    BOARD,
    CONFIRM,
    FINISH,
    GRAB,
    NOTE,
    REOPEN,
    RETURN_VISIT,
    START,
    TRANSFER,
    WORK_ORDER,
    report,
    viewer,
)


async def _actor(db, phone: str) -> Actor:  # noqa: ANN001
    person = (await db.exec(select(Person).where(Person.phone == "+86" + phone))).first()
    return Actor(person=person, grants=await accounts.live_grants(db, person.id))


async def _zhujiajiao_repair(steward) -> dict:  # noqa: ANN001
    communities = (await steward("query { communities(first: 2) { nodes { id } } }"))["data"]["communities"][
        "nodes"
    ]
    return (
        await report(
            steward,
            source="phone",
            communityId=communities[0]["id"],
            place="common",
            placeNote="门口",
            category="water",
        )
    )["workOrder"]


async def test_repair_from_report_to_rating(gql, db):
    # Given a repair logged in Zhujiajiao, its steward and 赵师傅
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    worker = await login_demo(gql, FIELD_ZHUJIAJIAO)
    order = await _zhujiajiao_repair(steward)
    # When the steward lets the dispatcher choose, 赵师傅 accepts, starts and finishes, the steward confirms for the caller
    assigned = (await steward(ASSIGN, {"id": order["id"]}))["data"]["assignWorkOrder"]
    worker_id = (await viewer(worker))["person"]["id"]
    assert assigned["workOrder"]["assignee"]["id"] == worker_id
    assert (await worker(ACCEPT, {"id": order["id"]}))["data"]["acceptWorkOrder"]["workOrder"][
        "status"
    ] == "accepted"
    assert (await worker(START, {"id": order["id"]}))["data"]["startWorkOrder"]["workOrder"][
        "status"
    ] == "in_progress"
    # (done with neither a word nor a photo is refused: the resident and the steward see what was done)
    empty = (await worker(FINISH, {"id": order["id"], "note": " "}))["data"]["finishWorkOrder"]
    assert empty["field"] == "note" and empty["code"] == "INVALID", empty
    done = (await worker(FINISH, {"id": order["id"], "note": "换了阀门"}))["data"]["finishWorkOrder"]
    assert done["workOrder"]["status"] == "done"
    rated = (await steward(CONFIRM, {"id": order["id"], "rating": 5}))["data"]["confirmWorkOrder"]
    # Then it is confirmed, and the timeline shows every step with who did it
    assert rated["workOrder"]["status"] == "confirmed"
    seen = (await steward(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]
    assert [e["action"] for e in seen["timeline"]] == [
        "report",
        "assign",
        "accept",
        "start",
        "finish",
        "confirm",
    ]
    assert seen["timeline"][2]["actorName"] == "赵师傅"


async def test_an_illegal_step_is_refused_and_changes_nothing(gql, db):
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    order = await _zhujiajiao_repair(steward)
    # When the steward tries to confirm a work order nobody has done
    result = (await steward(CONFIRM, {"id": order["id"], "rating": 4}))["data"]["confirmWorkOrder"]
    # Then it is refused and the work order is still reported
    assert result["code"] == "NOT_ALLOWED"
    assert (await steward(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]["status"] == "reported"


async def test_field_staff_grab_from_the_pool_and_transfer_back_with_a_reason(gql, db):
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    worker = await login_demo(gql, FIELD_ZHUJIAJIAO)
    order = await _zhujiajiao_repair(steward)
    pool = (await worker("query { workOrderPool(first: 50) { id } }"))["data"]["workOrderPool"]
    assert {"id": order["id"]} in pool
    assert (await worker(GRAB, {"id": order["id"]}))["data"]["grabWorkOrder"]["workOrder"][
        "status"
    ] == "accepted"
    no_reason = (await worker(TRANSFER, {"id": order["id"], "note": ""}))["data"]["transferWorkOrder"]
    assert no_reason["field"] == "note"
    back = (await worker(TRANSFER, {"id": order["id"], "note": "缺零件"}))["data"]["transferWorkOrder"]
    assert back["workOrder"]["status"] == "reported" and back["workOrder"]["assignee"] is None


async def test_a_resident_rates_reopens_and_the_steward_sees_figures(gql, db):
    # Given 王秀英's report, handled by her steward
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    order = (await report(resident, category="door_lock"))["workOrder"]
    await steward(GRAB, {"id": order["id"]})
    await steward(FINISH, {"id": order["id"], "note": "换了锁芯"})
    # When she says it is not fixed, then later rates it 4
    reopened = (await resident(REOPEN, {"id": order["id"], "note": "还是关不上"}))["data"]["reopenWorkOrder"]
    assert reopened["workOrder"]["status"] == "reopened"
    await steward(GRAB, {"id": order["id"]})
    await steward(FINISH, {"id": order["id"], "note": "调了门框"})
    bad = (await resident(CONFIRM, {"id": order["id"], "rating": 9}))["data"]["confirmWorkOrder"]
    assert bad["field"] == "rating"
    assert (await resident(CONFIRM, {"id": order["id"], "rating": 4}))["data"]["confirmWorkOrder"][
        "workOrder"
    ]["status"] == "confirmed"
    # Then the figures count it with its rating and the reopen
    district = (await viewer(resident))["households"][0]["community"]["district"]["id"]
    figures = await steward(
        "query ($d: ID!) { workOrderFigures(districtId: $d, days: 7) { total satisfaction reopenRate "
        "byCategory { category count } slaCompliance p90CompletionMinutes } }",
        {"d": district},
    )
    f = figures["data"]["workOrderFigures"]
    assert f["total"] >= 1 and f["satisfaction"] is not None and f["reopenRate"] > 0
    assert any(c["category"] == "door_lock" for c in f["byCategory"])


async def test_overdue_orders_escalate_to_the_steward_then_the_district_manager(db):
    # Given a repair in a Zhujiajiao community, reported now
    staff = await _actor(db, STEWARD_ZHUJIAJIAO)
    community_id = sorted(await estates.staff_community_ids(db, staff))[0]
    data = tickets.ReportInput(
        client_id="esc-1",
        category="water",
        source="phone",
        community_id=community_id,
        place="common",
        place_note="x",
        description="漏水",
    )
    order = (await tickets.do_report(db, actor=staff, data=data)).order
    # When the jobs run after the response time, and again a response time later
    first = utcnow() + timedelta(hours=3)
    await jobs.run_ticket_jobs(db, now=first)
    assert order.escalation_level == 1
    await jobs.run_ticket_jobs(db, now=first + timedelta(hours=3))
    # Then the district manager (a district-wide steward) has been told
    assert order.escalation_level == 2
    notes = list(
        await db.exec(
            select(Notification).where(
                Notification.person_id == staff.person_id, Notification.kind == "work_order_overdue"
            )
        )
    )
    assert notes
    # In his language throughout, the repair's category too (it read "工单超时：Water")
    titles = {n.title for n in notes}
    assert "工单超时：水管漏水" in titles and not any(re.search("[A-Za-z]", t) for t in titles), titles


async def test_unrated_done_orders_close_after_seven_days_and_complaints_get_a_return_visit(gql, db):
    # Given a complaint handled and done, nobody rating it
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    order = (await report(resident, kind="complaint", category="noise", hideAuthor=True))["workOrder"]
    await steward(GRAB, {"id": order["id"]})
    await steward(FINISH, {"id": order["id"], "note": "已和邻居谈过"})
    row = await db.get(WorkOrder, int(order["id"]))
    # When the jobs run six days later, nothing closes; eight days later, it closes
    await jobs.run_ticket_jobs(db, now=utcnow() + timedelta(days=6))
    await db.refresh(row)
    assert row.status == Status.done
    await jobs.run_ticket_jobs(db, now=utcnow() + timedelta(days=8))
    await db.refresh(row)
    assert row.status == Status.closed
    # Then a return visit is due, and the steward records it
    await db.commit()
    visited = (await steward(RETURN_VISIT, {"id": order["id"], "note": "回访：已经安静了"}))["data"][
        "recordReturnVisit"
    ]
    assert visited["__typename"] == "WorkOrderChanged", visited


async def test_the_board_filters_by_category_and_overdue(gql, db):
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    order = await _zhujiajiao_repair(steward)
    district = (await viewer(steward))["roles"][0]["districtId"]
    water = (await steward(BOARD, {"district": district, "category": "water"}))["data"]["workOrderBoard"][
        "nodes"
    ]
    assert order["id"] in [n["id"] for n in water]
    assert all(n["category"] == "water" for n in water)
    overdue = (await steward(BOARD, {"district": district, "overdue": True}))["data"]["workOrderBoard"][
        "nodes"
    ]
    assert order["id"] not in [n["id"] for n in overdue]


async def test_every_board_filter_and_page_matches_the_orders_it_describes(gql, db):
    # Given a few Zhujiajiao orders, one of them past its response time
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    for _ in range(3):
        await _zhujiajiao_repair(steward)
    actor = await _actor(db, STEWARD_ZHUJIAJIAO)
    district_id = actor.grants[0].district_id
    late = (
        await db.exec(
            select(WorkOrder).where(WorkOrder.district_id == district_id).order_by(WorkOrder.id.desc())
        )
    ).first()
    late.response_due_at = utcnow() - timedelta(hours=1)
    db.add(late)
    await db.commit()
    everything = list(await db.exec(select(WorkOrder).where(WorkOrder.district_id == district_id)))
    now = utcnow()

    def expected(flt: tickets.BoardFilter) -> list[int]:
        keep = [
            o
            for o in everything
            if (o.status == flt.status if flt.status else o.is_open)
            and (flt.category is None or o.category == flt.category)
            and (flt.community_id is None or o.community_id == flt.community_id)
            and (flt.kind is None or o.kind == flt.kind)
            and (not flt.overdue_only or tickets.is_overdue(o, now))
        ]
        return sorted((o.id for o in keep), reverse=True)

    # Each filter alone and together, and the pages of each, give exactly the orders they describe, newest first
    filters = [
        tickets.BoardFilter(district_id=district_id),
        tickets.BoardFilter(district_id=district_id, category="water"),
        tickets.BoardFilter(district_id=district_id, status="reported"),
        tickets.BoardFilter(district_id=district_id, kind="repair", community_id=late.community_id),
        tickets.BoardFilter(district_id=district_id, overdue_only=True),
        tickets.BoardFilter(
            district_id=district_id, category="water", overdue_only=True, community_id=late.community_id
        ),
    ]
    for flt in filters:
        seen, after = [], None
        while True:
            page = await tickets.list_board(db, actor=actor, flt=flt, first=2, after=after, now=now)
            seen += [o.id for o in page.items]
            assert set(page.communities) == {o.community_id for o in page.items}
            if not page.has_next_page:
                break
            after = page.items[-1].id
        assert seen == expected(flt), flt
    assert late.id in expected(filters[4])


async def test_board_lines_read_as_the_orders_communities_and_assignees_they_show(gql, db):
    # Given two Zhujiajiao orders, one of them assigned to 赵师傅
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    first = await _zhujiajiao_repair(steward)
    await _zhujiajiao_repair(steward)
    await steward(ASSIGN, {"id": first["id"]})
    actor = await _actor(db, STEWARD_ZHUJIAJIAO)
    # When the board is read
    page = await tickets.list_board(
        db,
        actor=actor,
        flt=tickets.BoardFilter(district_id=actor.grants[0].district_id),
        first=50,
        after=None,
    )
    # Then every line, its community and its assignee answer each attribute as the loaded entity does
    assert page.assignees and len(page.items) >= 2
    for line in page.items:
        order = await db.get(WorkOrder, line.id)
        assert {name: getattr(order, name) for name in line._fields} == line._asdict()
        community = await db.get(Community, line.community_id)
        assert {name: getattr(community, name) for name in page.communities[line.community_id]._fields} == (
            page.communities[line.community_id]._asdict()
        )
        if line.assignee_id is not None:
            person = await db.get(Person, line.assignee_id)
            assert page.assignees[line.assignee_id]._asdict() == {
                n: getattr(person, n) for n in page.assignees[line.assignee_id]._fields
            }
    assert set(WorkOrder.model_fields) == set(WorkOrderRow._fields)


async def test_an_empty_note_is_asked_for_as_a_note(gql, db):
    # She pressed 加备注 with nothing written: the answer is about a note, not a reason
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    order = (await report(resident))["workOrder"]
    answer = (await resident(NOTE, {"id": order["id"], "note": "  "}))["data"]["addWorkOrderNote"]
    assert answer["__typename"] != "WorkOrderChanged"
    assert (answer["field"], answer["message"]) == ("note", "Please write a note or add a photo.")
    assert len((await resident(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]["timeline"]) == 1
