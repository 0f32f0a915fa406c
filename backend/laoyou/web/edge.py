"""What every request may send and what every answer carries: body-size limits and the security headers."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from laoyou.core import i18n

GRAPHQL_BODY_LIMIT = 1024 * 1024  # one operation and its variables; the largest the PWA sends is a few KB
FORM_BODY_LIMIT = (
    256 * 1024
)  # a url-encoded page form: the longest text field (2000 characters) is 18 KB encoded


def _(message: str) -> str:
    return message


TOO_LARGE = _("What you sent is too large (at most %(size)s). Please send less.")


def body_limit(scope: Scope) -> int | None:
    """The most a request may send, or None where the route sets its own (multipart uploads)."""
    if scope["path"] == "/graphql" or scope["path"].startswith("/graphql/"):
        return GRAPHQL_BODY_LIMIT
    content_type = Headers(scope=scope).get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return None  # photos, voice notes and videos: each upload route caps its own form (web/media.py and others)
    return FORM_BODY_LIMIT


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"


class BodyTooLarge(HTTPException):
    """A request body over its limit: raised while the route reads it, answered as the route's errors are."""

    def __init__(self, limit: int) -> None:
        # Raised inside the route, after its context chose the language (the person's, the cookie's or the browser's).
        super().__init__(413, i18n.gettext(TOO_LARGE, size=_size(limit)))


class BodyLimits:
    """Refuse a body over its limit with 413 without reading past the limit.

    A declared Content-Length over the limit is refused on the route's first read, before any of the body is
    read; a body without one (chunked) is counted as it arrives and refused once the count passes the limit.
    Either way the refusal is an HTTPException raised from `receive`, so the route's own error handling answers
    (JSON on /graphql, the error page elsewhere). Once the answer has started, `receive` passes through: the
    route only listens for the client leaving then.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_limit(scope) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        over = declared.isdigit() and int(declared) > limit
        received = 0
        answering = False

        async def limited_receive() -> Message:
            nonlocal received
            if answering:
                return await receive()
            if over:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal answering
            if message["type"] == "http.response.start":
                answering = True
            await send(message)

        await self.app(scope, limited_receive, watched_send)


# Scripts, styles and everything else from this origin only: no inline script or style anywhere in the PWA (its
# behaviour is in /static/js, wired by data attributes). Photos preview from blob: and data: URLs; voice notes and
# call streams play from blob: and MediaStreams. No form-action: paying online redirects a form post to the
# gateway's own pages (WeChat Pay H5, Alipay), which form-action would block in Chrome.
_POLICY = (
    "default-src 'self'; connect-src 'self'{sockets}; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def permissions_policy(*, camera: bool = False, microphone: bool = False) -> str:
    """Devices no page uses are off on every page; the pages that need the camera or microphone ask for them."""
    allowed = {True: "(self)", False: "()"}
    return f"camera={allowed[camera]}, microphone={allowed[microphone]}, geolocation=(), payment=(), usb=()"


_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$")


def content_security_policy(host: str | None) -> str:
    """The policy, naming this host's WebSocket origins (subscriptions): older Safari's 'self' leaves them out."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return _POLICY.format(sockets=sockets)


class SecurityHeaders:
    """Every answer: no MIME sniffing, referrers kept on this site. HTML pages also: the content security policy,
    no framing, and which devices the page may use (a route may set its own Permissions-Policy first)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                # The GraphiQL page (development only) is the one HTML answer that is not the PWA's.
                if headers.get("content-type", "").startswith("text/html") and scope["path"] != "/graphql":
                    headers.setdefault(
                        "Content-Security-Policy", content_security_policy(Headers(scope=scope).get("host"))
                    )
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Permissions-Policy", permissions_policy())
            await send(message)

        await self.app(scope, receive, send_with_headers)
