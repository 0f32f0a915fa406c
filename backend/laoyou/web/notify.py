"""Notification pages: turning push on for this phone, choosing kinds, and the steward's emergency notice."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.notify.service import CHOOSABLE
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf

EMERGENCY_KINDS = ("water_cut", "power_cut", "lift_out", "typhoon", "other")
REACH_CHANNELS = ("push", "wechat", "sms", "voice")
# The quiet hours offered as big choices (start, end); "off" is none (start == end).
QUIET_CHOICES = (("22:00", "07:00"), ("21:00", "07:00"), ("23:00", "06:00"))


def push_browser(user_agent: str) -> str | None:
    """What the page can say before (or without) its script: WeChat's browser has no web push at all, and an
    iPhone pushes only to Laoyou added to its home screen."""
    if "MicroMessenger" in user_agent:
        return "wechat"
    if "iPhone" in user_agent or "iPad" in user_agent:
        return "ios"
    return None


async def push_settings(
    page: Page,
    *,
    saved: bool = False,
    error: str | None = None,
    reach_error: str | None = None,
    status_code: int = 200,
) -> Response:
    data = await page.run("PushSettingsPage")
    data |= await page.run("MyReachChoice")
    choice = data["reachChoice"]
    quiet = (choice["quietStart"], choice["quietEnd"])
    return page.render(
        "notify/settings.html",
        status_code=status_code,
        push=data["pushSettings"],
        viewer=data["viewer"],
        browser=push_browser(page.request.headers.get("user-agent", "")),
        reach=choice,
        reach_channels={c["channel"].lower(): c for c in choice["channels"]},
        quiet="off" if quiet[0] == quiet[1] else "-".join(quiet),
        quiet_choices=QUIET_CHOICES + (() if quiet in QUIET_CHOICES or quiet[0] == quiet[1] else (quiet,)),
        saved=saved or bool(page.request.query_params.get("saved")),
        reach_saved=bool(page.request.query_params.get("reach_saved")),
        error=error,
        reach_error=reach_error,
    )


async def save_preferences(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    chosen = [
        {"kind": kind.name.upper(), "enabled": form.get(f"kind_{kind.value}") == "on"} for kind in CHOOSABLE
    ]
    result = (await page.run("SetPushPreferences", preferences=chosen))["setPushPreferences"]
    if result["__typename"] != "PushPreferencesSaved":
        return await push_settings(page, error=result["message"], status_code=400)
    return page.redirect("/settings/notifications?saved=1")


async def save_reach(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    quiet = form.get("quiet", "off")
    start, _, end = quiet.partition("-") if quiet != "off" else ("00:00", "", "00:00")
    result = (
        await page.run(
            "SetReachChoice",
            channels=[c.upper() for c in REACH_CHANNELS if form.get(f"channel_{c}") == "on"],
            callMe=form.get("call_me") == "on",
            quietStart=start,
            quietEnd=end,
        )
    )["setReachChoice"]
    if result["__typename"] != "ReachChoiceSaved":
        return await push_settings(page, reach_error=result["message"], status_code=400)
    return page.redirect("/settings/notifications?reach_saved=1#reach")


async def emergency_form(
    page: Page,
    *,
    error: str | None = None,
    sent: int | None = None,
    values: dict | None = None,
    status_code: int = 200,
) -> Response:
    # One operation per root field that reads: root fields resolve concurrently on one session.
    data = await page.run("EmergencyForm")
    data |= await page.run("RecentEmergencies")
    if sent is None and (asked := page.request.query_params.get("sent", "")).isdigit():
        sent = int(asked)  # after the redirect from a send
    values = values or {}
    # The send's id: the same form sent twice (a second press, Back and again) is one send. A refused form keeps
    # its id, so that once corrected it still sends once.
    values.setdefault("client_id", uuid.uuid4().hex)
    return page.render(
        "notify/emergency.html",
        status_code=status_code,
        communities=data["briefingCommunities"],
        notices=data["emergencyNotices"],
        error=error,
        sent=sent,
        values=values,
        kinds=EMERGENCY_KINDS,
    )


async def send_emergency(page: Page) -> Response:
    request = page.request
    raw = await request.form()
    form = await form_with_csrf(request)
    values = {
        "community_ids": [str(v) for v in raw.getlist("community_ids")],
        "kind": form.get("kind", ""),
        "title": form.get("title", ""),
        "body": form.get("body", ""),
        "client_id": form.get("client_id") or uuid.uuid4().hex,
    }
    kind = values["kind"] if values["kind"] in EMERGENCY_KINDS else "other"
    result = (
        await page.run(
            "SendEmergencyNotice",
            communityIds=values["community_ids"],
            kind=kind.upper(),
            title=values["title"],
            body=values["body"],
            clientId=values["client_id"],
        )
    )["sendEmergencyNotice"]
    if result["__typename"] != "EmergencyNoticeSent":
        return await emergency_form(page, error=result["message"], values=values, status_code=400)
    # Redirected, so that reloading the page that says it was sent does not send it again
    return page.redirect(f"/staff/emergency?sent={result['peopleNotified']}")


PAGES = (
    PageRoute("GET", "/settings/notifications", push_settings),
    PageRoute("POST", "/settings/notifications", save_preferences),
    PageRoute("POST", "/settings/notifications/reach", save_reach),
    PageRoute("GET", "/staff/emergency", emergency_form, staff=True, may="write_to_communities"),
    PageRoute("POST", "/staff/emergency", send_emergency, staff=True, may="write_to_communities"),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
