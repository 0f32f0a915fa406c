"""Login cards for a whole building or community: a steward sees who gets one and who is skipped, then prints
them all in one transaction, eight to an A4 sheet; re-printing stops the earlier unused cards."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from laoyou.accounts.models import AuditEvent, LoginCard

from ..conftest import ADMIN, STEWARD_XIUSHAN, login_demo
from ..estates.test_onboarding import CREATE_BUILDING, CREATE_HOUSEHOLD, CREATE_UNIT, community_id, data
from ..web.conftest import csrf_in, log_in
from .helpers import count_rows
from .test_login_cards import XIUSHAN_OUTSIDERS, login_with_card, token_of

PLAN = """
query ($c: ID!, $b: ID) {
  loginCardPlan(communityId: $c, buildingId: $b) {
    community { id } building { id name }
    cards { personName address household { id } }
    skipped { address household { id } }
  }
}
"""
ISSUE = """
mutation ($c: ID!, $b: ID) {
  issueLoginCards(communityId: $c, buildingId: $b) {
    __typename
    ... on LoginCardsIssued { cards { url qrSvg personName address card { id } } skipped { address } }
    ... on Error { code message }
  }
}
"""
ADD_RESIDENT = """
mutation ($h: ID!, $name: String!, $phone: String!) {
  addResident(householdId: $h, name: $name, phone: $phone, relation: OWNER) { __typename }
}
"""


async def new_building(steward, community: str, *, heads: list[list[str]]) -> tuple[str, list[str]]:  # noqa: ANN001
    """A building of the steward's with one household a unit; heads[i] lists the residents of unit i, the first
    of them named as the household's head unless the list is empty."""
    building = (
        await data(
            steward,
            CREATE_BUILDING,
            {"c": community, "input": {"name": "66栋", "floors": 6}},
            "createBuilding",
        )
    )["building"]["id"]
    households = []
    phone = 13712345000
    for number, residents in enumerate(heads, start=1):
        unit = (
            await data(
                steward,
                CREATE_UNIT,
                {"b": building, "input": {"number": f"1-{number:02d}", "floor": 1, "floorArea": "60.00"}},
                "createUnit",
            )
        )["unit"]["id"]
        head = residents[0] if residents else "空户"
        household = (await data(steward, CREATE_HOUSEHOLD, {"u": unit, "name": head}, "createHousehold"))[
            "household"
        ]["id"]
        for name in reversed(residents):  # the head joins last: the card still goes to them
            phone += 1
            await data(
                steward, ADD_RESIDENT, {"h": household, "name": name, "phone": str(phone)}, "addResident"
            )
        households.append(household)
    return building, households


async def xiushan_building(gql):  # noqa: ANN001, ANN201
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    building, households = await new_building(steward, xiushan, heads=[["周一", "吴二"], ["郑三"], []])
    return steward, xiushan, building, households


async def test_the_plan_names_one_person_a_household_and_lists_the_empty_ones(gql):
    steward, xiushan, building, households = await xiushan_building(gql)
    plan = await data(steward, PLAN, {"c": xiushan, "b": building}, "loginCardPlan")
    assert plan["building"]["id"] == building
    assert [(c["household"]["id"], c["personName"]) for c in plan["cards"]] == [
        (households[0], "周一"),  # the head, though another resident came first
        (households[1], "郑三"),
    ]
    assert [s["household"]["id"] for s in plan["skipped"]] == [households[2]]
    assert plan["cards"][0]["address"] == "秀山花园 66栋 1-01"
    # The whole community's plan holds the building's households and the demo's.
    whole = await data(steward, PLAN, {"c": xiushan}, "loginCardPlan")
    assert whole["building"] is None
    assert {households[0], households[1]} <= {c["household"]["id"] for c in whole["cards"]}
    assert len(whole["cards"]) > 2


async def test_issuing_prints_every_card_at_once_each_logging_its_person_in_once(gql, db):
    steward, xiushan, building, households = await xiushan_building(gql)
    audits = await count_rows(db, AuditEvent)
    issued = await data(steward, ISSUE, {"c": xiushan, "b": building}, "issueLoginCards")
    assert issued["__typename"] == "LoginCardsIssued", issued
    assert [c["personName"] for c in issued["cards"]] == ["周一", "郑三"]
    assert [s["address"] for s in issued["skipped"]] == ["秀山花园 66栋 1-03"]
    assert all(c["qrSvg"].startswith("<svg") and "/card/" in c["url"] for c in issued["cards"])
    # Audited: each card, and the batch.
    actions = list(await db.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(3)))
    assert actions.count("card.issue") == 2 and "card.issue_batch" in actions
    assert await count_rows(db, AuditEvent) > audits
    for card in issued["cards"]:
        assert (await login_with_card(gql, token_of(card)))["__typename"] == "LoggedIn"
        assert (await login_with_card(gql, token_of(card)))["__typename"] == "LoginError"


async def test_reprinting_stops_the_earlier_unused_cards_but_leaves_used_ones(gql, db):
    steward, xiushan, building, _ = await xiushan_building(gql)
    first = await data(steward, ISSUE, {"c": xiushan, "b": building}, "issueLoginCards")
    used = first["cards"][0]
    assert (await login_with_card(gql, token_of(used)))["__typename"] == "LoggedIn"
    second = await data(steward, ISSUE, {"c": xiushan, "b": building}, "issueLoginCards")
    assert len(second["cards"]) == 2
    # The unused card of the lost sheet no longer works; the new ones do.
    assert (await login_with_card(gql, token_of(first["cards"][1])))["__typename"] == "LoginError"
    used_row = await db.get(LoginCard, int(used["card"]["id"]))
    await db.refresh(used_row)
    assert used_row.used_at is not None and used_row.revoked_at is None
    assert (await login_with_card(gql, token_of(second["cards"][1])))["__typename"] == "LoggedIn"


async def test_a_building_where_nobody_lives_prints_nothing(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    building, _ = await new_building(steward, xiushan, heads=[[], []])
    cards = await count_rows(db, LoginCard)
    error = await data(steward, ISSUE, {"c": xiushan, "b": building}, "issueLoginCards")
    assert error["code"] == "NOT_ALLOWED"
    assert error["message"] == "Nobody lives in these households yet, so there is no card."
    assert await count_rows(db, LoginCard) == cards


async def test_a_building_of_another_community_is_not_found(gql, db):
    steward, xiushan, building, _ = await xiushan_building(gql)
    admin = await login_demo(gql, ADMIN)
    communities = (await admin("query { communities(first: 50) { nodes { id name } } }"))["data"][
        "communities"
    ]
    other = next(c["id"] for c in communities["nodes"] if c["name"] == "新风新村")
    answer = await admin(ISSUE, {"c": other, "b": building}, expect_errors=True)
    assert answer["errors"][0]["message"] == "Not found."


@pytest.mark.parametrize("phone", XIUSHAN_OUTSIDERS)
async def test_others_can_neither_plan_nor_print_the_communitys_cards(gql, db, phone):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    someone = await login_demo(gql, phone)
    cards, audits = await count_rows(db, LoginCard), await count_rows(db, AuditEvent)
    for query in (PLAN, ISSUE):
        answer = await someone(query, {"c": xiushan}, expect_errors=True)
        assert answer["data"] is None
        assert answer["errors"][0]["message"] in {"Not found.", "Only staff can do this."}
    assert await count_rows(db, LoginCard) == cards
    assert await count_rows(db, AuditEvent) == audits


# --- the pages ---------------------------------------------------------------------------------------------


async def test_the_steward_chooses_a_building_sees_the_count_and_prints_a_sheet(gql, client, db):
    _, xiushan, building, _ = await xiushan_building(gql)
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    households = await client.get(f"/staff/communities/{xiushan}/households")
    assert f'href="/staff/communities/{xiushan}/cards"' in households.text
    estate = await client.get(f"/staff/estates/communities/{xiushan}/buildings/{building}")
    assert f"/staff/communities/{xiushan}/cards?building={building}" in estate.text

    page = await client.get(f"/staff/communities/{xiushan}/cards", params={"building": building})
    assert page.status_code == 200, page.text
    assert "Cards to print: 2" in page.text and "Skipped: nobody lives here yet (1)" in page.text
    assert "秀山花园 66栋 1-03" in page.text
    cards = await count_rows(db, LoginCard)
    printed = await client.post(
        f"/staff/communities/{xiushan}/cards?building={building}", data={"csrf_token": csrf_in(page.text)}
    )
    assert printed.status_code == 200, printed.text
    assert await count_rows(db, LoginCard) == cards + 2
    assert printed.text.count('class="card-sheet"') == 1
    assert printed.text.count('class="login-card"') == 2 and printed.text.count("<svg viewBox=") == 2
    assert "print-cards" in printed.text


async def test_a_whole_community_prints_eight_cards_a_sheet(gql, client):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    await new_building(steward, xiushan, heads=[[f"住户{i}"] for i in range(9)])
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    page = await client.get(f"/staff/communities/{xiushan}/cards")
    count = int(re.search(r"Cards to print: (\d+)", page.text).group(1))
    assert count >= 9
    printed = await client.post(
        f"/staff/communities/{xiushan}/cards", data={"csrf_token": csrf_in(page.text)}
    )
    sheets = re.findall(r'<section class="card-sheet".*?</section>', printed.text, re.S)
    assert len(sheets) == -(-count // 8)
    assert all(sheet.count('class="login-card"') == 8 for sheet in sheets[:-1])
    assert sum(sheet.count('class="login-card"') for sheet in sheets) == count


async def test_a_printing_mistake_shows_on_the_page(gql, client, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    building, _ = await new_building(steward, xiushan, heads=[[]])
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    page = await client.get(f"/staff/communities/{xiushan}/cards", params={"building": building})
    assert "Cards to print: 0" in page.text and 'method="post"' not in page.text.split("count-title")[1]
    answer = await client.post(
        f"/staff/communities/{xiushan}/cards?building={building}", data={"csrf_token": csrf_in(page.text)}
    )
    assert answer.status_code == 400
    assert "Nobody lives in these households yet" in answer.text


async def test_a_stranger_gets_404_from_the_card_pages(gql, client, db):
    other = await community_id(await login_demo(gql, ADMIN), "岳阳花苑")
    await log_in(client, STEWARD_XIUSHAN)
    cards = await count_rows(db, LoginCard)
    assert (await client.get(f"/staff/communities/{other}/cards")).status_code == 404
    token = csrf_in((await client.get("/staff/estates")).text)
    assert (
        await client.post(f"/staff/communities/{other}/cards", data={"csrf_token": token})
    ).status_code == 404
    assert await count_rows(db, LoginCard) == cards
