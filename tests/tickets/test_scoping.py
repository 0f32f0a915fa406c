"""Who sees which work orders: strangers nothing, field staff their district, hidden authors stay hidden."""

from __future__ import annotations

from sqlmodel import select

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.models import Person, Role, RoleGrant
from laoyou.media import service as media
from laoyou.tickets import service as tickets

from ..conftest import (
    ADMIN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_YUEYANG,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)
from .helpers import ACCEPT, ASSIGN, BOARD, CANCEL, CONFIRM, GRAB, NOTE, WORK_ORDER, jpeg, report, viewer


async def test_a_stranger_can_neither_see_nor_change_anothers_work_order(gql, db):
    # Given 王秀英's report in Xiushan Garden
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    order = (await report(resident))["workOrder"]
    # When people of another community try every operation on it
    for phone in (RESIDENT_JINGJU, STEWARD_YUEYANG, STEWARD_ZHUJIAJIAO, FIELD_ZHUJIAJIAO):
        stranger = await login_demo(gql, phone)
        for document, variables in (
            (WORK_ORDER, {}),
            (ASSIGN, {}),
            (GRAB, {}),
            (ACCEPT, {}),
            (CANCEL, {}),
            (CONFIRM, {"rating": 5}),
            (NOTE, {"note": "x"}),
        ):
            payload = await stranger(document, {"id": order["id"], **variables}, expect_errors=True)
            # Then each is refused as not found (or not staff), and nothing changed
            assert payload["errors"], (phone, document)
            assert payload["errors"][0]["message"] in ("Not found.", "Only staff can do this."), payload[
                "errors"
            ]
    seen = (await resident(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]
    assert seen["status"] == "reported" and len(seen["timeline"]) == 1


async def test_the_board_shows_only_the_viewers_district(gql, db):
    # Given a report in Xiushan Garden (Nanning) and the Zhujiajiao steward
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await report(resident)
    nanning = (await viewer(resident))["households"][0]["community"]["district"]["id"]
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    # When she asks for Nanning's board, it is not found
    payload = await steward(BOARD, {"district": nanning}, expect_errors=True)
    assert payload["errors"][0]["message"] == "Not found."
    # And residents have no board at all
    assert (await resident(BOARD, {"district": nanning}, expect_errors=True))["errors"]


async def test_field_staff_see_only_their_district(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    theirs = (await report(resident))["workOrder"]
    worker = await login_demo(gql, FIELD_ZHUJIAJIAO)
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    communities = (await steward("query { communities(first: 1) { nodes { id } } }"))["data"]["communities"][
        "nodes"
    ]
    ours = (
        await report(steward, source="phone", communityId=communities[0]["id"], place="common", placeNote="x")
    )["workOrder"]
    pool = [
        o["id"] for o in (await worker("query { workOrderPool(first: 100) { id } }"))["data"]["workOrderPool"]
    ]
    assert ours["id"] in pool and theirs["id"] not in pool
    assert (await worker(WORK_ORDER, {"id": theirs["id"]}, expect_errors=True))["errors"]
    assert (await worker(WORK_ORDER, {"id": ours["id"]}))["data"]["workOrder"]["id"] == ours["id"]


async def test_an_anonymous_complaint_never_shows_its_author_to_field_staff(app, client, gql, db):
    # Given a resident of a Zhujiajiao community who files a complaint with a photo, hiding her name
    steward_row = (await db.exec(select(Person).where(Person.phone == "+86" + STEWARD_ZHUJIAJIAO))).first()
    district_id = (await accounts.live_grants(db, steward_row.id))[0].district_id
    grant = (
        await db.exec(
            select(RoleGrant)
            .where(RoleGrant.role == Role.resident.value, RoleGrant.district_id == district_id)
            .limit(1)
        )
    ).first()
    person = await db.get(Person, grant.person_id)
    author = Actor(person=person, grants=await accounts.live_grants(db, person.id))
    photo = await media.do_store_upload(
        db,
        settings=app.state.settings,
        storage=app.state.storage,
        actor=author,
        data=jpeg(),
        community_id=grant.community_id,
    )
    data = tickets.ReportInput(
        client_id="anon-1",
        kind="complaint",
        category="noise",
        description="楼上太吵",
        photo_ids=[photo.id],
        hide_author=True,
    )
    order = (await tickets.do_report(db, actor=author, data=data)).order
    await db.commit()
    # When the steward hands it to 赵师傅 and he opens it
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    worker = await login_demo(gql, FIELD_ZHUJIAJIAO)
    worker_id = (await viewer(worker))["person"]["id"]
    assigned = (await steward(ASSIGN, {"id": str(order.id), "to": worker_id}))["data"]["assignWorkOrder"]
    assert assigned["__typename"] == "WorkOrderChanged", assigned
    seen = (await worker(WORK_ORDER, {"id": str(order.id)}))["data"]["workOrder"]
    # Then he sees what and where, never who: no name, no phone, no flat, no report photo, no actor on the timeline
    assert seen["authorHidden"] is True and seen["reporter"] is None
    assert seen["photos"] == [] and seen["where"] == ""
    assert seen["timeline"][0]["actorName"] == ""
    fetched = await client.get(f"/media/{photo.id}", headers={"Authorization": f"Bearer {worker.token}"})
    assert fetched.status_code == 404
    # While the steward (the system side) knows who it was
    steward_view = (await steward(WORK_ORDER, {"id": str(order.id)}))["data"]["workOrder"]
    assert steward_view["reporter"]["name"] == person.name and steward_view["photos"]


async def test_a_neighbour_cannot_fetch_the_photo_of_someone_elses_report(app, client, gql, db):
    # Given a report with a photo by a resident of Xiushan Garden
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    community = (await viewer(resident))["households"][0]["community"]["id"]
    from .helpers import upload_photo

    photo = (await upload_photo(client, resident.token, community)).json()
    await report(resident, photoIds=[photo["id"]])
    # When a neighbour in the same community (the official here) asks for it
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    response = await client.get(
        f"/media/{photo['id']}", headers={"Authorization": f"Bearer {official.token}"}
    )
    # Then she may: officials oversee repairs; but a complaint's photo is hidden from them until overdue
    assert response.status_code == 200
    complaint_photo = (await upload_photo(client, resident.token, community)).json()
    await report(resident, kind="complaint", category="noise", photoIds=[complaint_photo["id"]])
    response = await client.get(
        f"/media/{complaint_photo['id']}", headers={"Authorization": f"Bearer {official.token}"}
    )
    assert response.status_code == 404


async def test_complaints_reach_officials_only_when_overdue(gql, db):
    from datetime import timedelta

    from laoyou.core.time import utcnow
    from laoyou.tickets.models import WorkOrder

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    order = (await report(resident, kind="complaint", category="parking"))["workOrder"]
    assert (await official(WORK_ORDER, {"id": order["id"]}, expect_errors=True))["errors"]
    await tickets.run_escalations(db, now=utcnow() + timedelta(days=4))
    await db.commit()
    assert (await db.get(WorkOrder, int(order["id"]))).official_visible
    assert (await official(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]["id"] == order["id"]


async def test_the_admin_sees_every_district(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    order = (await report(resident))["workOrder"]
    admin = await login_demo(gql, ADMIN)
    assert (await admin(WORK_ORDER, {"id": order["id"]}))["data"]["workOrder"]["id"] == order["id"]


async def _actor(db, phone: str) -> Actor:  # noqa: ANN001
    person = (await db.exec(select(Person).where(Person.phone == "+86" + phone))).one()
    return Actor(person=person, grants=await accounts.live_grants(db, person.id))


async def test_a_households_open_orders_are_scoped_in_the_query_not_after_the_limit(gql, db):
    # Given 王秀英 reported a leak, then eleven complaints (which an official does not see)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    repair = (await report(resident))["workOrder"]
    for _ in range(11):
        await report(resident, kind="complaint", category="noise", description="楼上太吵")
    household = (await viewer(resident))["households"][0]
    household_id, community_id = int(household["id"]), int(household["community"]["id"])
    ask = {"household_id": household_id, "community_id": community_id, "first": 10}
    # When the district's official asks for the household's ten newest open orders
    official = await tickets.household_open_orders(db, actor=await _actor(db, OFFICIAL_XIUSHAN), **ask)
    # Then the leak is there (ten hidden complaints did not fill the page) and no complaint is
    assert int(repair["id"]) in [o.id for o in official]
    assert all(o.kind == "repair" for o in official)
    # And the household itself sees its ten newest, a stranger in another community nothing
    own = await tickets.household_open_orders(db, actor=await _actor(db, RESIDENT_XIUSHAN), **ask)
    assert len(own) == 10 and all(o.household_id == household_id for o in own)
    assert await tickets.household_open_orders(db, actor=await _actor(db, RESIDENT_JINGJU), **ask) == []
