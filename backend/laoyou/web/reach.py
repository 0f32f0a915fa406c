"""Reach pages: one emergency notice as its residents read it, the steward's report of who it reached (with one
tap to call the rest), and the SMS and call costs per community with the operator's caps."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.core.errors import LaoyouError
from laoyou.web.render import OperationFailed, Page, PageRoute, add_pages, form_with_csrf

CAPPED = ("sms", "voice")


async def emergency_notice(page: Page) -> Response:
    notice_id = page.request.path_params["notice_id"]
    data = await page.run("EmergencyNoticePage", id=notice_id)
    # Reading it here is as good as opening its link: the climb to her other channels stops.
    await page.run("MarkNoticeSeen", noticeId=notice_id)
    return page.render("notify/notice.html", notice=data["emergencyNotice"])


def _mistake(exc: OperationFailed) -> str | None:
    """The translated message when the operation refused the page's arguments (an old or edited page link),
    else None: a refusal of the notice itself stays a 404."""
    for error in exc.errors:
        if isinstance(error.original_error, LaoyouError):
            return error.message
    return None


def _report_link(notice_id: str, *, reached: bool, building: str | None, **place: str) -> str:
    """A plain link to a page of the report: the list (not reached, or reached), the building kept."""
    query: dict[str, str] = {}
    if reached:
        query["list"] = "reached"
    if building is not None:
        query["building"] = building  # "" is kept too: those with no flat on record
    query.update({k: v for k, v in place.items() if v})
    return f"/staff/emergency/{notice_id}/reach" + (f"?{urlencode(query)}" if query else "")


async def reach_report(page: Page, *, called: int | None = None, error: str | None = None) -> Response:
    """The report a page at a time: counts first, then those not reached, a building at a time if she
    chooses one; those reached only as counts by channel, with a link to their list."""
    notice_id = page.request.path_params["notice_id"]
    # After a tap on "call the rest" (a post to the bare address) she sees the report's first page.
    query = page.request.query_params if error is None and called is None else {}
    reached = query.get("list") == "reached"
    building = query.get("building")
    try:
        data = await page.run(
            "EmergencyReachPage",
            noticeId=notice_id,
            reached=reached,
            building=building,
            after=query.get("after") or None,
            before=query.get("before") or None,
        )
    except OperationFailed as exc:
        error = _mistake(exc)
        if error is None:
            raise
        # A page link that is not valid (edited, or cut short): its first page, saying why. The refused
        # arguments are checked before anything is read or logged, so there is nothing to roll back.
        building = None
        data = await page.run("EmergencyReachPage", noticeId=notice_id, reached=reached)
    return _render(page, data, notice_id, reached=reached, building=building, called=called, error=error)


def _render(
    page: Page,
    data: dict,
    notice_id: str,
    *,
    reached: bool,
    building: str | None,
    called: int | None,
    error: str | None,
) -> Response:
    report = data["emergencyReach"]
    people = report["peoplePage"]
    return page.render(
        "notify/reach.html",
        status_code=400 if error else 200,
        report=report,
        notice=report["notice"],
        people=people,
        showing_reached=reached,
        building=building,
        link=lambda **kw: _report_link(notice_id, **kw),
        next_link=_report_link(notice_id, reached=reached, building=building, after=people["endCursor"])
        if people["hasNextPage"]
        else None,
        previous_link=_report_link(
            notice_id, reached=reached, building=building, before=people["startCursor"]
        )
        if people["hasPreviousPage"]
        else None,
        called=called,
        error=error,
    )


async def call_unreached(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("CallUnreached", noticeId=page.request.path_params["notice_id"]))[
        "callUnreached"
    ]
    if result["__typename"] != "UnreachedCalled":
        return await reach_report(page, error=result["message"])
    return await reach_report(page, called=result["calls"])


async def costs(
    page: Page, *, error: str | None = None, failed: dict | None = None, saved: bool = False
) -> Response:
    data = await page.run("ReachCosts")
    return page.render(
        "notify/costs.html",
        status_code=400 if error else 200,
        costs=data["reachCosts"],
        error=error,
        failed=failed or {},
        saved=saved or bool(page.request.query_params.get("saved")),
    )


async def set_cap(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    community_id, channel = form.get("community_id", ""), form.get("channel", "")
    text = form.get("monthly", "").strip()
    monthly = int(text) if text.isdigit() and len(text) < 10 else -1  # -1: the service refuses it, translated
    result = (
        await page.run(
            "SetReachCap",
            communityId=community_id,
            channel=channel.upper() if channel in CAPPED else "SMS",
            monthly=monthly if channel in CAPPED else -1,
        )
    )["setReachCap"]
    if result["__typename"] != "ReachCapSaved":
        failed = {"community_id": community_id, "channel": channel, "value": text}
        return await costs(page, error=result["message"], failed=failed)
    return page.redirect("/staff/reach/costs?saved=1")


PAGES = (
    PageRoute("GET", "/emergencies/{notice_id}", emergency_notice),
    PageRoute("GET", "/staff/emergency/{notice_id}/reach", reach_report, staff=True),
    PageRoute("POST", "/staff/emergency/{notice_id}/reach", call_unreached, staff=True),
    PageRoute("GET", "/staff/reach/costs", costs, staff=True),
    PageRoute("POST", "/staff/reach/costs", set_cap, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
