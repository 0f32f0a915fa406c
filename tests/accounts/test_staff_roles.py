"""Staff roles: the operator's admin grants and revokes them; a revoked person's live session loses the role at
once; every grant and revocation is audited on the person's page; nobody else may use any of it."""

from __future__ import annotations

from sqlalchemy import func, select

from laoyou.accounts.models import AuditEvent, Person, RoleGrant

from ..conftest import ADMIN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_ZHUJIAJIAO, login_demo
from .helpers import VIEWER

ERROR = "... on StaffRoleError { code field message }"
GRANT_FIELDS = "id role district { id name } community { id name } grantedAt revokedAt"
MEMBER_FIELDS = f"id name phone hasPassword grants {{ {GRANT_FIELDS} }}"
GRANT = f"""
mutation ($input: StaffGrantInput!) {{
  grantStaffRole(input: $input) {{
    __typename ... on StaffRoleSaved {{ grant {{ {GRANT_FIELDS} }} staffMember {{ {MEMBER_FIELDS} }} }} {ERROR}
  }}
}}
"""
REVOKE = f"""
mutation ($id: ID!) {{
  revokeStaffRole(grantId: $id) {{
    __typename ... on StaffRoleSaved {{ grant {{ {GRANT_FIELDS} }} staffMember {{ {MEMBER_FIELDS} }} }} {ERROR}
  }}
}}
"""
STAFF_PEOPLE = f"query {{ staffPeople {{ {MEMBER_FIELDS} }} }}"
STAFF_PERSON = f"""
query ($id: ID!) {{ staffPerson(id: $id) {{ {MEMBER_FIELDS} audit {{ action at detail byName }} }} }}
"""
COMMUNITIES = "query { communities(first: 100) { nodes { id name district { id name } } } }"
NEW_PHONE = "139 8765 4321"


async def xiushan(admin) -> dict:  # noqa: ANN001
    nodes = (await admin(COMMUNITIES))["data"]["communities"]["nodes"]
    return next(c for c in nodes if c["name"] == "秀山花园")


async def counts(db) -> dict[str, int]:  # noqa: ANN001
    """People, grants, revoked grants and staff audit lines (logins audit themselves, so the rest is left out)."""

    async def count(model, *where) -> int:  # noqa: ANN001, ANN002
        return (await db.execute(select(func.count()).select_from(model).where(*where))).scalar_one()

    return {
        "people": await count(Person),
        "grants": await count(RoleGrant),
        "revoked": await count(RoleGrant, RoleGrant.revoked_at.is_not(None)),
        "audit": await count(AuditEvent, AuditEvent.action.like("staff.%")),
    }


async def refused(client, query: str, variables: dict) -> list[str]:  # noqa: ANN001
    answer = await client(query, variables, expect_errors=True)
    assert answer["errors"], answer
    assert not any((answer.get("data") or {}).values()), answer
    return [e["message"] for e in answer["errors"]]


async def test_the_admin_grants_a_community_steward_and_revokes_the_role(gql):
    admin = await login_demo(gql, ADMIN)
    community = await xiushan(admin)
    saved = (
        await admin(
            GRANT,
            {
                "input": {
                    "phone": NEW_PHONE,
                    "name": "钱新",
                    "role": "steward",
                    "communityId": community["id"],
                }
            },
        )
    )["data"]["grantStaffRole"]
    assert saved["__typename"] == "StaffRoleSaved", saved
    grant, member = saved["grant"], saved["staffMember"]
    assert grant["role"] == "steward" and grant["community"]["id"] == community["id"]
    assert grant["district"]["id"] == community["district"]["id"] and grant["revokedAt"] is None
    assert member["name"] == "钱新" and member["phone"] == "13987654321" and member["hasPassword"] is False

    listed = (await admin(STAFF_PEOPLE))["data"]["staffPeople"]
    assert member["id"] in [p["id"] for p in listed]

    revoked = (await admin(REVOKE, {"id": grant["id"]}))["data"]["revokeStaffRole"]
    assert revoked["grant"]["revokedAt"] is not None
    listed = (await admin(STAFF_PEOPLE))["data"]["staffPeople"]
    assert member["id"] not in [p["id"] for p in listed]

    page = (await admin(STAFF_PERSON, {"id": member["id"]}))["data"]["staffPerson"]
    assert [g["revokedAt"] is not None for g in page["grants"]] == [True]
    assert [line["action"] for line in page["audit"]] == ["staff.revoke", "staff.grant"]
    assert all(line["byName"] == "老友管理员" for line in page["audit"])
    assert f"grant:{grant['id']} steward community:{community['id']}" in page["audit"][0]["detail"]


async def test_a_district_role_for_an_existing_person_keeps_their_name(gql):
    admin = await login_demo(gql, ADMIN)
    community = await xiushan(admin)
    saved = (
        await admin(
            GRANT,
            {
                "input": {
                    "phone": STEWARD_XIUSHAN,
                    "name": "别的名字",
                    "role": "agent",
                    "districtId": community["district"]["id"],
                }
            },
        )
    )["data"]["grantStaffRole"]
    assert saved["__typename"] == "StaffRoleSaved", saved
    assert saved["staffMember"]["name"] == "张建国"
    assert sorted(g["role"] for g in saved["staffMember"]["grants"]) == ["agent", "steward"]


async def test_a_revoked_steward_loses_the_role_in_the_session_they_hold(gql):
    admin = await login_demo(gql, ADMIN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    assert (await steward(VIEWER))["data"]["viewer"]["isStaff"] is True
    me = (await steward(VIEWER))["data"]["viewer"]["person"]["id"]
    grants = (await admin(STAFF_PERSON, {"id": me}))["data"]["staffPerson"]["grants"]
    for grant in grants:
        await admin(REVOKE, {"id": grant["id"]})
    viewer = (await steward(VIEWER))["data"]["viewer"]
    assert viewer["person"]["id"] == me and viewer["isStaff"] is False and viewer["roles"] == []


async def test_mistakes_are_translated_errors_that_change_nothing(gql, db):
    admin = await login_demo(gql, ADMIN)
    admin.language = "zh-CN"
    community = await xiushan(admin)
    district = community["district"]["id"]
    before = await counts(db)
    cases = [
        ({"phone": NEW_PHONE, "name": "钱新", "role": "admin", "districtId": district}, "INVALID", "role"),
        ({"phone": NEW_PHONE, "name": "钱新", "role": "resident", "districtId": district}, "INVALID", "role"),
        (
            {"phone": "12345", "name": "钱新", "role": "steward", "districtId": district},
            "INVALID_PHONE",
            "phone",
        ),
        ({"phone": NEW_PHONE, "name": " ", "role": "steward", "districtId": district}, "INVALID", "name"),
        ({"phone": NEW_PHONE, "name": "钱新", "role": "steward"}, "INVALID", "scope"),
        (
            {"phone": NEW_PHONE, "name": "钱新", "role": "field_staff", "communityId": community["id"]},
            "INVALID",
            "scope",
        ),
        (
            {"phone": STEWARD_XIUSHAN, "name": "张建国", "role": "steward", "communityId": community["id"]},
            "ALREADY_EXISTS",
            "role",
        ),
    ]
    english = {
        "INVALID_PHONE": "Please enter a valid mobile number.",
        "ALREADY_EXISTS": "This person already has this role here.",
    }
    for variables, code, field in cases:
        error = (await admin(GRANT, {"input": variables}))["data"]["grantStaffRole"]
        assert (error["code"], error["field"]) == (code, field), (variables, error)
        assert error["message"] and error["message"] != english.get(code), error
    assert await counts(db) == before


async def test_revoking_twice_is_an_error(gql):
    admin = await login_demo(gql, ADMIN)
    community = await xiushan(admin)
    saved = (
        await admin(
            GRANT,
            {
                "input": {
                    "phone": NEW_PHONE,
                    "name": "钱新",
                    "role": "official",
                    "districtId": community["district"]["id"],
                }
            },
        )
    )["data"]["grantStaffRole"]
    await admin(REVOKE, {"id": saved["grant"]["id"]})
    again = (await admin(REVOKE, {"id": saved["grant"]["id"]}))["data"]["revokeStaffRole"]
    assert again["code"] == "NOT_ALLOWED"


async def test_nobody_but_the_admin_uses_any_staff_operation(gql, db):
    admin = await login_demo(gql, ADMIN)
    community = await xiushan(admin)
    steward_id = (await (await login_demo(gql, STEWARD_XIUSHAN))(VIEWER))["data"]["viewer"]["person"]["id"]
    grant_id = (await admin(STAFF_PERSON, {"id": steward_id}))["data"]["staffPerson"]["grants"][0]["id"]
    before = await counts(db)
    grant = {"input": {"phone": NEW_PHONE, "name": "钱新", "role": "steward", "communityId": community["id"]}}
    for client in (
        await login_demo(gql, STEWARD_ZHUJIAJIAO),
        await login_demo(gql, STEWARD_XIUSHAN),
        await login_demo(gql, RESIDENT_XIUSHAN),
        gql.as_token(None),
    ):
        assert await refused(client, GRANT, grant)
        assert await refused(client, REVOKE, {"id": grant_id})
        assert await refused(client, STAFF_PEOPLE, {})
        assert await refused(client, STAFF_PERSON, {"id": steward_id})
    assert await counts(db) == before
