"""Reporting: residents report for their home, staff log on a resident's behalf, a client id never makes two."""

from __future__ import annotations

from sqlalchemy import func, select

from laoyou.accounts.models import Notification
from laoyou.tickets.models import WorkOrder

from ..conftest import (
    FIELD_ZHUJIAJIAO,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)
from .helpers import REPORT, WORK_ORDER, client_id, report, upload_photo, viewer


async def test_resident_reports_a_repair_with_a_photo_and_sees_it_in_the_timeline(client, gql, db):
    # Given a resident with a photo uploaded for her community
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community_id = (await viewer(resident))["households"][0]["community"]["id"]
    photo = (await upload_photo(client, resident.token, community_id)).json()
    # When she reports a dripping tap with it
    result = await report(resident, category="water", photoIds=[photo["id"]])
    # Then a work order is reported with its photo and a first timeline step
    assert result["__typename"] == "WorkOrderReported", result
    order = result["workOrder"]
    assert order["status"] == "reported" and order["photos"] == [{"id": photo["id"]}]
    seen = (await resident(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]
    assert [e["action"] for e in seen["timeline"]] == ["report"]
    assert "cancel" in seen["allowedActions"]


async def test_the_same_client_id_never_makes_a_second_work_order(gql, db):
    # Given a resident and one submission id
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    cid = client_id()
    before = await db.scalar(select(func.count()).select_from(WorkOrder))
    # When the phone sends the same report twice (a retry, an offline replay)
    first = await report(resident, clientId=cid)
    second = await report(resident, clientId=cid, description="something else")
    # Then the second answer is the first work order, and only one exists
    assert first["created"] is True and second["created"] is False
    assert first["workOrder"]["id"] == second["workOrder"]["id"]
    assert await db.scalar(select(func.count()).select_from(WorkOrder)) == before + 1


async def test_an_empty_report_is_a_clear_mistake(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    result = await report(resident, description="  ")
    assert result["__typename"] == "ReportProblemError"
    assert result["field"] == "description"


async def test_staff_log_a_phone_report_with_its_source(gql, db):
    # Given the district steward of Zhujiajiao and one of its communities
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    communities = (await steward("query { communities(first: 3) { nodes { id name } } }"))["data"][
        "communities"
    ]["nodes"]
    # When she logs a call from a resident
    result = await report(
        steward,
        source="phone",
        communityId=communities[0]["id"],
        place="common",
        placeNote="3号楼门口",
        reporterName="钱阿姨",
        category="sewer",
    )
    # Then it is on record with the source and the caller
    assert result["__typename"] == "WorkOrderReported", result
    seen = (await steward(WORK_ORDER, {"id": result["workOrder"]["id"]}))["data"]["workOrder"]
    assert seen["reporter"]["name"] == "钱阿姨"
    assert seen["timeline"][0]["note"] == "phone"


async def test_a_resident_cannot_log_on_someone_elses_behalf(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    other = (await steward("query { communities(first: 1) { nodes { id } } }"))["data"]["communities"][
        "nodes"
    ][0]["id"]
    payload = await resident(
        REPORT,
        {
            "input": {
                "clientId": client_id(),
                "category": "water",
                "description": "x",
                "source": "phone",
                "communityId": other,
            }
        },
        expect_errors=True,
    )
    assert payload["errors"]


async def test_an_emergency_alerts_the_on_duty_staff_at_once(gql, db):
    # Given a resident of Xiushan Garden and its on-duty steward
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    steward_id = (await viewer(steward))["person"]["id"]
    before = await db.scalar(
        select(func.count()).select_from(Notification).where(Notification.person_id == int(steward_id))
    )
    # When she reports a gas smell
    result = await report(resident, category="gas", description="厨房有煤气味")
    # Then it is an emergency and the steward has been told
    assert result["workOrder"]["urgency"] == "emergency"
    after = await db.scalar(
        select(func.count()).select_from(Notification).where(Notification.person_id == int(steward_id))
    )
    assert after == before + 1


async def test_a_stranger_cannot_attach_someone_elses_photo(client, gql, db):
    # Given a photo uploaded by a resident of another community
    other = await login_demo(gql, RESIDENT_JINGJU)
    other_community = (await viewer(other))["households"][0]["community"]["id"]
    photo = (await upload_photo(client, other.token, other_community)).json()
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # When a resident of Xiushan tries to attach it
    payload = await resident(
        REPORT,
        {
            "input": {
                "clientId": client_id(),
                "category": "water",
                "description": "x",
                "photoIds": [photo["id"]],
            }
        },
        expect_errors=True,
    )
    # Then nothing is found
    assert payload["errors"]


async def test_field_staff_may_log_what_they_see_on_patrol(gql, db):
    worker = await login_demo(gql, FIELD_ZHUJIAJIAO)
    communities = (await worker("query { communities(first: 1) { nodes { id } } }"))["data"]["communities"][
        "nodes"
    ]
    result = await report(
        worker,
        source="patrol",
        communityId=communities[0]["id"],
        place="common",
        placeNote="路灯",
        category="lighting",
    )
    assert result["__typename"] == "WorkOrderReported", result


async def test_an_emergency_category_is_stored_as_an_emergency_whatever_urgency_is_posted(gql, db):
    # Given a resident who sends gas, flooding and a person trapped in a lift as "it can wait" or "today"
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    for category in ("gas", "flooding", "lift_trapped"):
        for urgency in ("normal", "urgent"):
            # When she reports it
            result = await report(resident, category=category, urgency=urgency, description="快来人")
            # Then it is stored as an emergency, with an emergency's service times
            assert result["workOrder"]["urgency"] == "emergency", (category, urgency)
            row = await db.get(WorkOrder, int(result["workOrder"]["id"]))
            assert row.urgency == "emergency"
            assert (row.response_due_at - row.created_at).total_seconds() <= 15 * 60
