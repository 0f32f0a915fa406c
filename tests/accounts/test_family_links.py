"""Family links: a family member asks by the resident's phone, the resident decides, either side may end it."""

from __future__ import annotations

import pytest

from laoyou.accounts.models import FamilyLink, Notification, RoleGrant

from ..conftest import (
    FAMILY_OF_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    login_demo,
)
from .helpers import count_rows, login_new_person

REQUEST_FAMILY_LINK = """
mutation ($phone: String!, $relation: String!) {
  requestFamilyLink(phone: $phone, relation: $relation) {
    __typename
    ... on FamilyLinkRequested { message }
    ... on Error { field message code }
  }
}
"""
RESPOND_FAMILY_LINK = """
mutation ($id: ID!, $accept: Boolean!) {
  respondFamilyLink(id: $id, accept: $accept) {
    __typename
    ... on FamilyLinkUpdated { link { id status } }
    ... on Error { field message code }
  }
}
"""
REMOVE_FAMILY_LINK = """
mutation ($id: ID!) {
  removeFamilyLink(id: $id) {
    __typename
    ... on FamilyLinkUpdated { link { id status } }
    ... on Error { field message code }
  }
}
"""
FAMILY_VIEW = """
query {
  viewer {
    unreadNotifications
    notifications(first: 5) { title link read }
    households { id address }
    roles { role householdId }
    familyLinks { id status relation isMine familyMemberName familyMemberMaskedPhone household { id } }
  }
}
"""
SON_PHONE = "13912345000"


async def view(client) -> dict:  # noqa: ANN001
    return (await client(FAMILY_VIEW))["data"]["viewer"]


async def ask(client, phone: str = RESIDENT_XIUSHAN, relation: str = "女儿") -> dict:  # noqa: ANN001
    return (await client(REQUEST_FAMILY_LINK, {"phone": phone, "relation": relation}))["data"][
        "requestFamilyLink"
    ]


async def respond(client, link_id: str, accept: bool, **kw) -> dict:  # noqa: ANN001, ANN003
    return await client(RESPOND_FAMILY_LINK, {"id": link_id, "accept": accept}, **kw)


async def remove(client, link_id: str, **kw) -> dict:  # noqa: ANN001, ANN003
    return await client(REMOVE_FAMILY_LINK, {"id": link_id}, **kw)


@pytest.fixture
async def daughter(gql, app):  # noqa: ANN001, ANN201
    """A new person, no roles yet, logged in by SMS code."""
    return await login_new_person(gql, app, SON_PHONE)


@pytest.fixture
async def resident(gql):  # noqa: ANN001, ANN201
    """The demo resident of Xiushan Garden, who chose English so that titles can be compared."""
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await resident('mutation { updatePreferences(language: "en") { __typename } }')
    return resident


async def pending_link(resident) -> dict:  # noqa: ANN001
    return next(link for link in (await view(resident))["familyLinks"] if link["status"] == "pending")


async def test_request_notifies_the_resident(daughter, resident):
    # Given the resident's unread count
    before = (await view(resident))["unreadNotifications"]
    # When a family member asks by the resident's phone
    answer = await ask(daughter, "138 0000 0001")
    # Then the answer is the neutral one
    assert answer == {
        "__typename": "FamilyLinkRequested",
        "message": "If this number belongs to a resident, they will see your request on their phone.",
    }
    # And the resident has one more unread notification, telling who asks, without their full number
    seen = await view(resident)
    assert seen["unreadNotifications"] == before + 1
    assert seen["notifications"][0] == {
        "title": "139****5000 asks to join your household as family",
        "link": "/family",
        "read": False,
    }
    # And sees the pending request to decide on
    link = await pending_link(resident)
    assert link["isMine"] is False
    assert link["relation"] == "女儿"
    assert link["familyMemberMaskedPhone"] == "139****5000"
    # And the family member sees their own request, but not the household yet
    mine = (await view(daughter))["familyLinks"]
    assert [(m["status"], m["isMine"], m["household"]) for m in mine] == [("pending", True, None)]
    assert (await view(daughter))["households"] == []


async def test_notification_is_in_the_residents_language_not_the_askers(gql, daughter, monkeypatch):
    # Given a resident who never chose a language, and a catalog that translates the notification
    from laoyou.core import i18n

    chinese = {"%(name)s asks to join your household as family": "%(name)s 请求作为家人关注您家"}
    monkeypatch.setattr(i18n, "_catalog", lambda language: chinese if language == "zh_CN" else {})
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    # When a family member whose phone is in English asks
    assert daughter.language == "en"
    await ask(daughter)
    # Then the resident reads it in the default language (Chinese), not in the asker's
    assert (await view(resident))["notifications"][0]["title"] == "139****5000 请求作为家人关注您家"


async def test_accepted_link_shows_the_household(daughter, resident):
    # Given a request
    await ask(daughter)
    link = await pending_link(resident)
    # When the resident accepts
    result = (await respond(resident, link["id"], True))["data"]["respondFamilyLink"]
    assert result == {"__typename": "FamilyLinkUpdated", "link": {"id": link["id"], "status": "accepted"}}
    # Then the family member sees the household, as family
    seen = await view(daughter)
    household = (await view(resident))["households"][0]
    assert seen["households"] == [household]
    assert seen["roles"] == [{"role": "family", "householdId": household["id"]}]
    assert seen["familyLinks"][0]["household"] == {"id": household["id"]}
    # And is told so
    assert seen["unreadNotifications"] == 1
    assert seen["notifications"][0]["title"] == "Your family link was accepted"
    # And the request cannot be answered twice
    again = (await respond(resident, link["id"], False))["data"]["respondFamilyLink"]
    assert (again["__typename"], again["code"]) == ("FamilyLinkError", "NOT_ALLOWED")


async def test_declined_link_gives_nothing(daughter, resident, db):
    await ask(daughter)
    link = await pending_link(resident)
    result = (await respond(resident, link["id"], False))["data"]["respondFamilyLink"]
    assert result["link"]["status"] == "declined"
    seen = await view(daughter)
    assert seen["households"] == [] and seen["roles"] == [] and seen["familyLinks"] == []
    assert (
        await count_rows(db, RoleGrant, RoleGrant.role == "family", RoleGrant.revoked_at.is_(None)) == 1
    )  # the demo son's


@pytest.mark.parametrize("side", ["resident", "family"])
async def test_either_side_removes_the_link_and_access_ends_at_once(daughter, resident, side):
    # Given an accepted link, and the household id the family member can open
    await ask(daughter)
    link = await pending_link(resident)
    await respond(resident, link["id"], True)
    household_id = (await view(daughter))["households"][0]["id"]
    query = "query ($id: ID!) { household(id: $id) { headName } }"
    assert (await daughter(query, {"id": household_id}))["data"]["household"]["headName"] == "王秀英"
    # When one side removes it
    remover = resident if side == "resident" else daughter
    result = (await remove(remover, link["id"]))["data"]["removeFamilyLink"]
    assert result["link"]["status"] == "removed"
    # Then the family member, with the same session, no longer sees the household
    seen = await view(daughter)
    assert seen["households"] == [] and seen["roles"] == []
    denied = await daughter(query, {"id": household_id}, expect_errors=True)
    assert denied["data"] is None and denied["errors"][0]["message"] == "Not found."
    # And the link cannot be removed twice
    again = (await remove(resident, link["id"]))["data"]["removeFamilyLink"]
    assert again["code"] == "NOT_ALLOWED"


async def test_a_pending_request_can_be_withdrawn(daughter, resident):
    await ask(daughter)
    link = await pending_link(resident)
    assert (await remove(daughter, link["id"]))["data"]["removeFamilyLink"]["link"]["status"] == "removed"
    assert [link_["status"] for link_ in (await view(resident))["familyLinks"]] == [
        "accepted"
    ]  # only the demo son's


@pytest.mark.parametrize("stranger_phone", [RESIDENT_JINGJU, STEWARD_XIUSHAN, FAMILY_OF_XIUSHAN])
async def test_a_stranger_cannot_answer_or_remove_a_link(gql, daughter, resident, db, stranger_phone):
    # Given a pending request and an accepted one
    await ask(daughter)
    pending = await pending_link(resident)
    accepted = next(link for link in (await view(resident))["familyLinks"] if link["status"] == "accepted")
    # When someone who is neither side (another resident, the steward, a family member of the same household) tries
    stranger = await login_demo(gql, stranger_phone)
    attempts = [
        await respond(stranger, pending["id"], True, expect_errors=True),
        await respond(stranger, pending["id"], False, expect_errors=True),
        await remove(stranger, pending["id"], expect_errors=True),
    ]
    if stranger_phone != FAMILY_OF_XIUSHAN:  # the demo son may end his own accepted link
        attempts.append(await remove(stranger, accepted["id"], expect_errors=True))
    # Then each is a top-level "Not found." and nothing changed
    for attempt in attempts:
        assert attempt["data"] is None
        assert attempt["errors"][0]["message"] == "Not found."
    assert {(link["id"], link["status"]) for link in (await view(resident))["familyLinks"]} == {
        (pending["id"], "pending"),
        (accepted["id"], "accepted"),
    }


async def test_the_family_member_cannot_accept_their_own_request(daughter, resident):
    await ask(daughter)
    link = await pending_link(resident)
    result = await respond(daughter, link["id"], True, expect_errors=True)
    assert result["data"] is None and result["errors"][0]["message"] == "Not found."
    assert (await view(daughter))["households"] == []


@pytest.mark.parametrize("phone", ["13912399999", STEWARD_XIUSHAN])
async def test_unregistered_or_non_resident_numbers_get_the_same_answer(daughter, resident, db, phone):
    # Given the answer for a resident's number
    reference = await ask(daughter)
    links, notifications = await count_rows(db, FamilyLink), await count_rows(db, Notification)
    # When the number is nobody's, or belongs to someone who is not a resident
    answer = await ask(daughter, phone)
    # Then the answer is identical and nothing is written
    assert answer == reference
    assert await count_rows(db, FamilyLink) == links
    assert await count_rows(db, Notification) == notifications


async def test_asking_twice_makes_one_request(daughter, resident, db):
    await ask(daughter)
    await ask(daughter)
    assert len([link for link in (await view(resident))["familyLinks"] if link["status"] == "pending"]) == 1


async def test_asking_for_your_own_household_makes_no_request(gql, resident, db):
    # The demo son already follows his mother's household
    son = await login_demo(gql, FAMILY_OF_XIUSHAN)
    links = await count_rows(db, FamilyLink)
    assert (await ask(son))["__typename"] == "FamilyLinkRequested"
    assert await count_rows(db, FamilyLink) == links


@pytest.mark.parametrize(
    "phone, relation, field",
    [("12345", "女儿", "phone"), (SON_PHONE, "女儿", "phone"), (RESIDENT_XIUSHAN, "长" * 31, "relation")],
)
async def test_mistakes_are_payload_errors(daughter, db, phone, relation, field):
    links = await count_rows(db, FamilyLink)
    result = await ask(daughter, phone, relation)
    assert (result["__typename"], result["field"]) == ("FamilyLinkError", field)
    assert await count_rows(db, FamilyLink) == links


async def test_anonymous_cannot_ask(gql, db):
    result = await gql(REQUEST_FAMILY_LINK, {"phone": RESIDENT_XIUSHAN, "relation": ""}, expect_errors=True)
    assert result["data"] is None and result["errors"][0]["message"] == "Please log in first."
