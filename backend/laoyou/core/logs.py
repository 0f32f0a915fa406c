"""How the processes log: JSON lines in production (one object a line, for the log collector), human lines
elsewhere; each line written while a request is answered carries its request id, who asked (a keyed hash
of the person, never the id or the phone) and the GraphQL operation; one line per request says how long it
took. And logging what strangers can cause as often as they like, without letting them fill the disk."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "x-request-id"
# A request id from the proxy in front (nginx's $request_id) or the client is kept when it is a plain token
# of reasonable length; anything else (spaces, quotes, control characters, a novel) is replaced.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@-]{8,128}")
# Load balancers ask these every few seconds: logged only when they fail.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
FIELDS = ("request_id", "person", "operation")

# What is known of the request being answered; a dict, so what the GraphQL layer notes deep inside is seen
# by the middleware whatever context the handler ran in.
_request: ContextVar[dict[str, Any] | None] = ContextVar("laoyou_log_request", default=None)
requests_log = logging.getLogger("laoyou.requests")


def note(**facts: Any) -> None:
    """Add to what this request's log lines say (operation=…); nothing outside a request."""
    request = _request.get()
    if request is not None:
        request.update(facts)


def current_request_id() -> str | None:
    """The id of the request being answered (the one its X-Request-ID header and log lines carry)."""
    request = _request.get()
    return request["request_id"] if request is not None else None


def note_person(person_id: int | None) -> None:
    """Who asks, as a hash keyed with the app's secret: lines of one person can be followed, and nobody
    reading the logs can tell whom they are about."""
    request = _request.get()
    if request is not None and person_id is not None:
        digest = hmac.new(request["key"], str(person_id).encode(), hashlib.sha256).hexdigest()
        request["person"] = digest[:16]


class RequestContext(logging.Filter):
    """Every line gets request_id, person and operation ("-" outside a request or when not known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request.get() or {}
        for field in FIELDS:
            if not hasattr(record, field):
                setattr(record, field, request.get(field, "-"))
        return True


HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = ("levelname", "name", "message", *FIELDS)


def log_handler(*, json: bool, stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if json:
        handler.setFormatter(
            JsonFormatter(
                JSON_FIELDS,
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601 in UTC
                json_ensure_ascii=False,  # residents' names and messages stay readable
            )
        )
    else:
        handler.setFormatter(logging.Formatter(HUMAN_FORMAT))
    handler.addFilter(RequestContext())
    return handler


def configure_logging(level: str, *, json: bool) -> None:
    """The process's one log handler (replacing any), on standard error."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(json=json))
    root.setLevel(level.upper())


class RequestLog:
    """Pure ASGI, like the metrics middleware: gives each HTTP request and WebSocket a request id (the
    X-Request-ID it came with when sane, else a new one), echoes it in the response, and logs one line per
    HTTP request with its method, path, status and duration."""

    def __init__(self, app: Any, secret_key: str) -> None:
        self.app = app
        # The persons' hashes are keyed apart from everything else the secret signs.
        self.key = hashlib.sha256(b"laoyou-log-person:" + secret_key.encode()).digest()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = supplied if SANE_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request: dict[str, Any] = {"request_id": request_id, "key": self.key, "status": 500}
        token = _request.set(request)
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())
        started = time.perf_counter()

        async def send_with_id(message: dict) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", ()), header]
                request["status"] = message.get("status", 101)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                status = request["status"]
                if status >= 400 or scope["path"] not in QUIET_PATHS:
                    duration = round((time.perf_counter() - started) * 1000, 1)
                    requests_log.info(
                        "%s %s %s %.1f ms",
                        scope["method"],
                        scope["path"],
                        status,
                        duration,
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "duration_ms": duration,
                        },
                    )
            _request.reset(token)


class BoundedLog:
    """At most `per_window` lines per window; past that, one line says the rest are counted, and the next line
    after the window says how many were left out. A flood costs at most `per_window + 2` lines a window."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        per_window: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.clock = clock
        self.window_start: float | None = None
        self.logged = 0
        self.left_out = 0

    def warning(self, message: str, *args: object) -> None:
        now = self.clock()
        if self.window_start is None or now - self.window_start >= self.window_seconds:
            if self.left_out:
                self.logger.warning(
                    "%d more like this were not logged in the last %d s", self.left_out, self.window_seconds
                )
            self.window_start, self.logged, self.left_out = now, 0, 0
        if self.logged < self.per_window:
            self.logged += 1
            self.logger.warning(message, *args)
            return
        if not self.left_out:
            self.logger.warning(
                "more than %d like this within %d s: the rest are counted, not logged",
                self.per_window,
                self.window_seconds,
            )
        self.left_out += 1
