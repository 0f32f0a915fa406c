"""Onboarding estates: the admin and district stewards add communities, stewards their buildings, units and
households; bad input is a translated error that changes nothing; strangers are told NotFound."""

from __future__ import annotations

from sqlalchemy import func, select

from laoyou.estates.models import Building, Community, District, Household, Unit

from ..conftest import (
    ADMIN,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    STEWARD_ZHUJIAJIAO,
    login_demo,
)

ERROR = "... on EstatesError { code field message }"
CREATE_DISTRICT = f"""
mutation ($input: DistrictInput!) {{
  createDistrict(input: $input) {{ ... on DistrictSaved {{ district {{ id name city operatorPhone }} }} {ERROR} }}
}}
"""
UPDATE_DISTRICT = f"""
mutation ($id: ID!, $input: DistrictInput!) {{
  updateDistrict(id: $id, input: $input) {{ ... on DistrictSaved {{ district {{ id name }} }} {ERROR} }}
}}
"""
COMMUNITY_FIELDS = "id name address onDutyPhone builtYear attachedTo { id name } district { id }"
CREATE_COMMUNITY = f"""
mutation ($d: ID!, $input: CommunityInput!) {{
  createCommunity(districtId: $d, input: $input) {{
    ... on CommunitySaved {{ community {{ {COMMUNITY_FIELDS} }} }} {ERROR}
  }}
}}
"""
UPDATE_COMMUNITY = f"""
mutation ($id: ID!, $input: CommunityInput!) {{
  updateCommunity(id: $id, input: $input) {{
    ... on CommunitySaved {{ community {{ {COMMUNITY_FIELDS} }} }} {ERROR}
  }}
}}
"""
ARCHIVE_COMMUNITY = f"""
mutation ($id: ID!) {{ archiveCommunity(id: $id) {{ ... on CommunitySaved {{ community {{ id }} }} {ERROR} }} }}
"""
CREATE_BUILDING = f"""
mutation ($c: ID!, $input: BuildingInput!) {{
  createBuilding(communityId: $c, input: $input) {{
    ... on BuildingSaved {{ building {{ id name floors }} }} {ERROR}
  }}
}}
"""
UPDATE_BUILDING = f"""
mutation ($id: ID!, $input: BuildingInput!) {{
  updateBuilding(id: $id, input: $input) {{ ... on BuildingSaved {{ building {{ id name floors }} }} {ERROR} }}
}}
"""
ARCHIVE_BUILDING = f"""
mutation ($id: ID!) {{ archiveBuilding(id: $id) {{ ... on BuildingSaved {{ building {{ id }} }} {ERROR} }} }}
"""
UNIT_FIELDS = "id number floor floorArea { centiSquareMetres squareMetres } building { id }"
CREATE_UNIT = f"""
mutation ($b: ID!, $input: UnitInput!) {{
  createUnit(buildingId: $b, input: $input) {{ ... on UnitSaved {{ unit {{ {UNIT_FIELDS} }} }} {ERROR} }}
}}
"""
UPDATE_UNIT = f"""
mutation ($id: ID!, $input: UnitInput!) {{
  updateUnit(id: $id, input: $input) {{ ... on UnitSaved {{ unit {{ {UNIT_FIELDS} }} }} {ERROR} }}
}}
"""
ARCHIVE_UNIT = f"""
mutation ($id: ID!) {{ archiveUnit(id: $id) {{ ... on UnitSaved {{ unit {{ id }} }} {ERROR} }} }}
"""
CREATE_HOUSEHOLD = f"""
mutation ($u: ID!, $name: String!) {{
  createHousehold(unitId: $u, headName: $name) {{
    ... on HouseholdSaved {{ household {{ id headName address unit {{ id }} }} }} {ERROR}
  }}
}}
"""
UPDATE_HOUSEHOLD = f"""
mutation ($id: ID!, $name: String!) {{
  updateHousehold(id: $id, headName: $name) {{ ... on HouseholdSaved {{ household {{ id headName }} }} {ERROR} }}
}}
"""
DISTRICTS = "query { districts(first: 50) { nodes { id name } } }"
COMMUNITIES = "query { communities(first: 100) { nodes { id name district { id } } } }"
BUILDINGS = "query ($id: ID!) { community(id: $id) { buildings { id name units { id number } } } }"
MY_HOUSEHOLDS = "query { viewer { households { id } } }"

DISTRICT = {
    "name": "静安区共和新路片区",
    "city": "上海市静安区",
    "operatorName": "静安物业",
    "operatorPhone": "13912345678",
}
COMMUNITY = {
    "name": "共和新村",
    "address": "共和新路100弄",
    "onDutyPhone": "139 1234 5679",
    "builtYear": 1990,
}


async def data(client, query: str, variables: dict, name: str) -> dict:  # noqa: ANN001
    return (await client(query, variables))["data"][name]


async def refused(client, query: str, variables: dict) -> list[str]:  # noqa: ANN001
    answer = await client(query, variables, expect_errors=True)
    assert answer["errors"], answer
    assert not any((answer.get("data") or {}).values()), answer
    return [e["message"] for e in answer["errors"]]


async def district_id(client, name: str) -> str:  # noqa: ANN001
    return next(d["id"] for d in await nodes(client, DISTRICTS, "districts") if d["name"] == name)


async def community_id(client, name: str) -> str:  # noqa: ANN001
    return next(c["id"] for c in await nodes(client, COMMUNITIES, "communities") if c["name"] == name)


async def nodes(client, query: str, name: str) -> list[dict]:  # noqa: ANN001
    return (await client(query))["data"][name]["nodes"]


async def counts(db) -> dict[str, int]:  # noqa: ANN001
    return {
        model.__name__: (await db.execute(select(func.count()).select_from(model))).scalar_one()
        for model in (District, Community, Building, Unit, Household)
    }


# --- districts ---------------------------------------------------------------------------------------------


async def test_the_admin_creates_and_renames_a_district(gql):
    admin = await login_demo(gql, ADMIN)
    created = (await data(admin, CREATE_DISTRICT, {"input": DISTRICT}, "createDistrict"))["district"]
    assert created["name"] == DISTRICT["name"] and created["operatorPhone"] == "13912345678"
    renamed = await data(
        admin,
        UPDATE_DISTRICT,
        {"id": created["id"], "input": {**DISTRICT, "name": "共和新路片区"}},
        "updateDistrict",
    )
    assert renamed["district"]["name"] == "共和新路片区"
    assert "共和新路片区" in [d["name"] for d in await nodes(admin, DISTRICTS, "districts")]


async def test_only_the_admin_touches_districts(gql, db):
    before = await counts(db)
    for phone in (STEWARD_ZHUJIAJIAO, STEWARD_XIUSHAN):
        steward = await login_demo(gql, phone)
        assert await refused(steward, CREATE_DISTRICT, {"input": DISTRICT}) == ["Not found."]
        mine = (await nodes(steward, DISTRICTS, "districts"))[0]["id"]
        assert await refused(steward, UPDATE_DISTRICT, {"id": mine, "input": DISTRICT}) == ["Not found."]
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    await refused(resident, CREATE_DISTRICT, {"input": DISTRICT})
    assert await counts(db) == before


async def test_a_bad_district_phone_is_a_translated_error(gql, db):
    admin = await login_demo(gql, ADMIN)
    admin.language = "zh-CN"
    before = await counts(db)
    error = await data(
        admin, CREATE_DISTRICT, {"input": {**DISTRICT, "operatorPhone": "12345"}}, "createDistrict"
    )
    assert error["code"] == "INVALID_PHONE" and error["field"] == "operatorPhone"
    assert error["message"] != "Please enter a valid mobile number."
    assert await counts(db) == before


# --- communities -------------------------------------------------------------------------------------------


async def test_a_district_steward_adds_a_community_attached_to_a_neighbour(gql):
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    host = await community_id(steward, "新风新村")
    district = (await nodes(steward, DISTRICTS, "districts"))[0]["id"]
    created = await data(
        steward,
        CREATE_COMMUNITY,
        {"d": district, "input": {**COMMUNITY, "attachedToId": host}},
        "createCommunity",
    )
    community = created["community"]
    assert community["attachedTo"] == {"id": host, "name": "新风新村"}
    assert community["onDutyPhone"] == "13912345679" and community["district"]["id"] == district
    updated = await data(
        steward,
        UPDATE_COMMUNITY,
        {"id": community["id"], "input": {**COMMUNITY, "name": "共和二村"}},
        "updateCommunity",
    )
    assert updated["community"]["name"] == "共和二村" and updated["community"]["attachedTo"] is None
    assert "共和二村" in [c["name"] for c in await nodes(steward, COMMUNITIES, "communities")]


async def test_the_admin_adds_a_community_to_any_district(gql):
    admin = await login_demo(gql, ADMIN)
    nanning = await district_id(admin, "南宁青秀区秀山片区")
    created = await data(admin, CREATE_COMMUNITY, {"d": nanning, "input": COMMUNITY}, "createCommunity")
    assert created["community"]["name"] == COMMUNITY["name"]


async def test_community_mistakes_are_errors_that_change_nothing(gql, db):
    steward = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    steward.language = "zh-CN"
    district = (await nodes(steward, DISTRICTS, "districts"))[0]["id"]
    admin = await login_demo(gql, ADMIN)
    elsewhere = await community_id(admin, "岳阳花苑")
    before = await counts(db)
    cases = [
        ({**COMMUNITY, "name": "新风新村"}, "ALREADY_EXISTS", "name"),
        ({**COMMUNITY, "name": "  "}, "INVALID", "name"),
        ({**COMMUNITY, "name": "共和\u202e新村"}, "INVALID", "name"),
        ({**COMMUNITY, "onDutyPhone": "021"}, "INVALID_PHONE", "onDutyPhone"),
        ({**COMMUNITY, "builtYear": 1200}, "INVALID", "builtYear"),
        ({**COMMUNITY, "attachedToId": elsewhere}, "INVALID", "attachedToId"),
    ]
    for given, code, field in cases:
        error = await data(steward, CREATE_COMMUNITY, {"d": district, "input": given}, "createCommunity")
        assert (error["code"], error["field"]) == (code, field), given
        assert not error["message"].isascii(), error  # translated
    assert await counts(db) == before


async def test_a_community_steward_cannot_add_or_change_communities(gql, db):
    admin = await login_demo(gql, ADMIN)
    xiushan = await community_id(admin, "秀山花园")
    nanning = await district_id(admin, "南宁青秀区秀山片区")
    before = await counts(db)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    assert await refused(steward, CREATE_COMMUNITY, {"d": nanning, "input": COMMUNITY}) == ["Not found."]
    assert await refused(steward, UPDATE_COMMUNITY, {"id": xiushan, "input": COMMUNITY}) == ["Not found."]
    assert await refused(steward, ARCHIVE_COMMUNITY, {"id": xiushan}) == ["Not found."]
    assert await counts(db) == before


async def test_a_steward_of_another_district_is_told_not_found(gql, db):
    admin = await login_demo(gql, ADMIN)
    xiushan = await community_id(admin, "秀山花园")
    nanning = await district_id(admin, "南宁青秀区秀山片区")
    building = (await data(admin, BUILDINGS, {"id": xiushan}, "community"))["buildings"][0]
    before = await counts(db)
    stranger = await login_demo(gql, STEWARD_ZHUJIAJIAO)
    attempts = [
        (CREATE_COMMUNITY, {"d": nanning, "input": COMMUNITY}),
        (UPDATE_COMMUNITY, {"id": xiushan, "input": COMMUNITY}),
        (ARCHIVE_COMMUNITY, {"id": xiushan}),
        (CREATE_BUILDING, {"c": xiushan, "input": {"name": "99栋", "floors": 6}}),
        (UPDATE_BUILDING, {"id": building["id"], "input": {"name": "99栋", "floors": 6}}),
        (ARCHIVE_BUILDING, {"id": building["id"]}),
        (CREATE_UNIT, {"b": building["id"], "input": {"number": "9-901", "floor": 1, "floorArea": "50"}}),
        (
            UPDATE_UNIT,
            {"id": building["units"][0]["id"], "input": {"number": "9", "floor": 1, "floorArea": "50"}},
        ),
        (ARCHIVE_UNIT, {"id": building["units"][0]["id"]}),
        (CREATE_HOUSEHOLD, {"u": building["units"][0]["id"], "name": "伪造"}),
    ]
    for query, variables in attempts:
        assert await refused(stranger, query, variables) == ["Not found."], query
    assert await counts(db) == before


async def test_an_attached_community_cannot_be_archived_from_under_its_neighbour(gql):
    admin = await login_demo(gql, ADMIN)
    yueyang = await community_id(admin, "岳阳花苑")
    error = await data(admin, ARCHIVE_COMMUNITY, {"id": yueyang}, "archiveCommunity")
    assert error["code"] == "NOT_ALLOWED"


# --- buildings, units, households --------------------------------------------------------------------------


async def test_a_community_steward_builds_up_their_estate_and_archives_it(gql):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    building = (
        await data(
            steward, CREATE_BUILDING, {"c": xiushan, "input": {"name": "88栋", "floors": 6}}, "createBuilding"
        )
    )["building"]
    assert building["name"] == "88栋"
    building = (
        await data(
            steward,
            UPDATE_BUILDING,
            {"id": building["id"], "input": {"name": "89栋", "floors": 7}},
            "updateBuilding",
        )
    )["building"]
    assert (building["name"], building["floors"]) == ("89栋", 7)

    unit = (
        await data(
            steward,
            CREATE_UNIT,
            {"b": building["id"], "input": {"number": "1-101", "floor": 1, "floorArea": "75.5"}},
            "createUnit",
        )
    )["unit"]
    assert unit["floorArea"] == {"centiSquareMetres": 7550, "squareMetres": "75.50"}
    unit = (
        await data(
            steward,
            UPDATE_UNIT,
            {"id": unit["id"], "input": {"number": "1-102", "floor": 1, "floorArea": "80.05"}},
            "updateUnit",
        )
    )["unit"]
    assert (unit["number"], unit["floorArea"]["centiSquareMetres"]) == ("1-102", 8005)

    household = (
        await data(steward, CREATE_HOUSEHOLD, {"u": unit["id"], "name": "钱大爷"}, "createHousehold")
    )["household"]
    assert household["address"] == "秀山花园 89栋 1-102"
    renamed = await data(
        steward, UPDATE_HOUSEHOLD, {"id": household["id"], "name": "钱大妈"}, "updateHousehold"
    )
    assert renamed["household"]["headName"] == "钱大妈"

    # A unit with a household, and a building with units, are not archived from under them.
    assert (await data(steward, ARCHIVE_UNIT, {"id": unit["id"]}, "archiveUnit"))["code"] == "NOT_ALLOWED"
    assert (await data(steward, ARCHIVE_BUILDING, {"id": building["id"]}, "archiveBuilding"))[
        "code"
    ] == "NOT_ALLOWED"
    second = (
        await data(
            steward,
            CREATE_UNIT,
            {"b": building["id"], "input": {"number": "1-201", "floor": 2, "floorArea": "60"}},
            "createUnit",
        )
    )["unit"]
    assert await data(steward, ARCHIVE_UNIT, {"id": second["id"]}, "archiveUnit") == {
        "unit": {"id": second["id"]}
    }
    listed = next(
        b
        for b in (await data(steward, BUILDINGS, {"id": xiushan}, "community"))["buildings"]
        if b["id"] == building["id"]
    )
    assert [u["number"] for u in listed["units"]] == ["1-102"]


async def test_an_empty_building_is_archived_and_leaves_the_list(gql):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    xiushan = await community_id(steward, "秀山花园")
    building = (
        await data(
            steward, CREATE_BUILDING, {"c": xiushan, "input": {"name": "90栋", "floors": 6}}, "createBuilding"
        )
    )["building"]
    await data(steward, ARCHIVE_BUILDING, {"id": building["id"]}, "archiveBuilding")
    names = [b["name"] for b in (await data(steward, BUILDINGS, {"id": xiushan}, "community"))["buildings"]]
    assert "90栋" not in names
    # Its name stays taken: the archived building keeps it for what refers to it.
    again = await data(
        steward, CREATE_BUILDING, {"c": xiushan, "input": {"name": "90栋", "floors": 6}}, "createBuilding"
    )
    assert again["code"] == "ALREADY_EXISTS"


async def test_estate_mistakes_are_translated_errors_that_change_nothing(gql, db):
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    steward.language = "zh-CN"
    xiushan = await community_id(steward, "秀山花园")
    building = (await data(steward, BUILDINGS, {"id": xiushan}, "community"))["buildings"][0]
    taken_unit = building["units"][0]
    before = await counts(db)
    unit = {"number": "8-808", "floor": 1, "floorArea": "75.50"}
    cases = [
        (
            CREATE_BUILDING,
            {"c": xiushan, "input": {"name": building["name"], "floors": 6}},
            "ALREADY_EXISTS",
            "name",
        ),
        (CREATE_BUILDING, {"c": xiushan, "input": {"name": "91栋", "floors": 0}}, "INVALID", "floors"),
        (
            CREATE_UNIT,
            {"b": building["id"], "input": {**unit, "number": taken_unit["number"]}},
            "ALREADY_EXISTS",
            "number",
        ),
        (
            CREATE_UNIT,
            {"b": building["id"], "input": {**unit, "floorArea": "75.505"}},
            "INVALID",
            "floorArea",
        ),
        (CREATE_UNIT, {"b": building["id"], "input": {**unit, "floorArea": "-3"}}, "INVALID", "floorArea"),
        (CREATE_UNIT, {"b": building["id"], "input": {**unit, "floorArea": "七十"}}, "INVALID", "floorArea"),
        (CREATE_UNIT, {"b": building["id"], "input": {**unit, "floor": 99}}, "INVALID", "floor"),
        (CREATE_HOUSEHOLD, {"u": taken_unit["id"], "name": "钱大爷"}, "ALREADY_EXISTS", "unitId"),
        (
            UPDATE_BUILDING,
            {"id": building["id"], "input": {"name": "x" * 51, "floors": 6}},
            "INVALID",
            "name",
        ),
    ]
    for query, variables, code, field in cases:
        answer = (await steward(query, variables))["data"]
        error = next(iter(answer.values()))
        assert (error["code"], error["field"]) == (code, field), variables
        assert not error["message"].isascii(), error
    assert await counts(db) == before


async def test_a_steward_serves_the_attached_community_but_a_resident_edits_nothing(gql, db):
    admin = await login_demo(gql, ADMIN)
    jingju = await community_id(admin, "京剧院小区")
    steward = await login_demo(gql, STEWARD_YUEYANG)
    created = await data(
        steward, CREATE_BUILDING, {"c": jingju, "input": {"name": "2号楼", "floors": 4}}, "createBuilding"
    )
    assert created["building"]["name"] == "2号楼"

    before = await counts(db)
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    home = (await resident(MY_HOUSEHOLDS))["data"]["viewer"]["households"][0]["id"]
    xiushan = await community_id(resident, "秀山花园")
    await refused(resident, UPDATE_HOUSEHOLD, {"id": home, "name": "伪造"})
    await refused(resident, CREATE_BUILDING, {"c": xiushan, "input": {"name": "99栋", "floors": 6}})
    assert await counts(db) == before
