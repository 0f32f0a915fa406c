"""The estate pages as a phone without JavaScript: the list with "add a community", a community's buildings,
a building's units, and the forms that add and change them."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from laoyou.estates.models import Building, Community, Unit

from ..conftest import ADMIN, OFFICIAL_XIUSHAN, STEWARD_XIUSHAN, STEWARD_ZHUJIAJIAO
from ..web.conftest import csrf_in, log_in


async def log_in_as(client, phone: str) -> None:  # noqa: ANN001
    client.cookies.clear()  # a logged-in visitor is sent away from the login page
    await log_in(client, phone)


async def _count(db, model) -> int:  # noqa: ANN001
    return await db.scalar(select(func.count()).select_from(model))


def _district_of_form(html: str) -> str:
    return re.search(r'name="district_id" value="(\d+)"', html).group(1)


async def test_the_staff_home_links_estates_only_for_those_who_may_use_them(client):
    await log_in(client, STEWARD_XIUSHAN)
    assert 'href="/staff/estates"' in (await client.get("/")).text
    await log_in_as(client, OFFICIAL_XIUSHAN)
    assert 'href="/staff/estates"' not in (await client.get("/")).text


async def test_a_district_steward_adds_a_community_then_a_building_and_a_unit(client, db):
    await log_in(client, STEWARD_ZHUJIAJIAO)
    client.headers["Accept-Language"] = "en"
    index = await client.get("/staff/estates")
    assert index.status_code == 200 and "新风新村" in index.text and "Add a community" in index.text
    form = {
        "csrf_token": csrf_in(index.text),
        "district_id": _district_of_form(index.text),
        "name": "共和新村",
        "address": "共和新路100弄",
        "on_duty_phone": "13912345679",
        "built_year": "1990",
        "attached_to_id": "",
    }
    before = await _count(db, Community)
    created = await client.post("/staff/estates", data=form)
    assert created.status_code == 303, created.text
    community_url = created.headers["location"]
    assert await _count(db, Community) == before + 1

    page = await client.get(community_url)
    assert page.status_code == 200 and "共和新村" in page.text and "No buildings yet." in page.text
    added = await client.post(
        community_url, data={"csrf_token": csrf_in(page.text), "name": "1栋", "floors": "6"}
    )
    assert added.status_code == 303, added.text
    building_url = added.headers["location"]

    page = await client.get(building_url)
    assert page.status_code == 200 and "No units yet." in page.text
    unit = {"csrf_token": csrf_in(page.text), "number": "1-101", "floor": "1", "floor_area": "75.50"}
    assert (await client.post(building_url + "/units", data=unit)).status_code == 303
    page = await client.get(building_url)
    assert "1-101" in page.text and "75.50" in page.text

    unit_url = re.search(r'href="(/staff/estates/communities/\d+/buildings/\d+/units/\d+)"', page.text).group(
        1
    )
    edit = await client.get(unit_url)
    assert edit.status_code == 200 and 'value="75.50"' in edit.text
    saved = await client.post(unit_url, data={**unit, "csrf_token": csrf_in(edit.text), "floor_area": "80"})
    assert saved.status_code == 303
    assert "80.00" in (await client.get(building_url)).text


async def test_form_mistakes_show_on_the_page_and_change_nothing(client, db):
    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    home = (await client.get("/staff/estates")).text
    community_url = re.search(r'href="(/staff/estates/communities/\d+)"', home).group(1)
    page = (await client.get(community_url)).text
    before = (await _count(db, Building), await _count(db, Unit))
    bad_floors = await client.post(
        community_url, data={"csrf_token": csrf_in(page), "name": "77栋", "floors": "six"}
    )
    assert bad_floors.status_code == 400 and "Please enter a whole number." in bad_floors.text
    taken = re.search(r'href="/staff/estates/communities/\d+/buildings/\d+">([^<]+)</a>', page).group(1)
    duplicate = await client.post(
        community_url, data={"csrf_token": csrf_in(page), "name": taken, "floors": "6"}
    )
    assert duplicate.status_code == 400
    assert "This community already has a building with this name." in duplicate.text
    building_url = re.search(r'href="(/staff/estates/communities/\d+/buildings/\d+)"', page).group(1)
    bad_area = await client.post(
        building_url + "/units",
        data={"csrf_token": csrf_in(page), "number": "7-707", "floor": "1", "floor_area": "75.505"},
    )
    assert bad_area.status_code == 400 and "at most two decimals" in bad_area.text
    assert (await _count(db, Building), await _count(db, Unit)) == before


async def test_a_community_steward_gets_no_add_community_form_and_strangers_get_404(client):
    await log_in(client, STEWARD_XIUSHAN)
    index = (await client.get("/staff/estates")).text
    assert "秀山花园" in index and 'name="district_id"' not in index
    xiushan = re.search(r'href="(/staff/estates/communities/\d+)"', index).group(1)
    await log_in_as(client, STEWARD_ZHUJIAJIAO)
    assert (await client.get(xiushan)).status_code == 404
    await log_in_as(client, ADMIN)
    assert (await client.get(xiushan)).status_code == 200


async def test_a_steward_sets_up_a_units_household_then_renames_its_head(client, db):
    from laoyou.estates.models import Household

    await log_in(client, STEWARD_XIUSHAN)
    client.headers["Accept-Language"] = "en"
    index = await client.get("/staff/estates")
    community_url = re.search(r'href="(/staff/estates/communities/\d+)"', index.text).group(1)
    page = await client.get(community_url)
    added = await client.post(
        community_url, data={"csrf_token": csrf_in(page.text), "name": "新9栋", "floors": "6"}
    )
    building_url = added.headers["location"].split("?")[0]
    page = await client.get(building_url)
    unit = {"csrf_token": csrf_in(page.text), "number": "901", "floor": "1", "floor_area": "60"}
    assert (await client.post(building_url + "/units", data=unit)).status_code == 303
    page = await client.get(building_url)
    unit_url = re.search(r'href="(/staff/estates/communities/\d+/buildings/\d+/units/\d+)"', page.text).group(
        1
    )

    edit = await client.get(unit_url)
    assert "Nobody is registered here yet" in edit.text
    before = await _count(db, Household)
    blank = await client.post(
        unit_url + "/household", data={"csrf_token": csrf_in(edit.text), "head_name": " "}
    )
    assert blank.status_code == 400 and 'role="alert"' in blank.text
    assert await _count(db, Household) == before
    made = await client.post(
        unit_url + "/household", data={"csrf_token": csrf_in(edit.text), "head_name": "周建华"}
    )
    assert made.status_code == 303 and re.search(
        r"/staff/households/\d+/residents$", made.headers["location"]
    )
    assert await _count(db, Household) == before + 1

    edit = await client.get(unit_url)
    assert "The household living here" in edit.text and 'value="周建华"' in edit.text
    household_id = re.search(r'name="household_id" value="(\d+)"', edit.text).group(1)
    renamed = await client.post(
        unit_url + "/household",
        data={"csrf_token": csrf_in(edit.text), "head_name": "周丽", "household_id": household_id},
    )
    assert renamed.status_code == 303
    assert await db.scalar(select(Household.head_name).where(Household.id == int(household_id))) == "周丽"
    assert await _count(db, Household) == before + 1
