"""The care ledger: the resident consents and sees and exports her record; her community's steward keeps it, every
read audited; no other role ever sees a care field; withdrawal hides the record from staff at once."""

from __future__ import annotations

import json

from sqlalchemy import func
from sqlmodel import select

from laoyou.accounts.models import AuditEvent, Person
from laoyou.care.ledger.models import CareRecord

from ..conftest import (
    ADMIN,
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)

MY_HOME = "query { viewer { ownHouseholdIds } }"
CONSENT = """mutation ($h: ID!) { giveCareConsent(householdId: $h) {
    __typename ... on CareRecordSaved { record { id consentMethod } } ... on Error { code message } } }"""
WITHDRAW = """mutation ($id: ID!) { withdrawCareConsent(id: $id) {
    __typename ... on CareRecordSaved { record { withdrawnAt } } ... on Error { code message } } }"""
UPDATE = """mutation ($id: ID!, $input: CareRecordInput!) { updateCareRecord(id: $id, input: $input) {
    __typename ... on CareRecordSaved { record { living needs visitTimes contacts { name phone } } }
    ... on Error { code message field } } }"""
VISIT = """mutation ($id: ID!, $f: String!, $w: Boolean!) {
    recordCareVisit(recordId: $id, finding: NEEDS_HELP, note: "换灯泡", followUp: $f, makeWorkOrder: $w) {
    __typename ... on CareVisitSaved { visit { finding workOrderId } } ... on Error { code message field } } }"""
RECORDS = "query { careRecords { id residentName living mobility needs visitTimes contacts { phone } } }"
RECORD = "query ($id: ID!) { careRecord(id: $id) { id living needs visits { note } } }"
MINE = "query { myCareRecord { id living needs withdrawnAt } }"
MARKER = "WITH_CARER"


async def consented(gql) -> tuple[str, object]:  # noqa: ANN001
    """The resident consents on her phone; the steward notes she lives with a carer (the marker)."""
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    [home] = (await resident(MY_HOME))["data"]["viewer"]["ownHouseholdIds"]
    given = (await resident(CONSENT, {"h": home}))["data"]["giveCareConsent"]
    assert given["__typename"] == "CareRecordSaved" and given["record"]["consentMethod"] == "phone"
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    record_id = given["record"]["id"]
    saved = (
        await steward(
            UPDATE,
            {
                "id": record_id,
                "input": {
                    "living": MARKER,
                    "mobility": "WHEELCHAIR",
                    "needs": ["hearing", "stairs"],
                    "visitTimes": ["morning"],
                    "contactName": "邻居王阿姨",
                    "contactPhone": "13912345678",
                },
            },
        )
    )["data"]["updateCareRecord"]
    assert saved["__typename"] == "CareRecordSaved", saved
    assert saved["record"]["needs"] == ["hearing", "stairs"]
    # Family following her home come first among the contacts
    assert saved["record"]["contacts"][-1] == {"name": "邻居王阿姨", "phone": "+8613912345678"}
    return record_id, resident


async def test_the_steward_keeps_the_record_and_every_read_is_audited(gql, db):
    record_id, resident = await consented(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    before = await db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "care.record_read")
    )
    listed = (await steward(RECORDS))["data"]["careRecords"]
    assert record_id in [r["id"] for r in listed]
    one = (await steward(RECORD, {"id": record_id}))["data"]["careRecord"]
    assert one["living"] == MARKER
    after = await db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "care.record_read")
    )
    assert after >= before + 2
    # A visit whose follow-up becomes a work order
    visit = (await steward(VISIT, {"id": record_id, "f": "楼道灯坏了，请修", "w": True}))["data"][
        "recordCareVisit"
    ]
    assert visit["__typename"] == "CareVisitSaved" and visit["visit"]["workOrderId"]
    # A work order needs words
    empty = (await steward(VISIT, {"id": record_id, "f": " ", "w": True}))["data"]["recordCareVisit"]
    assert empty["field"] == "followUp"
    # A typed need outside the list is refused
    wrong = (
        await steward(
            UPDATE,
            {
                "id": record_id,
                "input": {
                    "living": "ALONE",
                    "mobility": "INDEPENDENT",
                    "needs": ["糖尿病"],
                    "visitTimes": [],
                },
            },
        )
    )["data"]["updateCareRecord"]
    assert wrong["code"] == "INVALID" and wrong["field"] == "needs"
    # The resident sees her own record
    assert (await resident(MINE))["data"]["myCareRecord"]["living"] == MARKER


async def test_care_fields_never_appear_for_other_roles(gql, db):
    record_id, _ = await consented(gql)
    for phone in (
        AGENT_NANNING,
        OFFICIAL_XIUSHAN,
        STEWARD_YUEYANG,
        ADMIN,
        RESIDENT_JINGJU,
        FAMILY_OF_XIUSHAN,
    ):
        other = await login_demo(gql, phone)
        listed = await other(RECORDS, expect_errors=True)
        one = await other(RECORD, {"id": record_id}, expect_errors=True)
        mine = await other(MINE)
        board = await other("query { checkinBoard { residentName } }", expect_errors=True)
        for answer in (listed, one, mine, board):
            assert MARKER not in json.dumps(answer), (phone, answer)
        assert not (listed.get("data") or {}).get("careRecords")
        assert (one.get("data") or {}).get("careRecord") is None
        assert mine["data"]["myCareRecord"] is None
        assert not (board.get("data") or {}).get("checkinBoard")


async def test_withdrawal_hides_the_record_from_staff(gql, db):
    record_id, resident = await consented(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    # When her family withdraws her consent
    family = await login_demo(gql, FAMILY_OF_XIUSHAN)
    withdrawn = (await family(WITHDRAW, {"id": record_id}))["data"]["withdrawCareConsent"]
    assert withdrawn["__typename"] == "CareRecordSaved"
    # Then the steward no longer sees it, listed or by id
    assert record_id not in [r["id"] for r in (await steward(RECORDS))["data"]["careRecords"]]
    gone = await steward(RECORD, {"id": record_id}, expect_errors=True)
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # And she still sees what was kept, marked withdrawn; withdrawing twice is refused in words
    assert (await resident(MINE))["data"]["myCareRecord"]["withdrawnAt"]
    twice = (await resident(WITHDRAW, {"id": record_id}))["data"]["withdrawCareConsent"]
    assert twice["code"] == "NOT_ALLOWED"
    # Consenting again brings it back
    [home] = (await resident(MY_HOME))["data"]["viewer"]["ownHouseholdIds"]
    again = (await resident(CONSENT, {"h": home}))["data"]["giveCareConsent"]
    assert again["__typename"] == "CareRecordSaved" and again["record"]["id"] == record_id
    row = await db.get(CareRecord, int(record_id))
    await db.refresh(row)
    assert row.withdrawn_at is None and row.living == MARKER.lower()
    who = await db.get(Person, row.resident_id)
    assert who.phone == "+86" + RESIDENT_XIUSHAN
