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
