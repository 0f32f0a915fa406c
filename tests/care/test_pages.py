"""Care pages: opening her home checks the resident in and shows 我很好; she exports her own record as JSON and
CSV; a bad window is refused in words; the steward's board lists the demo's check-ins with call links."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from laoyou.accounts.models import Person
from laoyou.care.checkins.models import CheckinDay
from laoyou.graphql.types import decode_id

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG, login_demo

CSRF = "page-csrf-token-care"


def as_person(token: str) -> dict:
    return {
        "headers": {
            "Authorization": f"Bearer {token}",
            "Accept-Language": "en",
            "Cookie": f"laoyou_csrf={CSRF}",
        }
    }


async def test_the_resident_sets_it_up_and_opening_home_checks_her_in(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    me = as_person(resident.token)
    home = await client.get("/", **me)
    assert "Set up the daily check-in" in home.text and "data-checkin-fine" not in home.text
    wrong = await client.post("/care/setup", data={"csrf_token": CSRF, "window_end": "200"}, **me)
    assert wrong.status_code == 400 and "Please choose a time between 07:00 and 20:00." in wrong.text
    done = await client.post("/care/setup", data={"csrf_token": CSRF, "window_end": "600"}, **me)
    assert done.status_code == 303 and done.headers["location"] == "/care?done=setup"
    home = await client.get("/", **me)
    assert "data-checkin-fine" in home.text and "You have checked in today" in home.text
    person = (await db.exec(select(Person).where(Person.phone == "+86" + RESIDENT_XIUSHAN))).one()
    [day] = (await db.exec(select(CheckinDay).where(CheckinDay.resident_id == person.id))).all()
    assert day.how == "app"
    fine = await client.post("/care/fine", data={"csrf_token": CSRF}, **me)
    assert fine.status_code == 303 and fine.headers["location"] == "/?fine=1#checkin"


async def test_before_she_sets_it_up_the_home_card_names_no_missing_time(gql, client):
    # Given the demo resident, who has not set up the daily check-in
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    for language, said, broken in (
        ("en", "Tap once a day so your family and steward know you are fine.", "Tap by  each day"),
        ("zh-CN", "每天点一下，让家人和管家知道您很好。", "每天 前点一下"),
    ):
        # When she opens her home
        headers = {**as_person(resident.token)["headers"], "Accept-Language": language}
        home = await client.get("/", headers=headers)
        # Then the check-in card says what to do without a blank where a time would be
        card = home.text[home.text.index('id="checkin"') :]
        card = card[: card.index("</section>")]
        assert said in card and broken not in card, card


async def test_the_resident_exports_her_own_record(gql, client):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    me = as_person(resident.token)
    assert (await client.get("/care/export.json", **me)).status_code == 404
    [home] = (await resident("query { viewer { ownHouseholdIds } }"))["data"]["viewer"]["ownHouseholdIds"]
    agreed = await client.post("/care/consent", data={"csrf_token": CSRF, "household_id": home}, **me)
    assert agreed.status_code == 303
    exported = await client.get("/care/export.json", **me)
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert exported.headers["cache-control"] == "no-store"
    assert json.loads(exported.text)["consentMethod"] == "phone"
    table = await client.get("/care/export.csv", **me)
    assert table.status_code == 200 and "consentMethod,phone" in table.text


async def test_the_steward_sees_the_board_with_call_links(gql, client):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    board = await client.get("/care/board", **as_person(steward.token))
    assert board.status_code == 200
    assert 'data-status="MISSED"' in board.text and 'data-status="HANDLING"' in board.text
    assert 'href="tel:+86139' in board.text
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await client.get("/care/board", **as_person(resident.token))).status_code == 404


async def test_the_steward_sets_it_up_for_a_consenting_resident(gql, client, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    [home] = (await resident("query { viewer { ownHouseholdIds } }"))["data"]["viewer"]["ownHouseholdIds"]
    await client.post(
        "/care/consent", data={"csrf_token": CSRF, "household_id": home}, **as_person(resident.token)
    )
    record_id = (await resident("query { myCareRecord { id } }"))["data"]["myCareRecord"]["id"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    page = await client.get(f"/care/records/{record_id}", **as_person(steward.token))
    assert page.status_code == 200 and f'action="/care/records/{record_id}/checkin"' in page.text
    done = await client.post(
        f"/care/records/{record_id}/checkin",
        data={"csrf_token": CSRF, "window_end": "540"},
        **as_person(steward.token),
    )
    assert done.status_code == 303
    mine = (await resident("query { myCheckin { plan { window } } }"))["data"]["myCheckin"]
    assert mine["plan"] == {"window": "09:00"}


async def test_the_steward_records_consent_on_paper_from_the_homes_page(gql, client, db):
    from laoyou.care.ledger.models import CareRecord

    from ..tickets.helpers import jpeg

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    [home] = (await resident("query { viewer { ownHouseholdIds } }"))["data"]["viewer"]["ownHouseholdIds"]
    me = (await resident("query { viewer { person { id } } }"))["data"]["viewer"]["person"]["id"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    page = await client.get(f"/staff/households/{home}/residents", **as_person(steward.token))
    assert f'action="/staff/households/{home}/care-consent"' in page.text
    community = re.search(r'name="community_id" value="([^"]+)"', page.text).group(1)
    url = f"/staff/households/{home}/care-consent"
    fields = {"csrf_token": CSRF, "community_id": community, "resident_id": me}
    # Without the form's photo: refused on the same page, and no record
    refused = await client.post(url, data=fields, **as_person(steward.token))
    assert refused.status_code == 400 and "signed consent form" in refused.text
    assert (await resident("query { myCareRecord { id } }"))["data"]["myCareRecord"] is None
    # Another community's steward cannot, even with a photo
    stranger = await login_demo(gql, STEWARD_YUEYANG)
    photo = {"photo": ("consent.jpg", jpeg(), "image/jpeg")}
    assert (await client.post(url, data=fields, files=photo, **as_person(stranger.token))).status_code in (
        400,
        404,
    )
    assert (await resident("query { myCareRecord { id } }"))["data"]["myCareRecord"] is None
    # With it: the record is open, on paper, with the photo kept
    done = await client.post(url, data=fields, files=photo, **as_person(steward.token))
    assert done.status_code == 303 and done.headers["location"].startswith("/care/records/")
    row = (await db.exec(select(CareRecord).where(CareRecord.household_id == decode_id(home)))).first()
    assert row.consent_method == "paper" and row.consent_photo_id is not None
