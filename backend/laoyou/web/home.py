"""The home page (the resident's or the staff member's), the list of notifications and marking them read, and
the offline page."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.billing.money import yuan
from laoyou.web.briefings import todays_for_home
from laoyou.web.care import care_for_home
from laoyou.web.chat import new_client_id
from laoyou.web.link_requests import ask_form
from laoyou.web.render import Can, Page, PageRoute, add_pages, form_with_csrf
from laoyou.web.wechat_link import offer_link


async def home(page: Page) -> Response:
    # Opened inside WeChat and not linked to the official account yet: WeChat says who she is first, once.
    if (to_wechat := await offer_link(page)) is not None:
        return to_wechat
    actor = page.context.actor
    if actor.is_staff:
        data = await page.run("StaffHome")
        waiting, sos_alerts = [], []
        if Can(actor).manage_residents:
            waiting = (await page.run("PendingLinkRequestIds"))["pendingLinkRequests"]
        # Those who answer residents (stewards, agents, the admin) see open SOS alerts first, to take at once.
        if Can(actor).answer_support:
            sos_alerts = (await page.run("StaffSosAlerts"))["sosAlerts"]
        return page.render(
            "home_staff.html",
            viewer=data["viewer"],
            link_requests_waiting=len(waiting),
            sos_alerts=sos_alerts,
        )
    data = await page.run("ResidentHome")
    viewer = data["viewer"]
    # Someone in no household yet asks to be linked here, rather than being sent away.
    asking = {} if viewer["households"] else await ask_form(page)
    # The first screen serves the person's own home, else the home they follow; their other homes follow it.
    households = sorted(viewer["households"], key=lambda h: h["id"] not in viewer["ownHouseholdIds"])
    followed = [h for h in households if h["residentsToCall"]]
    due = sum(d["due"]["fen"] for d in data["myAmountsDue"])
    return page.render(
        "home_resident.html",
        viewer=viewer,
        households=households,
        to_call=followed[0]["residentsToCall"][0] if followed else None,
        # 交费 opens the bills page, which offers every bill due on these homes.
        due={"fen": due, "yuan": yuan(due)},
        sos_client_id=new_client_id(),
        todays_briefings=await todays_for_home(page),
        checkin=await care_for_home(page),
        # The quarter's satisfaction survey, for the first of her homes that has not answered it.
        survey_household=next(
            iter((await page.run("SatisfactionSurveyCard"))["satisfactionSurvey"]["openHouseholdIds"]), None
        ),
        values={"name": viewer["person"]["name"]},
        **asking,
    )


# The list shows this many, newest first; older ones have long been seen.
NOTIFICATIONS_SHOWN = 50


async def notifications(page: Page) -> Response:
    """The person's notifications, newest first (what the home page's 新消息 badge counts); opening the list
    reads them, so they are marked read once it has been fetched as it was."""
    viewer = (await page.run("MyNotifications", first=NOTIFICATIONS_SHOWN))["viewer"]
    if viewer["unreadNotifications"]:
        await page.run("MarkNotificationsRead")
    return page.render("notifications.html", notifications=viewer["notifications"])


async def notifications_read(page: Page) -> Response:
    await form_with_csrf(page.request)
    await page.run("MarkNotificationsRead")
    return page.redirect("/")


async def offline(page: Page) -> Response:
    """What the service worker shows for a page it does not have; a resident's copy names whom to call."""
    actor = page.context.actor
    households = []
    if actor.is_authenticated and not actor.is_staff:
        viewer = (await page.run("OfflineContacts"))["viewer"]
        own = set(viewer["ownHouseholdIds"])
        households = sorted(viewer["households"], key=lambda h: h["id"] not in own)
        households = [dict(h, own=h["id"] in own) for h in households]
    return page.render("offline.html", households=households)


PAGES = (
    PageRoute("GET", "/offline", offline, login=False),
    PageRoute("GET", "/", home),
    PageRoute("GET", "/notifications", notifications),
    PageRoute("POST", "/notifications/read", notifications_read),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
