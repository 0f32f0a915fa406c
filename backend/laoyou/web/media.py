"""Uploading and fetching files: multipart in, bytes out, both scoped to who asks."""

from __future__ import annotations

import hashlib
import re
from email.utils import formatdate
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers, UploadFile
from starlette.types import Receive, Scope, Send

from laoyou.core import i18n
from laoyou.core.errors import ErrorCode, PermissionDenied
from laoyou.graphql.errors import Error, context_boundary
from laoyou.graphql.router import build_context, check_csrf
from laoyou.media import service as media
from laoyou.media.models import MediaFile
from laoyou.media.storage import ByteRange, RangeNotSatisfiable, Storage, StoredFile, storage_for
from laoyou.web.render import Page

# A form carries one file at most this large, plus a little for its fields.
MAX_BODY = media.MAX_VIDEO_BYTES + 64 * 1024
MAX_BYTES = {"image": media.MAX_IMAGE_BYTES, "audio": media.MAX_AUDIO_BYTES, "video": media.MAX_VIDEO_BYTES}


async def store_posted_file(
    page: Page, upload: Any, *, kind: str, community_id: int, client_id: str | None = None
) -> MediaFile | None:
    """A file posted with a page's form (a photo, a voice note, a video), checked and stored as POST /media
    stores one. None when the field is empty: a form field with no file chosen, or a file of no bytes.
    Not committed here: the file ends in the page's mutation's unit of work with what it belongs to, so a
    refused report or entry leaves none of its files. A file refused by its content raises LaoyouError."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_BYTES[kind] + 1)
    if not data:
        return None
    context = page.context
    return await media.do_store_upload(
        context.session,
        settings=context.settings,
        storage=page.request.app.state.storage,
        actor=context.actor,
        data=data,
        community_id=community_id,
        allowed={kind},
        client_id=client_id,
    )


async def upload(request: Request) -> Response:
    """multipart/form-data: file, community_id, optional client_id. Answers {id, url, thumbUrl} or an error."""
    context = await build_context(request)
    try:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return _error(
                "file",
                i18n.gettext(
                    "This file is too large. The limit is %(mb)s MB.",
                    context.language,
                    mb=media.MAX_VIDEO_BYTES // (1024 * 1024),
                ),
                status_code=413,
            )
        if context.actor.session_kind == "cookie":
            form_token = request.headers.get("x-csrf-token")
            if not check_csrf(request, form_token):
                raise HTTPException(403, "csrf")
        if not context.actor.is_authenticated:
            raise HTTPException(401, "login required")
        form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_BODY)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error("file", i18n.gettext("Please choose a file.", context.language))
        data = await upload.read(MAX_BODY + 1)
        community_id = str(form.get("community_id", ""))
        if not community_id.isdigit():
            return _error("communityId", i18n.gettext("Not found.", context.language))

        async def store() -> MediaFile:
            return await media.do_store_upload(
                context.session,
                settings=context.settings,
                storage=request.app.state.storage,
                actor=context.actor,
                data=data,
                community_id=int(community_id),
                client_id=str(form.get("client_id") or "") or None,
            )

        try:
            # The upload is a mutation sent as multipart rather than GraphQL: it ends its unit of work
            # through the same boundary (the row is committed, a refusal is the error payload).
            stored = await context_boundary(context, Error, store)
        except PermissionDenied as exc:
            raise HTTPException(404, i18n.gettext(exc.message, context.language)) from None
        if isinstance(stored, Error):
            status_code = 429 if stored.code == ErrorCode.RATE_LIMITED else 400
            return _error(stored.field, stored.message, status_code=status_code)
        return JSONResponse(
            {
                "id": str(stored.id),
                "kind": stored.kind,
                "url": f"/media/{stored.id}",
                "thumbUrl": f"/media/{stored.id}/thumb" if stored.thumb_key else None,
            },
            status_code=201,
        )
    finally:
        await request.close()  # the uploaded file's spool
        await context.close()


async def _fetch(request: Request, media_id: str, thumb: bool) -> Response:
    context = await build_context(request)
    try:
        if not media_id.isdigit():
            raise HTTPException(404, "not found")
        try:
            found = await media.access_media(context.session, actor=context.actor, media_id=int(media_id))
        except PermissionDenied:
            raise HTTPException(404, "not found") from None
        key = found.thumb_key if thumb else found.storage_key
        if key is None:
            raise HTTPException(404, "not found")
        return StoredFileResponse(
            request.app.state.storage, key, media_type="image/jpeg" if thumb else found.content_type
        )
    finally:
        await context.close()


# One range of a Range header's `bytes=` set (RFC 9110 §14.1.2): first-last, first-, or -suffix. Offsets of
# more than 18 digits (past any file, and past what int() reads from a string of thousands) are not read.
RANGE_SPEC = re.compile(r"(\d{0,18})-(\d{0,18})")


def parse_range(value: str | None) -> ByteRange | None:
    """The one range of bytes a Range header asks for; None to answer with the whole file.

    None for no header, and for one that cannot be read (an unknown unit, a malformed range, a last byte before
    the first), which RFC 9110 §14.2 lets a server ignore. None too for several ranges: §14.2 lets a server
    answer them with the whole file as well, and players ask for one range at a time, so a multipart/byteranges
    answer would be code that no phone needs. Starlette's FileResponse parses ranges only in private methods
    and answers a malformed header with 400, so the few lines are here."""
    if value is None:
        return None
    unit, equals, ranges = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs = [spec.strip() for spec in ranges.split(",") if spec.strip()]  # a list may hold empty elements
    if len(specs) != 1:
        return None
    parsed = RANGE_SPEC.fullmatch(specs[0])
    if parsed is None or parsed[1] == parsed[2] == "":
        return None
    if parsed[1] == "":
        return ByteRange(suffix=int(parsed[2]))
    first, last = int(parsed[1]), int(parsed[2]) if parsed[2] else None
    if last is not None and last < first:
        return None
    return ByteRange(first=first, last=last)


class StoredFileResponse(Response):
    """A stored file streamed in chunks, after the access check and once the request's database session is closed.

    Streamed through the app rather than redirected to a presigned bucket address: the bucket stays on the
    internal network (no public endpoint, TLS or CORS for it), no address leaves that anyone holding it could
    open for its lifetime, the page's service worker sees one origin, and these headers stay Laoyou's. The
    stored file is opened only when the response is sent and released on every path: sent whole, the
    client gone part way, or the storage failing.

    A Range of one part is answered with that part alone (206), read from where it starts: Safari will not
    play a video until a `bytes=0-1` comes back as a part, and a phone seeking in a video fetches only from
    there. The ETag is strong and made from the storage key and the size, as a stored file never changes
    under its key; If-Range is compared with it, and If-None-Match naming it is answered 304 with no body and
    without opening the file: a phone revalidating a photo a day later does not fetch it again. HEAD answers
    the same headers with no body."""

    def __init__(self, storage: Storage, key: str, *, media_type: str, public: bool = False) -> None:
        self.storage = storage
        self.key = key
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        # The key names the district and community the file belongs to: only a digest of it goes out.
        self.tag = f'"{hashlib.blake2b(key.encode(), digest_size=12).hexdigest()}-'
        self.started = False
        self.init_headers(
            {
                # Public: a briefing's files behind its share link, which any cache between may keep.
                "Cache-Control": f"{'public' if public else 'private'}, max-age=86400",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": "inline",
                "Accept-Ranges": "bytes",
            }
        )

    def etag(self, size: int) -> str:
        return f'{self.tag}{size}"'

    def held_copy(self, condition: str | None) -> str | None:
        """The ETag in If-None-Match that is this file's, if any (weak comparison, RFC 9110 §13.1.2). Any tag of
        this key is: the file stored under it never changes, so the size need not be read to compare.
        `*` is not taken: the answer would have no tag to give."""
        for candidate in (condition or "").split(","):
            tag = candidate.strip().removeprefix("W/")
            if tag.startswith(self.tag) and tag.endswith('"') and len(tag) > len(self.tag) + 1:
                return tag
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = Headers(scope=scope)
        held = self.held_copy(asked.get("if-none-match"))
        if held is not None:  # before Range, as RFC 9110 §13.2.2 orders them
            headers = [*self.raw_headers, (b"etag", held.encode())]
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        wanted = parse_range(asked.get("range"))
        validator = asked.get("if-range")
        if wanted is not None and validator is not None and not validator.startswith(self.tag):
            # Another file's ETag, a weak one or a date: the client's copy is not this file (RFC 9110 §13.1.5).
            wanted = None
        try:
            try:
                async with self.storage.open(self.key, wanted) as stored:
                    if wanted is None or validator in (None, self.etag(stored.size)):
                        return await self._send(scope, send, stored)
            except RangeNotSatisfiable as unsatisfiable:
                if validator in (None, self.etag(unsatisfiable.size)):
                    refused = Response(
                        status_code=416,
                        headers={"Content-Range": f"bytes */{unsatisfiable.size}", "Accept-Ranges": "bytes"},
                    )
                    return await refused(scope, receive, send)
            # If-Range named this file at another size, so the client's part is of other bytes: the whole file,
            # opened again. A key is written once, whole, so no file served from a finished write comes here.
            async with self.storage.open(self.key) as stored:
                await self._send(scope, send, stored)
        except FileNotFoundError:
            if self.started:
                raise
            await Response("not found", status_code=404)(scope, receive, send)  # the row outlived its bytes

    async def _send(self, scope: Scope, send: Send, stored: StoredFile) -> None:
        part = stored.part
        headers = [
            *self.raw_headers,
            (b"content-length", str(stored.size if part is None else len(part)).encode()),
            (b"etag", self.etag(stored.size).encode()),
        ]
        if part is not None:
            headers.append((b"content-range", f"bytes {part.start}-{part.stop - 1}/{stored.size}".encode()))
        if stored.modified is not None:
            headers.append((b"last-modified", formatdate(stored.modified.timestamp(), usegmt=True).encode()))
        self.started = True
        status = 200 if part is None else 206
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] != "HEAD":
            async for chunk in stored.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def media_file(request: Request, media_id: str) -> Response:
    return await _fetch(request, media_id, thumb=False)


async def media_thumb(request: Request, media_id: str) -> Response:
    return await _fetch(request, media_id, thumb=True)


def install(app: FastAPI) -> None:
    app.state.storage = storage_for(app.state.settings)
    app.add_api_route("/media", upload, methods=["POST"], include_in_schema=False)
    app.add_api_route("/media/{media_id}", media_file, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(
        "/media/{media_id}/thumb", media_thumb, methods=["GET", "HEAD"], include_in_schema=False
    )


def _error(field: str | None, message: str, *, status_code: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status_code)
