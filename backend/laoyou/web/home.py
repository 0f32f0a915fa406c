"""The home page (the resident's or the staff member's), marking notifications read, and the offline page."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.web.briefings import todays_for_home
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf


async def home(page: Page) -> Response:
    if page.context.actor.is_staff:
        data = await page.run("StaffHome")
        return page.render("home_staff.html", viewer=data["viewer"])
    data = await page.run("ResidentHome")
    return page.render(
        "home_resident.html", viewer=data["viewer"], todays_briefings=await todays_for_home(page)
    )


async def notifications_read(page: Page) -> Response:
    await form_with_csrf(page.request)
    await page.run("MarkNotificationsRead")
    return page.redirect("/")


async def offline(page: Page) -> Response:
    return page.render("offline.html")


PAGES = (
    PageRoute("GET", "/offline", offline, login=False),
    PageRoute("GET", "/", home),
    PageRoute("POST", "/notifications/read", notifications_read),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
