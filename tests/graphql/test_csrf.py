"""CSRF: a GraphQL POST authenticated by the session cookie must carry the laoyou_csrf cookie's value as a header."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from laoyou.accounts.models import Person

from ..conftest import RESIDENT_XIUSHAN

LOGIN_WITH_COOKIE = """
mutation ($phone: String!) { loginAsDemoPerson(phone: $phone, sessionKind: COOKIE) { __typename } }
"""
RENAME = 'mutation { updatePreferences(name: "改过的名字") { __typename } }'
WHO = "{ viewer { person { name } } }"


@pytest.fixture
async def browser(client):  # noqa: ANN001, ANN201
    """A browser logged in with a session cookie, holding the CSRF cookie a page gave it."""
    response = await client.post(
        "/graphql", json={"query": LOGIN_WITH_COOKIE, "variables": {"phone": RESIDENT_XIUSHAN}}
    )
    assert response.json()["data"]["loginAsDemoPerson"]["__typename"] == "LoggedIn"
    assert "laoyou_session" in client.cookies
    client.cookies.set("laoyou_csrf", "the-csrf-token-1234")
    return client


async def stored_name(db) -> str:  # noqa: ANN001
    db.expire_all()
    return (
        await db.execute(select(Person.name).where(Person.phone == "+86" + RESIDENT_XIUSHAN))
    ).scalar_one()


@pytest.mark.parametrize("header", [None, "", "wrong-token", "the-csrf-token-123"])
async def test_cookie_post_without_the_matching_header_is_refused(browser, db, header):
    # When a cookie-authenticated mutation comes without the CSRF header, or with a wrong one
    headers = {"X-CSRF-Token": header} if header is not None else {}
    response = await browser.post("/graphql", json={"query": RENAME}, headers=headers)
    # Then it is refused with 403 and nothing changed
    assert response.status_code == 403
    assert "data" not in response.json()
    assert await stored_name(db) == "王秀英"


async def test_cookie_post_refuses_queries_too(browser):
    # A read can leak as well as a write can change: every cookie POST needs the header
    response = await browser.post("/graphql", json={"query": WHO})
    assert response.status_code == 403


async def test_cookie_post_with_the_matching_header_works(browser, db):
    # When the header carries the CSRF cookie's value
    response = await browser.post(
        "/graphql", json={"query": RENAME}, headers={"X-CSRF-Token": "the-csrf-token-1234"}
    )
    # Then the mutation runs as the cookie's person
    assert response.status_code == 200
    assert response.json() == {"data": {"updatePreferences": {"__typename": "PreferencesUpdated"}}}
    assert await stored_name(db) == "改过的名字"


async def test_header_without_a_csrf_cookie_is_refused(browser, db):
    # Given a page on another site cannot read or set our CSRF cookie
    del browser.cookies["laoyou_csrf"]
    response = await browser.post("/graphql", json={"query": RENAME}, headers={"X-CSRF-Token": "anything"})
    assert response.status_code == 403
    assert await stored_name(db) == "王秀英"


async def test_anonymous_posts_need_no_csrf_token(client):
    response = await client.post("/graphql", json={"query": WHO})
    assert response.json() == {"data": {"viewer": {"person": None}}}


async def test_bearer_clients_need_no_csrf_token(gql):
    from ..conftest import login_demo

    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await resident(WHO))["data"]["viewer"]["person"]["name"] == "王秀英"
