"""Work-order pages: report a problem (works without JavaScript; tickets.js adds photo downscaling, voice
notes and the offline queue), my reports with their timeline, the field worker's queue and pool, the
steward's district board, the overdue list and the figures."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from laoyou.accounts.models import Role
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError, PermissionDenied
from laoyou.graphql.router import check_csrf
from laoyou.media import service as media
from laoyou.tickets import service as tickets
from laoyou.tickets.models import Category, Kind, Source
from laoyou.web.edge import permissions_policy
from laoyou.web.render import Can, OperationFailed, Page, page_endpoint

MAX_FORM = 6 * media.MAX_IMAGE_BYTES + media.MAX_AUDIO_BYTES
REPAIR_CATEGORIES = (
    "water",
    "electricity",
    "sewer",
    "lift",
    "door_lock",
    "lighting",
    "greenery",
    "cleanliness",
    "noise",
    "parking",
    "security",
    "other",
)
EMERGENCIES = ("gas", "flooding", "lift_trapped")
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


async def _form(request: Request) -> Any:
    """A posted form (multipart with photos, or urlencoded), refused without its page's CSRF token."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM + 64 * 1024:
        raise HTTPException(413, "too large")
    form = await request.form(max_files=8, max_fields=30, max_part_size=media.MAX_IMAGE_BYTES + 1024)
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    return form


async def _store_files(
    page: Page, form: Any, community_id: int, client_id: str
) -> tuple[list[int], int | None]:
    """Photos and a voice note from the form, each stored once per submission (the same ids on a replay)."""
    photos: list[int] = []
    voice: int | None = None
    files = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    tickets.check_photo_count(len(files))  # before storing any
    context = page.context
    storage = page.request.app.state.storage
    for index, upload in enumerate(files):
        data = await upload.read(media.MAX_IMAGE_BYTES + 1)
        stored = await media.do_store_upload(
            context.session,
            settings=context.settings,
            storage=storage,
            actor=context.actor,
            data=data,
            community_id=community_id,
            allowed={"image"},
            client_id=f"{client_id[:56]}-p{index}",
        )
        photos.append(stored.id)
    voice_file = form.get("voice")
    if isinstance(voice_file, UploadFile) and voice_file.filename:
        data = await voice_file.read(media.MAX_AUDIO_BYTES + 1)
        stored = await media.do_store_upload(
            context.session,
            settings=context.settings,
            storage=storage,
            actor=context.actor,
            data=data,
            community_id=community_id,
            allowed={"audio"},
            client_id=f"{client_id[:56]}-v",
        )
        voice = stored.id
    return photos, voice


def _wants_json(request: Request) -> bool:
    return request.headers.get("accept", "").startswith("application/json")


def install(app: FastAPI) -> None:

    # --- reporting ---------------------------------------------------------------------------------------

    async def new_report(
        page: Page,
        *,
        error: str | None = None,
        field: str | None = None,
        values: dict | None = None,
        status_code: int = 200,
    ) -> Response:
        params = page.request.query_params
        values = values or {}
        kind = values.get("kind") or params.get("kind") or "repair"
        kind = kind if kind in Kind.__members__ else "repair"
        category = values.get("category") or params.get("category") or ("" if kind == "repair" else "other")
        category = category if category in Category.__members__ else ""
        data = await page.run("ReportFormContext")
        response = page.render(
            "tickets/new.html",
            status_code=status_code,
            viewer=data["viewer"],
            kind=kind,
            category=category,
            categories=REPAIR_CATEGORIES,
            emergencies=EMERGENCIES,
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

    app.add_api_route("/repairs/new", page_endpoint(new_report), methods=["GET"], include_in_schema=False)

    async def submit_report(page: Page) -> Response:
        form = await _form(page.request)
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        client_id = values.get("client_id", "")[:64] or uuid.uuid4().hex
        actor = page.context.actor
        source = values.get("source") or "app"
        language = page.context.language
        try:
            if source == "app":
                asked = values.get("household_id", "")
                household = await tickets.resident_household(
                    page.context.session,
                    actor=actor,
                    household_id=(int(asked) or None) if asked.isdigit() else None,
                )
                household_id, community_id = household.id, household.community_id
            else:
                household_id = None
                community_id = int(values["community_id"]) if values.get("community_id", "").isdigit() else 0
            # Not committed here: the files and the report end as one unit of work in the mutation's boundary.
            photos, voice = await _store_files(page, form, community_id, client_id)
        except LaoyouError as exc:
            message = i18n.gettext(exc.message, language, **exc.params)
            if _wants_json(page.request):
                return JSONResponse({"error": {"field": exc.field, "message": message}}, status_code=400)
            return await new_report(page, error=message, field=exc.field, values=values, status_code=400)
        except PermissionDenied:
            raise HTTPException(404, "not found") from None
        variables = {
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
        try:
            result = (await page.run("ReportProblem", input=variables))["reportProblem"]
        except OperationFailed as exc:
            message = exc.errors[0].message if exc.errors else "error"
            if _wants_json(page.request):
                return JSONResponse({"error": {"field": None, "message": message}}, status_code=400)
            return await new_report(page, error=message, values=values, status_code=400)
        if result["__typename"] != "WorkOrderReported":
            if _wants_json(page.request):
                return JSONResponse(
                    {"error": {"field": result["field"], "message": result["message"]}}, status_code=400
                )
            return await new_report(
                page, error=result["message"], field=result["field"], values=values, status_code=400
            )
        order_id = result["workOrder"]["id"]
        if _wants_json(page.request):
            return JSONResponse({"id": order_id, "url": f"/orders/{order_id}", "created": result["created"]})
        return page.redirect(f"/orders/{order_id}?sent=1")

    app.add_api_route("/repairs", page_endpoint(submit_report), methods=["POST"], include_in_schema=False)

    async def my_reports(page: Page) -> Response:
        data = await page.run("MyWorkOrders", first=50, after=page.request.query_params.get("after"))
        return page.render("tickets/mine.html", orders=data["myWorkOrders"], labels=tickets.CATEGORY_LABELS)

    app.add_api_route("/repairs", page_endpoint(my_reports), methods=["GET"], include_in_schema=False)

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

    app.add_api_route(
        "/orders/{order_id}", page_endpoint(order_page), methods=["GET"], include_in_schema=False
    )

    async def order_action(page: Page) -> Response:
        action = page.request.path_params["action"]
        if action not in ACTIONS:
            raise HTTPException(404, "not found")
        form = await _form(page.request)
        order_id = page.request.path_params["order_id"]
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        note = values.get("note", "")
        variables: dict[str, Any] = {"id": order_id}
        if action in ("finish", "note"):
            order = (await page.run("WorkOrderPage", id=order_id))["workOrder"]
            try:
                # Committed with the step by the mutation's boundary, not before it.
                photos, _ = await _store_files(
                    page, form, int(order["community"]["id"]), values.get("client_id") or uuid.uuid4().hex
                )
            except LaoyouError as exc:
                return await order_page(
                    page,
                    error=i18n.gettext(exc.message, page.context.language, **exc.params),
                    status_code=400,
                )
            variables.update(note=note, photoIds=[str(p) for p in photos])
        elif action in ("assign", "transfer"):
            assignee = values.get("assignee_id", "")
            variables.update(note=note, assigneeId=assignee if assignee.isdigit() else None)
        elif action == "release":
            variables.update(note=note, assigneeId=None)
        elif action == "confirm":
            rating = values.get("rating", "")
            variables.update(rating=int(rating) if rating.isdigit() else 0, comment=values.get("comment", ""))
        elif action in ("reopen", "cancel", "escalate", "return_visit"):
            variables.update(note=note)
        name = ACTIONS[action]
        result = next(iter((await page.run(name, **variables)).values()))
        if result["__typename"] != "WorkOrderChanged":
            return await order_page(page, error=result["message"], status_code=400)
        back = values.get("next", "")
        return page.redirect(
            back if back.startswith("/") and not back.startswith("//") else f"/orders/{order_id}"
        )

    app.add_api_route(
        "/orders/{order_id}/{action}", page_endpoint(order_action), methods=["POST"], include_in_schema=False
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

    app.add_api_route("/work", page_endpoint(work), methods=["GET"], include_in_schema=False)

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

    async def board(page: Page) -> Response:
        district_id, districts = await _district(page)
        q = page.request.query_params

        def pick(name: str, allowed) -> str | None:  # noqa: ANN001
            value = q.get(name) or None
            return value if value in allowed else None

        filters = {
            "status": pick("status", [s for s in tickets.Status.__members__]),
            "category": pick("category", list(Category.__members__)),
            "kind": pick("kind", list(Kind.__members__)),
            "communityId": q.get("community") if (q.get("community") or "").isdigit() else None,
            "overdueOnly": q.get("overdue") == "1",
        }
        data = await page.run(
            "StewardBoard",
            districtId=district_id,
            after=q.get("after") or None,
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

    app.add_api_route("/board", page_endpoint(board), methods=["GET"], include_in_schema=False)

    async def figures(page: Page) -> Response:
        district_id, _districts = await _district(page)
        q = page.request.query_params
        days = int(q.get("days")) if (q.get("days") or "").isdigit() and 0 < int(q.get("days")) <= 366 else 30
        community = q.get("community") if (q.get("community") or "").isdigit() else None
        data = await page.run(
            "WorkOrderFiguresPage", districtId=district_id, communityId=community, days=days
        )
        return page.render(
            "tickets/figures.html",
            district=data["district"],
            figures=data["workOrderFigures"],
            community=community,
            days=days,
            labels=tickets.CATEGORY_LABELS,
        )

    app.add_api_route("/board/figures", page_endpoint(figures), methods=["GET"], include_in_schema=False)

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

    app.add_api_route("/board/staff", page_endpoint(staff_profiles), methods=["GET"], include_in_schema=False)

    async def save_staff_profile(page: Page) -> Response:
        form = await _form(page.request)
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

    app.add_api_route(
        "/board/staff/{person_id}",
        page_endpoint(save_staff_profile),
        methods=["POST"],
        include_in_schema=False,
    )
