"""Uploads: checked by content (never by name), size-capped, images re-encoded (dropping EXIF and location)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, ColumnElement, delete, exists, false, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.settings import Settings
from laoyou.core.time import utcnow
from laoyou.estates import service as estates
from laoyou.media import images
from laoyou.media.models import MediaFile
from laoyou.media.storage import Storage

MAX_IMAGE_BYTES = 15 * 1024 * 1024  # phones downscale first; this is the cap for what still arrives
MAX_AUDIO_BYTES = 5 * 1024 * 1024
MAX_VIDEO_BYTES = 30 * 1024 * 1024


@dataclass(frozen=True)
class Sniffed:
    kind: str
    content_type: str


def sniff(data: bytes) -> Sniffed | None:
    """What the bytes are, from their signature."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "image/gif")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM (what Chrome's MediaRecorder makes)
        return Sniffed("audio", "audio/webm")
    if head.startswith(b"OggS"):
        return Sniffed("audio", "audio/ogg")
    if head[:3] == b"ID3" or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return Sniffed("audio", "audio/mpeg")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return Sniffed("audio", "audio/mp4")
        return Sniffed("video", "video/mp4")
    return None


def _too_big(kind: str) -> LaoyouError:
    limits = {"image": MAX_IMAGE_BYTES, "audio": MAX_AUDIO_BYTES, "video": MAX_VIDEO_BYTES}
    return LaoyouError(
        ErrorCode.INVALID,
        "This file is too large. The limit is %(mb)s MB.",
        field="file",
        mb=limits[kind] // (1024 * 1024),
    )


def check_upload(data: bytes, *, allowed: set[str]) -> Sniffed:
    """Refuse anything that is not what it claims by content, is empty, or is over its cap."""
    if not data:
        raise LaoyouError(ErrorCode.INVALID, "The file is empty.", field="file")
    if len(data) > MAX_VIDEO_BYTES:
        raise LaoyouError(
            ErrorCode.INVALID,
            "This file is too large. The limit is %(mb)s MB.",
            field="file",
            mb=MAX_VIDEO_BYTES // (1024 * 1024),
        )
    sniffed = sniff(data)
    if sniffed is None or sniffed.kind not in allowed:
        raise LaoyouError(
            ErrorCode.INVALID,
            "This kind of file cannot be sent. Please send a photo, voice note or video.",
            field="file",
        )
    cap = {"image": MAX_IMAGE_BYTES, "audio": MAX_AUDIO_BYTES, "video": MAX_VIDEO_BYTES}[sniffed.kind]
    if len(data) > cap:
        raise _too_big(sniffed.kind)
    return sniffed


def _image_refused(reason: str) -> LaoyouError:
    if reason == "too_large":
        return LaoyouError(
            ErrorCode.INVALID, "This photo is too large. Please send a smaller one.", field="file"
        )
    return LaoyouError(ErrorCode.INVALID, "This photo cannot be read. Please take it again.", field="file")


async def check_upload_rate(session: AsyncSession, *, settings: Settings, actor: Actor) -> None:
    """Refuse a person's upload beyond the hourly allowance (checked before the file is looked at)."""
    since = utcnow() - timedelta(hours=1)
    count = await session.scalar(
        select(func.count())
        .select_from(MediaFile)
        .where(MediaFile.uploaded_by_id == actor.person_id, MediaFile.created_at >= since)
    )
    if (count or 0) >= settings.uploads_per_person_hour:
        raise LaoyouError(
            ErrorCode.RATE_LIMITED,
            "You have sent many files in the last hour. Please try again later.",
            field="file",
        )


async def do_store_upload(
    session: AsyncSession,
    *,
    settings: Settings,
    storage: Storage,
    actor: Actor,
    data: bytes,
    community_id: int,
    allowed: set[str] = frozenset({"image", "audio", "video"}),
    client_id: str | None = None,
) -> MediaFile:
    """Check, process and store one upload for a community the actor belongs to or serves."""
    if not actor.is_authenticated:
        raise NotFound()
    community = await estates.access_community(session, actor=actor, community_id=community_id)
    if client_id is not None:
        if not (0 < len(client_id) <= 64):
            raise LaoyouError(ErrorCode.INVALID, "The upload id is not valid.", field="clientId")
        existing = (
            await session.exec(
                select(MediaFile).where(
                    MediaFile.uploaded_by_id == actor.person_id, MediaFile.client_id == client_id
                )
            )
        ).first()
        if existing is not None:
            return existing
    await check_upload_rate(session, settings=settings, actor=actor)
    sniffed = check_upload(data, allowed=set(allowed))
    key_base = f"{community.district_id}/{community.id}/{uuid.uuid4().hex}"
    width = height = None
    thumb_key = None
    if sniffed.kind == "image":
        try:
            images.read_header(data)  # here first: what is refused never reaches the decoding process
            processed = await images.decode(data)
        except images.ImageRefused as refused:
            raise _image_refused(str(refused)) from None
        payload, content_type = processed.full, "image/jpeg"
        width, height = processed.width, processed.height
        thumb_key = f"{key_base}-thumb.jpg"
        storage_key = f"{key_base}.jpg"
    else:
        payload, content_type = data, sniffed.content_type
        storage_key = f"{key_base}.{content_type.split('/')[1]}"
    # Bytes first, row second: a row never points at a missing file (an orphan file is harmless).
    await storage.put(storage_key, payload, content_type)
    if thumb_key:
        await storage.put(thumb_key, processed.thumb, "image/jpeg")
    media = MediaFile(
        community_id=community.id,
        district_id=community.district_id,
        uploaded_by_id=actor.person_id,
        client_id=client_id,
        kind=sniffed.kind,
        content_type=content_type,
        size_bytes=len(payload),
        width=width,
        height=height,
        storage_key=storage_key,
        thumb_key=thumb_key,
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    session.add(media)
    await session.flush()
    return media


# --- who sees a file, and when it goes --------------------------------------------------------------------

# Domains that attach files to something more private than the community (a work order, a complaint)
# register a check here; it raises NotFound when the actor may not see what the file is attached to.
ACCESS_GUARDS: list[Callable[[AsyncSession, Actor, MediaFile], Awaitable[None]]] = []

UNATTACHED_KEPT = timedelta(days=1)  # time to finish what the files were sent for (a report, a briefing)


def attachment_columns() -> list[Column]:
    """Every column that attaches a file to something: the foreign keys to media_file, whichever domain's.

    Read from the tables themselves, so a domain that starts attaching files cannot forget to say so.
    """
    return [
        fk.parent
        for table in MediaFile.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.target_fullname == "media_file.id"
    ]


def attached(media_id: ColumnElement[int] | int) -> ColumnElement[bool]:
    """True when something refers to the file."""
    return or_(false(), *(exists().where(column == media_id) for column in attachment_columns()))


async def access_media(session: AsyncSession, *, actor: Actor, media_id: int) -> MediaFile:
    """The uploader always; others only once it is attached to something they may see, in a community they see.

    A file attached to nothing (a report that failed after its photos were stored) is its uploader's alone.
    """
    if not actor.is_authenticated:
        raise NotFound()
    media = await session.get(MediaFile, media_id)
    if media is None:
        raise NotFound()
    if media.uploaded_by_id == actor.person_id:
        return media
    if not await session.scalar(select(attached(media.id))):
        raise NotFound()
    for guard in ACCESS_GUARDS:
        await guard(session, actor, media)
    visible = await estates.visible_community_ids(session, actor)
    if visible is not None and media.community_id not in visible:
        raise NotFound()
    return media


async def remove_unattached(
    session: AsyncSession, *, storage: Storage, now: datetime | None = None, batch: int = 500
) -> int:
    """Delete the files (rows and bytes) still attached to nothing a day after they were uploaded. Never commits.

    The guarded DELETE is the claim: of several workers running this at once, each row is deleted by one,
    and only that one removes its bytes. The bytes go before the commit; should the commit fail, the rows
    are still old and unattached, so the next round deletes them again (a missing file is no error).
    """
    cutoff = (now or utcnow()) - UNATTACHED_KEPT
    stale = (MediaFile.created_at < cutoff) & ~attached(MediaFile.id)
    ids = list(await session.exec(select(MediaFile.id).where(stale).order_by(MediaFile.id).limit(batch)))
    if not ids:
        return 0
    removed = (
        await session.exec(
            delete(MediaFile)
            .where(col(MediaFile.id).in_(ids), stale)
            .returning(MediaFile.storage_key, MediaFile.thumb_key)
        )
    ).all()
    for storage_key, thumb_key in removed:
        await storage.delete(storage_key)
        if thumb_key:
            await storage.delete(thumb_key)
    return len(removed)
