"""Cursor pagination: a capped page size, pages that neither overlap nor skip, clear errors for bad input."""

from __future__ import annotations

import pytest

from laoyou.core import i18n
from laoyou.demo.data import DEMO_STAFF_PASSWORD

from ..conftest import ADMIN, STEWARD_XIUSHAN, login_demo

COMMUNITIES = "query ($first: Int, $after: String) { communities(first: $first, after: $after) { nodes { id name } pageInfo { hasNextPage endCursor } } }"
HOUSEHOLDS = """
query ($id: ID!, $first: Int, $after: String) {
  community(id: $id) { households(first: $first, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }
}
"""


async def xiushan_id(client) -> str:  # noqa: ANN001
    nodes = (await client(COMMUNITIES, {"first": 50}))["data"]["communities"]["nodes"]
    return next(c["id"] for c in nodes if c["name"] == "秀山花园")


@pytest.mark.parametrize("first", [101, 1000, 0, -1])
async def test_page_size_outside_the_cap_is_refused_clearly(gql, first):
    admin = await login_demo(gql, ADMIN)
    result = await admin(COMMUNITIES, {"first": first}, expect_errors=True)
    assert result["data"] is None
    error = result["errors"][0]
    assert error["message"] == "Ask for between 1 and 100 items."
    assert error["extensions"]["code"] == "INVALID"
    assert error["extensions"]["field"] == "first"


async def test_page_size_at_the_cap_is_fine(gql):
    admin = await login_demo(gql, ADMIN)
    assert len((await admin(COMMUNITIES, {"first": 100}))["data"]["communities"]["nodes"]) == 12


async def test_page_size_error_is_in_the_callers_language(gql):
    admin = await login_demo(gql, ADMIN)
    admin.language = "zh-CN"
    result = await admin(COMMUNITIES, {"first": 101}, expect_errors=True)
    expected = i18n.gettext("Ask for between 1 and %(max)s items.", "zh_CN", max=100)
    assert expected != "Ask for between 1 and 100 items."
    assert result["errors"][0]["message"] == expected


async def test_households_page_through_without_overlap(gql):
    # Given the steward of Xiushan Garden and all its households in one page
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    community = await xiushan_id(steward)
    everything = (await steward(HOUSEHOLDS, {"id": community, "first": 100}))["data"]["community"][
        "households"
    ]
    assert everything["pageInfo"]["hasNextPage"] is False
    all_ids = [h["id"] for h in everything["nodes"]]
    assert len(all_ids) >= 15
    # When they page through seven at a time
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await steward(HOUSEHOLDS, {"id": community, "first": 7, "after": after}))["data"][
            "community"
        ]["households"]
        pages += 1
        seen.extend(h["id"] for h in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert pages < 50
    # Then every household comes exactly once, in order
    assert seen == all_ids
    assert pages == -(-len(all_ids) // 7)


async def test_communities_page_through_without_overlap(gql):
    admin = await login_demo(gql, ADMIN)
    first = (await admin(COMMUNITIES, {"first": 5}))["data"]["communities"]
    second = (await admin(COMMUNITIES, {"first": 5, "after": first["pageInfo"]["endCursor"]}))["data"][
        "communities"
    ]
    third = (await admin(COMMUNITIES, {"first": 5, "after": second["pageInfo"]["endCursor"]}))["data"][
        "communities"
    ]
    ids = [c["id"] for page in (first, second, third) for c in page["nodes"]]
    assert len(ids) == len(set(ids)) == 12
    assert (
        first["pageInfo"]["hasNextPage"],
        second["pageInfo"]["hasNextPage"],
        third["pageInfo"]["hasNextPage"],
    ) == (True, True, False)


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "aGVsbG8", "k:12", "eDox", "a" * 300])
async def test_garbage_cursor_is_refused_clearly(gql, cursor):
    admin = await login_demo(gql, ADMIN)
    result = await admin(COMMUNITIES, {"first": 5, "after": cursor}, expect_errors=True)
    assert result["data"] is None
    assert result["errors"][0]["message"] == "That page link is not valid."
    assert result["errors"][0]["extensions"]["field"] == "after"


async def test_other_lists_do_not_break_on_odd_sizes(gql):
    # Lists without cursors take any size and clamp it, on every database
    admin = await login_demo(gql, ADMIN)
    for first in (-5, 0, 1, 1000):
        data = (
            await admin(
                "query ($first: Int) { viewer { staffCommunities(first: $first) { id } notifications(first: $first) { id } } }",
                {"first": first},
            )
        )["data"]["viewer"]
        assert len(data["staffCommunities"]) <= 12


async def test_production_says_the_same_plainly(production):
    login = await production(
        "mutation ($p: String!, $w: String!) { loginWithPassword(phone: $p, password: $w, sessionKind: BEARER) { ... on LoggedIn { token } } }",
        {"p": ADMIN, "w": DEMO_STAFF_PASSWORD},
    )
    admin = production.as_token(login["data"]["loginWithPassword"]["token"])
    too_many = await admin(COMMUNITIES, {"first": 101}, expect_errors=True)
    assert too_many["errors"][0]["message"] == "Ask for between 1 and 100 items."
    garbage = await admin(COMMUNITIES, {"first": 5, "after": "garbage"}, expect_errors=True)
    assert garbage["errors"][0]["message"] == "That page link is not valid."
