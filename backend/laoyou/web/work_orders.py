"""One work order's page and its steps (posted forms, a finish or a note with photos), the field worker's
queue and pool, the steward's district board, the figures, and the steward's field workers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.accounts.models import Role
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Category, Kind
from laoyou.web.render import Can, OperationFailed, Page, PageRoute, add_pages
from laoyou.web.tickets import EMERGENCIES, REPAIR_CATEGORIES, read_form, store_files

ACTIONS = {
    "assign": "AssignWorkOrder",
    "grab": "GrabWorkOrder",
    "accept": "AcceptWorkOrder",
    "start": "StartWorkOrder",
    "finish": "FinishWorkOrder",
    "note": "AddWorkOrderNote",
    "transfer": "TransferWorkOrder",
    "release": "TransferWorkOrder",
    "confirm": "ConfirmWorkOrder",
    "reopen": "ReopenWorkOrder",
    "cancel": "CancelWorkOrder",
    "escalate": "EscalateWorkOrder",
    "return_visit": "RecordReturnVisit",
}
WITH_PHOTOS = ("finish", "note")


def _(message: str) -> str:
    """Marks a msgid for extraction; the template translates it."""
    return message


SKILL_LABELS = {
    "general": _("General repairs"),
    "plumbing": _("Plumbing"),
    "electrical": _("Electrical"),
    "lift": _("Lifts"),
    "locksmith": _("Locks"),
    "gas": _("Gas"),
    "greenery": _("Trees and grass"),
    "cleaning": _("Cleaning"),
    "security": _("Safety and guards"),
}


# --- one work order ------------------------------------------------------------------------------------


async def order_page(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    order_id = page.request.path_params["order_id"]
    data = await page.run("WorkOrderPage", id=order_id)
    order = data["workOrder"]
    staff: list = []
    if "assign" in order["allowedActions"] and page.context.actor.has(Role.steward, Role.admin):
        try:
            staff = (await page.run("AssignChoices", districtId=order["community"]["district"]["id"]))[
                "fieldStaff"
            ]
        except OperationFailed:
            staff = []
    return page.render(
        "tickets/order.html",
        status_code=status_code,
        order=order,
        staff=staff,
        error=error,
        sent=page.request.query_params.get("sent") == "1",
        labels=tickets.CATEGORY_LABELS,
    )


def _step_input(action: str, values: dict) -> dict[str, Any]:
    """The step's operation input from the form, beside the order's id (a finish or a note adds its photos)."""
    note = values.get("note", "")
    if action in ("assign", "transfer"):
        assignee = values.get("assignee_id", "")
        return {"note": note, "assigneeId": assignee if assignee.isdigit() else None}
    if action == "release":
        return {"note": note, "assigneeId": None}
    if action == "confirm":
        rating = values.get("rating", "")
        return {"rating": int(rating) if rating.isdigit() else 0, "comment": values.get("comment", "")}
    if action in (*WITH_PHOTOS, "reopen", "cancel", "escalate", "return_visit"):
        return {"note": note}
    return {}


async def order_action(page: Page) -> Response:
    """One step on the order page's form; back to the page (or where the form says) when it is done."""
    action = page.request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPException(404, "not found")
    form = await read_form(page.request)
    order_id = page.request.path_params["order_id"]
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    variables: dict[str, Any] = {"id": order_id, **_step_input(action, values)}
    if action in WITH_PHOTOS:
        order = (await page.run("WorkOrderPage", id=order_id))["workOrder"]
        try:
            # Committed with the step by the mutation's boundary, not before it.
            photos, _voice = await store_files(
                page, form, int(order["community"]["id"]), values.get("client_id") or uuid.uuid4().hex
            )
        except LaoyouError as exc:
            return await order_page(
                page,
                error=i18n.gettext(exc.message, page.context.language, **exc.params),
                status_code=400,
            )
        variables["photoIds"] = [str(p) for p in photos]
    result = next(iter((await page.run(ACTIONS[action], **variables)).values()))
    if result["__typename"] != "WorkOrderChanged":
        return await order_page(page, error=result["message"], status_code=400)
    back = values.get("next", "")
    return page.redirect(
        back if back.startswith("/") and not back.startswith("//") else f"/orders/{order_id}"
    )


# --- field staff -----------------------------------------------------------------------------------------


async def work(page: Page) -> Response:
    # Stewards and the admin take complaints but have no pool: that is the field staff's.
    data = await page.run("WorkQueue", withPool=Can(page.context.actor).grab_from_pool)
    return page.render(
        "tickets/work.html",
        queue=data["myWorkQueue"],
        pool=data.get("workOrderPool"),
        labels=tickets.CATEGORY_LABELS,
    )


# --- the steward's board ------------------------------------------------------------------------------------


async def _district(page: Page) -> tuple[str, list[dict]]:
    """The district to show (the one asked for, else the viewer's own) and, for a viewer with no district of
    their own (the admin sees every district), the districts to choose from."""
    grants = [g for g in page.context.actor.grants if g.district_id]
    choices = [] if grants else (await page.run("BoardDistricts"))["districts"]["nodes"]
    wanted = page.request.query_params.get("district", "")
    if wanted.isdigit():
        return wanted, choices
    if grants:
        return str(grants[0].district_id), choices
    if not choices:
        raise HTTPException(404, "not found")
    return choices[0]["id"], choices


def _board_filters(page: Page) -> dict[str, Any]:
    """The board's filters from the query string; what is not one of the choices is no filter."""
    q = page.request.query_params

    def pick(name: str, allowed) -> str | None:  # noqa: ANN001
        value = q.get(name) or None
        return value if value in allowed else None

    return {
        "status": pick("status", list(tickets.Status.__members__)),
        "category": pick("category", list(Category.__members__)),
        "kind": pick("kind", list(Kind.__members__)),
        "communityId": q.get("community") if (q.get("community") or "").isdigit() else None,
        "overdueOnly": q.get("overdue") == "1",
    }


async def board(page: Page) -> Response:
    district_id, districts = await _district(page)
    filters = _board_filters(page)
    data = await page.run(
        "StewardBoard",
        districtId=district_id,
        after=page.request.query_params.get("after") or None,
        withReturnVisits=Can(page.context.actor).manage_work,
        **filters,
    )
    return page.render(
        "tickets/board.html",
        district=data["district"],
        board=data["workOrderBoard"],
        visits=data.get("returnVisitsDue"),
        filters=filters,
        labels=tickets.CATEGORY_LABELS,
        districts=districts,
        categories=REPAIR_CATEGORIES + EMERGENCIES,
        statuses=list(tickets.Status.__members__),
    )


async def figures(page: Page) -> Response:
    district_id, _districts = await _district(page)
    q = page.request.query_params
    days = int(q.get("days")) if (q.get("days") or "").isdigit() and 0 < int(q.get("days")) <= 366 else 30
    community = q.get("community") if (q.get("community") or "").isdigit() else None
    data = await page.run("WorkOrderFiguresPage", districtId=district_id, communityId=community, days=days)
    return page.render(
        "tickets/figures.html",
        district=data["district"],
        figures=data["workOrderFigures"],
        community=community,
        days=days,
        labels=tickets.CATEGORY_LABELS,
    )


# --- the steward's field workers: skills, communities covered, on duty ----------------------------------


async def staff_profiles(
    page: Page, *, error: str | None = None, saved: str | None = None, status_code: int = 200
) -> Response:
    district_id, _districts = await _district(page)
    data = await page.run("StaffProfilesPage", districtId=district_id)
    return page.render(
        "tickets/staff.html",
        status_code=status_code,
        district=data["district"],
        staff=data["fieldStaff"],
        skills=tickets.SKILLS,
        skill_labels=SKILL_LABELS,
        error=error,
        saved=saved or page.request.query_params.get("saved"),
    )


async def save_staff_profile(page: Page) -> Response:
    form = await read_form(page.request)
    person_id = page.request.path_params["person_id"]
    result = (
        await page.run(
            "SaveStaffProfile",
            personId=person_id,
            skills=[str(v) for v in form.getlist("skills")][:20],
            communityIds=[str(v) for v in form.getlist("communities") if str(v).isdigit()][:100],
            onDuty=form.get("on_duty") == "on",
        )
    )["saveStaffProfile"]
    if result["__typename"] != "StaffProfileSaved":
        return await staff_profiles(page, error=result["message"], status_code=400)
    district = page.request.query_params.get("district", "")
    suffix = f"&district={district}" if district.isdigit() else ""
    return page.redirect(f"/board/staff?saved={person_id}{suffix}#staff-{person_id}")


PAGES = (
    PageRoute("GET", "/orders/{order_id}", order_page),
    PageRoute("POST", "/orders/{order_id}/{action}", order_action),
    PageRoute("GET", "/work", work),
    PageRoute("GET", "/board", board),
    PageRoute("GET", "/board/figures", figures),
    PageRoute("GET", "/board/staff", staff_profiles),
    PageRoute("POST", "/board/staff/{person_id}", save_staff_profile),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
