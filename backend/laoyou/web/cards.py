"""Staff pages for households: a community's households, and each household's login cards (print, revoke)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf


async def community_households(page: Page) -> Response:
    data = await page.run(
        "CommunityHouseholds",
        id=page.request.path_params["community_id"],
        first=50,
        after=page.request.query_params.get("after"),
    )
    return page.render("households.html", community=data["community"])


async def household_cards(
    page: Page, *, error: str | None = None, issued: dict | None = None, status_code: int = 200
) -> Response:
    data = await page.run("HouseholdCards", householdId=page.request.path_params["household_id"])
    return page.render(
        "household_cards.html",
        status_code=status_code,
        household=data["household"],
        cards=data["loginCards"],
        error=error,
        issued=issued,
    )


async def issue_card(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (
        await page.run(
            "IssueLoginCard",
            householdId=page.request.path_params["household_id"],
            personId=form.get("person_id", ""),
        )
    )["issueLoginCard"]
    if data["__typename"] != "LoginCardIssued":
        return await household_cards(page, error=data["message"], status_code=400)
    return page.render("login_card_print.html", issued=data)


async def revoke_card(page: Page) -> Response:
    await form_with_csrf(page.request)
    data = (await page.run("RevokeLoginCard", id=page.request.path_params["card_id"]))["revokeLoginCard"]
    if data["__typename"] != "LoginCardRevoked":
        return await household_cards(page, error=data["message"], status_code=400)
    return page.redirect(f"/staff/households/{page.request.path_params['household_id']}/cards")


PAGES = (
    PageRoute("GET", "/staff/communities/{community_id}/households", community_households),
    PageRoute("GET", "/staff/households/{household_id}/cards", household_cards),
    PageRoute("POST", "/staff/households/{household_id}/cards", issue_card),
    PageRoute("POST", "/staff/households/{household_id}/cards/{card_id}/revoke", revoke_card),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
