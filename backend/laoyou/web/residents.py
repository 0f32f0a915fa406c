"""The steward's page of who lives in a household: "add a person" (name, phone, owner, tenant or family) and
"take off" for each resident. The service decides who may; this page only asks."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

RELATIONS = ("OWNER", "TENANT", "FAMILY")


def _residents_url(household_id: str) -> str:
    return f"/staff/households/{household_id}/residents"


async def household_residents(
    page: Page, *, error: str | None = None, values: dict | None = None, status_code: int = 200
) -> Response:
    data = await page.run("HouseholdResidents", householdId=page.request.path_params["household_id"])
    return page.render(
        "residents/household.html",
        status_code=status_code,
        household=data["household"],
        relations=RELATIONS,
        error=error,
        values=values or {},
    )


async def add_resident(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {key: form.get(key, "") for key in ("name", "phone", "relation")}
    household_id = page.request.path_params["household_id"]
    relation = values["relation"] if values["relation"] in RELATIONS else "OWNER"
    result = (
        await page.run(
            "AddResident",
            householdId=household_id,
            personName=values["name"],
            phone=values["phone"],
            relation=relation,
        )
    )["addResident"]
    if result["__typename"] != "HouseholdSaved":
        return await household_residents(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_residents_url(household_id))


async def remove_resident(page: Page) -> Response:
    await form_with_csrf(page.request)
    household_id = page.request.path_params["household_id"]
    result = (
        await page.run(
            "RemoveResident", householdId=household_id, personId=page.request.path_params["person_id"]
        )
    )["removeResident"]
    if result["__typename"] != "HouseholdSaved":
        return await household_residents(page, error=result["message"], status_code=400)
    return page.redirect(_residents_url(household_id))


PAGES = (
    PageRoute(
        "GET",
        "/staff/households/{household_id}/residents",
        household_residents,
        staff=True,
        may="manage_residents",
    ),
    PageRoute(
        "POST", "/staff/households/{household_id}/residents", add_resident, staff=True, may="manage_residents"
    ),
    PageRoute(
        "POST",
        "/staff/households/{household_id}/residents/{person_id}/remove",
        remove_resident,
        staff=True,
        may="manage_residents",
    ),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
