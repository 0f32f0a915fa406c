"""The /graphql endpoint: context per request, CSRF, persisted operations, orjson, WebSocket auth."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Any

import orjson
from cross_web import HTTPException as StrawberryHTTPException  # what strawberry's views raise
from fastapi import HTTPException, Request
from graphql import GraphQLError
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types.unset import UNSET

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.accounts.live import account_channel
from laoyou.core import i18n, logs
from laoyou.core.security import constant_equals
from laoyou.core.time import as_utc, utcnow
from laoyou.graphql.context import CSRF_COOKIE, LANGUAGE_COOKIE, SESSION_COOKIE, Context

log = logging.getLogger("laoyou.graphql")

# How a socket that follows its account closes (WebSocket codes 4000-4999 are the application's): 4401, as
# graphql-ws's own "Unauthorized", which its clients do not retry: the session ended (logged out here or
# everywhere, a new password, expired). 4205, after HTTP's "Reset Content": the session holds but its grants
# changed, connect again at once to be given the new ones. 1011: the session could not be read; connect again
# later, like after any dropped socket.
CLOSE_SIGNED_OUT = 4401
CLOSE_ACCOUNT_CHANGED = 4205
CLOSE_CHECK_FAILED = 1011
RESYNC_SPREAD = 10.0  # seconds over which sockets read their sessions again after the pub/sub reconnects


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def client_ip(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


async def resolve_actor(
    session: Any, connection: HTTPConnection, token: str | None, kind: str | None
) -> Actor:
    actor = Actor(client_ip=client_ip(connection), user_agent=connection.headers.get("user-agent", "")[:300])
    found = await accounts.resolve_session(session, token)
    if found:
        record, person, grants = found
        actor.person, actor.grants, actor.session_id, actor.session_kind = person, grants, record.id, kind
        actor.session_expires_at = as_utc(record.expires_at)
    return actor


def pick_language(connection: HTTPConnection, actor: Actor) -> str:
    """The person's saved choice, then the language cookie, then the browser's languages."""
    if actor.person and i18n.valid_language(actor.person.language):
        return actor.person.language  # type: ignore[return-value]
    return i18n.valid_language(connection.cookies.get(LANGUAGE_COOKIE)) or i18n.negotiate(
        connection.headers.get("accept-language")
    )


async def build_context(connection: HTTPConnection, *, hold_session: bool = True) -> Context:
    """Who is asking and in which language, for GraphQL and for the PWA's own pages alike."""
    state = connection.app.state
    token = bearer_token(connection)
    kind = "bearer" if token else None
    if token is None and connection.cookies.get(SESSION_COOKIE):
        token, kind = connection.cookies.get(SESSION_COOKIE), "cookie"
    session = state.sessionmaker()
    try:
        actor = await resolve_actor(session, connection, token, kind)
        logs.note_person(actor.person.id if actor.person else None)
        if session.dirty:
            await session.commit()  # the session's last-seen touch
        if not hold_session:
            # A WebSocket lives long: commit the session touch and let subscriptions open their own sessions.
            await session.commit()
            await session.close()
            session = None
    except BaseException:  # the context never came to be, so nobody else would close its session
        if session is not None:
            await session.close()
        raise
    language = pick_language(connection, actor)
    i18n.current_language.set(language)
    return Context(
        settings=state.settings,
        sessionmaker=state.sessionmaker,
        pubsub=state.pubsub,
        sms=state.sms,
        actor=actor,
        language=language,
        session=session,
        session_token=token if actor.is_authenticated else None,
    )


def check_csrf(request: Request, supplied: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    return bool(expected and supplied and constant_equals(expected, supplied))


async def graphql_context(connection: HTTPConnection) -> AsyncIterator[Context]:
    """A request's context, closed after it (a socket's is built and closed by GraphQLSockets)."""
    context = await build_context(connection)
    try:
        yield context
    finally:
        await context.close()


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are JSON in text frames; browsers hand binary frames over as Blobs."""

    async def send_json(self, message) -> None:  # noqa: ANN001
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


def _(message: str) -> str:
    return message


NOT_AN_OBJECT = _("The request body must be a JSON object holding one operation.")
# Strawberry's refusals of a malformed request, in words the catalogs translate.
_REFUSALS = {
    "Unable to parse request body as JSON": _("The request body is not valid JSON (UTF-8)."),
    # Batches are refused: the PWA never sends one, and one request would carry many operations past the limits
    # counted per request (the body size, the rate of requests a proxy allows).
    "Batching is not enabled": _("Send one operation per request: batches are not accepted."),
    "Unsupported content type": _("Send the operation as JSON (Content-Type: application/json)."),
    "The GraphQL operation's `query` must be a string or null, if provided.": _(
        "The operation's query must be text, its variables and extensions objects."
    ),
    "The GraphQL operation's `variables` must be an object or null, if provided.": _(
        "The operation's query must be text, its variables and extensions objects."
    ),
    "The GraphQL operation's `extensions` must be an object or null, if provided.": _(
        "The operation's query must be text, its variables and extensions objects."
    ),
    "No GraphQL query found in the request": _("The request holds no operation."),
    NOT_AN_OBJECT: NOT_AN_OBJECT,
    "Not Found": "Not found.",
}


class UnknownPersistedQuery(LookupError):
    """A request names a persisted operation by a hash the server does not know."""


class PersistedTransportWS(BaseGraphQLTransportWSHandler):
    """graphql-transport-ws with the same rules for documents as POST: a persisted operation may be sent by its
    hash, and in persisted-only mode a client that is not staff may send nothing else."""

    async def handle_subscribe(self, message):  # noqa: ANN001, ANN201
        payload = message.get("payload")
        if isinstance(payload, dict):
            refusal = self.view.check_document(payload, self.context)
            if refusal is not None:
                # Refused like any other failed operation (an error for its id); the connection stays open.
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [GraphQLError(refusal).formatted]}
                )
                return
        await super().handle_subscribe(message)

    # --- the socket follows its account ---------------------------------------------------------------------
    # One follower per socket, not per operation: an event on the person's account channel (accounts/live.py)
    # makes it read its session again, as a request would; so does the session's expiry.

    _follower: AccountFollower | None = None

    async def handle(self) -> None:
        forget_upgrade_headers(self.websocket.ws)
        if self.context.actor.is_authenticated:
            # By cookie, read just before the upgrade was accepted: listen now rather than at connection_init, so
            # that a change committed while the phone sends it is heard.
            await self._follow_account()
        await super().handle()

    async def handle_connection_init(self, message):  # noqa: ANN001, ANN201
        await super().handle_connection_init(message)
        # Strawberry cancels its wait for this message but keeps the task, and a cancelled task keeps its
        # CancelledError, whose traceback keeps the waiting frames: about 1 KB for the socket's whole life.
        waited = self.connection_init_timeout_task
        if waited is not None and waited.done():
            self.connection_init_timeout_task = None
        if self.connection_acknowledged and self._follower is None:  # by bearer token, read just now
            await self._follow_account()

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            if self._follower is not None:
                await self._follower.stop()

    async def _follow_account(self) -> None:
        follower = AccountFollower(self)
        # A socket that cannot listen is refused (the error ends it), rather than left unwatched.
        await follower.start()
        self._follower = follower

    async def close_for(self, code: int) -> None:
        """Her operations end first, so that nothing more is sent to a socket whose actor no longer holds."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        reason = {CLOSE_SIGNED_OUT: "Unauthorized", CLOSE_ACCOUNT_CHANGED: "Account changed"}
        with suppress(Exception):  # the phone may have gone meanwhile
            await self.websocket.close(code=code, reason=reason.get(code, "Internal error"))

    async def check_account(self, actor: Actor) -> tuple[int | None, Any]:
        """The close code the session now calls for (None while it holds as it was), and when it expires."""
        async with self.context.sessionmaker() as session:
            found = await accounts.resolve_session(session, self.context.session_token)
            await session.commit()  # the session's hourly last-seen touch, as a request would
        if found is None or found[0].id != actor.session_id:
            return CLOSE_SIGNED_OUT, None
        record, _person, grants = found
        if {g.id for g in grants} != {g.id for g in actor.grants}:
            return CLOSE_ACCOUNT_CHANGED, None
        return None, as_utc(record.expires_at)


def forget_upgrade_headers(websocket: WebSocket) -> None:
    """Once the socket is accepted nobody reads the upgrade's headers again (the context holds the person, the
    language and the address; uvicorn logs the path), yet a browser's (cookies, user agent, languages) would be
    kept for the socket's whole life: in the scope, and in what starlette made of them."""
    websocket.scope["headers"] = []
    for cached in ("_headers", "_cookies"):
        websocket.__dict__.pop(cached, None)


class AccountFollower:
    """A socket's ear on its person's account channel, and its alarm for the session's expiry.

    Thousands of sockets stay open all day and hear their account change perhaps never, so it waits as a
    listener the pub/sub calls and a timer on the loop: no task and no queue while nothing happens (a task
    waiting on a queue cost about 7 KB a socket, bench/live.py). An event or the expiry starts one check of
    the session; events during a check make one more after it, as a queue of one would.
    """

    __slots__ = ("_again", "_check", "_handler", "_stop", "_timer")

    def __init__(self, handler: PersistedTransportWS) -> None:
        self._handler = handler
        self._stop: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._check: asyncio.Task | None = None
        self._again = False

    async def start(self) -> None:
        context = self._handler.context
        self._stop = await context.pubsub.follow(self, account_channel(context.actor.person_id))
        self._set_alarm(context.actor.session_expires_at)

    def put(self, message: dict[str, Any]) -> None:
        # After the pub/sub lost its listening connection it tells every socket at once that it may have missed
        # events: thousands of sessions read again together would be a storm on the database just as it comes
        # back. Spread over a few seconds, a missed logout still closes its socket.
        self._wake(random.uniform(0, RESYNC_SPREAD) if message.get("resync") else 0)

    def _set_alarm(self, expires_at: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        if expires_at is not None:
            loop = asyncio.get_running_loop()
            left = max((expires_at - utcnow()).total_seconds(), 0)
            self._timer = loop.call_later(left, self._wake, 0)

    def _wake(self, delay: float) -> None:
        if self._check is not None:
            self._again = True  # heard while checking: once more after this one
            return
        self._check = asyncio.get_running_loop().create_task(self._run(delay))
        self._check.add_done_callback(self._handler._task_done)

    async def _run(self, delay: float) -> None:
        handler = self._handler
        try:
            if delay:
                await asyncio.sleep(delay)
            code = None
            while code is None:
                self._again = False
                try:
                    code, expires_at = await handler.check_account(handler.context.actor)
                except Exception:
                    log.exception("a WebSocket could not read its session again; closing it")
                    code = CLOSE_CHECK_FAILED
                if code is None:
                    self._set_alarm(expires_at)
                    if not self._again:
                        return
        finally:
            self._check = None
        self._silence()
        await handler.close_for(code)

    def _silence(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def stop(self) -> None:
        self._silence()
        check = self._check
        if check is not None and check is not asyncio.current_task():
            check.cancel()
            with suppress(asyncio.CancelledError):
                await check


class LaoyouGraphQLRouter(GraphQLRouter):
    """Strawberry's FastAPI router with the project's rules added at the edges."""

    websocket_adapter_class = TextWebSocketAdapter  # type: ignore[assignment]
    graphql_transport_ws_handler_class = PersistedTransportWS

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson reads UTF-8 only and says so with a JSONDecodeError (json.loads raised UnicodeDecodeError: a 500).
        return orjson.loads(data)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):  # a list is a batch, refused by strawberry in its own words
            raise StrawberryHTTPException(400, NOT_AN_OBJECT)
        return parsed

    async def run(self, request, context=UNSET, root_value=UNSET):  # noqa: ANN001, ANN201
        """Strawberry answers a malformed request in English plain text; here it is a JSON error in the caller's
        language, as every other refusal of /graphql (the app's HTTPException handler words it)."""
        try:
            return await super().run(request, context=context, root_value=root_value)
        except StrawberryHTTPException as exc:
            message = _REFUSALS.get(exc.reason)
            raise HTTPException(exc.status_code, i18n.gettext(message) if message else exc.reason) from None

    async def parse_http_body(self, request_adapter):  # noqa: ANN001, ANN201
        data = await super().parse_http_body(request_adapter)
        for item in data if isinstance(data, list) else [data]:
            self._fill_persisted(item, request_adapter)
        return data

    def _fill_persisted(self, item: GraphQLRequestData, request_adapter: Any) -> None:
        if item.query is None:
            try:
                item.query = self._persisted_document(item.extensions)
            except UnknownPersistedQuery:
                raise HTTPException(400, "PersistedQueryNotFound") from None

    def _persisted_document(self, extensions: Any) -> str | None:
        """The document a request names by its hash, or None when it names none."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if not isinstance(persisted, dict):
            return None
        document = self.persisted.document_for(str(persisted.get("sha256Hash", "")))
        if document is None:
            raise UnknownPersistedQuery
        return document

    def _refuses_raw(self, context: Context, document: str | None) -> bool:
        return (
            context.settings.persisted_only
            and not context.actor.is_staff
            and not self.persisted.is_persisted(document)
        )

    def check_document(self, payload: dict, context: Context) -> str | None:
        """For a WebSocket subscribe message: fill in a persisted document named by its hash, and say why the
        message is refused (the same words as over POST), or None."""
        if not payload.get("query"):
            try:
                payload["query"] = self._persisted_document(payload.get("extensions"))
            except UnknownPersistedQuery:
                return "PersistedQueryNotFound"
        return "PersistedQueryRequired" if self._refuses_raw(context, payload.get("query")) else None

    async def execute_single(self, request, request_adapter, sub_response, context, root_value, request_data):  # noqa: ANN001, ANN201, PLR0913
        if request_adapter.method == "POST" and context.actor.session_kind == "cookie":
            if not check_csrf(request, request.headers.get("x-csrf-token")):
                raise HTTPException(403, "CSRF token missing or wrong")
        if self._refuses_raw(context, request_data.query):
            raise HTTPException(400, "PersistedQueryRequired")
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        context.apply_cookies(sub_response)
        return result

    async def on_ws_connect(self, context: Context):  # noqa: ANN201
        """Subscriptions need a person: the session cookie, or connection params {"authorization": "Bearer …"}."""
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        raw = str(params.get("authorization") or params.get("Authorization") or "")
        scheme, _, token = raw.partition(" ")
        if not context.actor.is_authenticated and scheme.lower() == "bearer" and token:
            async with context.sessionmaker() as session:
                found = await accounts.resolve_session(session, token.strip())
                await session.commit()
            if found:
                record, person, grants = found
                context.actor.person, context.actor.grants = person, grants
                context.actor.session_id, context.actor.session_kind = record.id, "bearer"
                context.actor.session_expires_at = as_utc(record.expires_at)
                context.session_token = token.strip()
        if not context.actor.is_authenticated:
            raise ConnectionRejectionError({"reason": "login required"})
        return await super().on_ws_connect(context)


class GraphQLSockets:
    """Pure ASGI: a WebSocket to /graphql, straight to the GraphQL view, past FastAPI's middleware, routing and
    dependency injection (app.py LaoyouApp sends it here through its own short chain of what sockets use: the
    proxy headers, the request log and the metrics).

    A resident's phone keeps its socket open all day, and every layer the connection passes through stays
    suspended in it for as long: FastAPI's error, telemetry, body-limit and exit-stack middleware, the
    compression, the router, the route and the dependencies' exit stack cost about 12 KB a socket, for nothing a
    socket uses (bench/live.py). The context is built as a request's is (build_context), without holding a
    database session (subscriptions open their own), and closed when the socket ends.
    """

    def __init__(self, router: LaoyouGraphQLRouter) -> None:
        self.router = router

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # Without a context manager or the router's own run (which words refusals of HTTP requests): each would
        # be one more frame kept for the socket's life.
        websocket = WebSocket(scope, receive, send)
        context = await build_context(websocket, hold_session=False)
        try:
            await GraphQLRouter.run(self.router, websocket, context=context, root_value=None)
        finally:
            await context.close()


def make_graphql_router(schema: Any, persisted: Any, settings: Any) -> LaoyouGraphQLRouter:
    router = LaoyouGraphQLRouter(
        schema,
        context_getter=graphql_context,
        allow_queries_via_get=False,
        graphql_ide=None if settings.is_production else "graphiql",
        # Only graphql-transport-ws: the older graphql-ws protocol would be a second door to keep the same rules on.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    router.persisted = persisted
    return router
