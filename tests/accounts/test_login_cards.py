"""Household login cards: a steward prints a QR card that logs one resident in on their own phone, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from laoyou.accounts.models import AuditEvent, AuthSession, LoginCard
from laoyou.core.time import utcnow

from ..conftest import (
    ADMIN,
    AGENT_NANNING,
    FAMILY_OF_XIUSHAN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_XIUSHAN,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)
from .helpers import count_rows

ISSUE_LOGIN_CARD = """
mutation ($householdId: ID!, $personId: ID!) {
  issueLoginCard(householdId: $householdId, personId: $personId) {
    __typename
    ... on LoginCardIssued { url qrSvg personName address card { id personId expiresAt usedAt revokedAt } }
    ... on Error { field message code }
  }
}
"""
REVOKE_LOGIN_CARD = """
mutation ($id: ID!) {
  revokeLoginCard(id: $id) {
    __typename
    ... on LoginCardRevoked { card { id revokedAt } }
    ... on Error { field message code }
  }
}
"""
LOGIN_WITH_CARD = """
mutation ($token: String!) {
  loginWithCard(token: $token, sessionKind: BEARER) {
    __typename
    ... on LoggedIn { token viewer { person { id name } roles { role householdId } } }
    ... on Error { field message code }
  }
}
"""
LOGIN_CARDS = (
    "query ($householdId: ID!) { loginCards(householdId: $householdId) { id personId usedAt revokedAt } }"
)
MY_HOUSEHOLD = "query { viewer { person { id } households { id address } } }"
FIRST_HOUSEHOLDS = """
query ($id: ID!) { community(id: $id) { households(first: 3) { nodes { id members { id name } } } } }
"""
COMMUNITIES = "query { communities(first: 50) { nodes { id name } } }"


async def xiushan_household(gql) -> tuple[str, str]:  # noqa: ANN001
    """(household id, person id) of the demo resident of Xiushan Garden."""
    data = (await (await login_demo(gql, RESIDENT_XIUSHAN))(MY_HOUSEHOLD))["data"]["viewer"]
    return data["households"][0]["id"], data["person"]["id"]


async def zhujiajiao_household(gql) -> tuple[str, str]:  # noqa: ANN001
    admin = await login_demo(gql, ADMIN)
    communities = (await admin(COMMUNITIES))["data"]["communities"]["nodes"]
    xinfeng = next(c["id"] for c in communities if c["name"] == "新风新村")
    nodes = (await admin(FIRST_HOUSEHOLDS, {"id": xinfeng}))["data"]["community"]["households"]["nodes"]
    household = next(h for h in nodes if h["members"])
    return household["id"], household["members"][0]["id"]


async def issue(steward, household_id: str, person_id: str) -> dict:  # noqa: ANN001
    result = (await steward(ISSUE_LOGIN_CARD, {"householdId": household_id, "personId": person_id}))["data"][
        "issueLoginCard"
    ]
    return result


def token_of(issued: dict) -> str:
    return issued["url"].rsplit("/card/", 1)[1]


async def login_with_card(gql, token: str) -> dict:  # noqa: ANN001
    return (await gql(LOGIN_WITH_CARD, {"token": token}))["data"]["loginWithCard"]


async def test_steward_issues_a_card_that_logs_the_resident_in_once(gql, app):
    # Given the Xiushan steward prints a card for the demo resident
    household_id, person_id = await xiushan_household(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    issued = await issue(steward, household_id, person_id)
    # Then the card has a URL on the public address and a QR code of it
    assert issued["__typename"] == "LoginCardIssued", issued
    assert issued["url"].startswith(app.state.settings.public_url.rstrip("/") + "/card/")
    assert issued["qrSvg"].lstrip().startswith("<svg") and "</svg>" in issued["qrSvg"]
    assert issued["personName"] == "王秀英"
    assert issued["address"].startswith("秀山花园 ")
    assert issued["card"]["personId"] == person_id
    assert issued["card"]["usedAt"] is None and issued["card"]["revokedAt"] is None
    # When the resident scans it
    first = await login_with_card(gql, token_of(issued))
    # Then they are logged in as themselves, with their household
    assert first["__typename"] == "LoggedIn", first
    assert first["viewer"]["person"] == {"id": person_id, "name": "王秀英"}
    assert first["viewer"]["roles"] == [{"role": "resident", "householdId": household_id}]
    # And the card does not work a second time
    second = await login_with_card(gql, token_of(issued))
    assert (second["__typename"], second["code"]) == ("LoginError", "INVALID_CARD")


async def test_a_card_session_is_a_resident_session(gql, db):
    household_id, person_id = await xiushan_household(gql)
    issued = await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id)
    await login_with_card(gql, token_of(issued))
    method = (
        await db.execute(select(AuthSession.method).order_by(AuthSession.id.desc()).limit(1))
    ).scalar_one()
    assert method == "card"


async def test_card_token_is_stored_hashed(gql, db):
    household_id, person_id = await xiushan_household(gql)
    issued = await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id)
    stored = (await db.execute(select(LoginCard.token_hash))).scalars().all()
    assert token_of(issued) not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


async def test_expired_card_fails(gql, db):
    # Given a card whose time ran out
    household_id, person_id = await xiushan_household(gql)
    issued = await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id)
    await db.execute(update(LoginCard).values(expires_at=utcnow() - timedelta(seconds=1)))
    await db.commit()
    sessions = await count_rows(db, AuthSession)
    # Then it logs nobody in
    assert (await login_with_card(gql, token_of(issued)))["code"] == "INVALID_CARD"
    assert await count_rows(db, AuthSession) == sessions


async def test_card_lasts_fourteen_days(gql, app):
    household_id, person_id = await xiushan_household(gql)
    issued = await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id)
    from datetime import UTC, datetime

    expires = datetime.fromisoformat(issued["card"]["expiresAt"]).astimezone(UTC)
    days = app.state.settings.login_card_days
    assert utcnow() + timedelta(days=days) - timedelta(minutes=1) < expires <= utcnow() + timedelta(days=days)


async def test_revoked_card_fails(gql, db):
    # Given a card the steward revoked
    household_id, person_id = await xiushan_household(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    issued = await issue(steward, household_id, person_id)
    revoked = (await steward(REVOKE_LOGIN_CARD, {"id": issued["card"]["id"]}))["data"]["revokeLoginCard"]
    assert revoked["__typename"] == "LoginCardRevoked"
    assert revoked["card"]["revokedAt"] is not None
    # Then it logs nobody in, and it cannot be revoked twice
    assert (await login_with_card(gql, token_of(issued)))["code"] == "INVALID_CARD"
    again = (await steward(REVOKE_LOGIN_CARD, {"id": issued["card"]["id"]}))["data"]["revokeLoginCard"]
    assert (again["__typename"], again["code"]) == ("LoginCardError", "NOT_ALLOWED")


async def test_a_used_card_cannot_be_revoked(gql):
    household_id, person_id = await xiushan_household(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    issued = await issue(steward, household_id, person_id)
    await login_with_card(gql, token_of(issued))
    result = (await steward(REVOKE_LOGIN_CARD, {"id": issued["card"]["id"]}))["data"]["revokeLoginCard"]
    assert result["code"] == "NOT_ALLOWED"


async def test_a_new_card_revokes_the_previous_unused_one(gql):
    # Given a card was printed, then lost, and a new one printed
    household_id, person_id = await xiushan_household(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    old = await issue(steward, household_id, person_id)
    new = await issue(steward, household_id, person_id)
    # Then the old card no longer works and the new one does
    assert (await login_with_card(gql, token_of(old)))["code"] == "INVALID_CARD"
    assert (await login_with_card(gql, token_of(new)))["__typename"] == "LoggedIn"
    cards = (await steward(LOGIN_CARDS, {"householdId": household_id}))["data"]["loginCards"]
    assert [(c["id"], c["revokedAt"] is not None, c["usedAt"] is not None) for c in cards] == [
        (new["card"]["id"], False, True),
        (old["card"]["id"], True, False),
    ]


@pytest.mark.parametrize("token", ["", "garbage", "x" * 500, "A" * 43])
async def test_forged_cards_fail(gql, token):
    assert (await login_with_card(gql, token))["code"] == "INVALID_CARD"


async def test_card_only_for_a_person_of_the_household(gql):
    # Given the Xiushan household and the Peking Opera house resident's person id
    household_id, _ = await xiushan_household(gql)
    stranger = (await (await login_demo(gql, RESIDENT_JINGJU))(MY_HOUSEHOLD))["data"]["viewer"]["person"][
        "id"
    ]
    # When the Xiushan steward tries to print that person a card for the Xiushan household
    result = await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, stranger)
    # Then it is refused as a mistake on personId
    assert (result["__typename"], result["code"], result["field"]) == (
        "LoginCardError",
        "INVALID",
        "personId",
    )


async def test_issue_use_and_revoke_are_audited(gql, db):
    # Given a card issued and used, and another issued and revoked
    household_id, person_id = await xiushan_household(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    used = await issue(steward, household_id, person_id)
    await login_with_card(gql, token_of(used))
    revoked = await issue(steward, household_id, person_id)
    await steward(REVOKE_LOGIN_CARD, {"id": revoked["card"]["id"]})
    # Then the audit log holds each step, with the card as subject
    rows = (
        await db.execute(
            select(AuditEvent.action, AuditEvent.subject_type, AuditEvent.subject_id, AuditEvent.actor_id)
            .where(AuditEvent.action.like("card.%"))
            .order_by(AuditEvent.id)
        )
    ).all()
    used_id, revoked_id = int(used["card"]["id"]), int(revoked["card"]["id"])
    assert [(a, t, s) for a, t, s, _ in rows] == [
        ("card.issue", "login_card", used_id),
        ("card.use", "login_card", used_id),
        ("card.issue", "login_card", revoked_id),
        ("card.revoke", "login_card", revoked_id),
    ]
    steward_id = rows[0][3]
    assert steward_id is not None and rows[3][3] == steward_id


async def test_admin_may_issue_cards_anywhere(gql):
    household_id, person_id = await xiushan_household(gql)
    assert (await issue(await login_demo(gql, ADMIN), household_id, person_id))[
        "__typename"
    ] == "LoginCardIssued"


async def test_district_steward_may_issue_cards_in_the_district(gql):
    household_id, person_id = await zhujiajiao_household(gql)
    result = await issue(await login_demo(gql, STEWARD_ZHUJIAJIAO), household_id, person_id)
    assert result["__typename"] == "LoginCardIssued", result


async def assert_refused_and_nothing_written(db, call) -> dict:  # noqa: ANN001
    cards, audits = await count_rows(db, LoginCard), await count_rows(db, AuditEvent)
    result = await call()
    assert result["data"] is None
    assert result["errors"][0]["message"] in {
        "Not found.",
        "You are not allowed to do this.",
        "Only staff can do this.",
    }
    assert await count_rows(db, LoginCard) == cards
    assert await count_rows(db, AuditEvent) == audits
    return result


# Who may not print or revoke a card for the Xiushan household: another community's steward, staff who
# may read but not act (agent, official), a field worker of another district, and residents and family.
XIUSHAN_OUTSIDERS = [
    STEWARD_YUEYANG,
    STEWARD_ZHUJIAJIAO,
    AGENT_NANNING,
    OFFICIAL_XIUSHAN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_XIUSHAN,
    RESIDENT_JINGJU,
    FAMILY_OF_XIUSHAN,
]


@pytest.mark.parametrize("phone", XIUSHAN_OUTSIDERS)
async def test_others_cannot_issue_cards_for_the_household(gql, db, phone):
    household_id, person_id = await xiushan_household(gql)
    someone = await login_demo(gql, phone)
    await assert_refused_and_nothing_written(
        db,
        lambda: someone(
            ISSUE_LOGIN_CARD, {"householdId": household_id, "personId": person_id}, expect_errors=True
        ),
    )
    await assert_refused_and_nothing_written(
        db, lambda: someone(LOGIN_CARDS, {"householdId": household_id}, expect_errors=True)
    )


@pytest.mark.parametrize("phone", [FIELD_ZHUJIAJIAO, OFFICIAL_ZHUJIAJIAO])
async def test_staff_who_only_read_cannot_issue_cards_in_their_own_district(gql, db, phone):
    # Given a household the field worker and the street official can see
    household_id, person_id = await zhujiajiao_household(gql)
    someone = await login_demo(gql, phone)
    # Then they still cannot print a card for it
    await assert_refused_and_nothing_written(
        db,
        lambda: someone(
            ISSUE_LOGIN_CARD, {"householdId": household_id, "personId": person_id}, expect_errors=True
        ),
    )


@pytest.mark.parametrize("phone", XIUSHAN_OUTSIDERS)
async def test_others_cannot_revoke_the_households_cards(gql, db, phone):
    # Given a card the Xiushan steward printed
    household_id, person_id = await xiushan_household(gql)
    issued = await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id)
    someone = await login_demo(gql, phone)
    # When someone else tries to revoke it
    await assert_refused_and_nothing_written(
        db, lambda: someone(REVOKE_LOGIN_CARD, {"id": issued["card"]["id"]}, expect_errors=True)
    )
    # Then the card still works
    assert (await login_with_card(gql, token_of(issued)))["__typename"] == "LoggedIn"


async def test_anonymous_cannot_issue_cards(gql, db):
    household_id, person_id = await xiushan_household(gql)
    await assert_refused_and_nothing_written(
        db,
        lambda: gql(
            ISSUE_LOGIN_CARD, {"householdId": household_id, "personId": person_id}, expect_errors=True
        ),
    )
