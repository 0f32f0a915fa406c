"""Asking to be linked to a home, and the steward's answer.

The person: their home page, while they live in no household, shows the form (community, building, unit, who
they are) or the request that waits, with a cancel button. The steward: the list of waiting requests, each
with Confirm, and Decline behind a page that asks again and takes a short reason. The service decides who may;
these pages only ask.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.core.errors import NotFound
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

RELATIONS = ("OWNER", "TENANT", "FAMILY")
STAFF_LIST = "/staff/link-requests"


async def ask_form(page: Page, search: str = "") -> dict:
    """What the ask form needs: the communities matching the words typed, and the person's latest request."""
    communities = (await page.run("LinkableCommunities", search=search))["linkableCommunities"]
    request = (await page.run("MyLinkRequest"))["myLinkRequest"]
    return {"communities": communities, "link_request": request, "search": search, "relations": RELATIONS}


async def ask(
    page: Page, *, error: dict | None = None, values: dict | None = None, status_code: int = 200
) -> Response:
    search = (page.request.query_params.get("q") or "").strip()[:50]
    return page.render(
        "link_requests/ask.html",
        status_code=status_code,
        error=error,
        values=values or {"name": page.context.actor.person.name},
        **await ask_form(page, search),
    )


async def send(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {key: form.get(key, "") for key in ("community_id", "building", "unit", "name", "relation")}
    result = (
        await page.run(
            "RequestHouseholdLink",
            communityId=values["community_id"] or "0",
            building=values["building"],
            unit=values["unit"],
            personName=values["name"],
            relation=values["relation"] if values["relation"] in RELATIONS else "OWNER",
        )
    )["requestHouseholdLink"]
    if result["__typename"] != "LinkRequestSaved":
        return await ask(page, error=result, values=values, status_code=400)
    return page.redirect("/")


async def cancel(page: Page) -> Response:
    await form_with_csrf(page.request)
    await page.run("CancelMyLinkRequest")
    return page.redirect("/")


async def pending(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    requests = (await page.run("PendingLinkRequests"))["pendingLinkRequests"]
    return page.render("link_requests/pending.html", status_code=status_code, requests=requests, error=error)


async def confirm(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("ConfirmLinkRequest", id=page.request.path_params["request_id"]))[
        "confirmLinkRequest"
    ]
    if result["__typename"] != "LinkRequestSaved":
        return await pending(page, error=result["message"], status_code=400)
    return page.redirect(STAFF_LIST)


async def decline_form(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    requests = (await page.run("PendingLinkRequests"))["pendingLinkRequests"]
    request = next((r for r in requests if r["id"] == page.request.path_params["request_id"]), None)
    if request is None:
        raise NotFound()
    return page.render(
        "link_requests/decline.html", status_code=status_code, link_request=request, error=error
    )


async def decline(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    result = (
        await page.run(
            "DeclineLinkRequest", id=page.request.path_params["request_id"], reason=form.get("reason", "")
        )
    )["declineLinkRequest"]
    if result["__typename"] != "LinkRequestSaved":
        return await decline_form(page, error=result["message"], status_code=400)
    return page.redirect(STAFF_LIST)


PAGES = (
    PageRoute("GET", "/link", ask),
    PageRoute("POST", "/link", send),
    PageRoute("POST", "/link/cancel", cancel),
    PageRoute("GET", STAFF_LIST, pending, staff=True),
    PageRoute("POST", STAFF_LIST + "/{request_id}/confirm", confirm, staff=True),
    PageRoute("GET", STAFF_LIST + "/{request_id}/decline", decline_form, staff=True),
    PageRoute("POST", STAFF_LIST + "/{request_id}/decline", decline, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
