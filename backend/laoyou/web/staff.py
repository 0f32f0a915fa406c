"""Staff pages for the operator's admin: the staff list with a form to grant a role, one person's grants with
revoke buttons, their audit lines and "send password setup"; and the public pages where staff set their
password, from the one-time link or with a code texted to them. The service decides who may; these pages only
ask."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response

from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf, secret_page

PEOPLE = "/staff/people"
SET_PASSWORD = "/password/set"
PASSWORD_CODE = "/password/code"
ROLES = ("steward", "field_staff", "agent", "official")


def _person_url(person_id: str) -> str:
    return f"{PEOPLE}/{person_id}"


async def people(page: Page, *, error: str | None = None, values: dict | None = None, status_code: int = 200):
    data = await page.run("StaffPeoplePage")
    return page.render(
        "staff/people.html",
        status_code=status_code,
        people=data["staffPeople"],
        districts=data["districts"]["nodes"],
        roles=ROLES,
        error=error,
        values=values or {},
    )


async def grant(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    values = {key: form.get(key, "") for key in ("phone", "name", "role", "scope")}
    kind, _, scope_id = values["scope"].partition(":")
    result = (
        await page.run(
            "GrantStaffRole",
            input={
                "phone": values["phone"],
                "name": values["name"],
                "role": values["role"] if values["role"] in ROLES else "admin",  # refused by the service
                "districtId": scope_id if kind == "d" and scope_id else None,
                "communityId": scope_id if kind == "c" and scope_id else None,
            },
        )
    )["grantStaffRole"]
    if result["__typename"] != "StaffRoleSaved":
        return await people(page, error=result["message"], values=values, status_code=400)
    return page.redirect(_person_url(result["staffMember"]["id"]))


async def person(
    page: Page, *, error: str | None = None, setup: dict | None = None, status_code: int = 200
) -> Response:
    data = await page.run("StaffPersonPage", id=page.request.path_params["person_id"])
    return page.render(
        "staff/person.html", status_code=status_code, person=data["staffPerson"], error=error, setup=setup
    )


async def revoke(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    await page.run("StaffPersonPage", id=page.request.path_params["person_id"])  # theirs, or a 404
    result = (await page.run("RevokeStaffRole", grantId=form.get("grant_id", "")))["revokeStaffRole"]
    if result["__typename"] != "StaffRoleSaved":
        return await person(page, error=result["message"], status_code=400)
    return page.redirect(_person_url(page.request.path_params["person_id"]))


async def issue_setup(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("IssuePasswordSetup", personId=page.request.path_params["person_id"]))[
        "issuePasswordSetup"
    ]
    if result["__typename"] != "PasswordSetupIssued":
        return await person(page, error=result["message"], status_code=400)
    # Shown once on this answer, never put in a URL the browser keeps.
    return await person(page, setup=result)


async def set_password_form(page: Page) -> Response:
    return secret_page(
        page.render("staff/set_password.html", token=page.request.query_params.get("token", ""))
    )


async def set_password(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    token = form.get("token", "")
    result = (await page.run("SetPasswordWithToken", token=token, password=form.get("password", "")))[
        "setPasswordWithToken"
    ]
    if result["__typename"] != "PasswordSet":
        return page.render("staff/set_password.html", status_code=400, token=token, error=result["message"])
    return page.render("staff/set_password.html", token="", done=result["name"])


async def password_code_form(page: Page) -> Response:
    return page.render("staff/password_code.html", phone="")


async def request_password_code(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    phone = form.get("phone", "")[:32]
    result = (await page.run("RequestPasswordCode", phone=phone))["requestPasswordCode"]
    if result["__typename"] != "LoginCodeSent":
        return page.render("staff/password_code.html", status_code=400, phone=phone, error=result["message"])
    # The number goes to the next form in the page itself, never in a URL (access logs keep URLs).
    return page.render("staff/password_code.html", phone=phone, sent=result["maskedPhone"])


async def set_password_with_code(page: Page) -> Response:
    form = await form_with_csrf(page.request)
    phone = form.get("phone", "")[:32]
    result = (
        await page.run(
            "SetPasswordWithCode", phone=phone, code=form.get("code", ""), password=form.get("password", "")
        )
    )["setPasswordWithCode"]
    if result["__typename"] != "PasswordSet":
        step = (
            {"sent": form.get("sent", "")[:20]} if result["field"] != "phone" else {}
        )  # else: the first step
        return page.render(
            "staff/password_code.html", status_code=400, phone=phone, error=result["message"], **step
        )
    return page.render("staff/password_code.html", phone="", done=result["name"])


PAGES = (
    PageRoute("GET", PEOPLE, people, staff=True),
    PageRoute("POST", PEOPLE, grant, staff=True),
    PageRoute("GET", PEOPLE + "/{person_id}", person, staff=True),
    PageRoute("POST", PEOPLE + "/{person_id}/revoke", revoke, staff=True),
    PageRoute("POST", PEOPLE + "/{person_id}/password", issue_setup, staff=True),
    PageRoute("GET", SET_PASSWORD, set_password_form, login=False),
    PageRoute("POST", SET_PASSWORD, set_password, login=False),
    PageRoute("GET", PASSWORD_CODE, password_code_form, login=False),
    PageRoute("POST", PASSWORD_CODE, request_password_code, login=False),
    PageRoute("POST", PASSWORD_CODE + "/set", set_password_with_code, login=False),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
