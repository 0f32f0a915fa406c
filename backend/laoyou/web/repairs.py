"""The resident's reports: report a problem (works without JavaScript; tickets.js adds photo downscaling,
voice notes and the offline queue, which posts the same form and asks for JSON) and the list of my reports.
Staff log a report taken by phone, at the desk or on patrol with the same form."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, Response

from laoyou.core import i18n
from laoyou.core.errors import LaoyouError, PermissionDenied
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Category, Kind, Source
from laoyou.web.edge import permissions_policy
from laoyou.web.render import OperationFailed, Page, PageRoute, add_pages
from laoyou.web.tickets import (
    AMBULANCE_PHONE,
    EMERGENCIES,
    REPAIR_CATEGORIES,
    RESCUE_PHONE,
    read_form,
    store_files,
)


def _steward_phone(viewer: dict) -> str:
    """Whom an emergency calls first at home: the steward on duty (listed first), else the on-duty phone."""
    if not viewer["households"]:
        return ""  # staff logging a call: the caller's steward is themselves or a colleague
    community = viewer["households"][0]["community"]
    stewards = community["stewards"]
    return stewards[0]["phone"] if stewards else community["onDutyPhone"]


def _wants_json(page: Page) -> bool:
    return page.request.headers.get("accept", "").startswith("application/json")


async def new_report(
    page: Page,
    *,
    error: str | None = None,
    field: str | None = None,
    values: dict | None = None,
    status_code: int = 200,
) -> Response:
    """The report form; again with what was typed and why it was refused."""
    params = page.request.query_params
    values = values or {}
    kind = values.get("kind") or params.get("kind") or "repair"
    kind = kind if kind in Kind.__members__ else "repair"
    category = values.get("category") or params.get("category") or ("" if kind == "repair" else "other")
    category = category if category in Category.__members__ else ""
    data = await page.run("ReportFormContext")
    # Gas, flooding and someone trapped: the form asks no urgency, says what to do first and whom to call.
    emergency = kind == "repair" and category in EMERGENCIES
    response = page.render(
        "tickets/new.html",
        status_code=status_code,
        viewer=data["viewer"],
        kind=kind,
        category=category,
        categories=REPAIR_CATEGORIES,
        emergencies=EMERGENCIES,
        emergency=emergency,
        steward_phone=_steward_phone(data["viewer"]) if emergency else "",
        rescue_phone=RESCUE_PHONE,
        ambulance_phone=AMBULANCE_PHONE,
        labels=tickets.CATEGORY_LABELS,
        sources=[s.value for s in Source if s != Source.app],
        client_id=values.get("client_id") or uuid.uuid4().hex,
        error=error,
        field=field,
        values=values,
        max_photos=tickets.MAX_PHOTOS,
    )
    response.headers["Permissions-Policy"] = permissions_policy(microphone=True)  # voice notes
    return response


async def _refused(page: Page, values: dict, message: str, field: str | None) -> Response:
    """A refused report: JSON for the offline queue, else the form again with an alert."""
    if _wants_json(page):
        return JSONResponse({"error": {"field": field, "message": message}}, status_code=400)
    return await new_report(page, error=message, field=field, values=values, status_code=400)


async def _report_place(page: Page, values: dict, source: str) -> tuple[int | None, int]:
    """The household and the community a report is for, which its files are stored under: a resident's own home
    (the service checks it is theirs), or the community staff name (the upload and the report check they serve
    it)."""
    if source == "app":
        asked = values.get("household_id", "")
        household = await tickets.resident_household(
            page.context.session,
            actor=page.context.actor,
            household_id=(int(asked) or None) if asked.isdigit() else None,
        )
        return household.id, household.community_id
    return None, int(values["community_id"]) if values.get("community_id", "").isdigit() else 0


def _report_input(
    values: dict,
    *,
    client_id: str,
    source: str,
    household_id: int | None,
    community_id: int,
    photos: list[int],
    voice: int | None,
) -> dict[str, Any]:
    """The ReportProblem operation's input from the form."""
    variables: dict[str, Any] = {
        "clientId": client_id,
        "category": values.get("category") or "other",
        "kind": values.get("kind") or "repair",
        "urgency": values.get("urgency") or "normal",
        "place": values.get("place") or "unit",
        "placeNote": values.get("place_note", ""),
        "description": values.get("description", ""),
        "photoIds": [str(p) for p in photos],
        "voiceId": str(voice) if voice else None,
        "hideAuthor": values.get("hide_author") == "on",
        "source": source,
        "reporterName": values.get("reporter_name", ""),
        "reporterPhone": values.get("reporter_phone", ""),
    }
    if household_id:
        variables["householdId"] = str(household_id)
    if source != "app":
        variables["communityId"] = str(community_id)
    return variables


async def submit_report(page: Page) -> Response:
    """Store the form's files, then run ReportProblem: both end in its boundary, committed or not together."""
    form = await read_form(page.request)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    client_id = values.get("client_id", "")[:64] or uuid.uuid4().hex
    source = values.get("source") or "app"
    try:
        household_id, community_id = await _report_place(page, values, source)
        photos, voice = await store_files(page, form, community_id, client_id)
    except LaoyouError as exc:
        return await _refused(
            page, values, i18n.gettext(exc.message, page.context.language, **exc.params), exc.field
        )
    except PermissionDenied:
        raise HTTPException(404, "not found") from None
    variables = _report_input(
        values,
        client_id=client_id,
        source=source,
        household_id=household_id,
        community_id=community_id,
        photos=photos,
        voice=voice,
    )
    try:
        result = (await page.run("ReportProblem", input=variables))["reportProblem"]
    except OperationFailed as exc:
        return await _refused(page, values, exc.errors[0].message if exc.errors else "error", None)
    if result["__typename"] != "WorkOrderReported":
        return await _refused(page, values, result["message"], result["field"])
    order_id = result["workOrder"]["id"]
    if _wants_json(page):
        return JSONResponse({"id": order_id, "url": f"/orders/{order_id}", "created": result["created"]})
    return page.redirect(f"/orders/{order_id}?sent=1")


async def my_reports(page: Page) -> Response:
    data = await page.run("MyWorkOrders", first=50, after=page.request.query_params.get("after"))
    return page.render("tickets/mine.html", orders=data["myWorkOrders"], labels=tickets.CATEGORY_LABELS)


PAGES = (
    PageRoute("GET", "/repairs/new", new_report),
    PageRoute("POST", "/repairs", submit_report),
    PageRoute("GET", "/repairs", my_reports),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
