"""Free text a person saves refuses NUL, control characters and bidirectional overrides and isolates: a payload
error in the caller's language, and nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from laoyou.accounts.models import FamilyLink, Person
from laoyou.billing.models import JournalEntry
from laoyou.briefings.models import Briefing
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.core.text import check_text
from laoyou.notify.models import EmergencyNotice
from laoyou.support.models import FaqEntry, Message
from laoyou.tickets.models import WorkOrder

from ..conftest import AGENT_NANNING, RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo

REFUSAL = "This text holds invisible control or direction characters. Please type it again."
REFUSED = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
]


@pytest.mark.parametrize("char", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_nul_controls_and_direction_overrides_are_refused(char):
    with pytest.raises(LaoyouError) as refused:
        check_text(f"王秀英{char}", field="name")
    assert refused.value.field == "name" and refused.value.message == REFUSAL


@pytest.mark.parametrize(
    "text",
    [
        "王秀英",
        "厨房水管漏水\n请明天上午来",
        "a\tb\r\nc",
        "مرحبا\u200f 12",
        "abc\u200e",
        "👵🏻 谢谢",
        "",
        None,
    ],
)
def test_ordinary_text_and_direction_marks_pass(text):
    check_text(text, field="body")


async def count(db, model) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(model))


# Each: who, the mutation, its variables with {bad} where the text goes, the table that must not change.
PREFERENCES = "mutation ($name: String) { updatePreferences(name: $name) { __typename ... on Error { field message } } }"
CHAT = """mutation ($c: String!, $body: String!) { sendChatMessage(clientId: $c, body: $body) {
  __typename ... on Error { field message } } }"""
REPORT = """mutation ($input: ReportProblemInput!) { reportProblem(input: $input) { __typename ... on Error { field message } } }"""
FAMILY = """mutation ($phone: String!, $relation: String!) { requestFamilyLink(phone: $phone, relation: $relation) {
  __typename ... on Error { field message } } }"""
BRIEFING = """mutation ($input: BriefingInput!) { createBriefing(input: $input) { __typename ... on Error { field message } } }"""
EMERGENCY = """mutation ($c: [ID!]!, $title: String!, $body: String!) {
  sendEmergencyNotice(communityIds: $c, kind: WATER_CUT, title: $title, body: $body) {
  __typename ... on Error { field message } } }"""
INCOME = """mutation ($c: ID!, $memo: String!, $ref: String!) {
  recordIncome(communityId: $c, fund: public_income, amountFen: 100, memo: $memo, attachmentRef: $ref) {
  __typename ... on Error { field message } } }"""
FAQ = """mutation ($d: ID!, $q: String!, $a: String!) { saveFaqEntry(districtId: $d, question: $q, answer: $a) {
  __typename ... on Error { field message } } }"""
STAFF_COMMUNITIES = "query { viewer { staffCommunities { id district { id } } } }"


async def _staff_places(person) -> tuple[str, str]:  # noqa: ANN001
    community = (await person(STAFF_COMMUNITIES))["data"]["viewer"]["staffCommunities"][0]
    return community["id"], community["district"]["id"]


async def case(name: str, gql, bad: str) -> tuple[Any, str, dict[str, Any], type, str]:  # noqa: ANN001, PLR0911
    """The person, document, variables, the table to watch and the field at fault, for one named case."""
    if name == "person name":
        return await login_demo(gql, RESIDENT_XIUSHAN), PREFERENCES, {"name": f"王秀英{bad}"}, Person, "name"
    if name == "chat message":
        return (
            await login_demo(gql, RESIDENT_XIUSHAN),
            CHAT,
            {"c": uuid.uuid4().hex, "body": f"路灯不亮{bad}了"},
            Message,
            "body",
        )
    if name == "ticket text":
        return (
            await login_demo(gql, RESIDENT_XIUSHAN),
            REPORT,
            {
                "input": {
                    "clientId": uuid.uuid4().hex,
                    "category": "lighting",
                    "description": f"楼道灯{bad}坏了",
                }
            },
            WorkOrder,
            "description",
        )
    if name == "family relation":
        return (
            await login_demo(gql, RESIDENT_XIUSHAN),
            FAMILY,
            {"phone": RESIDENT_JINGJU, "relation": f"邻居{bad}"},
            FamilyLink,
            "relation",
        )
    if name == "briefing text":
        steward = await login_demo(gql, STEWARD_XIUSHAN)
        community, _ = await _staff_places(steward)
        items = [{"kind": "CLEANING", "text": f"扫了楼道{bad}"}]
        return (
            steward,
            BRIEFING,
            {"input": {"communityIds": [community], "title": "今日简报", "items": items}},
            Briefing,
            "items",
        )
    if name == "emergency notice":
        steward = await login_demo(gql, STEWARD_XIUSHAN)
        community, _ = await _staff_places(steward)
        return (
            steward,
            EMERGENCY,
            {"c": [community], "title": f"停水{bad}通知", "body": ""},
            EmergencyNotice,
            "title",
        )
    if name == "ledger memo":
        steward = await login_demo(gql, STEWARD_XIUSHAN)
        community, _ = await _staff_places(steward)
        return (
            steward,
            INCOME,
            {"c": community, "memo": "停车费", "ref": f"发票{bad}12"},
            JournalEntry,
            "attachmentRef",
        )
    agent = await login_demo(gql, AGENT_NANNING)
    _, district = await _staff_places(agent)
    return agent, FAQ, {"d": district, "q": "几点收垃圾？", "a": f"早上{bad}七点"}, FaqEntry, "answer"


CASES = [
    "person name",
    "chat message",
    "ticket text",
    "family relation",
    "briefing text",
    "emergency notice",
    "ledger memo",
    "faq answer",
]


@pytest.mark.parametrize("bad", ["\x00", "\u202e", "\u2067"], ids=["NUL", "RLO", "RLI"])
@pytest.mark.parametrize("name", CASES)
async def test_saved_text_refuses_them_in_the_callers_language_and_changes_nothing(gql, db, name, bad):
    # Given a person about to save text holding an invisible character
    gql.language = "zh-CN"
    person, document, variables, model, field = await case(name, gql, bad)
    before = await count(db, model)
    names = set(await db.scalars(select(Person.name)))
    # When they save it
    result = await person(document, variables)
    payload = next(iter(result["data"].values()))
    # Then the payload says so in Chinese, for that field, and nothing was saved
    assert payload == {
        "__typename": payload["__typename"],
        "field": field,
        "message": i18n.gettext(REFUSAL, "zh_CN"),
    }, payload
    assert payload["__typename"].endswith("Error") and payload["message"] != REFUSAL
    db.expire_all()
    assert await count(db, model) == before
    assert set(await db.scalars(select(Person.name))) == names
