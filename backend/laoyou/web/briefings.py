"""Briefing pages: the archive, one briefing, the steward's form, read receipts, thanks, the public share page.

Every page runs the PWA's own operations (pwa/operations/briefings.graphql); photos come in with the form
(multipart) and are stored by the media service before the briefing mutation names them.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from laoyou.briefings import service as briefings
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError, NotFound, PermissionDenied
from laoyou.core.time import SHANGHAI, as_utc, local, start_of_local_day, utcnow
from laoyou.graphql.router import check_csrf
from laoyou.media import service as media
from laoyou.tickets import service as tickets
from laoyou.web.render import OperationFailed, Page, page_endpoint

ITEM_KINDS = ("cleaning", "repair", "patrol", "other")
MAX_FORM = 9 * media.MAX_IMAGE_BYTES // 3 + media.MAX_VIDEO_BYTES  # phones send downscaled photos


async def _run(page: Page, name: str, **variables: Any) -> dict[str, Any]:
    try:
        return await page.run(name, **variables)
    except OperationFailed:
        raise HTTPException(404, "not found") from None


def by_day(nodes: list[dict]) -> list[tuple[str, list[dict]]]:
    """Published briefings grouped by their Shanghai date, newest day first."""

    def day(node: dict) -> str:
        stamp = node.get("publishedAt") or node.get("createdAt")
        return local(datetime.fromisoformat(stamp)).strftime("%Y-%m-%d")

    return [(key, list(group)) for key, group in groupby(nodes, key=day)]


async def todays_for_home(page: Page) -> list[dict]:
    """The home page shows today's newest briefing in full (seeing it there counts as reading it) and the
    others of today as links, which count once opened."""
    found = (await page.run("TodaysBriefings"))["todaysBriefings"]
    if found and not found[0]["readByMe"]:
        await page.run("MarkBriefingRead", id=found[0]["id"])
    return found


async def finished_today(page: Page, communities: list[dict]) -> list[dict]:
    """Repairs finished today (done or confirmed) in the steward's briefing communities, offered as ready-made
    lines of "done today". The work-order service scopes the board to the steward; a flat's own problem is
    named by its kind only, a common area's with its place, so nothing personal goes into a briefing."""
    context = page.context
    since = start_of_local_day(utcnow())
    wanted = {int(c["id"]): c.get("name", "") for c in communities if str(c["id"]).isdigit()}
    if not wanted:
        return []
    districts = await briefings.community_districts(context.session, list(wanted))
    found = []
    for district_id in sorted(set(districts.values())):
        for status in ("done", "confirmed"):
            flt = tickets.BoardFilter(district_id=district_id, status=status, kind="repair")
            try:
                board = await tickets.list_board(
                    context.session, actor=context.actor, flt=flt, first=100, after=None
                )
            except (PermissionDenied, NotFound, LaoyouError):
                continue
            found += [
                o
                for o in board.items
                if o.community_id in wanted and o.done_at and as_utc(o.done_at) >= since
            ]
    language = context.language
    offered = []
    for order in sorted(found, key=lambda o: as_utc(o.done_at)):
        label = i18n.gettext(tickets.CATEGORY_LABELS.get(order.category, order.category), language)
        if order.place == "common" and order.place_note:
            label = f"{label}: {order.place_note}"
        kind = "cleaning" if order.category == "cleanliness" else "repair"
        offered.append(
            {"id": order.id, "kind": kind, "text": label[:100], "community": wanted[order.community_id]}
        )
    return offered


def install(app: FastAPI) -> None:
    # --- reading -----------------------------------------------------------------------------------------

    async def archive(page: Page) -> Response:
        data = await _run(page, "BriefingList", first=30, after=page.request.query_params.get("after"))
        connection = data["briefings"]
        return page.render(
            "briefings/list.html",
            viewer=data["viewer"],
            days=by_day(connection["nodes"]),
            nodes=connection["nodes"],
            page_info=connection["pageInfo"],
        )

    app.add_api_route("/briefings", page_endpoint(archive), methods=["GET"], include_in_schema=False)

    async def view(
        page: Page, *, message: str | None = None, error: str | None = None, status_code: int = 200
    ) -> Response:
        briefing_id = page.request.path_params["briefing_id"]
        data = await _run(page, "BriefingPage", id=briefing_id)
        briefing = data["briefing"]
        if not data["viewer"]["isStaff"] and briefing["status"] == "PUBLISHED" and not briefing["readByMe"]:
            await page.run("MarkBriefingRead", id=briefing_id)
            data = await _run(page, "BriefingPage", id=briefing_id)
            briefing = data["briefing"]
        return page.render(
            "briefings/view.html",
            status_code=status_code,
            briefing=briefing,
            viewer=data["viewer"],
            message=message,
            error=error,
        )

    app.add_api_route(
        "/briefings/{briefing_id:int}", page_endpoint(view), methods=["GET"], include_in_schema=False
    )

    async def action(page: Page) -> Response:
        await _csrf_form(page.request)
        briefing_id = page.request.path_params["briefing_id"]
        name = {"thank": "ThankBriefing", "publish": "PublishBriefing", "withdraw": "WithdrawBriefing"}[
            page.request.url.path.rsplit("/", 1)[1]
        ]
        data = next(iter((await _run(page, name, id=briefing_id)).values()))
        if data["__typename"] != "BriefingSaved":
            return await view(page, error=data["message"], status_code=400)
        return page.redirect(f"/briefings/{briefing_id}")

    async def ask(page: Page) -> Response:
        """ "Ask a question": the resident's customer-service conversation (started, or the open one continued)
        gets a first message naming the briefing, and she lands on the chat page to say more."""
        await _csrf_form(page.request)
        briefing_id = page.request.path_params["briefing_id"]
        briefing = (await _run(page, "BriefingPage", id=briefing_id))["briefing"]
        mine = briefings.resident_households_by_community(page.context.actor)
        households = [h for c in briefing["communities"] for h in mine.get(int(c["id"]), [])]
        if not households:
            raise HTTPException(404, "not found")
        body = i18n.gettext(
            "About the briefing \u201c%(title)s\u201d, I have a question:",
            page.context.language,
            title=briefing["title"],
        )
        # One client id per briefing: a second tap (or a replayed form) does not send it twice.
        result = (
            await page.run(
                "SendChatMessage",
                clientId=f"briefing-{briefing_id}",
                body=body,
                mediaId=None,
                conversationId=None,
                householdId=str(households[0]),
            )
        )["sendChatMessage"]
        if result["__typename"] != "ChatMessageSent":
            return await view(page, error=result["message"], status_code=400)
        return page.redirect("/support#bottom")

    app.add_api_route(
        "/briefings/{briefing_id:int}/ask", page_endpoint(ask), methods=["POST"], include_in_schema=False
    )

    for verb in ("thank", "publish", "withdraw"):
        app.add_api_route(
            f"/briefings/{{briefing_id:int}}/{verb}",
            page_endpoint(action),
            methods=["POST"],
            include_in_schema=False,
        )

    # --- the steward's form --------------------------------------------------------------------------------

    async def form(
        page: Page,
        *,
        values: dict | None = None,
        error: str | None = None,
        field: str | None = None,
        status_code: int = 200,
    ) -> Response:
        briefing_id = page.request.path_params.get("briefing_id")
        if briefing_id is not None:
            # Root fields that read resolve concurrently on one session, so two operations, one after the other.
            data = await _run(page, "BriefingEdit", id=briefing_id)
            data |= await _run(page, "BriefingForm")
            if not data["briefing"]["canEdit"]:
                raise HTTPException(404, "not found")
            values = values or _values_of(data["briefing"])
        else:
            if not page.context.actor.is_staff:
                raise HTTPException(404, "not found")
            data = await _run(page, "BriefingForm")
            values = values or {
                "community_ids": [c["id"] for c in data["briefingCommunities"][:1]],
                "items": {},
            }
        return page.render(
            "briefings/form.html",
            status_code=status_code,
            communities=data["briefingCommunities"],
            briefing=data.get("briefing"),
            values=values,
            error=error,
            field=field,
            item_kinds=ITEM_KINDS,
            work_orders=await finished_today(page, data["briefingCommunities"]),
        )

    app.add_api_route("/briefings/new", page_endpoint(form), methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/briefings/{briefing_id:int}/edit", page_endpoint(form), methods=["GET"], include_in_schema=False
    )

    async def save(page: Page) -> Response:
        if not page.context.actor.is_staff:
            raise HTTPException(404, "not found")
        posted = await _csrf_form(page.request, files=True)
        briefing_id = page.request.path_params.get("briefing_id")
        values = {
            "community_ids": [str(v) for v in posted.getlist("community_ids")],
            "title": str(posted.get("title", "")),
            "body": str(posted.get("body", "")),
            "items": {kind: str(posted.get(f"done_{kind}", "")) for kind in ITEM_KINDS},
            "publish_at": str(posted.get("publish_at", "")),
            "keep_photos": [str(v) for v in posted.getlist("keep_photo")],
            "keep_video": str(posted.get("keep_video", "")),
        }
        mode = str(posted.get("mode", "draft"))
        language = page.context.language
        try:
            photo_ids, video_id = await _store_uploads(page, posted, values)
        except LaoyouError as exc:
            # Nothing is committed: the page's session closes without a commit (a rollback here would expire
            # the actor the re-rendered form still needs).
            return await form(
                page,
                values=values,
                error=i18n.gettext(exc.message, language, **exc.params),
                field="photos",
                status_code=400,
            )
        publish_at = _local_to_iso(values["publish_at"]) if mode == "scheduled" else None
        items = [
            {"kind": kind.upper(), "text": line.strip()}
            for kind in ITEM_KINDS
            for line in values["items"][kind].splitlines()
            if line.strip()
        ]
        chosen = {str(v) for v in posted.getlist("work_order")}
        if chosen:
            # The same lines briefings.js writes into the boxes; a line typed (or filled in) twice counts once.
            offered = await finished_today(page, [{"id": c} for c in values["community_ids"]])
            for order in offered:
                line = {"kind": order["kind"].upper(), "text": order["text"]}
                if str(order["id"]) in chosen and line not in items:
                    items.append(line)
        variables = {
            "input": {
                "communityIds": values["community_ids"],
                "title": values["title"],
                "body": values["body"],
                "items": items,
                "photoIds": values["keep_photos"] + photo_ids,
                "videoId": video_id or (values["keep_video"] or None),
            },
            "publishAt": publish_at,
        }
        if briefing_id is None:
            result = (
                await _run(
                    page,
                    "CreateBriefing",
                    mode=mode.upper() if mode in ("draft", "now", "scheduled") else "DRAFT",
                    **variables,
                )
            )["createBriefing"]
        else:
            chosen = mode.upper() if mode in ("draft", "now", "scheduled") else None
            result = (await _run(page, "UpdateBriefing", id=briefing_id, mode=chosen, **variables))[
                "updateBriefing"
            ]
        if result["__typename"] != "BriefingSaved":
            values["keep_photos"] = variables["input"]["photoIds"]
            values["keep_video"] = variables["input"]["videoId"] or ""
            return await form(
                page, values=values, error=result["message"], field=result.get("field"), status_code=400
            )
        return page.redirect(f"/briefings/{result['briefing']['id']}")

    app.add_api_route("/briefings/new", page_endpoint(save), methods=["POST"], include_in_schema=False)
    app.add_api_route(
        "/briefings/{briefing_id:int}/edit", page_endpoint(save), methods=["POST"], include_in_schema=False
    )

    # --- files: a briefing's photos and video, for whoever may read the briefing ---------------------------

    async def briefing_file(request: Request) -> Response:
        page = await Page.open(request)
        try:
            params = request.path_params
            try:
                briefing = await briefings.access_briefing(
                    page.context.session, actor=page.context.actor, briefing_id=int(params["briefing_id"])
                )
                found = await briefings.access_briefing_media(
                    page.context.session, briefing=briefing, media_id=int(params["media_id"])
                )
            except PermissionDenied:
                raise HTTPException(404, "not found") from None
            return await _file(request, found, thumb=request.url.path.endswith("/thumb"), public=False)
        finally:
            await page.close()

    for suffix in ("", "/thumb"):
        app.add_api_route(
            f"/briefings/{{briefing_id:int}}/media/{{media_id:int}}{suffix}",
            briefing_file,
            methods=["GET"],
            include_in_schema=False,
        )

    # --- the public share page -----------------------------------------------------------------------------

    async def share(page: Page) -> Response:
        data = await _run(page, "SharedBriefing", token=page.request.path_params["token"])
        response = page.render("briefings/share.html", shared=data["sharedBriefing"])
        response.headers["X-Robots-Tag"] = "noindex"
        return response

    app.add_api_route(
        "/share/briefings/{token}",
        page_endpoint(share, login=False),
        methods=["GET"],
        include_in_schema=False,
    )

    async def share_file(request: Request) -> Response:
        page = await Page.open(request)
        try:
            params = request.path_params
            try:
                briefing = await briefings.briefing_by_share_token(
                    page.context.session, token=params["token"]
                )
                found = await briefings.access_briefing_media(
                    page.context.session, briefing=briefing, media_id=int(params["media_id"])
                )
            except PermissionDenied:
                raise HTTPException(404, "not found") from None
            return await _file(request, found, thumb=request.url.path.endswith("/thumb"), public=True)
        finally:
            await page.close()

    for suffix in ("", "/thumb"):
        app.add_api_route(
            f"/share/briefings/{{token}}/media/{{media_id:int}}{suffix}",
            share_file,
            methods=["GET"],
            include_in_schema=False,
        )


async def _file(request: Request, found: Any, *, thumb: bool, public: bool) -> Response:
    key = found.thumb_key if thumb else found.storage_key
    if key is None:
        raise HTTPException(404, "not found")
    data = await request.app.state.storage.get(key)
    return Response(
        data,
        media_type="image/jpeg" if thumb else found.content_type,
        headers={
            "Cache-Control": f"{'public' if public else 'private'}, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        },
    )


async def _csrf_form(request: Request, *, files: bool = False):  # noqa: ANN202
    if files and int(request.headers.get("content-length") or 0) > MAX_FORM:
        raise HTTPException(413, "too large")
    form = await request.form(
        max_files=12 if files else 0, max_fields=80, max_part_size=media.MAX_VIDEO_BYTES + 1024
    )
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    return form


async def _store_uploads(page: Page, posted: Any, values: dict) -> tuple[list[str], str | None]:
    """Photos and video sent with the form are checked and stored for the first chosen community."""
    if not values["community_ids"] or not values["community_ids"][0].isdigit():
        return [], None
    community_id = int(values["community_ids"][0])
    storage = page.request.app.state.storage
    context = page.context
    photo_ids = []
    for upload in posted.getlist("photos"):
        if isinstance(upload, str) or not upload.filename:
            continue
        data = await upload.read(media.MAX_IMAGE_BYTES + 1)
        if not data:
            continue
        stored = await media.do_store_upload(
            context.session,
            settings=context.settings,
            storage=storage,
            actor=context.actor,
            data=data,
            community_id=community_id,
            allowed={"image"},
        )
        photo_ids.append(str(stored.id))
    video_id = None
    upload = posted.get("video")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        data = await upload.read(media.MAX_VIDEO_BYTES + 1)
        if data:
            stored = await media.do_store_upload(
                context.session,
                settings=context.settings,
                storage=storage,
                actor=context.actor,
                data=data,
                community_id=community_id,
                allowed={"video"},
            )
            video_id = str(stored.id)
    return photo_ids, video_id


def _local_to_iso(text: str) -> str | None:
    """A datetime-local field is Shanghai time."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).isoformat()
    except ValueError:
        return None


def _values_of(briefing: dict) -> dict:
    items: dict[str, list[str]] = {}
    for item in briefing["items"]:
        items.setdefault(item["kind"].lower(), []).append(item["text"])
    publish_at = ""
    if briefing.get("publishAt"):
        publish_at = local(datetime.fromisoformat(briefing["publishAt"])).strftime("%Y-%m-%dT%H:%M")
    return {
        "community_ids": [c["id"] for c in briefing["communities"]],
        "title": briefing["title"],
        "body": briefing["body"],
        "items": {kind: "\n".join(lines) for kind, lines in items.items()},
        "publish_at": publish_at,
        "keep_photos": [p["id"] for p in briefing["photos"]],
        "keep_video": briefing["video"]["id"] if briefing["video"] else "",
    }
