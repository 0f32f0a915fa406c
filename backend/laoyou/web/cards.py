"""Staff pages for households: a community's households, each household's login cards (print, revoke), and the
cards of a whole building or community printed at once, eight to an A4 sheet."""

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
    return page.render(
        "households.html",
        community=data["community"],
        archived=bool(page.request.query_params.get("archived")),
    )


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


async def card_batch(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    plan = (
        await page.run(
            "LoginCardPlan",
            communityId=page.request.path_params["community_id"],
            buildingId=page.request.query_params.get("building") or None,
        )
    )["loginCardPlan"]
    return page.render("login_cards_plan.html", status_code=status_code, plan=plan, error=error)


async def issue_card_batch(page: Page) -> Response:
    await form_with_csrf(page.request)
    community_id = page.request.path_params["community_id"]
    data = (
        await page.run(
            "IssueLoginCards",
            communityId=community_id,
            buildingId=page.request.query_params.get("building") or None,
        )
    )["issueLoginCards"]
    if data["__typename"] != "LoginCardsIssued":
        return await card_batch(page, error=data["message"], status_code=400)
    return page.render("login_cards_print.html", issued=data, community_id=community_id)


PAGES = (
    PageRoute("GET", "/staff/communities/{community_id}/households", community_households),
    PageRoute("GET", "/staff/communities/{community_id}/cards", card_batch, staff=True),
    PageRoute("POST", "/staff/communities/{community_id}/cards", issue_card_batch, staff=True),
    PageRoute("GET", "/staff/households/{household_id}/cards", household_cards),
    PageRoute("POST", "/staff/households/{household_id}/cards", issue_card),
    PageRoute("POST", "/staff/households/{household_id}/cards/{card_id}/revoke", revoke_card),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
