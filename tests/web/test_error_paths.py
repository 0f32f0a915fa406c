"""Every way a request can fail releases what it holds: its transaction, the write gate, its connection.

A refused page once left a writer behind that held SQLite's write gate until the server restarted, and every
later write waited 30 s and failed. These tests fail requests on purpose (a refused page, every page route and
every mutation with a foreign or missing id, with the wrong role, with a client that goes away half way) and
then check that a write goes through at once and nothing is left checked out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from laoyou.estates.models import Community, Household

from ..conftest import OFFICIAL_XIUSHAN
from .conftest import assert_released, bearer, browser, log_in

HOUSEHOLD_CARDS = """
query HouseholdCards($householdId: ID!) {
  household(id: $householdId) { id members { id name maskedPhone } }
  loginCards(householdId: $householdId) { id }
}
"""


async def household_of(app: Any, community: str) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(
            select(Household.id).join(Community, Community.id == Household.community_id)
            .where(Community.name == community).order_by(Household.id).limit(1)
        )).scalar_one()


async def test_a_page_refused_half_way_leaves_no_writer_behind(own_app, collector_paused):
    # Given the official of 秀山花园, who may read its households but not print their login cards
    household = await household_of(own_app, "秀山花园")
    async with browser(own_app) as http:
        await log_in(http, OFFICIAL_XIUSHAN)
        # When they open a household's login cards (refused while the page was still reading, and logging the
        # reading of, the household's people)
        response = await http.get(f"/staff/households/{household}/cards")
        assert response.status_code == 404
    # Then the next write goes through at once and nothing is left holding the gate or a connection
    await assert_released(own_app, "after the refused login-cards page")


async def test_a_query_refused_half_way_leaves_no_writer_behind(own_app, collector_paused):
    # Given the same official, over the API
    household = await household_of(own_app, "秀山花园")
    async with browser(own_app) as http:
        token = await bearer(http, OFFICIAL_XIUSHAN)
        # When they ask for the household and its login cards in one query
        response = await http.post("/graphql", json={"query": HOUSEHOLD_CARDS,
                                                      "variables": {"householdId": str(household)}},
                                   headers={"Authorization": f"Bearer {token}"})
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Then nothing is left behind either
    await assert_released(own_app, "after the refused HouseholdCards query")
