"""A staff member sets their own password with a code texted to their work phone: new staff who have none, and a
reset for those who forgot it. The answer to the request is the same for any number; whether a number is
staff's shows only after the code; wrong, expired and overused codes fail; a login code is no password code;
every session ends on a reset; the admin sees it in the person's history; the admin's own password is not
reset this way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from laoyou.accounts.models import LoginCode, Person
from laoyou.core.time import utcnow

from ..conftest import ADMIN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from ..web.conftest import csrf_in
from .helpers import VIEWER, e164, login_with_code, request_code, sent_code, wrong_code
from .test_password_login import LOGIN_WITH_PASSWORD
from .test_password_setup import state, steward_id
from .test_staff_roles import GRANT, STAFF_PERSON, xiushan

REQUEST = """
mutation ($phone: String!) {
  requestPasswordCode(phone: $phone) {
    __typename
    ... on LoginCodeSent { maskedPhone expiresInSeconds resendAfterSeconds }
    ... on PasswordSetupError { code field message }
  }
}
"""
SET = """
mutation ($phone: String!, $code: String!, $password: String!) {
  setPasswordWithCode(phone: $phone, code: $code, password: $password) {
    __typename ... on PasswordSet { name } ... on PasswordSetupError { code field message }
  }
}
"""
PASSWORD = "老友记-短信密码-2026"
NEW_STAFF = "13987650001"


async def ask(gql, phone: str) -> dict:  # noqa: ANN001
    return (await gql(REQUEST, {"phone": phone}))["data"]["requestPasswordCode"]


async def set_with(gql, phone: str, code: str, password: str = PASSWORD) -> dict:  # noqa: ANN001
    return (await gql(SET, {"phone": phone, "code": code, "password": password}))["data"][
        "setPasswordWithCode"
    ]


async def texted(gql, app, phone: str) -> str:  # noqa: ANN001
    sent = await ask(gql, phone)
    assert sent["__typename"] == "LoginCodeSent", sent
    return sent_code(app, phone)


async def password_login(gql, phone: str, password: str = PASSWORD) -> str:  # noqa: ANN001
    answer = (await gql(LOGIN_WITH_PASSWORD, {"phone": phone, "password": password}))["data"]
    return answer["loginWithPassword"]["__typename"]


async def test_new_staff_set_their_first_password_with_a_code_and_the_admin_sees_it(gql, app):
    # Given a steward the admin has just given a role, with no password yet
    admin = await login_demo(gql, ADMIN)
    community = await xiushan(admin)
    granted = await admin(
        GRANT,
        {"input": {"phone": NEW_STAFF, "name": "钱新", "role": "steward", "communityId": community["id"]}},
    )
    person = granted["data"]["grantStaffRole"]["staffMember"]
    assert person["hasPassword"] is False
    anyone = gql.as_token(None)
    # When they ask for a code on their own phone, and set a password with it
    code = await texted(anyone, app, NEW_STAFF)
    assert "Your code to set your staff password" in app.state.sms.last_to(
        e164(NEW_STAFF)
    )  # its own wording, not a login code's
    assert await set_with(anyone, NEW_STAFF, code) == {"__typename": "PasswordSet", "name": "钱新"}
    # Then they log in with it, and the admin sees it in the person's history
    assert await password_login(anyone, NEW_STAFF) == "LoggedIn"
    page = (await admin(STAFF_PERSON, {"id": person["id"]}))["data"]["staffPerson"]
    assert page["hasPassword"] is True
    assert (
        page["audit"][0]["action"] == "staff.password_sms" and page["audit"][0]["detail"] == "first password"
    )


async def test_a_reset_ends_every_session_and_the_old_password(gql, app):
    # Given a steward logged in on some phone, with the demo's password
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    person = await steward_id(gql)
    anyone = gql.as_token(None)
    # When they reset the password with a texted code
    code = await texted(anyone, app, STEWARD_XIUSHAN)
    assert (await set_with(anyone, STEWARD_XIUSHAN, code))["__typename"] == "PasswordSet"
    # Then the open session has ended, the old password no longer works and the new one does
    assert (await steward(VIEWER))["data"]["viewer"]["person"] is None
    assert await password_login(anyone, STEWARD_XIUSHAN, "laoyou-demo-2026") == "LoginError"
    assert await password_login(anyone, STEWARD_XIUSHAN) == "LoggedIn"
    admin = await login_demo(gql, ADMIN)
    audit = (await admin(STAFF_PERSON, {"id": person}))["data"]["staffPerson"]["audit"]
    assert (audit[0]["action"], audit[0]["detail"]) == ("staff.password_sms", "reset")


async def test_wrong_expired_and_overused_codes_fail_and_change_nothing(gql, app, db):
    anyone = gql.as_token(None)
    code = await texted(anyone, app, STEWARD_XIUSHAN)
    before = await state(db)
    # A wrong code says how many tries are left
    wrong = await set_with(anyone, STEWARD_XIUSHAN, wrong_code(code))
    assert (wrong["code"], wrong["field"]) == ("INVALID_CODE", "code") and "4" in wrong["message"]
    # An expired code says so
    await db.execute(update(LoginCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await set_with(anyone, STEWARD_XIUSHAN, code)
    assert expired["code"] == "CODE_EXPIRED"
    # Too many wrong tries spend the code, and then even the right one fails
    await db.execute(update(LoginCode).values(expires_at=utcnow() + timedelta(minutes=5)))
    answers = [(await set_with(anyone, STEWARD_XIUSHAN, wrong_code(code)))["code"] for _ in range(4)]
    assert answers == ["INVALID_CODE"] * 3 + ["TOO_MANY_ATTEMPTS"]
    assert (await set_with(anyone, STEWARD_XIUSHAN, code))["code"] == "TOO_MANY_ATTEMPTS"
    assert await state(db) == before


async def test_a_short_password_costs_no_try(gql, app, db):
    anyone = gql.as_token(None)
    code = await texted(anyone, app, STEWARD_XIUSHAN)
    short = await set_with(anyone, STEWARD_XIUSHAN, code, "short")
    assert (short["code"], short["field"]) == ("INVALID", "password")
    assert (await set_with(anyone, STEWARD_XIUSHAN, code))["__typename"] == "PasswordSet"


async def test_a_residents_phone_gets_the_same_answer_but_sets_no_staff_password(gql, app, db):
    anyone = gql.as_token(None)
    # The request's answer does not tell a resident's, a staff member's or an unknown number apart
    answers = [await ask(anyone, phone) for phone in (RESIDENT_XIUSHAN, STEWARD_XIUSHAN, "13700001234")]
    assert {a["__typename"] for a in answers} == {"LoginCodeSent"}
    assert len({(a["expiresInSeconds"], a["resendAfterSeconds"]) for a in answers}) == 1
    # Only whoever holds the resident's phone learns, with the right code, that it is no staff number
    refused = await set_with(anyone, RESIDENT_XIUSHAN, sent_code(app, RESIDENT_XIUSHAN))
    assert (refused["code"], refused["field"]) == ("NOT_ALLOWED", "phone")
    resident = (await db.execute(select(Person).where(Person.phone == e164(RESIDENT_XIUSHAN)))).scalar_one()
    assert resident.password_hash is None


async def test_the_admins_password_is_not_reset_by_sms(gql, app):
    anyone = gql.as_token(None)
    code = await texted(anyone, app, ADMIN)
    assert (await set_with(anyone, ADMIN, code))["code"] == "NOT_ALLOWED"
    assert await password_login(anyone, ADMIN, "laoyou-demo-2026") == "LoggedIn"


async def test_a_login_code_sets_no_password_and_a_password_code_logs_nobody_in(gql, app, db):
    anyone = gql.as_token(None)
    sent = await request_code(anyone, STEWARD_XIUSHAN)
    assert sent["__typename"] == "LoginCodeSent"
    login_code = sent_code(app, STEWARD_XIUSHAN)
    assert (await set_with(anyone, STEWARD_XIUSHAN, login_code))["code"] == "INVALID_CODE"
    # (the minute between two texts to one number counts both kinds)
    assert (await ask(anyone, STEWARD_XIUSHAN))["code"] == "RATE_LIMITED"
    await db.execute(update(LoginCode).values(created_at=utcnow() - timedelta(minutes=2)))
    password_code = await texted(anyone, app, STEWARD_XIUSHAN)
    assert (await login_with_code(anyone, STEWARD_XIUSHAN, password_code))["code"] == "INVALID_CODE"
    # and the login code still logs in: a password code does not replace it
    assert (await login_with_code(anyone, STEWARD_XIUSHAN, login_code))["__typename"] == "LoggedIn"


async def test_the_hourly_limit_counts_password_codes_too(gql, app, db):
    anyone = gql.as_token(None)
    limit = app.state.settings.login_codes_per_phone_hour
    for _ in range(limit):
        assert (await ask(anyone, STEWARD_XIUSHAN))["__typename"] == "LoginCodeSent"
        await db.execute(update(LoginCode).values(created_at=utcnow() - timedelta(minutes=2)))
    limited = await ask(anyone, STEWARD_XIUSHAN)
    assert limited["code"] == "RATE_LIMITED" and "hour" in limited["message"]
    assert (await request_code(anyone, STEWARD_XIUSHAN))["code"] == "RATE_LIMITED"


async def test_the_pages_set_a_password_with_a_code(client, app):
    # From the staff login's link, on a phone without JavaScript
    client.headers["Accept-Language"] = "en"
    login = await client.get("/login")
    assert 'href="/password/code"' in login.text
    first = await client.get("/password/code")
    assert first.status_code == 200
    bad = await client.post("/password/code", data={"csrf_token": csrf_in(first.text), "phone": "12"})
    assert bad.status_code == 400 and "valid mobile number" in bad.text
    step = await client.post(
        "/password/code", data={"csrf_token": csrf_in(first.text), "phone": STEWARD_XIUSHAN}
    )
    assert step.status_code == 200 and "138****0011" in step.text
    code = sent_code(app, STEWARD_XIUSHAN)
    form = {"csrf_token": csrf_in(step.text), "phone": STEWARD_XIUSHAN, "sent": "138****0011"}
    wrong = await client.post(
        "/password/code/set", data=form | {"code": wrong_code(code), "password": PASSWORD}
    )
    assert wrong.status_code == 400 and "tries left" in wrong.text and 'name="code"' in wrong.text
    done = await client.post("/password/code/set", data=form | {"code": code, "password": PASSWORD})
    assert done.status_code == 200 and "Your password is set, 张建国" in done.text
