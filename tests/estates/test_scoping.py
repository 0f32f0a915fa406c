"""Who sees which communities and households."""

from __future__ import annotations

from ..conftest import (
    ADMIN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)

COMMUNITIES = "query { communities(first: 50) { nodes { id name } pageInfo { hasNextPage } } }"


async def names(gql) -> set[str]:  # noqa: ANN001
    return {c["name"] for c in (await gql(COMMUNITIES))["data"]["communities"]["nodes"]}


async def test_resident_sees_only_own_community(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert await names(resident) == {"秀山花园"}


async def test_host_steward_serves_attached_community(gql):
    # Given the steward of Yueyang Garden, whose team also serves the attached Peking Opera house community
    steward = await login_demo(gql, STEWARD_YUEYANG)
    # Then both are theirs, and nothing else
    assert await names(steward) == {"岳阳花苑", "京剧院小区"}


async def test_attached_community_counts_from_the_brief(gql):
    admin = await login_demo(gql, ADMIN)
    data = await admin(
        "query { communities(first: 50) { nodes { name attachedTo { name } stats { households floorArea { squareMetres } } } } }"
    )
    jingju = next(c for c in data["data"]["communities"]["nodes"] if c["name"] == "京剧院小区")
    assert jingju["attachedTo"]["name"] == "岳阳花苑"
    assert jingju["stats"] == {"households": 16, "floorArea": {"squareMetres": "813.00"}}


async def test_admin_sees_all_twelve_communities(gql):
    admin = await login_demo(gql, ADMIN)
    assert len(await names(admin)) == 12


async def test_resident_cannot_open_another_community(gql):
    admin = await login_demo(gql, ADMIN)
    nodes = (await admin(COMMUNITIES))["data"]["communities"]["nodes"]
    jingju_id = next(c["id"] for c in nodes if c["name"] == "京剧院小区")
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    result = await resident(
        "query ($id: ID!) { community(id: $id) { name } }", {"id": jingju_id}, expect_errors=True
    )
    assert result["data"] is None
    assert result["errors"][0]["message"] == "Not found."


async def test_steward_of_other_district_cannot_list_households(gql):
    jingju_resident = await login_demo(gql, RESIDENT_JINGJU)
    home = await jingju_resident("query { viewer { households { id community { id } } } }")
    community_id = home["data"]["viewer"]["households"][0]["community"]["id"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    result = await steward(
        "query ($id: ID!) { community(id: $id) { households { nodes { id } } } }",
        {"id": community_id},
        expect_errors=True,
    )
    assert result["data"] is None
