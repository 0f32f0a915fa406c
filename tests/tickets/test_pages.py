"""The work-order pages as a phone without JavaScript: report with a photo, bad uploads, the staff pages."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from laoyou.accounts.models import Person, RoleGrant
from laoyou.core.time import utcnow
from laoyou.media.models import MediaFile
from laoyou.tickets import jobs
from laoyou.tickets.models import TicketAttachment, WorkOrder

from ..conftest import (
    FIELD_ZHUJIAJIAO,
    OFFICIAL_XIUSHAN,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)
from ..web.conftest import csrf_in, log_in
from .helpers import client_id, jpeg, report


async def _count(db, model) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(model))


async def _post_report(client, *, cid: str, photos: list[tuple[str, bytes]], json: bool = False):  # noqa: ANN001
    html = (await client.get("/repairs/new?category=water")).text
    data = {
        "csrf_token": csrf_in(html),
        "client_id": cid,
        "kind": "repair",
        "category": "water",
        "source": "app",
        "place": "unit",
        "urgency": "normal",
        "description": "水龙头漏水",
    }
    files = [("photos", (name, body, "image/jpeg")) for name, body in photos]
    headers = {"Accept": "application/json"} if json else {}
    return await client.post("/repairs", data=data, files=files or None, headers=headers)


async def test_home_to_report_in_few_taps_and_the_report_page(client, db):
    # Given a resident on her home page
    await log_in(client, RESIDENT_XIUSHAN)
    home = (await client.get("/")).text
    # Tap 1: the tile; tap 2: the picture of what is wrong; tap 3: send
    assert 'href="/repairs/new"' in home
    choices = (await client.get("/repairs/new")).text
    assert 'href="/repairs/new?category=water"' in choices
    before = await _count(db, WorkOrder)
    response = await _post_report(client, cid=client_id(), photos=[("tap.jpg", jpeg())])
    assert response.status_code == 303, response.text
    page = (await client.get(response.headers["location"])).text
    # Then her report shows with its photo and its timeline
    assert await _count(db, WorkOrder) == before + 1
    assert "/thumb" in page and "data-read-aloud" in page
    assert "/orders/" in (await client.get("/repairs")).text


async def test_a_replayed_offline_report_makes_one_work_order_with_its_photo(client, db):
    await log_in(client, RESIDENT_XIUSHAN)
    cid = client_id()
    before = await _count(db, WorkOrder)
    first = await _post_report(client, cid=cid, photos=[("a.jpg", jpeg())], json=True)
    again = await _post_report(client, cid=cid, photos=[("a.jpg", jpeg())], json=True)
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False
    assert await _count(db, WorkOrder) == before + 1
    attached = await db.scalar(
        select(func.count())
        .select_from(TicketAttachment)
        .where(TicketAttachment.work_order_id == int(first.json()["id"]))
    )
    assert attached == 1


async def test_bad_uploads_in_a_report_are_refused_clearly_and_nothing_is_stored(app, client, db):
    await log_in(client, RESIDENT_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    before = (await _count(db, WorkOrder), await _count(db, MediaFile))
    root = app.state.storage.root
    files_before = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    cases = {
        "script renamed .jpg": (b"#!/bin/sh\nrm -rf /\n" * 10, "This kind of file cannot be sent"),
        "truncated image": (jpeg(800, 600)[:1500], "cannot be read"),
        "50 MB file": (b"\xff\xd8\xff\xe0" + b"\0" * (50 * 1024 * 1024), "This file is too large."),
    }
    for name, (body, message) in cases.items():
        # The phone's offline queue gets JSON: a 400 naming the photo as what is wrong, and why
        response = await _post_report(client, cid=client_id(), photos=[("photo.jpg", body)], json=True)
        assert response.status_code == 400, name
        assert response.json()["error"]["field"] == "file", name
        assert message in response.json()["error"]["message"], name
        # A phone without JavaScript gets the form again, with the same words in an alert
        html = await _post_report(client, cid=client_id(), photos=[("photo.jpg", body)])
        assert html.status_code == 400, name
        assert 'role="alert"' in html.text and message in html.text, name
    assert (await _count(db, WorkOrder), await _count(db, MediaFile)) == before
    files_after = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    assert files_after == files_before


async def test_a_refused_report_leaves_none_of_its_photos_behind(client, db):
    # Given an official of Xiushan: she may add photos to her community, but only the desk logs reports for it
    await log_in(client, OFFICIAL_XIUSHAN)
    grant = (
        await db.exec(
            select(RoleGrant)
            .join(Person, Person.id == RoleGrant.person_id)
            .where(Person.phone == "+86" + OFFICIAL_XIUSHAN)
        )
    ).first()[0]
    before = (await _count(db, WorkOrder), await _count(db, MediaFile))
    # When she logs a phoned-in report with a photo
    response = await client.post(
        "/repairs",
        data={
            "csrf_token": csrf_in((await client.get("/")).text),
            "client_id": client_id(),
            "kind": "repair",
            "category": "water",
            "source": "phone",
            "community_id": str(grant.community_id),
            "place": "common",
            "urgency": "normal",
            "description": "楼道漏水",
        },
        files=[("photos", ("p.jpg", jpeg(), "image/jpeg"))],
        headers={"Accept": "application/json"},
    )
    # Then it is refused, and the photo stored for it went with it: the upload and the report are one unit
    assert response.status_code in (400, 404), response.text
    assert (await _count(db, WorkOrder), await _count(db, MediaFile)) == before


async def test_the_steward_board_figures_and_the_workers_queue_render(client, db):
    await log_in(client, STEWARD_ZHUJIAJIAO)
    assert 'href="/board"' in (await client.get("/")).text
    board = await client.get("/board")
    assert board.status_code == 200 and "/orders/" in board.text
    overdue = await client.get("/board?overdue=1&category=water")
    assert overdue.status_code == 200
    assert (await client.get("/board/figures?days=30")).status_code == 200
    order_id = re.search(r'href="/orders/(\d+)"', board.text).group(1)
    order = await client.get(f"/orders/{order_id}")
    assert order.status_code == 200
    client.cookies.clear()
    await log_in(client, FIELD_ZHUJIAJIAO)
    work = await client.get("/work")
    assert work.status_code == 200 and "/grab" in work.text


async def test_a_worker_grabs_and_finishes_with_a_photo_by_form(client, db):
    await log_in(client, FIELD_ZHUJIAJIAO)
    work = (await client.get("/work")).text
    order_id = re.search(r'action="/orders/(\d+)/grab"', work).group(1)
    token = csrf_in(work)
    assert (
        await client.post(f"/orders/{order_id}/grab", data={"csrf_token": token, "next": "/work"})
    ).status_code == 303
    page = (await client.get(f"/orders/{order_id}")).text
    assert f"/orders/{order_id}/finish" in page
    done = await client.post(
        f"/orders/{order_id}/finish",
        data={"csrf_token": token, "note": "修好了"},
        files=[("photos", ("w.jpg", jpeg(), "image/jpeg"))],
    )
    assert done.status_code == 303, done.text
    assert (await db.get(WorkOrder, int(order_id))).status == "done"


async def test_order_pages_of_another_community_are_not_found(client, db):
    await log_in(client, STEWARD_ZHUJIAJIAO)
    board = (await client.get("/board")).text
    order_id = re.search(r'href="/orders/(\d+)"', board).group(1)
    client.cookies.clear()
    await log_in(client, RESIDENT_XIUSHAN)
    assert (await client.get(f"/orders/{order_id}")).status_code == 404


async def test_the_steward_edits_a_field_workers_skills_communities_and_duty(client, db):
    from laoyou.accounts.models import Person
    from laoyou.tickets.models import StaffProfile

    # Given the district steward on the field workers page, where 赵师傅 is listed
    await log_in(client, STEWARD_ZHUJIAJIAO)
    html = (await client.get("/board/staff")).text
    worker = (await db.exec(select(Person).where(Person.phone == "+86" + FIELD_ZHUJIAJIAO))).one()[0]
    worker_id, name = worker.id, worker.name
    assert f'action="/board/staff/{worker_id}' in html and name in html
    district = re.search(r'action="/board/staff/\d+\?district=(\d+)"', html).group(1)
    community = re.search(r'name="communities" value="(\d+)"', html).group(1)
    # When she gives him only locks, one community and takes him off duty
    response = await client.post(
        f"/board/staff/{worker_id}?district={district}",
        data={"csrf_token": csrf_in(html), "skills": ["locksmith"], "communities": [community]},
    )
    # Then it is saved and the page says so
    assert response.status_code == 303, response.text
    assert 'class="ok" role="status"' in (await client.get(response.headers["location"])).text
    db.expire_all()
    profile = (await db.exec(select(StaffProfile).where(StaffProfile.person_id == worker_id))).one()[0]
    assert (
        profile.skills == ["locksmith"]
        and profile.community_ids == [int(community)]
        and profile.on_duty is False
    )
    # And a skill that does not exist is refused with a message, nothing changed
    refused = await client.post(
        f"/board/staff/{worker_id}?district={district}",
        data={"csrf_token": csrf_in(html), "skills": ["magic"], "on_duty": "on"},
    )
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    db.expire_all()
    assert (await db.exec(select(StaffProfile).where(StaffProfile.person_id == worker_id))).one()[
        0
    ].skills == ["locksmith"]


async def test_a_steward_of_another_district_cannot_edit_the_workers(client, db):
    from laoyou.accounts.models import Person
    from laoyou.tickets.models import StaffProfile

    from ..conftest import STEWARD_XIUSHAN

    worker = (await db.exec(select(Person).where(Person.phone == "+86" + FIELD_ZHUJIAJIAO))).one()[0]
    worker_id, name = worker.id, worker.name
    before = (await db.exec(select(StaffProfile).where(StaffProfile.person_id == worker_id))).one()[0].skills
    # Given a community steward elsewhere
    await log_in(client, STEWARD_XIUSHAN)
    html = (await client.get("/board/staff")).text
    # Then the Zhujiajiao worker is not on her page, and posting to him changes nothing
    assert name not in html
    response = await client.post(
        f"/board/staff/{worker_id}", data={"csrf_token": csrf_in(html), "skills": ["gas"], "on_duty": "on"}
    )
    assert response.status_code == 404
    db.expire_all()
    assert (await db.exec(select(StaffProfile).where(StaffProfile.person_id == worker_id))).one()[
        0
    ].skills == before


async def test_an_emergency_form_asks_no_urgency_and_says_what_to_do_and_whom_to_call(client):
    # Given a resident of Xiushan Garden, whose steward on duty has a work phone
    await log_in(client, RESIDENT_XIUSHAN)
    advice = {
        "gas": "不要开关任何电器",
        "flooding": "到电表箱拉下电闸",
        "lift_trapped": "不要扒门",
    }
    for category, first_step in advice.items():
        # When she picks the emergency
        page = (await client.get(f"/repairs/new?category={category}")).text
        # Then the form asks no urgency: it is sent as an emergency and says so
        assert 'name="urgency" value="normal"' not in page and "急不急？" in page
        assert '<input type="hidden" name="urgency" value="emergency">' in page
        assert re.search(r"<strong[^>]*data-urgency>紧急</strong>", page)
        # And the advice comes before the form, with big buttons to call 119 and her steward
        assert page.index(first_step) < page.index('<form method="post" action="/repairs"')
        assert 'class="call tk-sos" href="tel:119"' in page
        assert f'class="call" href="tel:{STEWARD_XIUSHAN}"' in page
        assert 'href="tel:120"' in page


async def test_an_ordinary_repair_still_asks_how_urgent(client):
    await log_in(client, RESIDENT_XIUSHAN)
    page = (await client.get("/repairs/new?category=water")).text
    assert 'name="urgency" value="normal" checked' in page
    assert "data-emergency-advice" not in page and 'href="tel:119"' not in page


async def test_an_emergency_sent_from_the_form_as_not_urgent_is_stored_as_an_emergency(client, db):
    # Given a page from before this change, still posting "it can wait a day" for a gas smell
    await log_in(client, RESIDENT_XIUSHAN)
    html = (await client.get("/repairs/new?category=gas")).text
    data = {
        "csrf_token": csrf_in(html),
        "client_id": client_id(),
        "kind": "repair",
        "category": "gas",
        "source": "app",
        "place": "unit",
        "urgency": "normal",
        "description": "厨房有煤气味",
    }
    # When it is sent
    response = await client.post("/repairs", data=data)
    # Then the server stores an emergency, and her report page says 紧急
    assert response.status_code == 303, response.text
    order_id = int(response.headers["location"].split("/")[2].split("?")[0])
    assert (await db.get(WorkOrder, order_id)).urgency == "emergency"
    assert "紧急" in (await client.get(response.headers["location"])).text


async def test_the_rating_faces_and_the_category_pictures_are_drawn_not_emoji(client, db):
    # Given a resident's report that the worker has finished
    await log_in(client, RESIDENT_XIUSHAN)
    response = await _post_report(client, cid=client_id(), photos=[])
    order = await db.get(WorkOrder, int(response.headers["location"].split("/")[2].split("?")[0]))
    order.status = "done"
    db.add(order)
    await db.flush()
    # When she opens it to say how it went
    page = (await client.get(f"/orders/{order.id}")).text
    # Then five drawn faces stand by the five words, and no picture on the page needs an emoji font
    assert len(re.findall(r'<svg class="tk-face"', page)) == 5
    assert '<svg class="tk-icon"' in page
    assert not re.search(r"[\U0001F300-\U0001FAFF]", page)


async def test_an_order_sent_on_by_the_job_says_so_in_words(client, db):
    # Given 王秀英's report, left unhandled past its response time twice
    await log_in(client, RESIDENT_XIUSHAN)
    assert (await _post_report(client, cid=client_id(), photos=[])).status_code == 303
    order = (await db.execute(select(WorkOrder).order_by(WorkOrder.id.desc()))).scalars().first()
    later = utcnow() + timedelta(days=2)
    await jobs.run_ticket_jobs(db, now=later)
    await jobs.run_ticket_jobs(db, now=later + timedelta(days=2))
    await db.commit()
    # When the steward opens it
    client.cookies.clear()
    await log_in(client, STEWARD_XIUSHAN)
    page = (await client.get(f"/orders/{order.id}")).text
    # Then its history says who was told, not the job's marker
    assert "没有按时处理，已告诉管家。" in page and "还没有处理好，已告诉片区经理。" in page
    assert "level 1" not in page and "level 2" not in page


async def test_a_worker_sees_who_logged_it_must_say_what_was_done_and_reads_done_as_waiting(gql, client, db):
    # Given a repair the district steward logged from a phone call, with no caller's name
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    steward_name = (await steward("query { viewer { person { name } } }"))["data"]["viewer"]["person"]["name"]
    communities = (await steward("query { communities(first: 1) { nodes { id } } }"))["data"]["communities"]
    logged = await report(
        steward,
        source="phone",
        communityId=communities["nodes"][0]["id"],
        place="common",
        placeNote="3号楼门口",
        category="water",
    )
    order_id = logged["workOrder"]["id"]
    # When 赵师傅 takes it and opens it
    await log_in(client, FIELD_ZHUJIAJIAO)
    en = {"Accept-Language": "en"}
    page = (await client.get(f"/orders/{order_id}", headers=en)).text
    token = csrf_in(page)
    grabbed = await client.post(f"/orders/{order_id}/grab", data={"csrf_token": token}, headers=en)
    assert grabbed.status_code == 303, grabbed.text
    page = (await client.get(f"/orders/{order_id}", headers=en)).text
    # Then the reporter line names who logged it, not a blank
    reported_by = re.search(r"<dt>Reported by</dt><dd>(.*?)</dd>", page, re.S)
    assert reported_by and f"Logged by {steward_name} for a resident" in reported_by[1], page
    # When he marks it done with neither a word nor a photo, it is refused with the reason
    refused = await client.post(
        f"/orders/{order_id}/finish", data={"csrf_token": token, "note": "  "}, headers=en
    )
    assert refused.status_code == 400
    assert "Please write what was done or add a photo of the work." in refused.text
    assert "Waiting for the resident to confirm" not in refused.text
    # And with a short note it is done; he reads it as waiting for the resident, not asked to check it
    done = await client.post(
        f"/orders/{order_id}/finish", data={"csrf_token": token, "note": "换了阀门"}, headers=en
    )
    assert done.status_code == 303, done.text
    page = (await client.get(f"/orders/{order_id}", headers=en)).text
    assert "<strong>Waiting for the resident to confirm</strong>" in page
    assert "Done, please check" not in page
