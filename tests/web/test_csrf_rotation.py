"""Every successful login, by code, password, card or demo tap, gives the browser a new CSRF token: a token
planted or read before the login is worth nothing after it."""

from __future__ import annotations

import pytest

from laoyou.demo.data import DEMO_STAFF_PASSWORD

from ..accounts.helpers import sent_code
from ..accounts.test_login_cards import issue, token_of, xiushan_household
from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from .conftest import csrf_in, open_page

CSRF = "laoyou_csrf"


async def log_in(method: str, client, app, gql) -> None:  # noqa: ANN001
    """Log in through the page of one method, as a phone without JavaScript does."""
    if method == "card":
        household_id, person_id = await xiushan_household(gql)
        card = token_of(await issue(await login_demo(gql, STEWARD_XIUSHAN), household_id, person_id))
        token = csrf_in(await open_page(client, f"/card/{card}"))
        response = await client.post(f"/card/{card}", data={"csrf_token": token})
    else:
        token = csrf_in(await open_page(client, "/login"))
        if method == "demo":
            response = await client.post("/login/demo", data={"phone": RESIDENT_XIUSHAN, "csrf_token": token})
        elif method == "password":
            response = await client.post(
                "/login/password",
                data={"phone": STEWARD_XIUSHAN, "password": DEMO_STAFF_PASSWORD, "csrf_token": token},
            )
        else:
            asked = await client.post("/login/code", data={"phone": RESIDENT_JINGJU, "csrf_token": token})
            assert asked.status_code == 303, asked.text
            response = await client.post(
                "/login/verify",
                data={"phone": RESIDENT_JINGJU, "csrf_token": token, "code": sent_code(app, RESIDENT_JINGJU)},
            )
    assert response.status_code == 303 and response.headers["location"] == "/", response.text[:500]
    assert "laoyou_session" in response.cookies


@pytest.mark.parametrize("method", ["code", "password", "card", "demo"])
async def test_a_login_rotates_the_csrf_token(client, app, gql, db, method):
    # Given a browser holding the CSRF token of the page it logs in from
    await open_page(client, "/login")
    before = client.cookies[CSRF]
    # When it logs in
    await log_in(method, client, app, gql)
    # Then it holds a new token, the pages carry the new one, and a form with the old one is refused
    after = client.cookies[CSRF]
    assert after != before
    settings = await open_page(client, "/settings")
    assert csrf_in(settings) == after
    stale = await client.post("/settings", data={"language": "en", "csrf_token": before})
    assert stale.status_code == 403
    fresh = await client.post("/settings", data={"language": "en", "csrf_token": after})
    assert fresh.status_code == 303


async def test_a_cookie_login_over_graphql_rotates_it_too(client, db):
    await open_page(client, "/login")
    before = client.cookies[CSRF]
    response = await client.post(
        "/graphql",
        json={"query": 'mutation { loginAsDemoPerson(phone: "%s") { __typename } }' % RESIDENT_XIUSHAN},
    )
    assert response.json()["data"]["loginAsDemoPerson"]["__typename"] == "LoggedIn"
    assert response.cookies[CSRF] != before
    # The old token no longer opens the cookie session's GraphQL door; the new one does
    viewer = {"query": "{ viewer { isStaff } }"}
    assert (await client.post("/graphql", json=viewer, headers={"x-csrf-token": before})).status_code == 403
    assert (
        await client.post("/graphql", json=viewer, headers={"x-csrf-token": client.cookies[CSRF]})
    ).status_code == 200
