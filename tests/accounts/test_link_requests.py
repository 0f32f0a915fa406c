"""A person who logged in by SMS but lives in no household asks to be linked to their home; a steward who may add
residents there confirms (the person is added as addResident adds anyone) or declines with a short reason.
Matching is tolerant of how people write building and unit numbers; a mistake is a translated error that changes
nothing; stewards of other communities or districts, officials and the asker cannot decide."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from laoyou.accounts.link_requests.models import LinkRequest
from laoyou.accounts.link_requests.service import building_key, unit_key
from laoyou.accounts.models import AuditEvent, Notification, Person, RoleGrant
from laoyou.estates.models import Building, Community, Household, Unit

from ..conftest import (
    ADMIN,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)
from ..web.conftest import browser, csrf_in, log_in, open_page
from .helpers import e164, login_new_person, sent_code

ERROR = "... on LinkRequestError { code field message }"
REQUEST = f"""
mutation ($c: ID!, $b: String!, $u: String!, $n: String!, $r: ResidentRelation!) {{
  requestHouseholdLink(communityId: $c, building: $b, unit: $u, name: $n, relation: $r) {{
    ... on LinkRequestSaved {{ linkRequest {{ id status address communityName building unit relation }} }} {ERROR}
  }}
}}
"""
CANCEL = f"mutation {{ cancelMyLinkRequest {{ ... on LinkRequestSaved {{ linkRequest {{ id status }} }} {ERROR} }} }}"
MINE = "query { myLinkRequest { id status reason address } }"
PENDING = "query { pendingLinkRequests { id name maskedPhone address relation } }"
CONFIRM = f"""
mutation ($id: ID!) {{
  confirmLinkRequest(id: $id) {{ ... on LinkRequestSaved {{ linkRequest {{ id status }} }} {ERROR} }}
}}
"""
DECLINE = f"""
mutation ($id: ID!, $reason: String!) {{
  declineLinkRequest(id: $id, reason: $reason) {{ ... on LinkRequestSaved {{ linkRequest {{ id status reason }} }} {ERROR} }}
}}
"""
COMMUNITIES = "query ($s: String!) { linkableCommunities(search: $s) { id name } }"
MY_HOUSEHOLDS = "query { viewer { households { id address } } }"
NEWCOMER = "13900005678"
OTHER_NEWCOMER = "13900005679"


async def community_id(db, name: str) -> str:  # noqa: ANN001
    return str(await db.scalar(select(Community.id).where(Community.name == name)))


async def ask(client, db, community: str = "秀山花园", building: str = "1栋", unit: str = "101", **more):  # noqa: ANN001, ANN003, ANN201
    variables = {
        "c": await community_id(db, community),
        "b": building,
        "u": unit,
        "n": "钱大爷",
        "r": "OWNER",
        **more,
    }
    return (await client(REQUEST, variables))["data"]["requestHouseholdLink"]


async def homes_of(db, community: str) -> list[tuple[str, str]]:  # noqa: ANN001
    """(building, unit) of the community's households, as the estate names them."""
    rows = await db.execute(
        select(Building.name, Unit.number)
        .join(Unit, Unit.building_id == Building.id)
        .join(Household, Household.unit_id == Unit.id)
        .join(Community, Community.id == Household.community_id)
        .where(Community.name == community)
        .order_by(Household.id)
    )
    return [tuple(row) for row in rows]


async def counts(db) -> tuple[int, int, int]:  # noqa: ANN001
    live = select(func.count()).select_from(RoleGrant).where(RoleGrant.revoked_at.is_(None))
    return (
        await db.scalar(select(func.count()).select_from(LinkRequest)),
        await db.scalar(live),
        await db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("resident.%"))
        ),
    )


async def refused(client, query: str, variables: dict) -> list[str]:  # noqa: ANN001
    answer = await client(query, variables, expect_errors=True)
    assert answer["errors"], answer
    assert not any((answer.get("data") or {}).values()), answer
    return [e["message"] for e in answer["errors"]]


# --- matching ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1号楼", "1栋", "1", "1幢", "01", "一号楼", " 1 号楼 ", "１号楼"])
def test_ways_of_writing_building_one_name_the_same_building(typed):
    assert building_key(typed) == building_key("1号楼")


@pytest.mark.parametrize("typed", ["101", "101室", "101号", "１０１", "101 室"])
def test_ways_of_writing_a_unit_name_the_same_unit(typed):
    assert unit_key(typed) == unit_key("101室")


def test_different_numbers_stay_different():
    assert building_key("11号楼") != building_key("1号楼")
    assert building_key("十二栋") == building_key("12号楼")
    assert unit_key("1011") != unit_key("101室")


# --- asking ----------------------------------------------------------------------------------------------------


async def test_a_newcomer_asks_and_the_steward_confirms_through_add_resident(gql, app, db):
    # Given a person who logged in by SMS and lives in no household
    newcomer = await login_new_person(gql, app, NEWCOMER)
    assert (await newcomer(MY_HOUSEHOLDS))["data"]["viewer"]["households"] == []
    # When they ask for 秀山花园, building "1栋", unit "101"
    saved = (await ask(newcomer, db))["linkRequest"]
    # Then the request waits, matched to 1号楼 101室
    assert (saved["status"], saved["address"], saved["building"]) == (
        "PENDING",
        "秀山花园 1号楼 101室",
        "1栋",
    )
    assert (await newcomer(MINE))["data"]["myLinkRequest"]["id"] == saved["id"]
    # And the steward of 秀山花园 sees it, with the phone masked
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    [waiting] = (await steward(PENDING))["data"]["pendingLinkRequests"]
    assert (waiting["id"], waiting["name"], waiting["maskedPhone"]) == (saved["id"], "钱大爷", "139****5678")
    # When the steward confirms
    confirmed = (await steward(CONFIRM, {"id": saved["id"]}))["data"]["confirmLinkRequest"]
    assert confirmed["linkRequest"]["status"] == "CONFIRMED"
    # Then the newcomer lives there, as an owner, added the way addResident adds, audited and told
    homes = (await newcomer(MY_HOUSEHOLDS))["data"]["viewer"]["households"]
    assert [h["address"] for h in homes] == ["秀山花园 1号楼 101室"]
    person = await db.scalar(select(Person).where(Person.phone == e164(NEWCOMER)))
    [grant] = (await db.execute(select(RoleGrant).where(RoleGrant.person_id == person.id))).scalars()
    assert (grant.role, grant.tenure, grant.revoked_at) == ("resident", "owner", None)
    actions = (
        await db.execute(
            select(AuditEvent.action).where(AuditEvent.subject_type.in_(["household", "link_request"]))
        )
    ).scalars()
    assert {"resident.add", "link_request.confirmed"} <= set(actions)
    assert (
        await db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.person_id == person.id, Notification.kind == "link_request")
        )
        == 1
    )
    assert person.name == "钱大爷"
    assert (await steward(PENDING))["data"]["pendingLinkRequests"] == []


async def test_asking_again_changes_the_waiting_request_instead_of_adding_one(gql, app, db):
    newcomer = await login_new_person(gql, app, NEWCOMER)
    first = (await ask(newcomer, db))["linkRequest"]
    building, unit = (await homes_of(db, "秀山花园"))[1]
    again = (await ask(newcomer, db, building=building, unit=unit, r="TENANT"))["linkRequest"]
    assert again["id"] == first["id"] and again["address"] != first["address"]
    assert (again["unit"], again["relation"], again["address"]) == (
        unit,
        "TENANT",
        f"秀山花园 {building} {unit}",
    )
    assert await db.scalar(select(func.count()).select_from(LinkRequest)) == 1


async def test_a_resident_cannot_ask_for_their_own_home_but_may_ask_for_another(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    [home] = (await resident(MY_HOUSEHOLDS))["data"]["viewer"]["households"]
    community, building, unit = home["address"].split(" ")
    before = await counts(db)
    error = await ask(resident, db, community, building, unit)
    assert (error["code"], error["field"]) == ("ALREADY_EXISTS", "unit")
    assert await counts(db) == before
    other = next(home for home in await homes_of(db, community) if home != (building, unit))
    assert (await ask(resident, db, community, *other))["linkRequest"]["status"] == "PENDING"


async def test_no_match_and_bad_input_are_translated_errors_that_change_nothing(gql, app, db):
    gql.language = "zh-CN"
    newcomer = await login_new_person(gql, app, NEWCOMER)
    before = await counts(db)
    cases = [
        ({"b": "99号楼"}, "NOT_FOUND", "building"),
        ({"u": "9999"}, "NOT_FOUND", "unit"),
        ({"b": "  "}, "INVALID", "building"),
        ({"u": ""}, "INVALID", "unit"),
        ({"n": " "}, "INVALID", "name"),
        ({"n": "钱" * 51}, "INVALID", "name"),
        ({"c": "0"}, "INVALID", "communityId"),
    ]
    for more, code, field in cases:
        variables = {
            "c": await community_id(db, "秀山花园"),
            "b": "1号楼",
            "u": "101",
            "n": "钱大爷",
            "r": "OWNER",
        }
        error = (await newcomer(REQUEST, {**variables, **more}))["data"]["requestHouseholdLink"]
        assert (error["code"], error["field"]) == (code, field), more
        assert not error["message"].isascii(), error
    assert await counts(db) == before


async def test_the_asker_cancels_and_nothing_waits(gql, app, db):
    newcomer = await login_new_person(gql, app, NEWCOMER)
    await ask(newcomer, db)
    assert (await newcomer(CANCEL))["data"]["cancelMyLinkRequest"]["linkRequest"]["status"] == "CANCELLED"
    assert (await newcomer(CANCEL))["data"]["cancelMyLinkRequest"]["code"] == "NOT_FOUND"
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    assert (await steward(PENDING))["data"]["pendingLinkRequests"] == []


async def test_staff_do_not_ask(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    variables = {"c": await community_id(db, "秀山花园"), "b": "1号楼", "u": "101", "n": "x", "r": "OWNER"}
    assert await refused(steward, REQUEST, variables)


async def test_communities_are_found_by_part_of_their_name(gql, app):
    newcomer = await login_new_person(gql, app, NEWCOMER)
    found = (await newcomer(COMMUNITIES, {"s": "秀山"}))["data"]["linkableCommunities"]
    assert [c["name"] for c in found] == ["秀山花园"]
    assert len((await newcomer(COMMUNITIES, {"s": ""}))["data"]["linkableCommunities"]) <= 8
    assert (await newcomer(COMMUNITIES, {"s": "%"}))["data"]["linkableCommunities"] == []
    assert await refused(gql, COMMUNITIES, {"s": ""})


# --- deciding ---------------------------------------------------------------------------------------------------


async def test_the_steward_declines_with_a_reason_the_asker_reads(gql, app, db):
    newcomer = await login_new_person(gql, app, NEWCOMER)
    saved = (await ask(newcomer, db))["linkRequest"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    too_long = (await steward(DECLINE, {"id": saved["id"], "reason": "长" * 101}))["data"][
        "declineLinkRequest"
    ]
    assert (too_long["code"], too_long["field"]) == ("INVALID", "reason")
    declined = (await steward(DECLINE, {"id": saved["id"], "reason": "这户没有登记您"}))["data"]
    assert declined["declineLinkRequest"]["linkRequest"]["status"] == "DECLINED"
    mine = (await newcomer(MINE))["data"]["myLinkRequest"]
    assert (mine["status"], mine["reason"]) == ("DECLINED", "这户没有登记您")
    assert (await newcomer(MY_HOUSEHOLDS))["data"]["viewer"]["households"] == []
    # Answered is answered: neither a second decline nor a confirm does anything
    again = (await steward(CONFIRM, {"id": saved["id"]}))["data"]["confirmLinkRequest"]
    assert again["code"] == "NOT_ALLOWED"
    # And the asker may ask again
    assert (await ask(newcomer, db))["linkRequest"]["status"] == "PENDING"


async def test_a_person_added_by_hand_meanwhile_is_a_clear_error(gql, app, db):
    newcomer = await login_new_person(gql, app, NEWCOMER)
    saved = (await ask(newcomer, db))["linkRequest"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    household = await db.scalar(select(LinkRequest.household_id))
    add = """mutation ($h: ID!, $p: String!) { addResident(householdId: $h, name: "钱", phone: $p, relation: OWNER) {
        __typename } }"""
    await steward(add, {"h": str(household), "p": NEWCOMER})
    error = (await steward(CONFIRM, {"id": saved["id"]}))["data"]["confirmLinkRequest"]
    assert (error["code"], error["field"]) == ("ALREADY_EXISTS", "phone")


async def test_district_and_attached_communities_stewards_decide_their_own(gql, app, db):
    first = await login_new_person(gql, app, NEWCOMER)
    second = await login_new_person(gql, app, OTHER_NEWCOMER)
    in_zhujiajiao = (await ask(first, db, "新风新村"))["linkRequest"]
    in_jingju = (await ask(second, db, "京剧院小区"))["linkRequest"]
    # A district steward decides for every community of the district
    district = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    assert [r["id"] for r in (await district(PENDING))["data"]["pendingLinkRequests"]] == [
        in_zhujiajiao["id"]
    ]
    assert (await district(CONFIRM, {"id": in_zhujiajiao["id"]}))["data"]["confirmLinkRequest"]["linkRequest"]
    # The steward of 岳阳花苑 decides for 京剧院小区, attached to it (挂单)
    host = await login_demo(gql, STEWARD_YUEYANG)
    assert [r["id"] for r in (await host(PENDING))["data"]["pendingLinkRequests"]] == [in_jingju["id"]]
    assert (await host(CONFIRM, {"id": in_jingju["id"]}))["data"]["confirmLinkRequest"]["linkRequest"]
    admin = await login_demo(gql, ADMIN)
    assert (await admin(PENDING))["data"]["pendingLinkRequests"] == []


async def test_others_cannot_see_confirm_or_decline(gql, app, db):
    newcomer = await login_new_person(gql, app, NEWCOMER)
    saved = (await ask(newcomer, db))["linkRequest"]
    before = await counts(db)
    # The asker themself, residents, an official of the same community, stewards of another community or district
    for phone in (
        None,
        RESIDENT_XIUSHAN,
        RESIDENT_JINGJU,
        OFFICIAL_XIUSHAN,
        STEWARD_YUEYANG,
        STEWARD_ZHUJIAJIAO,
    ):
        stranger = newcomer if phone is None else await login_demo(gql, phone)
        answer = await stranger(PENDING, expect_errors=True)
        assert not (answer.get("data") or {}).get("pendingLinkRequests"), phone
        for query, variables in (
            (CONFIRM, {"id": saved["id"]}),
            (DECLINE, {"id": saved["id"], "reason": ""}),
        ):
            assert await refused(stranger, query, variables), (phone, query)
    for phone in (OFFICIAL_XIUSHAN, STEWARD_YUEYANG, STEWARD_ZHUJIAJIAO):
        stranger = await login_demo(gql, phone)
        assert await refused(stranger, CONFIRM, {"id": saved["id"]}) == ["Not found."], phone
    assert await counts(db) == before
    assert (await newcomer(MINE))["data"]["myLinkRequest"]["status"] == "PENDING"


# --- pages -----------------------------------------------------------------------------------------------------


async def page_login(client, app, phone: str) -> None:  # noqa: ANN001
    token = csrf_in(await open_page(client, "/login"))
    await client.post("/login/code", data={"phone": phone, "csrf_token": token})
    verify = await open_page(client, "/login/verify")
    response = await client.post(
        "/login/verify", data={"phone": phone, "code": sent_code(app, phone), "csrf_token": csrf_in(verify)}
    )
    assert response.status_code == 303, response.text


async def test_the_unlinked_home_asks_and_the_steward_page_confirms(client, app, db):
    # Given a newcomer on their home page
    client.headers["Accept-Language"] = "en"
    await page_login(client, app, NEWCOMER)
    home = await open_page(client, "/")
    assert "Tell us where you live" in home and 'action="/link"' in home
    # When they search, pick their community and send a building and unit that match nothing
    found = await open_page(client, "/link?q=秀山")
    xiushan = await community_id(db, "秀山花园")
    assert f'value="{xiushan}"' in found
    form = {"csrf_token": csrf_in(found), "community_id": xiushan, "building": "1栋", "name": "钱大爷"}
    wrong = await client.post("/link", data={**form, "unit": "9999", "relation": "OWNER"})
    # Then the form says so and keeps what they typed
    assert wrong.status_code == 400 and "no home 9999" in wrong.text and 'value="1栋"' in wrong.text
    assert await db.scalar(select(func.count()).select_from(LinkRequest)) == 0
    # When they send a matching one
    sent = await client.post("/link", data={**form, "unit": "101", "relation": "OWNER"})
    assert sent.status_code == 303 and sent.headers["location"] == "/"
    # Then their home shows the request waiting, with a cancel button
    home = await open_page(client, "/")
    assert "Your request is waiting for your steward" in home and 'action="/link/cancel"' in home
    assert "秀山花园 1号楼 101室" in home

    # And the steward's home links to the waiting requests with a count
    async with browser(app) as staff:
        await log_in(staff, STEWARD_XIUSHAN)
        staff.headers["Accept-Language"] = "en"
        await steward_confirms(staff, db)

    # And the newcomer's next visit lands in their home
    home = await open_page(client, "/")
    assert "My home" in home and "Tell us where you live" not in home


async def steward_confirms(client, db) -> None:  # noqa: ANN001
    staff_home = await open_page(client, "/")
    assert 'href="/staff/link-requests"' in staff_home and '<span class="badge">1</span>' in staff_home
    listing = await open_page(client, "/staff/link-requests")
    request_id = str(await db.scalar(select(LinkRequest.id)))
    assert "钱大爷" in listing and "139****5678" in listing and "13900005678" not in listing
    confirmed = await client.post(
        f"/staff/link-requests/{request_id}/confirm", data={"csrf_token": csrf_in(listing)}
    )
    assert confirmed.status_code == 303
    assert "Nobody is waiting." in await open_page(client, "/staff/link-requests")
    assert 'href="/staff/link-requests"' not in await open_page(client, "/")


async def test_decline_asks_first_and_the_asker_reads_the_reason(client, app, db):
    client.headers["Accept-Language"] = "en"
    await page_login(client, app, NEWCOMER)
    page = await open_page(client, "/link")
    xiushan = await community_id(db, "秀山花园")
    data = {"csrf_token": csrf_in(page), "community_id": xiushan, "building": "1", "unit": "101室"}
    assert (await client.post("/link", data={**data, "name": "钱", "relation": "TENANT"})).status_code == 303
    request_id = str(await db.scalar(select(LinkRequest.id)))

    async with browser(app) as staff:
        await log_in(staff, STEWARD_XIUSHAN)
        staff.headers["Accept-Language"] = "en"
        ask_first = await open_page(staff, f"/staff/link-requests/{request_id}/decline")
        assert "Decline this request?" in ask_first and "Yes, decline" in ask_first
        assert await db.scalar(select(LinkRequest.status)) == "pending"
        declined = await staff.post(
            f"/staff/link-requests/{request_id}/decline",
            data={"csrf_token": csrf_in(ask_first), "reason": "请带房产证来物业"},
        )
        assert declined.status_code == 303
        # Answered: its decline page is gone
        assert (await staff.get(f"/staff/link-requests/{request_id}/decline")).status_code == 404

    home = await open_page(client, "/")
    assert "请带房产证来物业" in home and "Tell us where you live" in home


async def test_a_stranger_steward_finds_no_such_pages(client, app, db):
    await page_login(client, app, NEWCOMER)
    page = await open_page(client, "/link")
    xiushan = await community_id(db, "秀山花园")
    data = {"csrf_token": csrf_in(page), "community_id": xiushan, "building": "1", "unit": "101"}
    await client.post("/link", data={**data, "name": "钱", "relation": "OWNER"})
    request_id = str(await db.scalar(select(LinkRequest.id)))
    client.cookies.clear()
    await log_in(client, STEWARD_ZHUJIAJIAO)
    listing = await open_page(client, "/staff/link-requests")
    assert "钱" not in listing
    assert (await client.get(f"/staff/link-requests/{request_id}/decline")).status_code == 404
    token = csrf_in(listing)
    for action in ("confirm", "decline"):
        response = await client.post(
            f"/staff/link-requests/{request_id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 404, action
    assert await db.scalar(select(LinkRequest.status)) == "pending"


async def test_an_archived_home_is_not_found(gql, app, db):
    from sqlalchemy import update

    from laoyou.core.time import utcnow

    building, unit = (await homes_of(db, "秀山花园"))[0]
    household = await db.scalar(
        select(Household.id)
        .join(Unit, Unit.id == Household.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .join(Community, Community.id == Household.community_id)
        .where(Community.name == "秀山花园", Building.name == building, Unit.number == unit)
    )
    await db.execute(update(Household).where(Household.id == household).values(archived_at=utcnow()))
    newcomer = await login_new_person(gql, app, NEWCOMER)
    before = await counts(db)
    error = await ask(newcomer, db, building=building, unit=unit)
    assert (error["code"], error["field"]) == ("NOT_FOUND", "unit"), error
    assert await counts(db) == before
