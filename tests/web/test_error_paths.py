"""Every way a request can fail releases what it holds: its transaction, the write gate, its connection.

A refused page once left a writer behind that held SQLite's write gate until the server restarted, and every
later write waited 30 s and failed. These tests fail requests on purpose (a refused page, every page route and
every mutation with a foreign or missing id, with the wrong role, with a client that goes away half way) and
then check that a write goes through at once and nothing is left checked out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    Undefined,
    get_named_type,
)
from sqlalchemy import select

from laoyou.estates.models import Community, Household

from ..conftest import (
    OFFICIAL_XIUSHAN,
    OFFICIAL_ZHUJIAJIAO,
    RESIDENT_JINGJU,
    STEWARD_XIUSHAN,
    STEWARD_ZHUJIAJIAO,
)
from ..graphql.sockets import Socket
from .conftest import assert_released, bearer, browser, log_in

HOUSEHOLD_CARDS = """
query HouseholdCards($householdId: ID!) {
  household(id: $householdId) { id members { id name maskedPhone } }
  loginCards(householdId: $householdId) { id }
}
"""


async def household_of(app: Any, community: str) -> int:
    async with app.state.sessionmaker() as session:
        return (
            await session.execute(
                select(Household.id)
                .join(Community, Community.id == Household.community_id)
                .where(Community.name == community)
                .order_by(Household.id)
                .limit(1)
            )
        ).scalar_one()


async def test_a_page_refused_half_way_leaves_no_writer_behind(own_app, collector_paused):
    # Given the official of 秀山花园, who may read its households but not print their login cards
    household = await household_of(own_app, "秀山花园")
    async with browser(own_app) as http:
        await log_in(http, OFFICIAL_XIUSHAN)
        # When they open a household's login cards (refused while the page was still reading, and logging the
        # reading of, the household's people)
        response = await http.get(f"/staff/households/{household}/cards")
        assert response.status_code == 404
    # Then the next write goes through at once and nothing is left holding the gate or a connection
    await assert_released(own_app, "after the refused login-cards page")


async def test_a_query_refused_half_way_leaves_no_writer_behind(own_app, collector_paused):
    # Given the same official, over the API
    household = await household_of(own_app, "秀山花园")
    async with browser(own_app) as http:
        token = await bearer(http, OFFICIAL_XIUSHAN)
        # When they ask for the household and its login cards in one query
        response = await http.post(
            "/graphql",
            json={"query": HOUSEHOLD_CARDS, "variables": {"householdId": str(household)}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Then nothing is left behind either
    await assert_released(own_app, "after the refused HouseholdCards query")


# --- every page route and every mutation, refused -------------------------------------------------------

MISSING, EXISTING = "999999999", "1"  # id 1 exists in most tables and belongs to someone else for most people
PEOPLE = {
    "anonymous": None,
    "resident-elsewhere": RESIDENT_JINGJU,
    "steward-elsewhere": STEWARD_ZHUJIAJIAO,
    "official": OFFICIAL_ZHUJIAJIAO,
}
PERMISSION_MESSAGES = {"Please log in first.", "Only staff can do this."}


def page_routes(app: Any) -> list[tuple[str, str, list[str]]]:
    """Every page and form post of the app (method, path format, path parameters); /graphql is the mutations'."""
    found = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path.startswith("/graphql"):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path_format, list(route.param_convertors)))
    assert len(found) > 80, "fewer page routes than the app has: the enumeration is wrong"
    return found


def is_id(name: str) -> bool:
    return name.endswith("_id") or name in ("cid", "sid", "fid")


def paths_for(path_format: str, params: list[str]) -> list[str]:
    """The path with a missing id, and with an id that exists but is someone else's; other parts made up."""
    if not params:
        return [path_format]
    return [
        path_format.format(**{p: ident if is_id(p) else "bogus" for p in params})
        for ident in (MISSING, EXISTING)
    ]


@asynccontextmanager
async def person(app: Any, phone: str | None) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A phone logged in as this person (or nobody), with the CSRF token its forms carry."""
    async with browser(app) as http:
        if phone is not None:
            await log_in(http, phone)
        else:
            await http.get("/login")
        yield http, http.cookies["laoyou_csrf"]


@pytest.mark.parametrize("who", PEOPLE)
async def test_every_page_route_with_a_foreign_or_missing_id_or_the_wrong_role_leaves_nothing_behind(
    own_app, collector_paused, who
):
    failures = []
    async with person(own_app, PEOPLE[who]) as (http, csrf):
        for method, path_format, params in page_routes(own_app):
            for path in paths_for(path_format, params):
                # When this person opens or posts to it
                if method == "GET":
                    response = await http.get(path)
                else:
                    response = await http.post(path, data={"csrf_token": csrf})
                # Then they are refused (or sent elsewhere), never met with a server error
                if response.status_code >= 500:
                    failures.append(f"{method} {path}: {response.status_code}")
            # And nothing is left holding the write gate or a connection
            await assert_released(own_app, f"after {method} {path_format} as {who}")
    assert not failures, failures


def sample_value(graphql_type: Any, ident: str) -> Any:
    """A value of the type for a refused call: the given id for IDs, something plain for the rest."""
    if isinstance(graphql_type, GraphQLNonNull):
        return sample_value(graphql_type.of_type, ident)
    if isinstance(graphql_type, GraphQLList):
        return [sample_value(graphql_type.of_type, ident)]
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values))
    if isinstance(graphql_type, GraphQLInputObjectType):
        return {
            name: sample_value(field.type, ident)
            for name, field in graphql_type.fields.items()
            if is_required(field) or get_named_type(field.type).name == "ID"
        }
    return {
        "ID": ident,
        "String": "x",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "DateTime": "2030-01-01T00:00:00+00:00",
        "Upload": "x.csv",  # a JSON request carries no file: a name stands for one and is refused as none
    }[graphql_type.name]


def is_required(arg: Any) -> bool:
    return isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined


def mutation_calls(app: Any, ident: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every mutation as (name, document, variables): required arguments and every ID argument filled in."""
    calls = []
    for name, field in app.state.schema._schema.mutation_type.fields.items():
        args = {
            a: arg
            for a, arg in field.args.items()
            if is_required(arg) or get_named_type(arg.type).name == "ID"
        }
        declared = "".join(f"${a}: {arg.type} " for a, arg in args.items())
        passed = " ".join(f"{a}: ${a}" for a in args)
        document = (
            f"mutation {name[0].upper()}{name[1:]}{f'({declared})' if args else ''} "
            f"{{ {name}{f'({passed})' if args else ''} {{ __typename }} }}"
        )
        calls.append((name, document, {a: sample_value(arg.type, ident) for a, arg in args.items()}))
    # Logging out spends the token the others use: last.
    calls.sort(key=lambda call: call[0].startswith("logout"))
    assert len(calls) > 60, "fewer mutations than the schema has: the enumeration is wrong"
    return calls


@pytest.mark.parametrize("who", PEOPLE)
async def test_every_mutation_with_a_foreign_or_missing_id_or_the_wrong_role_leaves_nothing_behind(
    own_app, collector_paused, who
):
    failures = []
    async with browser(own_app) as http:
        headers = {"Accept-Language": "en"}
        if PEOPLE[who] is not None:
            headers["Authorization"] = f"Bearer {await bearer(http, PEOPLE[who])}"
        for ident in (MISSING, EXISTING):
            for name, document, variables in mutation_calls(own_app, ident):
                # When this person calls it
                response = await http.post(
                    "/graphql", json={"query": document, "variables": variables}, headers=headers
                )
                # Then the answer is a refusal or a user mistake, said as such, never a server error
                if response.status_code != 200:
                    failures.append(f"{name}({variables}): HTTP {response.status_code}")
                for error in response.json().get("errors") or []:
                    if (
                        "code" not in (error.get("extensions") or {})
                        and error["message"] not in PERMISSION_MESSAGES
                    ):
                        failures.append(f"{name}({variables}): {error['message']}")
                # And nothing is left holding the write gate or a connection
                await assert_released(own_app, f"after {name} as {who}")
    assert not failures, failures


# --- clients that go away ----------------------------------------------------------------------------------

CANCEL_AFTER = (0, 1, 3, 9, 27, 81)  # event-loop turns: cancelled at many different points of the request
SETTLE_SECONDS = 5.0  # a cancelled request ends once its cleanup has run; it must not wait for anything


async def dropped(
    app: Any, method: str, path: str, *, headers: dict[str, str], body: bytes, cancel_after: int | None
) -> None:
    """Send a request the way a phone that loses its connection does: the body (or half of it), then the
    disconnect; and with cancel_after, the server cancels the request that many event-loop turns in."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path.split("?")[0],
        "raw_path": path.split("?")[0].encode(),
        "query_string": path.partition("?")[2].encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("10.9.8.7", 5000),
        "server": ("testserver", 80),
    }
    # Without a cancel the phone is gone half way through its body; with one, the body arrived whole.
    chunks = [
        {
            "type": "http.request",
            "body": body if cancel_after is not None else body[: len(body) // 2],
            "more_body": cancel_after is None,
        }
    ]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(_message: dict[str, Any]) -> None:
        pass  # nobody is listening any more

    request = asyncio.ensure_future(app(scope, receive, send))
    if cancel_after is not None:
        for _ in range(cancel_after):
            await asyncio.sleep(0)
        request.cancel()
    done, _pending = await asyncio.wait({request}, timeout=SETTLE_SECONDS)
    assert done, f"{method} {path} was still running {SETTLE_SECONDS} s after its client went away"
    if not request.cancelled():
        request.exception()  # whatever the server made of a vanished client; what it left is what matters


def cookie_header(http: httpx.AsyncClient) -> str:
    return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


async def own_ids(app: Any) -> dict[str, str]:
    """Real ids in 秀山花园, the steward's own, so that the dropped requests go all the way in."""
    async with app.state.sessionmaker() as session:
        community = (
            await session.execute(select(Community.id).where(Community.name == "秀山花园"))
        ).scalar_one()
    return {"community_id": str(community), "household_id": str(await household_of(app, "秀山花园"))}


async def test_a_page_whose_client_goes_away_or_is_cancelled_leaves_nothing_behind(own_app, collector_paused):
    ids = await own_ids(own_app)
    async with person(own_app, STEWARD_XIUSHAN) as (http, csrf):
        headers = {"cookie": cookie_header(http), "content-type": "application/x-www-form-urlencoded"}
        body = f"csrf_token={csrf}&note=x&phone=13800000001".encode()
        for method, path_format, params in page_routes(own_app):
            path = path_format.format(**{p: ids.get(p, EXISTING if is_id(p) else "bogus") for p in params})
            for cancel_after in (None, *CANCEL_AFTER):
                # When the steward's phone drops the connection, or the server cancels the request, part way
                await dropped(
                    own_app,
                    method,
                    path,
                    headers=headers,
                    body=body if method == "POST" else b"",
                    cancel_after=cancel_after,
                )
            # Then the next write goes through at once and nothing is left checked out or holding the gate
            await assert_released(own_app, f"after dropped {method} {path}")


async def test_a_mutation_whose_client_goes_away_or_is_cancelled_leaves_nothing_behind(
    own_app, collector_paused
):
    async with browser(own_app) as http:
        token = await bearer(http, STEWARD_XIUSHAN)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    for name, document, variables in mutation_calls(own_app, EXISTING):
        if name.startswith("logout"):
            continue  # it would end the session the others use
        body = json.dumps({"query": document, "variables": variables}).encode()
        for cancel_after in (None, *CANCEL_AFTER):
            await dropped(own_app, "POST", "/graphql", headers=headers, body=body, cancel_after=cancel_after)
        await assert_released(own_app, f"after dropped {name}")


# --- WebSockets: subscriptions refused, dropped or cancelled --------------------------------------------------

SUBSCRIPTIONS = {
    "unreadNotifications": ("subscription { unreadNotifications }", {}),
    "supportChat (someone else's)": (
        "subscription ($id: ID!) { supportChat(conversationId: $id) { __typename } }",
        {"id": EXISTING},
    ),
    "sosAlert (missing)": ("subscription ($id: ID!) { sosAlert(id: $id) { id status } }", {"id": MISSING}),
    "callSignals (missing)": (
        "subscription ($id: ID!) { callSignals(callId: $id) { __typename } }",
        {"id": MISSING},
    ),
    "supportQueue (not an agent)": ("subscription { supportQueue { id } }", {}),
    "ringingCalls": ("subscription { ringingCalls { id } }", {}),
}


@pytest.mark.parametrize("ending", ["complete", "disconnect", "cancel"])
async def test_a_subscription_refused_dropped_or_cancelled_leaves_nothing_behind(
    own_app, collector_paused, ending
):
    async with browser(own_app) as http:
        token = await bearer(http, RESIDENT_JINGJU)
    for name, (document, variables) in SUBSCRIPTIONS.items():
        # Given a resident's phone subscribed (to its own count, or to what is not theirs and is refused)
        socket = Socket(own_app)
        assert (await socket.open(token))["type"] == "connection_ack"
        await socket.send(
            {"id": "1", "type": "subscribe", "payload": {"query": document, "variables": variables}}
        )
        first = await socket.receive()
        assert first is not None and first["type"] in ("next", "error"), (name, first)
        # When the phone ends it politely, drops the socket without a word, or the server cancels the connection
        if ending == "complete":
            await socket.send({"id": "1", "type": "complete"})
            await socket.close()
        elif ending == "disconnect":
            await socket.close()
        else:
            socket.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await socket.task
        # Then the next write goes through at once and nothing is left checked out or holding the gate
        await assert_released(own_app, f"after {name} ended by {ending}")


async def test_a_socket_refused_at_connect_leaves_nothing_behind(own_app, collector_paused):
    # Given a phone that connects with a token that is no session's
    socket = Socket(own_app)
    # When it is refused
    assert await socket.open("not-a-session-token") is None
    assert socket.close_code == 4403
    await socket.close()
    # Then nothing is left behind
    await assert_released(own_app, "after a refused WebSocket")
