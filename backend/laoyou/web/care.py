"""Care pages: the resident's check-in and care record (with its export), 我很好 from the home page, the
steward's check-in board and care records, and what family see of the homes they follow.

Every page runs the PWA's own operations (pwa/operations/care.graphql).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

from laoyou.core import i18n
from laoyou.core.errors import LaoyouError
from laoyou.graphql.types import decode_id
from laoyou.web.media import store_posted_file
from laoyou.web.render import Page, PageRoute, add_pages, form_with_csrf
from laoyou.web.tickets import read_form


def _(message: str) -> str:
    """Marks a msgid for extraction; translated in the template."""
    return message


LIVING = {
    "ALONE": _("Lives alone"),
    "WITH_SPOUSE": _("Lives with spouse"),
    "WITH_FAMILY": _("Lives with family"),
    "WITH_CARER": _("Lives with a carer"),
}
MOBILITY = {
    "INDEPENDENT": _("Walks on her own"),
    "WALKS_WITH_AID": _("Walks with a stick or frame"),
    "WHEELCHAIR": _("Uses a wheelchair"),
    "BEDRIDDEN": _("Stays in bed"),
}
NEEDS = {
    "hearing": _("Hard of hearing"),
    "sight": _("Poor eyesight"),
    "memory": _("Forgetful"),
    "medication": _("Reminders for medicine"),
    "meals": _("Help with meals"),
    "stairs": _("Help on the stairs"),
    "shopping": _("Help with shopping"),
    "company": _("Would like company"),
}
VISIT_TIMES = {"morning": _("Morning"), "afternoon": _("Afternoon"), "evening": _("Evening")}
FINDINGS = {"ALL_WELL": _("All well"), "NEEDS_HELP": _("Needs help"), "NOT_HOME": _("Not at home")}
OUTCOMES = {
    "ALL_WELL": _("Reached her: all well"),
    "NEEDS_HELP": _("Reached her: needs help"),
    "NOT_REACHABLE": _("Cannot reach her: raise SOS"),
}
STATUSES = {
    "PENDING": _("Not yet"),
    "CHECKED_IN": _("Checked in"),
    "MISSED": _("Missed: nobody handling"),
    "HANDLING": _("Being handled"),
    "RESOLVED": _("Confirmed fine"),
    "PAUSED": _("Away (paused)"),
}
# The windows offered as one tap each.
WINDOWS = (8 * 60, 9 * 60, 10 * 60, 11 * 60, 12 * 60)
PAUSES = (1, 3, 7, 14)
LABELS = {
    "living": LIVING,
    "mobility": MOBILITY,
    "needs_labels": NEEDS,
    "visit_labels": VISIT_TIMES,
    "findings": FINDINGS,
    "outcomes": OUTCOMES,
    "statuses": STATUSES,
}


async def care_for_home(page: Page) -> dict[str, Any]:
    """Opening the app is a check-in (the morning push opens it with ?checkin=push); then today's state for the
    我很好 card."""
    how = "PUSH" if page.request.query_params.get("checkin") == "push" else "APP"
    await page.run("CheckInHome", how=how)
    return (await page.run("HomeCheckin"))["myCheckin"]


def _window_label(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def mine(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("MyCare")
    homes = [h["id"] for h in data["viewer"]["households"] if h["id"] in data["viewer"]["ownHouseholdIds"]]
    return page.render(
        "care/mine.html",
        status_code=status_code,
        checkin=data["myCheckin"],
        record=data["myCareRecord"],
        home_id=homes[0] if homes else None,
        windows=[(m, _window_label(m)) for m in WINDOWS],
        pauses=PAUSES,
        error=error,
        done=page.request.query_params.get("done"),
        **LABELS,
    )


def _failed(result: dict) -> str | None:
    return result.get("message") if "message" in result else None


async def _post(page: Page, operation: str, field: str, done: str, **variables: Any) -> Response:
    result = (await page.run(operation, **variables))[field]
    if message := _failed(result):
        return await mine(page, error=message, status_code=400)
    return page.redirect(f"/care?done={done}")


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise HTTPException(404, "not found") from None


async def fine(page: Page) -> Response:
    """The big 我很好 on the home page."""
    await form_with_csrf(page.request)
    await page.run("CheckInHome", how="BUTTON")
    return page.redirect("/?fine=1#checkin")


async def set_up(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    return await _post(
        page, "SetUpCheckin", "setUpCheckin", "setup", windowEnd=_int(posted.get("window_end"))
    )


async def pause(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    return await _post(page, "PauseCheckin", "pauseCheckin", "pause", days=_int(posted.get("days")))


async def stop(page: Page) -> Response:
    await form_with_csrf(page.request)
    return await _post(page, "StopCheckin", "stopCheckin", "stop")


async def consent(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    return await _post(
        page, "GiveCareConsent", "giveCareConsent", "consent", householdId=posted.get("household_id", "")
    )


async def paper_consent(page: Page) -> Response:
    """The steward records consent given on paper, from the home's page: the signed form's photo is stored,
    then RecordCareConsent runs; both end in its boundary, kept or dropped together."""
    from laoyou.web.residents import household_residents  # noqa: PLC0415  (the page the form is on)

    form = await read_form(page.request)
    try:
        stored = await store_posted_file(
            page, form.get("photo"), kind="image", community_id=decode_id(str(form.get("community_id", "")))
        )
    except LaoyouError as exc:
        message = i18n.gettext(exc.message, page.context.language, **exc.params)
        return await household_residents(page, error=message, status_code=400)
    if stored is None:
        message = i18n.gettext("Add a photo of the signed consent form.", page.context.language)
        return await household_residents(page, error=message, status_code=400)
    result = (
        await page.run(
            "RecordCareConsent", residentId=str(form.get("resident_id", "")), photoId=str(stored.id)
        )
    )["recordCareConsent"]
    if message := _failed(result):
        return await household_residents(page, error=message, status_code=400)
    return page.redirect(f"/care/records/{result['record']['id']}?done=consent")


async def withdraw(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    return await _post(
        page, "WithdrawCareConsent", "withdrawCareConsent", "withdrawn", id=posted.get("id", "")
    )


async def _my_record(page: Page) -> dict:
    record = (await page.run("MyCare"))["myCareRecord"]
    if record is None:
        raise HTTPException(404, "not found")
    return record


def _download(body: str, media_type: str, name: str) -> Response:
    """Sensitive data: downloaded, never kept by a cache."""
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def export_json(page: Page) -> Response:
    """Her own record, as kept: PIPL gives her a copy of what is held about her."""
    record = await _my_record(page)
    return _download(json.dumps(record, ensure_ascii=False, indent=2), "application/json", "care-record.json")


async def export_csv(page: Page) -> Response:
    record = await _my_record(page)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["field", "value"])
    for key in (
        "residentName",
        "living",
        "mobility",
        "consentMethod",
        "consentAt",
        "consentByName",
        "withdrawnAt",
    ):
        writer.writerow([key, record[key] or ""])
    writer.writerow(["needs", " ".join(record["needs"])])
    writer.writerow(["visitTimes", " ".join(record["visitTimes"])])
    for contact in record["contacts"]:
        writer.writerow(["contact", f"{contact['name']} {contact['relation']} {contact['phone']}".strip()])
    for visit in record["visits"]:
        writer.writerow(
            [
                "visit",
                f"{visit['visitedOn']} {visit['visitorName']} {visit['finding']} {visit['note']}".strip(),
            ]
        )
    return _download("\ufeff" + out.getvalue(), "text/csv; charset=utf-8", "care-record.csv")


# --- the steward ---------------------------------------------------------------------------------------------


async def board(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    lines = (await page.run("CheckinBoard"))["checkinBoard"]
    counts = {key: sum(1 for line in lines if line["status"] == key) for key in STATUSES}
    return page.render(
        "care/board.html", status_code=status_code, lines=lines, counts=counts, error=error, **LABELS
    )


async def take(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("TakeCheckin", dayId=page.request.path_params["day_id"]))["takeCheckin"]
    if message := _failed(result):
        return await board(page, error=message, status_code=400)
    return page.redirect("/care/board")


async def outcome(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    if posted.get("outcome") not in OUTCOMES:
        raise HTTPException(404, "not found")
    result = (
        await page.run(
            "RecordCheckinOutcome", dayId=page.request.path_params["day_id"], outcome=posted["outcome"]
        )
    )["recordCheckinOutcome"]
    if message := _failed(result):
        return await board(page, error=message, status_code=400)
    return page.redirect("/care/board")


async def records(page: Page) -> Response:
    return page.render("care/records.html", records=(await page.run("CareRecords"))["careRecords"], **LABELS)


async def record(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    data = await page.run("CareRecordPage", id=page.request.path_params["record_id"])
    return page.render(
        "care/record.html",
        status_code=status_code,
        record=data["careRecord"],
        windows=[(m, _window_label(m)) for m in WINDOWS],
        error=error,
        done=page.request.query_params.get("done"),
        **LABELS,
    )


async def update(page: Page) -> Response:
    form = await page.request.form()
    posted = await form_with_csrf(page.request)
    record_id = page.request.path_params["record_id"]
    if posted.get("living") not in LIVING or posted.get("mobility") not in MOBILITY:
        raise HTTPException(404, "not found")
    result = (
        await page.run(
            "UpdateCareRecord",
            id=record_id,
            input={
                "living": posted["living"],
                "mobility": posted["mobility"],
                "needs": [str(v) for v in form.getlist("needs")],
                "visitTimes": [str(v) for v in form.getlist("visit_times")],
                "contactName": posted.get("contact_name", ""),
                "contactPhone": posted.get("contact_phone", ""),
            },
        )
    )["updateCareRecord"]
    if message := _failed(result):
        return await record(page, error=message, status_code=400)
    return page.redirect(f"/care/records/{record_id}?done=saved")


async def visit(page: Page) -> Response:
    posted = await form_with_csrf(page.request)
    record_id = page.request.path_params["record_id"]
    if posted.get("finding") not in FINDINGS:
        raise HTTPException(404, "not found")
    result = (
        await page.run(
            "RecordCareVisit",
            recordId=record_id,
            finding=posted["finding"],
            note=posted.get("note", ""),
            followUp=posted.get("follow_up", ""),
            makeWorkOrder=posted.get("work_order") == "1",
        )
    )["recordCareVisit"]
    if message := _failed(result):
        return await record(page, error=message, status_code=400)
    return page.redirect(f"/care/records/{record_id}?done=visit")


async def set_up_for(page: Page) -> Response:
    """The steward sets up the check-in for a resident whose consented record she keeps (her consent)."""
    posted = await form_with_csrf(page.request)
    record_id = page.request.path_params["record_id"]
    resident_id = (await page.run("CareRecordPage", id=record_id))["careRecord"]["residentId"]
    result = (
        await page.run("SetUpCheckinFor", residentId=resident_id, windowEnd=_int(posted.get("window_end")))
    )["setUpCheckinFor"]
    if message := _failed(result):
        return await record(page, error=message, status_code=400)
    return page.redirect(f"/care/records/{record_id}?done=checkin")


# --- family ----------------------------------------------------------------------------------------------------


async def family(page: Page, *, error: str | None = None, status_code: int = 200) -> Response:
    lines = (await page.run("FamilyCheckins"))["familyCheckins"]
    return page.render("care/family.html", status_code=status_code, lines=lines, error=error, **LABELS)


async def family_fine(page: Page) -> Response:
    await form_with_csrf(page.request)
    result = (await page.run("FamilyConfirmsCheckin", residentId=page.request.path_params["resident_id"]))[
        "checkIn"
    ]
    if message := _failed(result):
        return await family(page, error=message, status_code=400)
    return page.redirect("/care/family")


PAGES = (
    PageRoute("GET", "/care", mine),
    PageRoute("POST", "/care/fine", fine),
    PageRoute("POST", "/care/setup", set_up),
    PageRoute("POST", "/care/pause", pause),
    PageRoute("POST", "/care/stop", stop),
    PageRoute("POST", "/care/consent", consent),
    PageRoute("POST", "/care/withdraw", withdraw),
    PageRoute("GET", "/care/export.json", export_json),
    PageRoute("GET", "/care/export.csv", export_csv),
    PageRoute("GET", "/care/family", family),
    PageRoute("POST", "/care/family/{resident_id:int}/fine", family_fine),
    PageRoute("GET", "/care/board", board, staff=True),
    PageRoute("POST", "/staff/households/{household_id}/care-consent", paper_consent, staff=True),
    PageRoute("POST", "/care/board/{day_id:int}/take", take, staff=True),
    PageRoute("POST", "/care/board/{day_id:int}/outcome", outcome, staff=True),
    PageRoute("GET", "/care/records", records, staff=True),
    PageRoute("GET", "/care/records/{record_id:int}", record, staff=True),
    PageRoute("POST", "/care/records/{record_id:int}", update, staff=True),
    PageRoute("POST", "/care/records/{record_id:int}/visit", visit, staff=True),
    PageRoute("POST", "/care/records/{record_id:int}/checkin", set_up_for, staff=True),
)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
