"""The family page: following a parent's household, and answering or ending such links."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

ACTIONS = ("accept", "decline", "remove")


async def family(
    page: Page, *, message: str | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    data = await page.run("FamilyPage")
    return page.render(
        "family.html", status_code=status_code, viewer=data["viewer"], message=message, error=error
    )


async def request_link(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    data = (
        await page.run("RequestFamilyLink", phone=form.get("phone", ""), relation=form.get("relation", ""))
    )["requestFamilyLink"]
    if data["__typename"] != "FamilyLinkRequested":
        return await family(page, error=data["message"], status_code=400)
    return await family(page, message=data["message"])


async def decide(page: Page) -> Response:
    await form_with_csrf(page.request)  # its CSRF check; what to do is in the path
    link_id = page.request.path_params["link_id"]
    action = page.request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPException(404, "not found")
    if action == "remove":
        data = (await page.run("RemoveFamilyLink", id=link_id))["removeFamilyLink"]
    else:
        data = (await page.run("RespondFamilyLink", id=link_id, accept=action == "accept"))[
            "respondFamilyLink"
        ]
    if data["__typename"] != "FamilyLinkUpdated":
        return await family(page, error=data["message"], status_code=400)
    return page.redirect("/family")


PAGES = (
    PageRoute("GET", "/family", family),
    PageRoute("POST", "/family/request", request_link),
    # Starlette's path convertors are types (int, str, …), not patterns: the action is checked in the handler.
    PageRoute("POST", "/family/{link_id}/{action}", decide),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
