"""What the work-order pages share (web/repairs.py, the resident's reports; web/work_orders.py, one order and
the staff's pages): reading a posted form with its files, storing those files, and the category lists."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile

from laoyou.graphql.router import check_csrf
from laoyou.media import service as media
from laoyou.tickets import service as tickets
from laoyou.web.media import store_posted_file
from laoyou.web.render import Page

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
# China's fire and rescue service (119) is who answers a gas leak, a flood that puts people in danger and a person
# trapped in a lift; 110 is the police (a crime) and 120 an ambulance (offered too, for someone hurt).
RESCUE_PHONE = "119"
AMBULANCE_PHONE = "120"


async def read_form(request: Request) -> Any:
    """A posted form (multipart with photos, or urlencoded), refused without its page's CSRF token."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM + 64 * 1024:
        raise HTTPException(413, "too large")
    form = await request.form(max_files=8, max_fields=30, max_part_size=media.MAX_IMAGE_BYTES + 1024)
    if not check_csrf(request, str(form.get("csrf_token", ""))):
        raise HTTPException(403, "csrf")
    return form


async def store_files(
    page: Page, form: Any, community_id: int, client_id: str
) -> tuple[list[int], int | None]:
    """Photos and a voice note from the form, each stored once per submission (the same ids on a replay).

    Not committed here: the files and the report (or the step) they go with end as one unit of work in the
    mutation's boundary, so a report refused at the top level leaves none of its files."""
    photos: list[int] = []
    files = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    tickets.check_photo_count(len(files))  # before storing any
    for index, upload in enumerate(files):
        stored = await store_posted_file(
            page, upload, kind="image", community_id=community_id, client_id=f"{client_id[:56]}-p{index}"
        )
        if stored is not None:
            photos.append(stored.id)
    stored = await store_posted_file(
        page, form.get("voice"), kind="audio", community_id=community_id, client_id=f"{client_id[:56]}-v"
    )
    voice = stored.id if stored is not None else None
    return photos, voice
