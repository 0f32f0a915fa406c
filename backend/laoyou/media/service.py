"""Uploads: checked by content (never by name), size-capped, images re-encoded (dropping EXIF and location)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.estates import service as estates
from laoyou.media.models import MediaFile
from laoyou.media.storage import Storage

MAX_IMAGE_BYTES = 15 * 1024 * 1024  # phones downscale first; this is the cap for what still arrives
MAX_AUDIO_BYTES = 5 * 1024 * 1024
MAX_VIDEO_BYTES = 30 * 1024 * 1024
MAX_IMAGE_SIDE = 2048
THUMB_SIDE = 320
MAX_PIXELS = 40_000_000  # refuses decompression bombs before decoding

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


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
    return LaoyouError(ErrorCode.INVALID, "This file is too large. The limit is %(mb)s MB.", field="file",
                       mb=limits[kind] // (1024 * 1024))


def check_upload(data: bytes, *, allowed: set[str]) -> Sniffed:
    """Refuse anything that is not what it claims by content, is empty, or is over its cap."""
    if not data:
        raise LaoyouError(ErrorCode.INVALID, "The file is empty.", field="file")
    if len(data) > MAX_VIDEO_BYTES:
        raise LaoyouError(ErrorCode.INVALID, "This file is too large. The limit is %(mb)s MB.", field="file",
                          mb=MAX_VIDEO_BYTES // (1024 * 1024))
    sniffed = sniff(data)
    if sniffed is None or sniffed.kind not in allowed:
        raise LaoyouError(ErrorCode.INVALID, "This kind of file cannot be sent. Please send a photo, voice note or video.",
                          field="file")
    cap = {"image": MAX_IMAGE_BYTES, "audio": MAX_AUDIO_BYTES, "video": MAX_VIDEO_BYTES}[sniffed.kind]
    if len(data) > cap:
        raise _too_big(sniffed.kind)
    return sniffed


@dataclass
class ProcessedImage:
    full: bytes
    thumb: bytes
    width: int
    height: int


def process_image(data: bytes) -> ProcessedImage:
    """Decode fully (so a truncated file is caught), turn upright, downscale, re-encode as JPEG without metadata."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in IMAGE_FORMATS:
                raise LaoyouError(ErrorCode.INVALID, "This photo cannot be read. Please take it again.", field="file")
            if probe.width * probe.height > MAX_PIXELS:
                raise LaoyouError(ErrorCode.INVALID, "This photo is too large. Please send a smaller one.", field="file")
            probe.load()
            image = ImageOps.exif_transpose(probe)
            image = image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise LaoyouError(ErrorCode.INVALID, "This photo cannot be read. Please take it again.", field="file") from None
    image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    full = io.BytesIO()
    image.save(full, "JPEG", quality=85, optimize=True)  # no exif= argument: EXIF and GPS are dropped
    thumb_image = image.copy()
    thumb_image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    thumb = io.BytesIO()
    thumb_image.save(thumb, "JPEG", quality=80, optimize=True)
    return ProcessedImage(full.getvalue(), thumb.getvalue(), image.width, image.height)


async def do_store_upload(
    session: AsyncSession,
    *,
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
                select(MediaFile).where(MediaFile.uploaded_by_id == actor.person_id, MediaFile.client_id == client_id)
            )
        ).first()
        if existing is not None:
            return existing
    sniffed = check_upload(data, allowed=set(allowed))
    key_base = f"{community.district_id}/{community.id}/{uuid.uuid4().hex}"
    width = height = None
    thumb_key = None
    if sniffed.kind == "image":
        processed = await asyncio.to_thread(process_image, data)
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


# Domains that attach files to something more private than the community (a work order, a complaint)
# register a check here; it raises NotFound when the actor may not see what the file is attached to.
ACCESS_GUARDS: list[Callable[[AsyncSession, Actor, MediaFile], Awaitable[None]]] = []


async def access_media(session: AsyncSession, *, actor: Actor, media_id: int) -> MediaFile:
    """The uploader, and anyone who may see the file's community, may fetch it.

    Domains that attach media to something more private check that first and then call this.
    """
    if not actor.is_authenticated:
        raise NotFound()
    media = await session.get(MediaFile, media_id)
    if media is None:
        raise NotFound()
    if media.uploaded_by_id == actor.person_id:
        return media
    for guard in ACCESS_GUARDS:
        await guard(session, actor, media)
    visible = await estates.visible_community_ids(session, actor)
    if visible is not None and media.community_id not in visible:
        raise NotFound()
    return media
