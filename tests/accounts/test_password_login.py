"""Staff log in with phone and password (argon2); strangers learn nothing; guessing is rate-limited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from laoyou.accounts.models import AuditEvent, AuthSession, Person
from laoyou.demo.data import DEMO_STAFF_PASSWORD

from ..conftest import (
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    graphql_client,
    make_database_url,
    make_settings,
    started,
)
from .helpers import count_rows, viewer

LOGIN_WITH_PASSWORD = """
mutation ($phone: String!, $password: String!) {
  loginWithPassword(phone: $phone, password: $password, sessionKind: BEARER) {
    __typename
    ... on LoggedIn { token viewer { isStaff person { name } } }
    ... on Error { field message code }
  }
}
"""


async def login(gql, phone: str, password: str) -> dict:  # noqa: ANN001
    return (await gql(LOGIN_WITH_PASSWORD, {"phone": phone, "password": password}))["data"][
        "loginWithPassword"
    ]


async def test_staff_log_in_with_their_password(gql, db):
    # When the Xiushan steward logs in with the right password
    result = await login(gql, STEWARD_XIUSHAN, DEMO_STAFF_PASSWORD)
    # Then they are logged in as staff
    assert result["__typename"] == "LoggedIn"
    assert result["viewer"] == {"isStaff": True, "person": {"name": "张建国"}}
    assert (await viewer(gql.as_token(result["token"])))["person"]["name"] == "张建国"


async def test_the_password_is_stored_as_argon2(db):
    stored = (
        await db.execute(select(Person.password_hash).where(Person.phone == "+86" + STEWARD_XIUSHAN))
    ).scalar_one()
    assert stored.startswith("$argon2")
    assert DEMO_STAFF_PASSWORD not in stored


@pytest.mark.parametrize(
    "phone, password",
    [
        (STEWARD_XIUSHAN, "wrong-password-123"),  # a wrong password
        ("13912345678", DEMO_STAFF_PASSWORD),  # nobody has this number
        ("12345", DEMO_STAFF_PASSWORD),  # not even a phone number
        (RESIDENT_XIUSHAN, ""),  # a resident has no password at all
        (RESIDENT_XIUSHAN, DEMO_STAFF_PASSWORD),
    ],
)
async def test_wrong_password_and_unknown_phone_look_alike(gql, db, phone, password):
    # Given the answer to a wrong password for a real staff member
    reference = await login(gql, STEWARD_XIUSHAN, "not-the-password")
    # When any other failing combination is tried
    result = await login(gql, phone, password)
    # Then the answer is exactly the same, and no session was started
    assert result == reference
    assert result == {
        "__typename": "LoginError",
        "field": None,
        "code": "INVALID_CREDENTIALS",
        "message": "The phone number or password is not right.",
    }
    assert await count_rows(db, AuthSession) == 0


async def test_failed_password_logins_are_audited(gql, db):
    await login(gql, STEWARD_XIUSHAN, "not-the-password")
    rows = (
        (await db.execute(select(AuditEvent).where(AuditEvent.action == "login.password_failed")))
        .scalars()
        .all()
    )
    assert len(rows) == 1
    assert rows[0].client_ip == "10.9.8.7"
    assert rows[0].detail == "138****0011"  # masked: the audit log is no phone book


@pytest.fixture(scope="module")
async def limited(backend, tmp_path_factory, request):  # noqa: ANN001, ANN201
    """An app of its own (a fresh demo database) where one address may fail three times an hour."""
    tmp = tmp_path_factory.mktemp(f"password-limit-{backend}")
    settings = make_settings(tmp, make_database_url(backend, tmp, request), login_codes_per_ip_hour=3)
    async with started(settings) as app:
        yield app


async def test_password_guessing_from_one_address_is_rate_limited(limited):
    # Given one address may fail three times an hour
    async with graphql_client(limited, "10.2.0.1") as gql:
        # When it guesses three wrong passwords
        for guess in ("guess-one-1", "guess-two-2", "guess-three-3"):
            assert (await login(gql, STEWARD_XIUSHAN, guess))["code"] == "INVALID_CREDENTIALS"
        # Then even the right password is refused from that address, without a session
        blocked = await login(gql, STEWARD_XIUSHAN, DEMO_STAFF_PASSWORD)
    assert (blocked["__typename"], blocked["code"]) == ("LoginError", "RATE_LIMITED")
    async with limited.state.sessionmaker() as session:
        steward = select(Person.id).where(Person.phone == "+86" + STEWARD_XIUSHAN).scalar_subquery()
        assert await count_rows(session, AuthSession, AuthSession.person_id == steward) == 0


async def test_unknown_phones_count_towards_the_limit_too(limited):
    async with graphql_client(limited, "10.2.0.2") as gql:
        for phone in ("13912340001", "13912340002", "13912340003"):
            assert (await login(gql, phone, "whatever-123"))["code"] == "INVALID_CREDENTIALS"
        assert (await login(gql, STEWARD_XIUSHAN, DEMO_STAFF_PASSWORD))["code"] == "RATE_LIMITED"
