"""Stewards add people to the homes they serve and take them off: a person added by phone lands in their home
on their first SMS login; bad input is a translated error that changes nothing; strangers are told NotFound."""

from __future__ import annotations

from sqlalchemy import func, select

from laoyou.accounts.models import AuditEvent, Person, RoleGrant

from ..accounts.helpers import e164, login_new_person
from ..conftest import (
    ADMIN,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)

ERROR = "... on EstatesError { code field message }"
ADD_RESIDENT = f"""
mutation ($h: ID!, $name: String!, $phone: String!, $relation: ResidentRelation!) {{
  addResident(householdId: $h, name: $name, phone: $phone, relation: $relation) {{
    ... on HouseholdSaved {{ household {{ id members {{ id name maskedPhone }} }} }} {ERROR}
  }}
}}
"""
REMOVE_RESIDENT = f"""
mutation ($h: ID!, $p: ID!) {{
  removeResident(householdId: $h, personId: $p) {{
    ... on HouseholdSaved {{ household {{ id members {{ id name }} }} }} {ERROR}
  }}
}}
"""
MY_HOUSEHOLDS = "query { viewer { households { id } } }"
NEW_PHONE = "139 0000 1234"


async def xiushan_home(gql) -> str:  # noqa: ANN001
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    return (await resident(MY_HOUSEHOLDS))["data"]["viewer"]["households"][0]["id"]


async def counts(db) -> tuple[int, int, int]:  # noqa: ANN001
    live = select(func.count()).select_from(RoleGrant).where(RoleGrant.revoked_at.is_(None))
    return (
        (await db.execute(select(func.count()).select_from(Person))).scalar_one(),
        (await db.execute(live)).scalar_one(),
        (
            await db.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("resident.%"))
            )
        ).scalar_one(),
    )


async def grants_of(db, phone: str) -> list[RoleGrant]:  # noqa: ANN001
    person = (await db.execute(select(Person).where(Person.phone == e164(phone)))).scalar_one()
    rows = await db.execute(select(RoleGrant).where(RoleGrant.person_id == person.id))
    return list(rows.scalars())


async def refused(client, query: str, variables: dict) -> list[str]:  # noqa: ANN001
    answer = await client(query, variables, expect_errors=True)
    assert answer["errors"], answer
    assert not any((answer.get("data") or {}).values()), answer
    return [e["message"] for e in answer["errors"]]


async def test_a_steward_adds_an_owner_whose_first_sms_login_lands_at_home(gql, app, db):
    home = await xiushan_home(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    saved = (
        await steward(ADD_RESIDENT, {"h": home, "name": "钱大爷", "phone": NEW_PHONE, "relation": "OWNER"})
    )["data"]["addResident"]
    assert "钱大爷" in [m["name"] for m in saved["household"]["members"]]
    [grant] = await grants_of(db, NEW_PHONE)
    assert (grant.role, grant.tenure, grant.revoked_at) == ("resident", "owner", None)

    newcomer = await login_new_person(gql, app, NEW_PHONE)
    assert [h["id"] for h in (await newcomer(MY_HOUSEHOLDS))["data"]["viewer"]["households"]] == [home]


async def test_family_is_added_as_family_and_an_existing_person_keeps_their_name(gql, app, db):
    home = await xiushan_home(gql)
    admin = await login_demo(gql, ADMIN)
    saved = (
        await admin(ADD_RESIDENT, {"h": home, "name": "李某", "phone": RESIDENT_JINGJU, "relation": "FAMILY"})
    )["data"]["addResident"]
    assert "household" in saved, saved
    grants = [g for g in await grants_of(db, RESIDENT_JINGJU) if g.role == "family"]
    assert [(g.tenure, g.revoked_at) for g in grants] == [(None, None)]
    person = (await db.execute(select(Person).where(Person.phone == e164(RESIDENT_JINGJU)))).scalar_one()
    assert person.name != "李某"


async def test_a_steward_removes_a_resident_who_loses_the_home_at_once(gql, app, db):
    home = await xiushan_home(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    await steward(ADD_RESIDENT, {"h": home, "name": "孙阿姨", "phone": NEW_PHONE, "relation": "TENANT"})
    tenant = await login_new_person(gql, app, NEW_PHONE)
    assert (await tenant(MY_HOUSEHOLDS))["data"]["viewer"]["households"]
    [grant] = await grants_of(db, NEW_PHONE)
    assert grant.tenure == "tenant"

    saved = (await steward(REMOVE_RESIDENT, {"h": home, "p": str(grant.person_id)}))["data"]["removeResident"]
    assert "孙阿姨" not in [m["name"] for m in saved["household"]["members"]]
    assert (await tenant(MY_HOUSEHOLDS))["data"]["viewer"]["households"] == []
    actions = (
        await db.execute(select(AuditEvent.action).where(AuditEvent.action.like("resident.%")))
    ).scalars()
    assert sorted(actions) == ["resident.add", "resident.remove"]
    # Taken off once is taken off: a second removal finds nothing.
    assert await refused(steward, REMOVE_RESIDENT, {"h": home, "p": str(grant.person_id)}) == ["Not found."]


async def test_mistakes_are_translated_errors_that_change_nothing(gql, db):
    home = await xiushan_home(gql)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    steward.language = "zh-CN"
    before = await counts(db)
    person = {"h": home, "name": "钱大爷", "phone": NEW_PHONE, "relation": "OWNER"}
    cases = [
        ({**person, "phone": "12345"}, "INVALID_PHONE", "phone"),
        ({**person, "name": "  "}, "INVALID", "name"),
        ({**person, "name": "钱" * 51}, "INVALID", "name"),
        ({**person, "phone": RESIDENT_XIUSHAN}, "ALREADY_EXISTS", "phone"),
    ]
    for variables, code, field in cases:
        error = (await steward(ADD_RESIDENT, variables))["data"]["addResident"]
        assert (error["code"], error["field"]) == (code, field), variables
        assert not error["message"].isascii(), error
    assert await counts(db) == before


async def test_strangers_cannot_add_or_remove_residents(gql, db):
    home = await xiushan_home(gql)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    me = (await resident("query { viewer { person { id } } }"))["data"]["viewer"]["person"]["id"]
    before = await counts(db)
    attempts = [
        (ADD_RESIDENT, {"h": home, "name": "伪造", "phone": NEW_PHONE, "relation": "OWNER"}),
        (REMOVE_RESIDENT, {"h": home, "p": me}),
    ]
    for phone in (STEWARD_ZHUJIAJIAO, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, RESIDENT_JINGJU):
        stranger = await login_demo(gql, phone)
        for query, variables in attempts:
            assert await refused(stranger, query, variables), (phone, query)
    stranger = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    for query, variables in attempts:
        assert await refused(stranger, query, variables) == ["Not found."], query
    assert await counts(db) == before
