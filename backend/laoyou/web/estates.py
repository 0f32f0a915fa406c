"""Estate pages for the operator: districts (add, change, archive), the communities of each district with "add a
community", a community's buildings and units with their add and edit forms, and archiving a household. The
service decides who may; these pages only ask."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.core import i18n
from laoyou.core.errors import NotFound
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

ESTATES = "/staff/estates"


def _district_url(district_id: str) -> str:
    return f"{ESTATES}/districts/{district_id}"


def _community_url(community_id: str) -> str:
    return f"{ESTATES}/communities/{community_id}"


def _building_url(community_id: str, building_id: str) -> str:
    return f"{_community_url(community_id)}/buildings/{building_id}"


class _NotANumber(Exception):
    """A form's number field held something else; the page says so instead of sending it."""


def _number(text: str, *, optional: bool = False) -> int | None:
    text = text.strip()
    if optional and not text:
        return None
    if not text.lstrip("-").isdigit() or len(text) > 6:
        raise _NotANumber()
    return int(text)


def _not_a_number(page: Page) -> str:
    return i18n.gettext("Please enter a whole number.", page.context.language)


def _path(page: Page, name: str) -> str:
    return page.request.path_params[name]


# --- the communities ---------------------------------------------------------------------------------------


async def communities(
    page: Page,
    *,
    error: str | None = None,
    values: dict | None = None,
    district_error: str | None = None,
    district_values: dict | None = None,
    status_code: int = 200,
) -> Response:
    data = await page.run("EstatesPage")
    return page.render(
        "estates/index.html",
        status_code=status_code,
        districts=data["districts"]["nodes"],
        error=error,
        values=values or {},
        district_error=district_error,
        district_values=district_values or {},
        archived=bool(page.request.query_params.get("archived")),
    )


async def add_community(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {
        key: form.get(key, "") for key in ("district_id", "name", "address", "on_duty_phone", "built_year")
    }
    values["attached_to_id"] = form.get("attached_to_id", "")
    try:
        built_year = _number(values["built_year"], optional=True)
    except _NotANumber:
        return await communities(page, error=_not_a_number(page), values=values, status_code=400)
    result = (
        await page.run(
            "CreateCommunity",
            districtId=values["district_id"],
            input={
                "name": values["name"],
                "address": values["address"],
                "onDutyPhone": values["on_duty_phone"],
                "builtYear": built_year,
                "attachedToId": values["attached_to_id"] or None,
            },
        )
    )["createCommunity"]
    if result["__typename"] != "CommunitySaved":
        return await communities(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_community_url(result["community"]["id"]))


# --- districts: the operator's admin adds, changes and archives them --------------------------------------

_DISTRICT_FIELDS = {
    "name": "name",
    "city": "city",
    "operator_name": "operatorName",
    "operator_phone": "operatorPhone",
}


def _district_values(form: dict[str, str]) -> dict[str, str]:
    return {key: form.get(key, "") for key in _DISTRICT_FIELDS}


def _district_input(values: dict[str, str]) -> dict[str, str]:
    return {name: values[key] for key, name in _DISTRICT_FIELDS.items()}


async def add_district(page: Page) -> Response:
    values = _district_values(await form_with_csrf(page.request))
    result = (await page.run("CreateDistrict", input=_district_input(values)))["createDistrict"]
    if result["__typename"] != "DistrictSaved":
        return await communities(
            page, district_error=result["message"], district_values=values, status_code=400
        )
    # Straight on to its first community: a district without one serves nobody.
    return page.redirect(_district_url(result["district"]["id"]) + "?created=1#add-community")


async def district(
    page: Page,
    *,
    error: str | None = None,
    community_error: str | None = None,
    values: dict | None = None,
    community_values: dict | None = None,
    status_code: int = 200,
) -> Response:
    shown = (await page.run("EstatesDistrictPage", id=_path(page, "district_id")))["district"]
    return page.render(
        "estates/district.html",
        status_code=status_code,
        district=shown,
        error=error,
        community_error=community_error,
        values=values or {key: shown[name] for key, name in _DISTRICT_FIELDS.items()},
        community_values=community_values or {},
        created=bool(page.request.query_params.get("created")),
        saved=bool(page.request.query_params.get("saved")),
    )


async def save_district(page: Page) -> Response:
    values = _district_values(await form_with_csrf(page.request))
    district_id = _path(page, "district_id")
    result = (await page.run("UpdateDistrict", id=district_id, input=_district_input(values)))[
        "updateDistrict"
    ]
    if result["__typename"] != "DistrictSaved":
        return await district(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_district_url(district_id) + "?saved=1")


async def add_district_community(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {key: form.get(key, "") for key in ("name", "address", "on_duty_phone", "built_year")}
    try:
        built_year = _number(values["built_year"], optional=True)
    except _NotANumber:
        return await district(
            page, community_error=_not_a_number(page), community_values=values, status_code=400
        )
    result = (
        await page.run(
            "CreateCommunity",
            districtId=_path(page, "district_id"),
            input={
                "name": values["name"],
                "address": values["address"],
                "onDutyPhone": values["on_duty_phone"],
                "builtYear": built_year,
            },
        )
    )["createCommunity"]
    if result["__typename"] != "CommunitySaved":
        return await district(
            page, community_error=result["message"], community_values=values, status_code=400
        )
    return page.redirect(_community_url(result["community"]["id"]))


async def confirm_archive_district(
    page: Page, *, error: str | None = None, status_code: int = 200
) -> Response:
    shown = (await page.run("EstatesDistrictPage", id=_path(page, "district_id")))["district"]
    return page.render("estates/district_archive.html", status_code=status_code, district=shown, error=error)


async def archive_district(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("ArchiveDistrict", id=_path(page, "district_id")))["archiveDistrict"]
    if result["__typename"] != "DistrictSaved":
        return await confirm_archive_district(page, error=result["message"], status_code=400)
    return page.redirect(ESTATES + "?archived=1")


# --- one community: its buildings ---------------------------------------------------------------------------


async def _community(page: Page) -> dict[str, Any]:
    return (await page.run("EstatesCommunityPage", id=_path(page, "community_id")))["community"]


async def community(
    page: Page, *, error: str | None = None, values: dict | None = None, status_code: int = 200
) -> Response:
    return page.render(
        "estates/community.html",
        status_code=status_code,
        community=await _community(page),
        cameras=(await page.run("CommunityCameras", communityId=_path(page, "community_id")))[
            "communityCameras"
        ],
        error=error,
        values=values or {},
    )


async def add_building(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {"name": form.get("name", ""), "floors": form.get("floors", "")}
    try:
        floors = _number(values["floors"])
    except _NotANumber:
        return await community(page, error=_not_a_number(page), values=values, status_code=400)
    community_id = _path(page, "community_id")
    result = (
        await page.run(
            "CreateBuilding", communityId=community_id, input={"name": values["name"], "floors": floors}
        )
    )["createBuilding"]
    if result["__typename"] != "BuildingSaved":
        return await community(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_building_url(community_id, result["building"]["id"]))


# --- one building: its units --------------------------------------------------------------------------------


async def _building(page: Page) -> tuple[dict[str, Any], dict[str, Any]]:
    found = await _community(page)
    building_id = _path(page, "building_id")
    for building in found["buildings"]:
        if building["id"] == building_id:
            return found, building
    raise NotFound()


async def building(
    page: Page,
    *,
    error: str | None = None,
    unit_error: str | None = None,
    values: dict | None = None,
    status_code: int = 200,
) -> Response:
    found, shown = await _building(page)
    return page.render(
        "estates/building.html",
        status_code=status_code,
        community=found,
        building=shown,
        error=error,
        unit_error=unit_error,
        values=values or {},
        saved=bool(page.request.query_params.get("saved")),
    )


async def save_building(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    found, shown = await _building(page)
    try:
        floors = _number(form.get("floors", ""))
    except _NotANumber:
        return await building(page, error=_not_a_number(page), status_code=400)
    result = (
        await page.run(
            "UpdateBuilding", id=shown["id"], input={"name": form.get("name", ""), "floors": floors}
        )
    )["updateBuilding"]
    if result["__typename"] != "BuildingSaved":
        return await building(page, error=result["message"], status_code=400)
    return page.redirect(_building_url(found["id"], shown["id"]) + "?saved=1")


def _unit_values(form: dict[str, str]) -> dict[str, str]:
    return {key: form.get(key, "") for key in ("number", "floor", "floor_area")}


async def add_unit(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    found, shown = await _building(page)
    values = _unit_values(form)
    try:
        floor = _number(values["floor"])
    except _NotANumber:
        return await building(page, unit_error=_not_a_number(page), values=values, status_code=400)
    result = (
        await page.run(
            "CreateUnit",
            buildingId=shown["id"],
            input={"number": values["number"], "floor": floor, "floorArea": values["floor_area"]},
        )
    )["createUnit"]
    if result["__typename"] != "UnitSaved":
        return await building(page, unit_error=result["message"], values=values, status_code=400)
    return page.redirect(_building_url(found["id"], shown["id"]) + "?saved=1")


# --- one unit -----------------------------------------------------------------------------------------------


async def unit(
    page: Page,
    *,
    error: str | None = None,
    values: dict | None = None,
    household_error: str | None = None,
    head_name: str | None = None,
    status_code: int = 200,
) -> Response:
    found, shown = await _building(page)
    unit_id = _path(page, "unit_id")
    edited = next((u for u in shown["units"] if u["id"] == unit_id), None)
    if edited is None:
        raise NotFound()
    if values is None:
        values = {
            "number": edited["number"],
            "floor": edited["floor"],
            "floor_area": edited["floorArea"]["squareMetres"],
        }
    return page.render(
        "estates/unit.html",
        status_code=status_code,
        community=found,
        building=shown,
        unit=edited,
        error=error,
        values=values,
        household_error=household_error,
        head_name=head_name if head_name is not None else (edited["household"] or {}).get("headName", ""),
    )


async def save_household(page: Page) -> Response:
    """Sets up the unit's household (its head's name) or renames its head; who lives there is the residents page."""
    form = await form_with_csrf(page.request)
    head_name = form.get("head_name", "")
    household_id = form.get("household_id", "")
    if household_id:
        result = (await page.run("UpdateHousehold", id=household_id, headName=head_name))["updateHousehold"]
    else:
        result = (await page.run("CreateHousehold", unitId=_path(page, "unit_id"), headName=head_name))[
            "createHousehold"
        ]
    if result["__typename"] != "HouseholdSaved":
        return await unit(page, household_error=result["message"], head_name=head_name, status_code=400)
    return page.redirect(f"/staff/households/{result['household']['id']}/residents")


async def save_unit(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = _unit_values(form)
    try:
        floor = _number(values["floor"])
    except _NotANumber:
        return await unit(page, error=_not_a_number(page), values=values, status_code=400)
    result = (
        await page.run(
            "UpdateUnit",
            id=_path(page, "unit_id"),
            input={"number": values["number"], "floor": floor, "floorArea": values["floor_area"]},
        )
    )["updateUnit"]
    if result["__typename"] != "UnitSaved":
        return await unit(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_building_url(_path(page, "community_id"), _path(page, "building_id")) + "?saved=1")


# --- archiving a household -----------------------------------------------------------------------------------


async def confirm_archive_household(
    page: Page, *, error: str | None = None, status_code: int = 200
) -> Response:
    shown = (await page.run("EstatesHouseholdPage", id=_path(page, "household_id")))["household"]
    return page.render(
        "estates/household_archive.html", status_code=status_code, household=shown, error=error
    )


async def archive_household(page: Page) -> Response:
    await form_with_csrf(page.request)
    household_id = _path(page, "household_id")
    community_id = (await page.run("EstatesHouseholdPage", id=household_id))["household"]["community"]["id"]
    result = (await page.run("ArchiveHousehold", id=household_id))["archiveHousehold"]
    if result["__typename"] != "HouseholdSaved":
        return await confirm_archive_household(page, error=result["message"], status_code=400)
    return page.redirect(f"/staff/communities/{community_id}/households?archived=1")


PAGES = (
    PageRoute("GET", ESTATES, communities, staff=True),
    PageRoute("POST", ESTATES, add_community, staff=True),
    PageRoute("POST", ESTATES + "/districts", add_district, staff=True),
    PageRoute("GET", ESTATES + "/districts/{district_id}", district, staff=True),
    PageRoute("POST", ESTATES + "/districts/{district_id}", save_district, staff=True),
    PageRoute("POST", ESTATES + "/districts/{district_id}/communities", add_district_community, staff=True),
    PageRoute("GET", ESTATES + "/districts/{district_id}/archive", confirm_archive_district, staff=True),
    PageRoute("POST", ESTATES + "/districts/{district_id}/archive", archive_district, staff=True),
    PageRoute("GET", ESTATES + "/households/{household_id}/archive", confirm_archive_household, staff=True),
    PageRoute("POST", ESTATES + "/households/{household_id}/archive", archive_household, staff=True),
    PageRoute("GET", ESTATES + "/communities/{community_id}", community, staff=True),
    PageRoute("POST", ESTATES + "/communities/{community_id}", add_building, staff=True),
    PageRoute("GET", ESTATES + "/communities/{community_id}/buildings/{building_id}", building, staff=True),
    PageRoute(
        "POST", ESTATES + "/communities/{community_id}/buildings/{building_id}", save_building, staff=True
    ),
    PageRoute(
        "POST", ESTATES + "/communities/{community_id}/buildings/{building_id}/units", add_unit, staff=True
    ),
    PageRoute(
        "GET",
        ESTATES + "/communities/{community_id}/buildings/{building_id}/units/{unit_id}",
        unit,
        staff=True,
    ),
    PageRoute(
        "POST",
        ESTATES + "/communities/{community_id}/buildings/{building_id}/units/{unit_id}",
        save_unit,
        staff=True,
    ),
    PageRoute(
        "POST",
        ESTATES + "/communities/{community_id}/buildings/{building_id}/units/{unit_id}/household",
        save_household,
        staff=True,
    ),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
