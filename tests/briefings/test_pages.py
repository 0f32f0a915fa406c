"""The briefing pages: a steward posts with a photo through the form (no JavaScript), the resident's home shows
today's briefing and counts as read, the photo is served only to those who may read it, emergency and
notification settings pages work."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image
from sqlalchemy import func
from sqlmodel import select

from laoyou.accounts.models import Notification
from laoyou.notify.models import EmergencyNotice

from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG, login_demo
from .helpers import BRIEFING, community_ids

CSRF = "page-csrf-token-5678"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 140, 90)).save(out, "JPEG")
    return out.getvalue()


def as_person(token: str) -> dict:
    # The CSRF cookie in the request's own header: httpx deprecates per-request cookies.
    return {
        "headers": {
            "Authorization": f"Bearer {token}",
            "Accept-Language": "en",
            "Cookie": f"laoyou_csrf={CSRF}",
        }
    }


async def test_steward_posts_with_a_photo_and_the_resident_home_shows_it_and_counts_the_read(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    # Given the form
    form = await client.get("/briefings/new", **as_person(steward.token))
    assert form.status_code == 200 and "秀山花园" in form.text
    # When the steward posts it with a photo
    posted = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={
            "csrf_token": CSRF,
            "community_ids": xiushan,
            "title": "今天修好了路灯",
            "body": "3号楼路灯修好了。",
            "done_repair": "3号楼路灯\n5号楼水管",
            "done_cleaning": "清扫道路",
            "mode": "now",
        },
        files={"photos": ("lamp.jpg", jpeg(), "image/jpeg")},
    )
    assert posted.status_code == 303, posted.text
    briefing_id = posted.headers["location"].rsplit("/", 1)[1]
    data = (await steward(BRIEFING, {"id": briefing_id}))["data"]["briefing"]
    assert len(data["photos"]) == 1 and [i["kind"] for i in data["items"]] == ["CLEANING", "REPAIR", "REPAIR"]
    assert data["readReceipts"][0]["householdsRead"] == 0
    # When the resident opens her home page
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    home = await client.get("/", **as_person(resident.token))
    assert home.status_code == 200
    assert "今天修好了路灯" in home.text and "data-read-aloud" in home.text
    assert re.search(r"<video[^>]*autoplay", home.text) is None
    # Then the read count moved, and the photo is hers to see but not a stranger's
    assert (await steward(BRIEFING, {"id": briefing_id}))["data"]["briefing"]["readReceipts"][0][
        "householdsRead"
    ] == 1
    photo_url = data["photos"][0]["url"]
    assert (await client.get(photo_url, **as_person(resident.token))).headers["content-type"] == "image/jpeg"
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert (await client.get(photo_url, **as_person(stranger.token))).status_code == 404
    assert (await client.get(f"/briefings/{briefing_id}", **as_person(stranger.token))).status_code == 404
    # She reads it without the staff's publication status, which the steward's page shows
    mine = (await client.get(f"/briefings/{briefing_id}", **as_person(resident.token))).text
    assert '<p class="tag">Work briefing</p>' in mine and "· Published" not in mine
    # And the steward's page shows the status, the count and the share link
    page = await client.get(f"/briefings/{briefing_id}", **as_person(steward.token))
    assert "Work briefing · Published" in page.text
    assert f'data-read-count="{xiushan}">1<' in page.text and "/share/briefings/" in page.text
    # The resident thanks with one tap
    thanked = await client.post(
        f"/briefings/{briefing_id}/thank", **as_person(resident.token), data={"csrf_token": CSRF}
    )
    assert thanked.status_code == 303
    archive = await client.get("/briefings", **as_person(resident.token))
    assert "今天修好了路灯" in archive.text


async def test_a_bad_photo_is_refused_with_the_form_kept(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    posted = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "community_ids": xiushan, "title": "保留的标题", "mode": "now"},
        files={"photos": ("x.jpg", b"not an image at all" * 10, "image/jpeg")},
    )
    assert posted.status_code == 400 and "保留的标题" in posted.text


async def test_residents_cannot_open_the_form_and_forms_need_csrf(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await client.get("/briefings/new", **as_person(resident.token))).status_code == 404
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    refused = await client.post("/briefings/new", **as_person(steward.token), data={"csrf_token": "wrong"})
    assert refused.status_code == 403


async def test_notification_settings_and_emergency_pages(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    page = await client.get("/settings/notifications", **as_person(resident.token))
    assert page.status_code == 200 and "data-public-key" in page.text
    # No phone of hers has push yet: said in words, not as "you have 0 phones"
    assert "0 phones" not in page.text and "0部手机" not in page.text
    assert "None of your phones has notifications on yet." in page.text or "还都没有打开" in page.text
    saved = await client.post(
        "/settings/notifications",
        **as_person(resident.token),
        data={"csrf_token": CSRF, "kind_emergencies": "on"},
    )
    assert saved.status_code == 303
    page = await client.get("/settings/notifications", **as_person(resident.token))
    assert (
        'name="kind_briefings">' in page.text.replace(" checked", "")
        and 'name="kind_emergencies" checked' in page.text
    )
    assert (await client.get("/staff/emergency", **as_person(resident.token))).status_code == 404
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    form = await client.get("/staff/emergency", **as_person(steward.token))
    client_id = re.search(r'name="client_id" value="([0-9a-f]{32})"', form.text)[1]
    filled = {
        "csrf_token": CSRF,
        "community_ids": xiushan,
        "kind": "lift_out",
        "title": "2号楼电梯停用",
        "body": "维修到下午5点。",
        "client_id": client_id,
    }
    sent = await client.post("/staff/emergency", **as_person(steward.token), data=filled)
    # Answered with a redirect, so that reloading the page that says so sends nothing
    assert sent.status_code == 303 and sent.headers["location"].startswith("/staff/emergency?sent=")
    shown = await client.get(sent.headers["location"], **as_person(steward.token))
    assert "Sent to" in shown.text
    assert re.search(r'name="client_id" value="([0-9a-f]{32})"', shown.text)[1] != client_id  # a new form
    # The same form sent again (a second press, or Back and send) is the same send: nobody is told twice
    again = await client.post("/staff/emergency", **as_person(steward.token), data=filled)
    assert again.status_code == 303
    titles = (
        await db.exec(select(EmergencyNotice.title).where(EmergencyNotice.title == "2号楼电梯停用"))
    ).all()
    assert len(titles) == 1
    told = await db.exec(
        select(func.count()).select_from(Notification).where(Notification.title == "2号楼电梯停用")
    )
    assert told.one() == int(sent.headers["location"].rsplit("=", 1)[1])


async def finished_common_repair(gql: Any, place: str) -> tuple[Any, Any, str, str]:
    """A resident of 秀山花园 reports a light out in a common area and its steward finishes it today: the
    resident, the steward, 秀山花园's id and the work order's."""
    from ..tickets.helpers import FINISH, GRAB, report

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    done = await report(
        resident, category="lighting", place="common", placeNote=place, communityId=xiushan, householdId=None
    )
    assert done["__typename"] == "WorkOrderReported", done
    order_id = done["workOrder"]["id"]
    await steward(GRAB, {"id": order_id})
    finished = await steward(FINISH, {"id": order_id, "note": "换了灯泡"})
    assert finished["data"]["finishWorkOrder"]["workOrder"]["status"] == "done"
    return resident, steward, xiushan, order_id


async def test_the_form_offers_todays_finished_repairs_and_ticking_one_adds_it_to_done_today(gql, client, db):
    from ..tickets.helpers import FINISH, GRAB, report

    # Given a repair in a common area of 秀山花园 that the steward finished today, one still open, and one of
    # another community's (finished by its own steward)
    resident, steward, xiushan, order_id = await finished_common_repair(gql, "3号楼楼道")
    still_open = (await report(resident, category="water"))["workOrder"]["id"]
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    other = (await report(stranger, category="lighting"))["workOrder"]["id"]
    other_steward = await login_demo(gql, STEWARD_YUEYANG)
    await other_steward(GRAB, {"id": other})
    await other_steward(FINISH, {"id": other, "note": "换了灯泡"})
    # When the steward opens the form
    form = await client.get("/briefings/new", **as_person(steward.token))
    # Then the finished one of her community is offered, by its kind and place; not the open one, not the
    # other community's
    offered = re.findall(r'name="work_order" value="(\d+)"', form.text)
    assert order_id in offered and other not in offered and still_open not in offered, offered
    assert len(offered) == len(set(offered))
    assert "Lighting: 3号楼楼道" in form.text
    # When she ticks it and publishes
    posted = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={
            "csrf_token": CSRF,
            "community_ids": xiushan,
            "title": "今日简报",
            "work_order": [order_id],
            "mode": "now",
            "done_cleaning": "清扫道路",
        },
    )
    assert posted.status_code == 303, posted.text
    briefing_id = posted.headers["location"].rsplit("/", 1)[1]
    # Then it is in the list of what was done, as a repair
    items = (await steward(BRIEFING, {"id": briefing_id}))["data"]["briefing"]["items"]
    assert {"kind": "REPAIR", "text": "Lighting: 3号楼楼道"} in items
    assert {"kind": "CLEANING", "text": "清扫道路"} in items
    # And a resident cannot see the offer (the form is for staff)
    assert (await client.get("/briefings/new", **as_person(resident.token))).status_code == 404


CHAT = "query { mySupportConversation { id latestMessages(last: 5) { body } } }"


async def test_ask_a_question_opens_a_chat_quoting_the_briefing_and_the_call_link_stays(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = (await community_ids(steward))["秀山花园"]
    posted = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "community_ids": xiushan, "title": "电梯年检完成", "mode": "now"},
    )
    briefing_id = posted.headers["location"].rsplit("/", 1)[1]
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # Given the briefing page, with a button to ask in the chat and a link to call the steward
    page = await client.get(f"/briefings/{briefing_id}", **as_person(resident.token))
    assert f'action="/briefings/{briefing_id}/ask"' in page.text and 'href="tel:' in page.text
    # When she taps "Ask a question" (twice, as an unsure finger does)
    for _ in range(2):
        asked = await client.post(
            f"/briefings/{briefing_id}/ask", **as_person(resident.token), data={"csrf_token": CSRF}
        )
        # Then she lands on the chat page
        assert asked.status_code == 303 and asked.headers["location"].startswith("/support")
    # And her conversation starts with one message naming the briefing
    bodies = [m["body"] for m in (await resident(CHAT))["data"]["mySupportConversation"]["latestMessages"]]
    assert sum("电梯年检完成" in b for b in bodies) == 1, bodies
    # And a stranger cannot ask about it
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    refused = await client.post(
        f"/briefings/{briefing_id}/ask", **as_person(stranger.token), data={"csrf_token": CSRF}
    )
    assert refused.status_code == 404
    assert (await stranger(CHAT))["data"]["mySupportConversation"] is None


async def test_a_refused_form_keeps_the_ticked_repairs_and_asks_for_the_photos_again(gql, client, db):
    # Given a repair the steward finished today, offered on her form
    _resident, steward, xiushan, order_id = await finished_common_repair(gql, "5号楼楼道")
    ticked = re.compile(rf'name="work_order" value="{order_id}"[^>]*\schecked')
    # When she ticks it and sends the form with no title
    no_title = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={
            "csrf_token": CSRF,
            "community_ids": xiushan,
            "title": " ",
            "work_order": [order_id],
            "mode": "now",
        },
    )
    # Then the form comes back with the repair still ticked, and no word about photos she did not choose
    assert no_title.status_code == 400 and ticked.search(no_title.text), no_title.text
    assert 'id="photos-again"' not in no_title.text
    # When she sends it with a good photo and a bad one
    bad = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={"csrf_token": CSRF, "community_ids": xiushan, "title": "今日简报", "work_order": [order_id]},
        files=[
            ("photos", ("good.jpg", jpeg(), "image/jpeg")),
            ("photos", ("bad.jpg", b"not an image at all" * 10, "image/jpeg")),
        ],
    )
    # Then the repair is still ticked and the form says plainly, by the photo picker, to choose the photos again
    assert bad.status_code == 400 and ticked.search(bad.text)
    assert "The photos you chose were not kept. Please choose them again." in bad.text
    assert re.search(r'<input id="photos"[^>]*aria-describedby="[^"]*photos-again', bad.text)
    assert 'id="video-again"' not in bad.text
    # And the form with nothing wrong is published with the ticked repair in it
    posted = await client.post(
        "/briefings/new",
        **as_person(steward.token),
        data={
            "csrf_token": CSRF,
            "community_ids": xiushan,
            "title": "今日简报",
            "work_order": [order_id],
            "mode": "now",
        },
    )
    assert posted.status_code == 303, posted.text
