"""A live socket follows its account: what ends a session closes the socket; new or fewer grants make the phone
connect again, and the new connection hears with the new grants.

The app runs in the test's event loop (an ASGI WebSocket driven by hand) with a database of its own, every
commit real, so that events go out after commits as on a server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from laoyou.accounts import service as accounts
from laoyou.accounts.live import account_channel
from laoyou.accounts.models import AuthSession
from laoyou.core.security import token_hash
from laoyou.core.time import utcnow
from laoyou.graphql import router
from laoyou.graphql.router import CLOSE_ACCOUNT_CHANGED, CLOSE_CHECK_FAILED, CLOSE_SIGNED_OUT
from laoyou.graphql.types import decode_id

from ..conftest import (
    ADMIN,
    RESIDENT_JINGJU,
    RESIDENT_XIUSHAN,
    STEWARD_XIUSHAN,
    STEWARD_YUEYANG,
    GraphQLClient,
    graphql_client,
    login_demo,
    make_database_url,
    make_settings,
    started,
)
from ..web.conftest import assert_released, collector_paused  # noqa: F401  (a fixture)
from .sockets import PATIENCE, Socket

UNREAD = "subscription { unreadNotifications }"
FOLLOW = "subscription ($id: ID!) { workOrder(id: $id) { id status timeline { action } } }"
HOMES = "query { viewer { households { id } } }"
REPORT = """
mutation ($input: ReportProblemInput!) {
  reportProblem(input: $input) { ... on WorkOrderReported { workOrder { id } } ... on Error { message } }
}
"""
STAFF = "query { staffPeople { phone grants { id } } }"
REVOKE = "mutation ($id: ID!) { revokeStaffRole(grantId: $id) { __typename } }"
LOGOUT = "mutation { logout { sessionsEnded } }"
LOGOUT_EVERYWHERE = "mutation { logoutEverywhere { sessionsEnded } }"
COMMUNITIES = "query { briefingCommunities { id } }"
HOUSEHOLDS = "query ($id: ID!) { community(id: $id) { households(first: 1) { nodes { id } } } }"
ADD_RESIDENT = """
mutation ($h: ID!, $phone: String!) {
  addResident(householdId: $h, name: "王秀英", phone: $phone, relation: TENANT) { __typename }
}
"""
EMERGENCY = """
mutation ($ids: [ID!]!) {
  sendEmergencyNotice(communityIds: $ids, kind: WATER_CUT, title: "明天上午停水") { __typename }
}
"""


@pytest.fixture(scope="module")
async def live_app(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    tmp = tmp_path_factory.mktemp(f"live-account-{backend}")
    async with started(make_settings(tmp, make_database_url(backend, tmp, request))) as application:
        yield application


@pytest.fixture
async def gql(live_app: Any) -> AsyncIterator[GraphQLClient]:
    async with graphql_client(live_app) as client:
        yield client


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> asyncio.Queue:
    """What each socket's re-read of its session concluded (its close code, or None), in order."""
    heard: asyncio.Queue = asyncio.Queue()
    check = router.PersistedTransportWS.check_account

    async def watched(self: Any, actor: Any) -> Any:
        try:
            found = await check(self, actor)
        except Exception as exc:
            heard.put_nowait(exc)
            raise
        heard.put_nowait(found[0])
        return found

    monkeypatch.setattr(router.PersistedTransportWS, "check_account", watched)
    return heard


async def subscribed(app: Any, token: str, document: str = UNREAD, variables: dict | None = None) -> Socket:
    """A phone's socket, acknowledged and subscribed; its first answer (the state now) already read."""
    socket = Socket(app)
    assert await socket.open(token) == {"type": "connection_ack"}
    await socket.send(
        {"id": "1", "type": "subscribe", "payload": {"query": document, "variables": variables or {}}}
    )
    first = await socket.receive()
    assert first is not None and first["type"] == "next", first
    return socket


async def closed_with(socket: Socket) -> tuple[int | None, list[dict]]:
    """Read until the server closes the socket: its close code and whatever arrived before it."""
    arrived = []
    while (message := await socket.receive()) is not None:
        arrived.append(message)
    return socket.close_code, arrived


async def still_open(socket: Socket) -> None:
    await socket.send({"type": "ping"})
    assert await socket.receive() == {"type": "pong"}


async def quiet(checks: asyncio.Queue) -> None:
    """No socket read its session again after what was just published (given the time to wake)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert checks.empty(), checks.get_nowait()


async def person_id(gql: GraphQLClient) -> int:
    raw = (await gql("query { viewer { person { id } } }"))["data"]["viewer"]["person"]["id"]
    return decode_id(raw)


async def test_a_steward_whose_grant_is_revoked_stops_hearing_the_order_and_reconnects_without_it(
    live_app, gql, checks
):
    # Given a resident's report, and the steward's page following it over a live socket
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    home = (await resident(HOMES))["data"]["viewer"]["households"][0]["id"]
    report = {"clientId": "live-account-1", "category": "water", "householdId": home, "description": "漏水"}
    order = (await resident(REPORT, {"input": report}))["data"]["reportProblem"]["workOrder"]["id"]
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    socket = await subscribed(live_app, steward.token, FOLLOW, {"id": order})
    # When the admin takes her steward role away
    admin = await login_demo(gql, ADMIN)
    staff = (await admin(STAFF))["data"]["staffPeople"]
    grant = next(p for p in staff if p["phone"].endswith(STEWARD_XIUSHAN))["grants"][0]["id"]
    assert (await admin(REVOKE, {"id": grant}))["data"]["revokeStaffRole"]["__typename"] == "StaffRoleSaved"
    # Then her socket closes for her to connect again, with nothing more sent on it
    assert await closed_with(socket) == (CLOSE_ACCOUNT_CHANGED, [])
    assert await checks.get() == CLOSE_ACCOUNT_CHANGED
    await socket.close()
    # And the new connection, with her session and no steward role, is refused the order
    again = Socket(live_app)
    assert await again.open(steward.token) == {"type": "connection_ack"}
    await again.send(
        {"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"id": order}}}
    )
    refused = await again.receive()
    assert refused["type"] in ("next", "error") and "errors" in str(refused), refused
    await again.close()


async def test_logging_out_elsewhere_keeps_this_socket_and_logging_out_everywhere_closes_it(
    live_app, gql, checks
):
    # Given a steward logged in on two phones, the first one's page live
    here = await login_demo(gql, STEWARD_XIUSHAN)
    there = await login_demo(gql, STEWARD_XIUSHAN)
    socket = await subscribed(live_app, here.token)
    # When she logs out on the other phone
    assert (await there(LOGOUT))["data"]["logout"] == {"sessionsEnded": 1}
    # Then this socket reads its session, finds it as it was, and stays open
    assert await asyncio.wait_for(checks.get(), PATIENCE) is None
    await still_open(socket)
    # When she logs out everywhere (from a third phone)
    elsewhere = await login_demo(gql, STEWARD_XIUSHAN)
    await elsewhere(LOGOUT_EVERYWHERE)
    # Then the socket closes as logged out, and nothing more was sent
    assert await closed_with(socket) == (CLOSE_SIGNED_OUT, [])
    await socket.close()


async def test_a_socket_by_cookie_closes_when_its_session_ends(live_app, gql, checks):
    # Given a page whose socket came with the session cookie (no token in connection_init)
    phone = await login_demo(gql, RESIDENT_JINGJU)
    socket = Socket(live_app)
    assert await socket.open(None, cookie=phone.token) == {"type": "connection_ack"}
    await socket.send({"id": "1", "type": "subscribe", "payload": {"query": UNREAD}})
    assert (await socket.receive())["type"] == "next"
    # When the session is ended (a logout from that very session, made by another tab)
    await phone(LOGOUT)
    # Then the socket closes as logged out
    assert await closed_with(socket) == (CLOSE_SIGNED_OUT, [])
    await socket.close()


async def test_a_new_home_reaches_an_open_page_once_it_connects_again(live_app, gql, checks):
    # Given a resident of Xiushan whose home page is live, and the steward of Yueyang's community
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    socket = await subscribed(live_app, resident.token)
    steward = await login_demo(gql, STEWARD_YUEYANG)
    community = (await steward(COMMUNITIES))["data"]["briefingCommunities"][0]["id"]
    household = (await steward(HOUSEHOLDS, {"id": community}))["data"]["community"]["households"]["nodes"][0][
        "id"
    ]
    # When the steward adds her to a home there
    added = await steward(ADD_RESIDENT, {"h": household, "phone": RESIDENT_XIUSHAN})
    assert added["data"]["addResident"]["__typename"] == "HouseholdSaved", added
    # Then her socket closes for her phone to connect again at once
    assert await closed_with(socket) == (CLOSE_ACCOUNT_CHANGED, [])
    await socket.close()
    # And once it has, a notice to her new community reaches her page
    again = await subscribed(live_app, resident.token)
    sent = await steward(EMERGENCY, {"ids": [community]})
    assert sent["data"]["sendEmergencyNotice"]["__typename"] == "EmergencyNoticeSent", sent
    heard = await again.receive()
    assert (
        heard is not None and heard["type"] == "next" and heard["payload"]["data"]["unreadNotifications"] > 0
    )
    await again.close()


async def test_someone_elses_account_changes_are_not_heard_by_my_socket(live_app, gql, checks):
    # Given a Jingju resident's live page, listening on her own account channel alone of accounts'
    mine = await login_demo(gql, RESIDENT_JINGJU)
    socket = await subscribed(live_app, mine.token)
    me = await person_id(mine)
    pubsub = getattr(live_app.state.pubsub, "_local", live_app.state.pubsub)
    accounts_heard = {c for c in pubsub._queues if c.startswith("account:")}  # noqa: SLF001
    assert account_channel(me) in accounts_heard
    # When a stranger logs out everywhere
    stranger = await login_demo(gql, RESIDENT_XIUSHAN)
    await stranger(LOGOUT_EVERYWHERE)
    # Then her socket does not even read its session again, and stays open
    await quiet(checks)
    await still_open(socket)
    await socket.close()


async def test_a_session_that_expires_closes_its_socket_then(live_app, gql, checks):
    # Given a session with a second and a half to live, and a page live on it
    phone = await login_demo(gql, RESIDENT_JINGJU)
    async with live_app.state.sessionmaker() as session:
        await session.exec(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(phone.token))
            .values(expires_at=utcnow() + timedelta(seconds=1.5))
        )
        await session.commit()
    socket = await subscribed(live_app, phone.token)
    # When it expires, with nothing announced
    # Then the socket closes as logged out
    assert await closed_with(socket) == (CLOSE_SIGNED_OUT, [])
    await socket.close()


@pytest.mark.usefixtures("collector_paused")
async def test_a_database_failure_while_reading_the_session_again_closes_the_socket_and_releases_all(
    live_app, gql, monkeypatch
):
    # Given a live page
    phone = await login_demo(gql, RESIDENT_JINGJU)
    socket = await subscribed(live_app, phone.token)
    me = await person_id(phone)
    # When its re-read fails half way, after it began writing (the hourly touch)
    real = accounts.resolve_session

    async def failing(session: Any, token: str | None) -> Any:
        await session.exec(update(AuthSession).where(AuthSession.id == -1).values(last_seen_at=utcnow()))
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(accounts, "resolve_session", failing)
    await live_app.state.pubsub.publish(account_channel(me), {"kind": "account"})
    # Then the socket closes as after any failure (the phone connects again later), with nothing more sent
    assert await closed_with(socket) == (CLOSE_CHECK_FAILED, [])
    await socket.close()
    monkeypatch.setattr(accounts, "resolve_session", real)
    # And nothing is left checked out or holding the write gate
    await assert_released(live_app, "after a failed re-read of a socket's session")


async def test_after_the_pubsub_reconnects_a_session_ended_meanwhile_still_closes_its_socket(
    live_app, gql, checks, monkeypatch
):
    monkeypatch.setattr(router, "RESYNC_SPREAD", 0.2)
    # Given a resident's live page, and her session ended while the pub/sub was not listening (no event heard)
    mine = await login_demo(gql, RESIDENT_JINGJU)
    socket = await subscribed(live_app, mine.token)
    me = await person_id(mine)
    async with live_app.state.sessionmaker() as session:
        await session.exec(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(mine.token))
            .values(revoked_at=utcnow())
        )
        await session.commit()
    # When the pub/sub, listening again, tells every subscriber it may have missed events
    await live_app.state.pubsub.publish(account_channel(me), {"resync": True})
    # Then, a moment later, her socket reads its session again and closes as logged out
    assert await asyncio.wait_for(checks.get(), PATIENCE) == CLOSE_SIGNED_OUT
    assert await closed_with(socket) == (CLOSE_SIGNED_OUT, [])
    await socket.close()


async def test_events_heard_while_reading_the_session_make_one_more_read_not_one_each(
    live_app, gql, monkeypatch
):
    # Given a resident's live page whose session reads are held until the test lets them go
    phone = await login_demo(gql, RESIDENT_JINGJU)
    socket = await subscribed(live_app, phone.token)
    me = await person_id(phone)
    check = router.PersistedTransportWS.check_account
    started_reads: asyncio.Queue = asyncio.Queue()
    release = asyncio.Event()

    async def held(self: Any, actor: Any) -> Any:
        started_reads.put_nowait(None)
        await release.wait()
        return await check(self, actor)

    monkeypatch.setattr(router.PersistedTransportWS, "check_account", held)
    # When her account channel hears one event, and five more while that read is under way
    await live_app.state.pubsub.publish(account_channel(me), {"kind": "account"})
    await asyncio.wait_for(started_reads.get(), PATIENCE)
    for _ in range(5):
        await live_app.state.pubsub.publish(account_channel(me), {"kind": "account"})
    release.set()
    # Then the session is read once more after the first (the five coalesce), and the socket stays open
    await asyncio.wait_for(started_reads.get(), PATIENCE)
    for _ in range(20):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    assert started_reads.empty()
    await still_open(socket)
    await socket.close()
