"""Finance disclosure pages: the list, one disclosure (residents read and ask; stewards prepare, publish and
correct; officials see who has read it), asking about a line, and the A4 notice-board print.

Every page runs the PWA's own operations (pwa/operations/disclosures.graphql). Invoice photos come in with the
spending form (multipart) and are stored by the media service before the mutation names them, in the same
unit of work: a refused line leaves no file.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response

from laoyou.billing.money import parse_yuan
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.core.time import local_date, utcnow
from laoyou.graphql.router import check_csrf
from laoyou.media import service as media
from laoyou.web.media import store_posted_file
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

MAX_PHOTOS = 6
MAX_FORM = MAX_PHOTOS * media.MAX_IMAGE_BYTES + 64 * 1024


def _quarters() -> list[tuple[int, int]]:
    """The current quarter and the seven before it, newest first: what a steward prepares."""
    today = local_date(utcnow())
    year, quarter = today.year, (today.month - 1) // 3 + 1
    found = []
    for _ in range(8):
        found.append((year, quarter))
        year, quarter = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
    return found


def _message(page: Page, exc: LaoyouError) -> str:
    return i18n.gettext(exc.message, page.context.language, **exc.params)


def _fen(text: str) -> int | None:
    try:
        return parse_yuan(text)
    except ValueError:
        return None


# --- reading ------------------------------------------------------------------------------------------------


async def index(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("DisclosureList")
    communities = (
        (await page.run("DisclosureCommunities"))["disclosureCommunities"]
        if data["viewer"]["isStaff"]
        else []
    )
    return page.render(
        "disclosures/list.html",
        status_code=status_code,
        viewer=data["viewer"],
        disclosures=data["disclosures"],
        communities=communities,
        quarters=_quarters(),
        error=error,
    )


async def view(
    page: Page, *, error: str | None = None, field: str | None = None, status_code: int = 200
) -> Response:
    disclosure_id = page.request.path_params["disclosure_id"]
    data = await page.run("DisclosurePage", id=disclosure_id)
    disclosure = data["disclosure"]
    if not data["viewer"]["isStaff"] and not disclosure["readByMe"]:
        await page.run("MarkDisclosureRead", id=disclosure_id)
    return page.render(
        "disclosures/view.html",
        status_code=status_code,
        viewer=data["viewer"],
        d=disclosure,
        spending=[
            line for fund in disclosure["funds"] for line in fund["lines"] if line["kind"] == "SPENDING"
        ],
        error=error,
        field=field,
    )


async def print_page(page: Page) -> Response:
    data = await page.run("DisclosurePrint", id=page.request.path_params["disclosure_id"])
    return page.render("disclosures/print.html", d=data["disclosure"])


def _find_line(disclosure: dict, line_id: str) -> dict:
    lines = [line for fund in disclosure["funds"] for line in fund["lines"]]
    lines += [disclosure["arrears"]] if disclosure["arrears"] else []
    for line in lines:
        if line["id"] == line_id:
            return line
    raise HTTPException(404, "not found")


async def ask_form(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    params = page.request.path_params
    disclosure = (await page.run("DisclosurePage", id=params["disclosure_id"]))["disclosure"]
    line = _find_line(disclosure, params["line_id"])
    return page.render(
        "disclosures/ask.html",
        status_code=status_code,
        d=disclosure,
        line=line,
        client_id=secrets.token_urlsafe(12),
        error=error,
    )


async def ask(page: Page) -> Response:
    """The question goes to the resident's customer-service conversation, naming the line; she lands there."""
    posted = await form_with_csrf(page.request)
    params = page.request.path_params
    result = (
        await page.run(
            "AskAboutDisclosureLine",
            lineId=params["line_id"],
            question=posted.get("question", ""),
            clientId=posted.get("client_id", "")[:64] or secrets.token_urlsafe(12),
        )
    )["askAboutDisclosureLine"]
    if result["__typename"] != "DisclosureQuestionSent":
        return await ask_form(page, error=result["message"], status_code=400)
    return page.redirect("/support#bottom")


# --- the steward's part --------------------------------------------------------------------------------------


async def create(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    year, _, quarter = posted.get("quarter", "").partition("-")
    if not (year.isdigit() and quarter.isdigit()):
        return await index(
            page, error=i18n.gettext("Choose a quarter from 1 to 4.", page.context.language), status_code=400
        )
    result = (
        await page.run(
            "CreateDisclosure",
            communityId=posted.get("community_id", ""),
            year=int(year),
            quarter=int(quarter),
        )
    )["createDisclosure"]
    if result["__typename"] != "DisclosureSaved":
        return await index(page, error=result["message"], status_code=400)
    return page.redirect(f"/disclosures/{result['disclosure']['id']}")


async def _after(page: Page, result: dict) -> Response:
    if result["__typename"] != "DisclosureSaved":
        return await view(page, error=result["message"], field=result.get("field"), status_code=400)
    return page.redirect(f"/disclosures/{page.request.path_params['disclosure_id']}#prepare")


async def _spending_form(request: Request) -> Any:
    if int(request.headers.get("content-length") or 0) > MAX_FORM:
        raise HTTPException(413, "too large")
    form = await request.form(max_files=MAX_PHOTOS, max_fields=20, max_part_size=media.MAX_IMAGE_BYTES + 1024)
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    return form


async def add_spending(page: Page) -> Response:
    posted = await _spending_form(page.request)
    disclosure_id = page.request.path_params["disclosure_id"]
    amount = _fen(str(posted.get("amount", "")))
    if amount is None:
        message = i18n.gettext("Enter an amount above zero.", page.context.language)
        return await view(page, error=message, field="amountFen", status_code=400)
    community_id = (await page.run("DisclosurePrint", id=disclosure_id))["disclosure"]["community"]["id"]
    photo_ids = []
    try:
        for upload in posted.getlist("photos")[:MAX_PHOTOS]:
            stored = await store_posted_file(page, upload, kind="image", community_id=int(community_id))
            if stored is not None:
                photo_ids.append(str(stored.id))
    except LaoyouError as exc:
        return await view(page, error=_message(page, exc), field="photoIds", status_code=400)
    spending = {
        "fund": str(posted.get("fund", "")),
        "title": str(posted.get("title", "")),
        "amountFen": amount,
        "photoIds": photo_ids,
    }
    result = (await page.run("AddDisclosureSpending", id=disclosure_id, input=spending))[
        "addDisclosureSpending"
    ]
    return await _after(page, result)


async def remove_line(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("RemoveDisclosureLine", lineId=page.request.path_params["line_id"]))[
        "removeDisclosureLine"
    ]
    return await _after(page, result)


async def set_share(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    cost = _fen(posted.get("cost", ""))
    if cost is None:
        message = i18n.gettext("Enter an amount above zero.", page.context.language)
        return await view(page, error=message, field="amountFen", status_code=400)
    result = (
        await page.run(
            "SetDisclosureStaffShare",
            id=page.request.path_params["disclosure_id"],
            costFen=cost,
            key=posted.get("key", ""),
        )
    )["setDisclosureStaffShare"]
    return await _after(page, result)


async def publish(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("PublishDisclosure", id=page.request.path_params["disclosure_id"]))[
        "publishDisclosure"
    ]
    return await _after(page, result)


async def correct(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    result = (
        await page.run(
            "CorrectDisclosure", id=page.request.path_params["disclosure_id"], note=posted.get("note", "")
        )
    )["correctDisclosure"]
    if result["__typename"] != "DisclosureSaved":
        return await view(page, error=result["message"], field=result.get("field"), status_code=400)
    return page.redirect(f"/disclosures/{result['disclosure']['id']}#prepare")


PAGES = (
    PageRoute("GET", "/disclosures", index),
    PageRoute("POST", "/disclosures/new", create, staff=True),
    PageRoute("GET", "/disclosures/{disclosure_id}", view),
    PageRoute("GET", "/disclosures/{disclosure_id}/print", print_page),
    PageRoute("GET", "/disclosures/{disclosure_id}/lines/{line_id}/ask", ask_form),
    PageRoute("POST", "/disclosures/{disclosure_id}/lines/{line_id}/ask", ask),
    PageRoute("POST", "/disclosures/{disclosure_id}/spending", add_spending, staff=True),
    PageRoute("POST", "/disclosures/{disclosure_id}/lines/{line_id}/remove", remove_line, staff=True),
    PageRoute("POST", "/disclosures/{disclosure_id}/share", set_share, staff=True),
    PageRoute("POST", "/disclosures/{disclosure_id}/publish", publish, staff=True),
    PageRoute("POST", "/disclosures/{disclosure_id}/correct", correct, staff=True),
)


def install(app: Any) -> None:
    add_pages(app, PAGES)
