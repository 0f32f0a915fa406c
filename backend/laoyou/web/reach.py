"""Reach pages: one emergency notice as its residents read it, the steward's report of who it reached (with one
tap to call the rest), and the SMS and call costs per community with the operator's caps."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

CAPPED = ("sms", "voice")


async def emergency_notice(page: Page) -> Response:
    notice_id = page.request.path_params["notice_id"]
    data = await page.run("EmergencyNoticePage", id=notice_id)
    # Reading it here is as good as opening its link: the climb to her other channels stops.
    await page.run("MarkNoticeSeen", noticeId=notice_id)
    return page.render("notify/notice.html", notice=data["emergencyNotice"])


async def reach_report(page: Page, *, called: int | None = None, error: str | None = None) -> Response:
    data = await page.run("EmergencyReachPage", noticeId=page.request.path_params["notice_id"])
    report = data["emergencyReach"]
    return page.render(
        "notify/reach.html",
        status_code=400 if error else 200,
        report=report,
        notice=report["notice"],
        unreached=[p for p in report["people"] if p["reachedBy"] is None],
        reached=[p for p in report["people"] if p["reachedBy"] is not None],
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
