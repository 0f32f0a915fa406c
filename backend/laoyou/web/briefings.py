"""Briefing pages: the archive, one briefing, the steward's form, read receipts, thanks, the public share page.

Every page runs the PWA's own operations (pwa/operations/briefings.graphql); photos come in with the form
(multipart) and are stored by the media service before the briefing mutation names them, in the same unit of
work. The files of a briefing are plain endpoints: bytes, not a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from itertools import groupby
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.briefings import service as briefings
from laoyou.core import i18n
from laoyou.core.errors import LaoyouError, PermissionDenied
from laoyou.core.time import SHANGHAI, as_utc, local, start_of_local_day, utcnow
from laoyou.graphql.router import build_context, check_csrf
from laoyou.media import service as media
from laoyou.media.models import MediaFile
from laoyou.tickets import service as tickets
from laoyou.web.media import StoredFileResponse, store_posted_file
from laoyou.web.render import OperationFailed, Page, PageRoute, add_pages

ITEM_KINDS = ("cleaning", "repair", "patrol", "other")
MODES = ("draft", "now", "scheduled")
MAX_FORM = 9 * media.MAX_IMAGE_BYTES // 3 + media.MAX_VIDEO_BYTES  # phones send downscaled photos


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
    """Repairs finished today (done or confirmed) in the steward's briefing communities (as BriefingForm
    answers them, with their district), offered as ready-made lines of "done today". The district board is
    scoped to the steward; a flat's own problem is named by its kind only, a common area's with its place, so
    nothing personal goes into a briefing."""
    since = start_of_local_day(utcnow())
    wanted = {c["id"]: c["name"] for c in communities}
    found = []
    for district_id in sorted({c["district"]["id"] for c in communities}, key=int):
        for status in ("done", "confirmed"):
            try:
                board = await page.run("FinishedRepairs", districtId=district_id, status=status)
            except OperationFailed:
                continue  # a district whose board this steward does not see
            found += [
                order
                for order in board["workOrderBoard"]["nodes"]
                if order["community"]["id"] in wanted
                and order["doneAt"]
                and _instant(order["doneAt"]) >= since
            ]
    offered = []
    for order in sorted(found, key=lambda o: _instant(o["doneAt"])):
        category = order["category"]
        label = i18n.gettext(tickets.CATEGORY_LABELS.get(category, category), page.context.language)
        if order["place"] == "common" and order["where"]:
            label = f"{label}: {order['where']}"  # a common area's "where" is its place note
        offered.append(
            {
                "id": order["id"],
                "kind": "cleaning" if category == "cleanliness" else "repair",
                "text": label[:100],
                "community": wanted[order["community"]["id"]],
            }
        )
    return offered


def _instant(stamp: str) -> datetime:
    return as_utc(datetime.fromisoformat(stamp))


# --- reading ------------------------------------------------------------------------------------------------


async def archive(page: Page) -> Response:
    data = await page.run("BriefingList", first=30, after=page.request.query_params.get("after"))
    connection = data["briefings"]
    return page.render(
        "briefings/list.html",
        viewer=data["viewer"],
        days=by_day(connection["nodes"]),
        nodes=connection["nodes"],
        page_info=connection["pageInfo"],
    )


async def view(
    page: Page, *, message: str | None = None, error: str | None = None, status_code: int = 200
) -> Response:
    briefing_id = page.request.path_params["briefing_id"]
    data = await page.run("BriefingPage", id=briefing_id)
    briefing = data["briefing"]
    if not data["viewer"]["isStaff"] and briefing["status"] == "PUBLISHED" and not briefing["readByMe"]:
        await page.run("MarkBriefingRead", id=briefing_id)
        data = await page.run("BriefingPage", id=briefing_id)
        briefing = data["briefing"]
    return page.render(
        "briefings/view.html",
        status_code=status_code,
        briefing=briefing,
        viewer=data["viewer"],
        message=message,
        error=error,
    )


async def _act(page: Page, operation: str) -> Response:
    """Thank, publish or withdraw: one tap, then back to the briefing (or its error on the briefing)."""
    await _csrf_form(page.request)
    briefing_id = page.request.path_params["briefing_id"]
    data = next(iter((await page.run(operation, id=briefing_id)).values()))
    if data["__typename"] != "BriefingSaved":
        return await view(page, error=data["message"], status_code=400)
    return page.redirect(f"/briefings/{briefing_id}")


async def thank(page: Page) -> Response:
    return await _act(page, "ThankBriefing")


async def publish(page: Page) -> Response:
    return await _act(page, "PublishBriefing")


async def withdraw(page: Page) -> Response:
    return await _act(page, "WithdrawBriefing")


async def ask(page: Page) -> Response:
    """ "Ask a question": the resident's customer-service conversation (started, or the open one continued)
    gets a first message naming the briefing, and she lands on the chat page to say more."""
    await _csrf_form(page.request)
    briefing_id = page.request.path_params["briefing_id"]
    briefing = (await page.run("BriefingPage", id=briefing_id))["briefing"]
    mine: dict[str, list[str]] = {}
    for household in (await page.run("AskerHouseholds"))["viewer"]["households"]:
        mine.setdefault(household["community"]["id"], []).append(household["id"])
    households = [h for c in briefing["communities"] for h in mine.get(c["id"], [])]
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
            householdId=households[0],
        )
    )["sendChatMessage"]
    if result["__typename"] != "ChatMessageSent":
        return await view(page, error=result["message"], status_code=400)
    return page.redirect("/support#bottom")


# --- the steward's form -------------------------------------------------------------------------------------


async def form(
    page: Page,
    *,
    values: dict | None = None,
    error: str | None = None,
    field: str | None = None,
    status_code: int = 200,
) -> Response:
    """A new briefing's form (staff only, by its route) or an existing one's, for whoever may change it."""
    briefing_id = page.request.path_params.get("briefing_id")
    if briefing_id is not None:
        # Root fields that read resolve concurrently on one session, so two operations, one after the other.
        data = await page.run("BriefingEdit", id=briefing_id)
        data |= await page.run("BriefingForm")
        if not data["briefing"]["canEdit"]:
            raise HTTPException(404, "not found")
        values = values or _values_of(data["briefing"])
    else:
        data = await page.run("BriefingForm")
        values = values or {"community_ids": [c["id"] for c in data["briefingCommunities"][:1]], "items": {}}
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


async def save(page: Page) -> Response:
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
        # Ticked repairs stay ticked on a form sent back (with JavaScript their lines are in the boxes too).
        "work_orders": [str(v) for v in posted.getlist("work_order")],
    }
    mode = str(posted.get("mode", "draft"))
    # Before the uploads: the operations that offer today's repairs are queries, and a query ends by
    # committing whatever its session holds; the photos are committed with the briefing or not at all.
    items = await _items(page, posted, values)
    try:
        photo_ids, video_id = await _store_uploads(page, posted, values)
    except LaoyouError as exc:
        # Nothing is committed: the page's session closes without a commit (a rollback here would expire
        # the actor the re-rendered form still needs).
        message = i18n.gettext(exc.message, page.context.language, **exc.params)
        # A browser cannot fill a file input again: the form says which files to choose once more.
        values["choose_again"] = _chosen_files(posted)
        return await form(page, values=values, error=message, field="photos", status_code=400)
    variables = {
        "input": {
            "communityIds": values["community_ids"],
            "title": values["title"],
            "body": values["body"],
            "items": items,
            "photoIds": values["keep_photos"] + photo_ids,
            "videoId": video_id or (values["keep_video"] or None),
        },
        "publishAt": _local_to_iso(values["publish_at"]) if mode == "scheduled" else None,
    }
    if briefing_id is None:
        chosen = mode.upper() if mode in MODES else "DRAFT"
        result = (await page.run("CreateBriefing", mode=chosen, **variables))["createBriefing"]
    else:
        chosen = mode.upper() if mode in MODES else None
        result = (await page.run("UpdateBriefing", id=briefing_id, mode=chosen, **variables))[
            "updateBriefing"
        ]
    if result["__typename"] != "BriefingSaved":
        values["keep_photos"] = variables["input"]["photoIds"]
        values["keep_video"] = variables["input"]["videoId"] or ""
        return await form(
            page, values=values, error=result["message"], field=result.get("field"), status_code=400
        )
    return page.redirect(f"/briefings/{result['briefing']['id']}")


async def _items(page: Page, posted: Any, values: dict) -> list[dict]:
    """The "done today" lines typed in the boxes, then the ticked repairs finished today."""
    items = [
        {"kind": kind.upper(), "text": line.strip()}
        for kind in ITEM_KINDS
        for line in values["items"][kind].splitlines()
        if line.strip()
    ]
    chosen = {str(v) for v in posted.getlist("work_order")}
    if chosen:
        # The same lines briefings.js writes into the boxes; a line typed (or filled in) twice counts once.
        communities = (await page.run("BriefingForm"))["briefingCommunities"]
        posted_ids = set(values["community_ids"])
        offered = await finished_today(page, [c for c in communities if c["id"] in posted_ids])
        for order in offered:
            line = {"kind": order["kind"].upper(), "text": order["text"]}
            if str(order["id"]) in chosen and line not in items:
                items.append(line)
    return items


# --- the public share page ----------------------------------------------------------------------------------


async def share(page: Page) -> Response:
    data = await page.run("SharedBriefing", token=page.request.path_params["token"])
    response = page.render("briefings/share.html", shared=data["sharedBriefing"])
    response.headers["X-Robots-Tag"] = "noindex"
    return response


PAGES = (
    PageRoute("GET", "/briefings", archive),
    PageRoute("GET", "/briefings/{briefing_id:int}", view),
    PageRoute("POST", "/briefings/{briefing_id:int}/ask", ask),
    PageRoute("POST", "/briefings/{briefing_id:int}/thank", thank),
    PageRoute("POST", "/briefings/{briefing_id:int}/publish", publish),
    PageRoute("POST", "/briefings/{briefing_id:int}/withdraw", withdraw),
    PageRoute("GET", "/briefings/new", form, staff=True),
    PageRoute("GET", "/briefings/{briefing_id:int}/edit", form),
    PageRoute("POST", "/briefings/new", save, staff=True),
    PageRoute("POST", "/briefings/{briefing_id:int}/edit", save, staff=True),
    PageRoute("GET", "/share/briefings/{token}", share, login=False),
)


# --- files: a briefing's photos and video, for whoever may read the briefing or holds its share link --------


async def briefing_file(request: Request) -> Response:
    async def find(session: AsyncSession, actor: Actor) -> MediaFile:
        params = request.path_params
        briefing = await briefings.access_briefing(
            session, actor=actor, briefing_id=int(params["briefing_id"])
        )
        return await briefings.access_briefing_media(
            session, briefing=briefing, media_id=int(params["media_id"])
        )

    return await _serve(request, find, public=False)


async def share_file(request: Request) -> Response:
    async def find(session: AsyncSession, actor: Actor) -> MediaFile:
        params = request.path_params
        briefing = await briefings.briefing_by_share_token(session, token=params["token"])
        return await briefings.access_briefing_media(
            session, briefing=briefing, media_id=int(params["media_id"])
        )

    return await _serve(request, find, public=True)


def install(app: FastAPI) -> None:
    add_pages(app, PAGES)
    _add_file_routes(app, "/briefings/{briefing_id:int}/media/{media_id:int}", briefing_file)
    _add_file_routes(app, "/share/briefings/{token}/media/{media_id:int}", share_file)


def _add_file_routes(app: FastAPI, path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
    for suffix in ("", "/thumb"):
        app.add_api_route(f"{path}{suffix}", endpoint, methods=["GET", "HEAD"], include_in_schema=False)


async def _serve(
    request: Request, find: Callable[[AsyncSession, Actor], Awaitable[MediaFile]], *, public: bool
) -> Response:
    """One file's bytes (or its thumbnail's); what the viewer may not read is a 404. The request's context
    (its session) is closed on every path, the refusals and the storage's errors too."""
    context = await build_context(request)
    try:
        try:
            found = await find(context.session, context.actor)
        except PermissionDenied:
            raise HTTPException(404, "not found") from None
        thumb = request.url.path.endswith("/thumb")
        key = found.thumb_key if thumb else found.storage_key
        if key is None:
            raise HTTPException(404, "not found")
    finally:
        await context.close()
    # Streamed, and a Range answered with its part: a briefing's video is the one residents watch most, and a
    # phone (Safari first) plays and seeks it through ranges, never holding the whole file in our memory.
    return StoredFileResponse(
        request.app.state.storage,
        key,
        media_type="image/jpeg" if thumb else found.content_type,
        public=public,
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
    photo_ids = []
    for upload in posted.getlist("photos"):
        stored = await store_posted_file(page, upload, kind="image", community_id=community_id)
        if stored is not None:
            photo_ids.append(str(stored.id))
    stored = await store_posted_file(page, posted.get("video"), kind="video", community_id=community_id)
    video_id = str(stored.id) if stored is not None else None
    return photo_ids, video_id


def _chosen_files(posted: Any) -> list[str]:
    """Which file inputs ("photos", "video") came with files chosen (an empty input sends no file name)."""
    return [
        name
        for name in ("photos", "video")
        if any(getattr(upload, "filename", None) for upload in posted.getlist(name))
    ]


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
