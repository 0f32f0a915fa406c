"""Sessions: bearer and cookie kinds, lifetimes, logout, and every kind of bad token treated as anonymous."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import SQLModel

import laoyou.models  # noqa: F401  (every table in the metadata)
from laoyou.accounts.models import AuthSession
from laoyou.core.time import utcnow

from ..conftest import ADMIN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from .helpers import viewer

LOGIN_AS_DEMO = """
mutation ($phone: String!, $kind: SessionKind!) {
  loginAsDemoPerson(phone: $phone, sessionKind: $kind) {
    __typename
    ... on LoggedIn { token expiresAt viewer { person { name } } }
    ... on Error { message code }
  }
}
"""
LOGOUT = "mutation { logout { sessionsEnded } }"
LOGOUT_EVERYWHERE = "mutation { logoutEverywhere { sessionsEnded } }"


async def login_as(gql, phone: str, kind: str) -> dict:  # noqa: ANN001
    result = (await gql(LOGIN_AS_DEMO, {"phone": phone, "kind": kind}))["data"]["loginAsDemoPerson"]
    assert result["__typename"] == "LoggedIn", result
    return result


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


async def test_bearer_session_returns_a_token_and_sets_no_cookie(client, gql):
    # When a client asks for a BEARER session
    response = await client.post(
        "/graphql", json={"query": LOGIN_AS_DEMO, "variables": {"phone": RESIDENT_XIUSHAN, "kind": "BEARER"}}
    )
    # Then the token is in the answer and no session cookie is set
    token = response.json()["data"]["loginAsDemoPerson"]["token"]
    assert token and len(token) >= 40
    assert not any(c.startswith("laoyou_session=") for c in response.headers.get_list("set-cookie"))
    assert (await viewer(gql.as_token(token)))["person"]["name"] == "王秀英"


async def test_cookie_session_sets_an_httponly_lax_cookie_and_returns_no_token(client):
    # When the PWA asks for a COOKIE session
    response = await client.post(
        "/graphql", json={"query": LOGIN_AS_DEMO, "variables": {"phone": RESIDENT_XIUSHAN, "kind": "COOKIE"}}
    )
    # Then the answer carries no token
    assert response.json()["data"]["loginAsDemoPerson"]["token"] is None
    # And the session cookie is httpOnly, SameSite=Lax, for the whole site
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("laoyou_session=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookies[0].split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    assert len(cookies[0].split(";")[0].split("=", 1)[1]) >= 40
    # And the cookie logs the browser in (a cookie-authenticated POST carries the CSRF token)
    client.cookies.set("laoyou_csrf", "csrf-123")
    me = await client.post(
        "/graphql", json={"query": "{ viewer { person { name } } }"}, headers={"X-CSRF-Token": "csrf-123"}
    )
    assert me.json()["data"]["viewer"]["person"]["name"] == "王秀英"


@pytest.mark.parametrize(
    "phone, lifetime",
    [
        (RESIDENT_XIUSHAN, timedelta(days=180)),
        (STEWARD_XIUSHAN, timedelta(hours=12)),
        (ADMIN, timedelta(hours=12)),
    ],
)
async def test_resident_sessions_last_months_and_staff_sessions_hours(gql, db, phone, lifetime):
    # When a resident or a staff member logs in
    before = utcnow()
    result = await login_as(gql, phone, "BEARER")
    # Then the session ends after the lifetime of their kind
    expires = parse_time(result["expiresAt"])
    assert before + lifetime - timedelta(minutes=1) <= expires <= utcnow() + lifetime
    stored = (await db.execute(select(AuthSession.expires_at))).scalar_one()
    assert abs(stored.replace(tzinfo=UTC) - expires) < timedelta(seconds=1)


async def test_cookie_max_age_matches_the_session(client):
    response = await client.post(
        "/graphql", json={"query": LOGIN_AS_DEMO, "variables": {"phone": STEWARD_XIUSHAN, "kind": "COOKIE"}}
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("laoyou_session="))
    assert "Max-Age=43200" in cookie


async def test_logout_ends_this_session_only(gql):
    # Given a resident logged in on two phones
    phone_a = await login_demo(gql, RESIDENT_XIUSHAN)
    phone_b = await login_demo(gql, RESIDENT_XIUSHAN)
    # When they log out on one
    assert (await phone_a(LOGOUT))["data"]["logout"] == {"sessionsEnded": 1}
    # Then that phone is anonymous and the other is still logged in
    assert (await viewer(phone_a))["person"] is None
    assert (await viewer(phone_b))["person"]["name"] == "王秀英"


async def test_logout_everywhere_ends_every_session(gql):
    # Given a resident logged in on three phones, and someone else logged in too
    phones = [await login_demo(gql, RESIDENT_XIUSHAN) for _ in range(3)]
    other = await login_demo(gql, STEWARD_XIUSHAN)
    # When they log out everywhere from one of them
    assert (await phones[0](LOGOUT_EVERYWHERE))["data"]["logoutEverywhere"] == {"sessionsEnded": 3}
    # Then all three are anonymous, and the other person is not affected
    for phone in phones:
        assert (await viewer(phone))["person"] is None
    assert (await viewer(other))["person"]["name"] == "张建国"


async def test_logout_needs_a_session(gql):
    result = await gql(LOGOUT, expect_errors=True)
    assert result["errors"][0]["message"] == "Please log in first."


async def test_logging_in_again_ends_the_session_it_came_with(gql, db):
    # Given a logged-in client that logs in again (as someone else) with its old token
    first = await login_demo(gql, RESIDENT_XIUSHAN)
    await first(LOGIN_AS_DEMO, {"phone": STEWARD_XIUSHAN, "kind": "BEARER"})
    # Then the old token no longer works
    assert (await viewer(first))["person"] is None


async def expire(db, token: str) -> None:  # noqa: ANN001
    digest = hashlib.sha256(token.encode()).hexdigest()
    await db.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == digest)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await db.commit()


BAD_TOKENS = {
    "garbage": lambda token: "garbage",
    "random": lambda token: secrets.token_urlsafe(32),
    "tampered": lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
    "huge": lambda token: "x" * 5000,
    "hash-of-token": lambda token: hashlib.sha256(token.encode()).hexdigest(),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_forged_bearer_tokens_are_anonymous(gql, kind):
    # Given a real session exists
    real = await login_demo(gql, RESIDENT_XIUSHAN)
    # When a forged token is sent
    forged = gql.as_token(BAD_TOKENS[kind](real.token))
    # Then the request runs, as nobody
    assert (await viewer(forged)) == {"person": None, "isStaff": False, "roles": []}


async def test_expired_and_revoked_tokens_are_anonymous(gql, db):
    expired = await login_demo(gql, RESIDENT_XIUSHAN)
    await expire(db, expired.token)
    revoked = await login_demo(gql, RESIDENT_XIUSHAN)
    await revoked(LOGOUT)
    for client in (expired, revoked):
        assert (await viewer(client))["person"] is None


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "bearer"])
async def test_malformed_authorization_headers_are_anonymous(client, header):
    response = await client.post(
        "/graphql", json={"query": "{ viewer { person { name } } }"}, headers={"Authorization": header}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"person": None}}}


@pytest.mark.parametrize("state", ["garbage", "expired", "revoked"])
async def test_bad_session_cookies_are_anonymous(client, gql, db, state):
    # Given a browser whose session cookie is forged, expired or revoked
    result = await login_as(gql, RESIDENT_XIUSHAN, "BEARER")
    token = result["token"]
    if state == "garbage":
        token = "garbage-" + secrets.token_urlsafe(8)
    elif state == "expired":
        await expire(db, token)
    else:
        await gql.as_token(token)(LOGOUT)
    client.cookies.set("laoyou_session", token)
    # When it asks who it is (without a CSRF token: an anonymous request needs none)
    response = await client.post("/graphql", json={"query": "{ viewer { person { name } } }"})
    # Then it is nobody
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"person": None}}}


async def test_tokens_are_stored_hashed(gql, db, client):
    # Given a bearer and a cookie session
    bearer = await login_demo(gql, RESIDENT_XIUSHAN)
    response = await client.post(
        "/graphql", json={"query": LOGIN_AS_DEMO, "variables": {"phone": ADMIN, "kind": "COOKIE"}}
    )
    cookie = response.cookies["laoyou_session"]
    # Then the sessions hold the tokens' SHA-256
    hashes = set((await db.execute(select(AuthSession.token_hash))).scalars())
    assert {hashlib.sha256(t.encode()).hexdigest() for t in (bearer.token, cookie)} <= hashes
    # And no row of any table contains a raw token
    for table in SQLModel.metadata.sorted_tables:
        for row in (await db.execute(select(table))).all():
            text = repr(tuple(row))
            assert bearer.token not in text, table.name
            assert cookie not in text, table.name


async def test_a_session_unused_for_an_hour_is_touched_and_one_used_just_now_is_not(gql, db):
    # Given a steward's session last used two hours ago
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    token_hash = hashlib.sha256(steward.token.encode()).hexdigest()
    two_hours_ago = utcnow() - timedelta(hours=2)
    await db.execute(
        update(AuthSession).where(AuthSession.token_hash == token_hash).values(last_seen_at=two_hours_ago)
    )
    await db.commit()
    # When it asks something (a query that writes nothing else)
    await viewer(steward)
    # Then its last use is now, and asking again at once writes nothing
    seen = (
        await db.execute(select(AuthSession.last_seen_at).where(AuthSession.token_hash == token_hash))
    ).scalar_one()
    assert seen.replace(tzinfo=UTC) > utcnow() - timedelta(minutes=1)
    await viewer(steward)
    again = (
        await db.execute(select(AuthSession.last_seen_at).where(AuthSession.token_hash == token_hash))
    ).scalar_one()
    assert again == seen


async def test_changed_preferences_are_in_the_same_answer_and_the_next(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    change = """mutation { updatePreferences(textSize: largest, name: "王阿姨") {
      ... on PreferencesUpdated { viewer { person { name textSize } } } ... on Error { message } } }"""
    answered = (await resident(change))["data"]["updatePreferences"]["viewer"]["person"]
    assert answered == {"name": "王阿姨", "textSize": "largest"}
    assert (await resident("{ viewer { person { name textSize } } }"))["data"]["viewer"]["person"] == answered
