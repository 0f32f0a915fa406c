"""Password setup: the admin issues a one-time link, valid 24 hours; the new staff member sets a password with it
once, and every session they had ends; a used, replaced or expired link is a translated error that changes
nothing; the issue and the use are audited on the person's page; nobody but the admin issues links."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

from sqlalchemy import func, select, update

from laoyou.accounts.models import AuditEvent, AuthSession, PasswordSetup, Person
from laoyou.core.time import utcnow

from ..conftest import ADMIN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_ZHUJIAJIAO, login_demo
from .helpers import VIEWER
from .test_password_login import LOGIN_WITH_PASSWORD
from .test_staff_roles import STAFF_PERSON, refused

ISSUE = """
mutation ($id: ID!) {
  issuePasswordSetup(personId: $id) {
    __typename ... on PasswordSetupIssued { url expiresAt } ... on PasswordSetupError { code field message }
  }
}
"""
SET = """
mutation ($token: String!, $password: String!) {
  setPasswordWithToken(token: $token, password: $password) {
    __typename ... on PasswordSet { name } ... on PasswordSetupError { code field message }
  }
}
"""
PASSWORD = "老友记-新密码-2026"


async def issue(admin, person_id: str) -> str:  # noqa: ANN001
    issued = (await admin(ISSUE, {"id": person_id}))["data"]["issuePasswordSetup"]
    assert issued["__typename"] == "PasswordSetupIssued", issued
    url = urlparse(issued["url"])
    assert url.path == "/password/set"
    return parse_qs(url.query)["token"][0]


async def set_password(gql, token: str, password: str = PASSWORD) -> dict:  # noqa: ANN001
    return (await gql(SET, {"token": token, "password": password}))["data"]["setPasswordWithToken"]


async def steward_id(gql) -> str:  # noqa: ANN001
    return (await (await login_demo(gql, STEWARD_XIUSHAN))(VIEWER))["data"]["viewer"]["person"]["id"]


async def state(db) -> tuple:  # noqa: ANN001
    """What a refused attempt must leave alone: passwords, links, live sessions and staff audit lines."""
    hashes = (await db.execute(select(Person.password_hash).order_by(Person.id))).scalars().all()
    setups = (await db.execute(select(PasswordSetup.used_at, PasswordSetup.revoked_at))).all()
    live = await db.scalar(
        select(func.count()).select_from(AuthSession).where(AuthSession.revoked_at.is_(None))
    )
    lines = await db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("staff.%"))
    )
    return hashes, setups, live, lines


async def test_the_new_staff_member_sets_a_password_once_and_logs_in_with_it(gql):
    admin = await login_demo(gql, ADMIN)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    person = await steward_id(gql)
    token = await issue(admin, person)
    assert await set_password(gql.as_token(None), token) == {"__typename": "PasswordSet", "name": "张建国"}
    # Every session they held ends, an old password's included.
    assert (await steward(VIEWER))["data"]["viewer"]["person"] is None
    logged_in = (await gql(LOGIN_WITH_PASSWORD, {"phone": STEWARD_XIUSHAN, "password": PASSWORD}))["data"]
    assert logged_in["loginWithPassword"]["__typename"] == "LoggedIn"

    page = (await admin(STAFF_PERSON, {"id": person}))["data"]["staffPerson"]
    assert page["hasPassword"] is True
    assert [line["action"] for line in page["audit"]][:2] == ["staff.password_set", "staff.password_setup"]
    assert page["audit"][1]["byName"] == "老友管理员"


async def test_used_replaced_and_expired_links_fail_and_change_nothing(gql, db):
    admin = await login_demo(gql, ADMIN)
    anonymous = gql.as_token(None)
    anonymous.language = "zh-CN"
    person = await steward_id(gql)

    used = await issue(admin, person)
    assert (await set_password(anonymous, used))["__typename"] == "PasswordSet"
    replaced = await issue(admin, person)
    expired = await issue(admin, person)  # replaces the one before
    await db.execute(
        update(PasswordSetup)
        .where(PasswordSetup.used_at.is_(None), PasswordSetup.revoked_at.is_(None))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    before = await state(db)
    for token in (used, replaced, expired, "forged"):
        error = await set_password(anonymous, token, "另一个足够长的新密码")
        assert (error["code"], error["field"]) == ("INVALID_CARD", "token"), error
        assert error["message"] == "这个链接已经失效。请向办公室要一个新的。"
    assert await state(db) == before


async def test_a_short_password_is_refused_and_the_link_still_works(gql, db):
    admin = await login_demo(gql, ADMIN)
    token = await issue(admin, await steward_id(gql))
    before = await state(db)
    error = await set_password(gql.as_token(None), token, "short")
    assert (error["code"], error["field"]) == ("INVALID", "password")
    assert await state(db) == before
    assert (await set_password(gql.as_token(None), token))["__typename"] == "PasswordSet"


async def test_nobody_but_the_admin_issues_a_link(gql, db):
    person = await steward_id(gql)
    clients = [
        await login_demo(gql, STEWARD_ZHUJIAJIAO),
        await login_demo(gql, STEWARD_XIUSHAN),
        await login_demo(gql, RESIDENT_XIUSHAN),
        gql.as_token(None),
    ]
    before = await state(db)
    for client in clients:
        assert await refused(client, ISSUE, {"id": person})
    assert await state(db) == before


async def test_the_admin_issues_links_for_staff_only(gql):
    admin = await login_demo(gql, ADMIN)
    resident = (await (await login_demo(gql, RESIDENT_XIUSHAN))(VIEWER))["data"]["viewer"]["person"]["id"]
    assert await refused(admin, ISSUE, {"id": resident}) == ["Not found."]
