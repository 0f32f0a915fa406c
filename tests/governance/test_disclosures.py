"""Quarterly finance disclosures: the demo's published one, a steward's draft from the books, the staff share
computed by a key, publishing (frozen, everyone told), a correction showing its change, reading by household,
and a resident's question about a line becoming a customer-service conversation."""

from __future__ import annotations

from sqlmodel import select

from laoyou.accounts.models import Notification, Person
from laoyou.core.time import local_date, utcnow
from laoyou.support.models import Conversation

from ..conftest import OFFICIAL_XIUSHAN, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo

LIST = "query { disclosures { id year quarter version status community { name } } }"
FIELDS = """
  id year quarter version status note previousId canEdit readByMe askedLineIds
  funds { fund name income { fen } spending { fen } balance { fen }
          lines { id kind fund title amount { fen yuan } barPercent } }
  arrears { id amount { fen } }
  staffShare { cost { fen } key weight weightTotal share { fen } }
  changes { title before { fen } after { fen } }
  readership { households householdsRead reads { household { id } } }
"""
ONE = "query ($id: ID!) { disclosure(id: $id) {" + FIELDS + "} }"
RESULT = (
    "__typename ... on DisclosureSaved { disclosure {" + FIELDS + "} } ... on Error { code field message }"
)
CREATE = (
    "mutation ($c: ID!, $y: Int!, $q: Int!) { createDisclosure(communityId: $c, year: $y, quarter: $q) {"
    + RESULT
    + "} }"
)
SPEND = (
    "mutation ($id: ID!, $input: DisclosureSpendingInput!) { addDisclosureSpending(id: $id, input: $input) {"
    + RESULT
    + "} }"
)
SHARE = (
    "mutation ($id: ID!, $c: Int!, $k: String!) { setDisclosureStaffShare(id: $id, costFen: $c, key: $k) {"
    + RESULT
    + "} }"
)
PUBLISH = "mutation ($id: ID!) { publishDisclosure(id: $id) {" + RESULT + "} }"
CORRECT = "mutation ($id: ID!, $n: String!) { correctDisclosure(id: $id, note: $n) {" + RESULT + "} }"
REMOVE = "mutation ($l: ID!) { removeDisclosureLine(lineId: $l) {" + RESULT + "} }"
READ = (
    "mutation ($id: ID!) { markDisclosureRead(id: $id) { __typename ... on DisclosureRead { newlyRead } } }"
)
ASK = """mutation ($l: ID!, $q: String!, $c: String!) { askAboutDisclosureLine(lineId: $l, question: $q, clientId: $c) {
  __typename ... on DisclosureQuestionSent { conversationId } ... on Error { code message } } }"""
COMMUNITIES = "query { disclosureCommunities { id name } }"


def lines_of(disclosure: dict) -> list[dict]:
    return [line for fund in disclosure["funds"] for line in fund["lines"]]


async def demo_disclosure(client, community: str = "秀山花园") -> dict:  # noqa: ANN001
    found = [d for d in (await client(LIST))["data"]["disclosures"] if d["community"]["name"] == community]
    return (await client(ONE, {"id": found[0]["id"]}))["data"]["disclosure"]


async def test_the_demo_disclosure_is_published_from_the_books_with_a_computed_staff_share(gql):
    # Given the resident of 秀山花园
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # When she opens the demo's disclosure
    d = await demo_disclosure(resident)
    # Then it is published, with the books' public income by what it was for and the steward's spending
    assert d["status"] == "PUBLISHED" and d["canEdit"] is False and d["readership"] is None
    public = next(f for f in d["funds"] if f["fund"] == "public_income")
    titles = {line["title"]: line["amount"]["fen"] for line in public["lines"]}
    assert titles["停车位租金 一季度"] == 360000 and titles["儿童游乐设施维修"] == 80000
    assert public["balance"]["fen"] == public["income"]["fen"] - public["spending"]["fen"]
    assert max(line["barPercent"] for line in public["lines"]) == 100
    # And the staff share is the households' share of the district's cost, not a typed figure
    share = d["staffShare"]
    assert share["key"] == "households" and 0 < share["weight"] <= share["weightTotal"]
    assert share["share"]["fen"] in (
        share["cost"]["fen"] * share["weight"] // share["weightTotal"],
        share["cost"]["fen"] * share["weight"] // share["weightTotal"] + 1,
    )
    # And a resident of another community does not see it
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert (await stranger(ONE, {"id": d["id"]}, expect_errors=True))["errors"][0]["extensions"][
        "code"
    ] == "NOT_FOUND"


async def test_a_steward_prepares_publishes_and_corrects_and_residents_see_the_change(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = next(
        c["id"]
        for c in (await steward(COMMUNITIES))["data"]["disclosureCommunities"]
        if c["name"] == "秀山花园"
    )
    # Given a draft for the first quarter of this year (the demo's is this quarter's)
    year = local_date(utcnow()).year
    created = (await steward(CREATE, {"c": xiushan, "y": year - 1, "q": 1}))["data"]["createDisclosure"]
    assert created["__typename"] == "DisclosureSaved", created
    draft = created["disclosure"]
    assert draft["status"] == "DRAFT" and draft["canEdit"] is True
    # A second draft of the same quarter, a quarter not yet begun and a bad amount are refused
    again = (await steward(CREATE, {"c": xiushan, "y": year - 1, "q": 1}))["data"]["createDisclosure"]
    assert again["code"] == "ALREADY_EXISTS"
    future = (await steward(CREATE, {"c": xiushan, "y": year + 1, "q": 1}))["data"]["createDisclosure"]
    assert future["field"] == "year"
    bad = {"fund": "property_fee", "title": "保洁", "amountFen": 0}
    assert (await steward(SPEND, {"id": draft["id"], "input": bad}))["data"]["addDisclosureSpending"][
        "field"
    ] == "amountFen"
    # When the steward adds a spending line, shares staff costs by floor area and publishes
    line = {"fund": "property_fee", "title": "绿化修剪", "amountFen": 50000}
    assert (await steward(SPEND, {"id": draft["id"], "input": line}))["data"]["addDisclosureSpending"][
        "__typename"
    ] == "DisclosureSaved"
    shared = (await steward(SHARE, {"id": draft["id"], "c": 1000000, "k": "floor_area"}))["data"][
        "setDisclosureStaffShare"
    ]
    assert shared["disclosure"]["staffShare"]["key"] == "floor_area"
    published = (await steward(PUBLISH, {"id": draft["id"]}))["data"]["publishDisclosure"]["disclosure"]
    assert published["status"] == "PUBLISHED"
    # Then it is frozen
    frozen = (await steward(SPEND, {"id": draft["id"], "input": line}))["data"]["addDisclosureSpending"]
    assert frozen["code"] == "NOT_ALLOWED"
    # And every resident was told
    resident_person = (await db.exec(select(Person).where(Person.phone == "+86" + RESIDENT_XIUSHAN))).first()
    told = await db.exec(select(Notification).where(Notification.person_id == resident_person.id))
    assert any(n.link == f"/disclosures/{published['id']}" for n in told)
    # When the steward corrects it: the line's amount changes
    correction = (await steward(CORRECT, {"id": draft["id"], "n": "绿化修剪金额录错"}))["data"][
        "correctDisclosure"
    ]["disclosure"]
    assert correction["version"] == 2 and correction["status"] == "DRAFT"
    old = next(x for x in lines_of(correction) if x["title"] == "绿化修剪")
    assert (await steward(REMOVE, {"l": old["id"]}))["data"]["removeDisclosureLine"][
        "__typename"
    ] == "DisclosureSaved"
    fixed = {"fund": "property_fee", "title": "绿化修剪", "amountFen": 5000}
    await steward(SPEND, {"id": correction["id"], "input": fixed})
    await steward(PUBLISH, {"id": correction["id"]})
    # Then residents see the new version with the change, and the old one as superseded
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    seen = (await resident(ONE, {"id": correction["id"]}))["data"]["disclosure"]
    assert seen["note"] == "绿化修剪金额录错" and seen["previousId"] == draft["id"]
    assert {"title": "绿化修剪", "before": {"fen": 50000}, "after": {"fen": 5000}} in seen["changes"]
    assert (await resident(ONE, {"id": draft["id"]}))["data"]["disclosure"]["status"] == "SUPERSEDED"
    ids = [d["id"] for d in (await resident(LIST))["data"]["disclosures"]]
    assert correction["id"] in ids and draft["id"] not in ids


async def test_officials_see_who_read_it_by_household_and_a_question_goes_to_customer_service(gql, db):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    d = await demo_disclosure(resident)
    # When the resident opens it twice
    assert (await resident(READ, {"id": d["id"]}))["data"]["markDisclosureRead"]["newlyRead"] is True
    assert (await resident(READ, {"id": d["id"]}))["data"]["markDisclosureRead"]["newlyRead"] is False
    # Then the community's official sees one household has read it
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    seen = (await official(ONE, {"id": d["id"]}))["data"]["disclosure"]
    assert seen["readership"]["householdsRead"] == 1 and seen["readership"]["households"] > 1
    assert seen["canEdit"] is False
    # When the resident asks about a line (the same tap twice)
    line = lines_of(d)[0]
    for _ in range(2):
        asked = (await resident(ASK, {"l": line["id"], "q": "这笔钱怎么算的？", "c": "q-1"}))["data"][
            "askAboutDisclosureLine"
        ]
        assert asked["__typename"] == "DisclosureQuestionSent"
    # Then one customer-service conversation holds it, and the line is marked as asked
    person = (await db.exec(select(Person).where(Person.phone == "+86" + RESIDENT_XIUSHAN))).first()
    conversations = list(await db.exec(select(Conversation).where(Conversation.resident_id == person.id)))
    assert len({c.id for c in conversations if c.status != "closed"}) == 1
    assert (await resident(ONE, {"id": d["id"]}))["data"]["disclosure"]["askedLineIds"] == [line["id"]]
    # And the official cannot ask, nor a stranger
    refused = (await official(ASK, {"l": line["id"], "q": "?", "c": "q-2"}))["data"]["askAboutDisclosureLine"]
    assert refused["code"] == "NOT_ALLOWED"
    stranger = await login_demo(gql, RESIDENT_JINGJU)
    assert (await stranger(ASK, {"l": line["id"], "q": "?", "c": "q-3"}, expect_errors=True))["errors"][0][
        "extensions"
    ]["code"] == "NOT_FOUND"
