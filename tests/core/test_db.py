"""The request's session is shared by concurrently resolved fields; its calls must queue, not collide."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from ..conftest import ADMIN, login_demo

# Sibling root fields resolve concurrently on one session.
SIBLINGS = """
query {
  viewer { unreadNotifications households { id } }
  communities(first: 20) { nodes { id stats { households } stewards { name } district { name } } }
  districts { nodes { id name } }
}
"""


async def test_concurrent_calls_on_one_session_are_serialised(app, db):
    async with app.state.sessionmaker() as session:
        results = await asyncio.gather(*(session.scalar(text("SELECT 1")) for _ in range(20)))
    assert results == [1] * 20


async def test_sibling_root_fields_share_the_session_safely(gql):
    admin = await login_demo(gql, ADMIN)
    for _ in range(3):
        data = (await admin(SIBLINGS))["data"]
        assert len(data["communities"]["nodes"]) == 12
        assert len(data["districts"]["nodes"]) == 3


async def test_a_tests_writes_stay_inside_its_rolled_back_transaction(app, gql, db):
    # Given a mutation that commits through the app's session (a login code row)
    result = await gql('mutation { requestLoginCode(phone: "13987654321") { __typename } }')
    assert result["data"]["requestLoginCode"]["__typename"] == "LoginCodeSent"
    # Then the test's own transaction sees it
    assert await db.scalar(text("SELECT count(*) FROM login_code WHERE phone = '+8613987654321'")) == 1
    # And a connection outside the test's transaction does not: nothing leaks into the next test
    async with app.state.engine.connect() as outside:
        seen = await outside.scalar(text("SELECT count(*) FROM login_code WHERE phone = '+8613987654321'"))
    assert seen == 0


async def test_concurrent_writers_on_embedded_sqlite_wait_instead_of_failing(tmp_path):
    # Given the embedded default (SQLite in the data directory) and many requests that read, then write
    import httpx

    from laoyou.app import create_app

    from ..conftest import make_settings

    app = create_app(
        make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'c.sqlite3'}", demo_households_scale=0.01)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

            async def ask(n: int) -> str:
                response = await http.post(
                    "/graphql",
                    json={
                        "query": "mutation($p: String!) { requestLoginCode(phone: $p) { __typename } }",
                        "variables": {"p": f"1391000{n:04d}"},
                    },
                )
                return response.json()["data"]["requestLoginCode"]["__typename"]

            # When 30 of them run at once
            results = await asyncio.gather(*(ask(n) for n in range(30)))
    # Then every one succeeds
    assert results == ["LoginCodeSent"] * 30
