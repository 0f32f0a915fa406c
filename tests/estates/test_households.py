"""Households: who may open them, what their members show, and the lists staff page through."""

from __future__ import annotations

import re

import pytest

from ..conftest import (
    ADMIN,
    FAMILY_OF_XIUSHAN,
    FIELD_ZHUJIAJIAO,
    OFFICIAL_XIUSHAN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    login_demo,
)

HOUSEHOLD = """
query ($id: ID!) {
  household(id: $id) {
    id headName address
    unit { number floor floorArea { squareMetres } building { name } }
    community { name }
    members { id name maskedPhone }
  }
}
"""
MY_HOUSEHOLDS = "query { viewer { households { id address community { id name } } } }"
COMMUNITIES = "query { communities(first: 50) { nodes { id name district { name } } } }"
HOUSEHOLDS = """
query ($id: ID!, $first: Int, $buildingId: ID) {
  community(id: $id) {
    buildings { id name }
    households(first: $first, buildingId: $buildingId) {
      nodes { id headName address members { name maskedPhone } unit { building { id } } }
    }
  }
}
"""
DISTRICTS = "query { districts { nodes { name communities { nodes { name } } } } }"


async def community_id(client, name: str) -> str:  # noqa: ANN001
    nodes = (await client(COMMUNITIES))["data"]["communities"]["nodes"]
    return next(c["id"] for c in nodes if c["name"] == name)


async def xiushan_household(gql) -> str:  # noqa: ANN001
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    return (await resident(MY_HOUSEHOLDS))["data"]["viewer"]["households"][0]["id"]


async def test_a_resident_opens_their_own_household(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    household_id = (await resident(MY_HOUSEHOLDS))["data"]["viewer"]["households"][0]["id"]
    household = (await resident(HOUSEHOLD, {"id": household_id}))["data"]["household"]
    assert household["headName"] == "王秀英"
    assert household["community"] == {"name": "秀山花园"}
    building, unit = household["unit"]["building"]["name"], household["unit"]["number"]
    assert household["address"] == f"秀山花园 {building} {unit}"
    assert re.fullmatch(r"\d+\.\d\d", household["unit"]["floorArea"]["squareMetres"])
    assert household["members"] == [
        {"id": household["members"][0]["id"], "name": "王秀英", "maskedPhone": "138****0001"}
    ]


async def test_family_opens_the_household_they_follow(gql):
    household_id = await xiushan_household(gql)
    son = await login_demo(gql, FAMILY_OF_XIUSHAN)
    assert (await son(MY_HOUSEHOLDS))["data"]["viewer"]["households"][0]["id"] == household_id
    assert (await son(HOUSEHOLD, {"id": household_id}))["data"]["household"]["headName"] == "王秀英"


RESIDENTS_TO_CALL = "query ($id: ID!) { household(id: $id) { residentsToCall { name phone } } }"


async def test_family_may_call_the_resident_they_follow(gql):
    # Given 王秀英's son, who follows her home
    household_id = await xiushan_household(gql)
    son = await login_demo(gql, FAMILY_OF_XIUSHAN)
    # When his home page asks whom he may call there
    household = (await son(RESIDENTS_TO_CALL, {"id": household_id}))["data"]["household"]
    # Then it is his mother, the head of the household, with her whole number
    assert household["residentsToCall"][0] == {"name": "王秀英", "phone": "13800000001"}


@pytest.mark.parametrize("phone", [RESIDENT_XIUSHAN, STEWARD_XIUSHAN, OFFICIAL_XIUSHAN, ADMIN])
async def test_nobody_but_the_family_gets_numbers_to_call(gql, phone):
    # Given the resident herself and the staff who may open her home
    household_id = await xiushan_household(gql)
    someone = await login_demo(gql, phone)
    # Then none of them is given a whole number there (staff see them masked, she knows her own)
    household = (await someone(RESIDENTS_TO_CALL, {"id": household_id}))["data"]["household"]
    assert household["residentsToCall"] == []


@pytest.mark.parametrize("phone", [STEWARD_XIUSHAN, OFFICIAL_XIUSHAN, ADMIN])
async def test_staff_of_the_community_open_it_with_masked_phones(gql, phone):
    household_id = await xiushan_household(gql)
    staff = await login_demo(gql, phone)
    household = (await staff(HOUSEHOLD, {"id": household_id}))["data"]["household"]
    assert household["members"][0]["maskedPhone"] == "138****0001"
    assert "13800000001" not in str(household)


@pytest.mark.parametrize("phone", [RESIDENT_JINGJU, STEWARD_YUEYANG, FIELD_ZHUJIAJIAO])
async def test_others_cannot_open_it(gql, phone):
    household_id = await xiushan_household(gql)
    someone = await login_demo(gql, phone)
    result = await someone(HOUSEHOLD, {"id": household_id}, expect_errors=True)
    assert result["data"] is None
    assert result["errors"][0]["message"] == "Not found."


async def test_anonymous_cannot_open_it(gql):
    household_id = await xiushan_household(gql)
    result = await gql(HOUSEHOLD, {"id": household_id}, expect_errors=True)
    assert result["errors"][0]["message"] == "Please log in first."


@pytest.mark.parametrize("bad", ["0", "999999999", "abc", "-1", "1e3", "9" * 40])
async def test_ids_that_name_nothing_are_not_found(gql, bad):
    admin = await login_demo(gql, ADMIN)
    result = await admin(HOUSEHOLD, {"id": bad}, expect_errors=True)
    assert result["data"] is None
    assert result["errors"][0]["message"] == "Not found."


async def test_the_host_steward_lists_the_attached_communitys_households(gql):
    # 挂单: the Yueyang Garden steward's team serves the Peking Opera house community
    steward = await login_demo(gql, STEWARD_YUEYANG)
    jingju = await community_id(steward, "京剧院小区")
    nodes = (await steward(HOUSEHOLDS, {"id": jingju, "first": 50}))["data"]["community"]["households"][
        "nodes"
    ]
    assert len(nodes) == 16
    assert all(n["address"].startswith("京剧院小区 ") for n in nodes)
    assert all(re.fullmatch(r"1\d\d\*\*\*\*\d{4}", m["maskedPhone"]) for n in nodes for m in n["members"])


async def test_field_staff_list_households_of_their_district(gql):
    worker = await login_demo(gql, FIELD_ZHUJIAJIAO)
    names = {c["name"] for c in (await worker(COMMUNITIES))["data"]["communities"]["nodes"]}
    assert len(names) == 9 and "秀山花园" not in names
    xinfeng = await community_id(worker, "新风新村")
    assert (await worker(HOUSEHOLDS, {"id": xinfeng, "first": 50}))["data"]["community"]["households"][
        "nodes"
    ]


async def test_residents_cannot_list_their_community(gql):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    xiushan = await community_id(resident, "秀山花园")
    result = await resident(HOUSEHOLDS, {"id": xiushan, "first": 5}, expect_errors=True)
    assert result["data"] is None


async def test_households_filtered_by_building(gql):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    community = (await steward(HOUSEHOLDS, {"id": xiushan, "first": 100}))["data"]["community"]
    first_building = community["buildings"][0]["id"]
    filtered = await steward(HOUSEHOLDS, {"id": xiushan, "first": 100, "buildingId": first_building})
    nodes = filtered["data"]["community"]["households"]["nodes"]
    assert nodes and all(n["unit"]["building"]["id"] == first_building for n in nodes)
    assert len(nodes) < len(community["households"]["nodes"])


@pytest.mark.parametrize(
    "phone, districts",
    [
        (RESIDENT_XIUSHAN, {"南宁青秀区秀山片区": ["秀山花园"]}),
        (RESIDENT_JINGJU, {"徐汇区天平街道片区": ["京剧院小区"]}),
        (STEWARD_YUEYANG, {"徐汇区天平街道片区": ["岳阳花苑", "京剧院小区"]}),
    ],
)
async def test_districts_show_only_visible_communities(gql, phone, districts):
    someone = await login_demo(gql, phone)
    nodes = (await someone(DISTRICTS))["data"]["districts"]["nodes"]
    assert {d["name"]: [c["name"] for c in d["communities"]["nodes"]] for d in nodes} == districts


async def test_the_admin_sees_all_three_districts(gql):
    admin = await login_demo(gql, ADMIN)
    nodes = (await admin(DISTRICTS))["data"]["districts"]["nodes"]
    assert sorted(len(d["communities"]["nodes"]) for d in nodes) == [1, 2, 9]
