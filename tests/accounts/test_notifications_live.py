"""The unreadNotifications subscription over WebSocket (graphql-transport-ws), authenticated on connect.

These tests need a server that runs on its own: a fresh app (and database) driven by Starlette's TestClient,
which runs the app on its own event loop, as a real server would.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette nudges towards httpx2; httpx is what the project ships with
    from starlette.testclient import TestClient

from laoyou.app import create_app

from ..conftest import RESIDENT_JINGJU, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, make_database_url, make_settings

PROTOCOL = "graphql-transport-ws"
SUBSCRIBE = "subscription UnreadNotifications { unreadNotifications }"
LOGIN_AS_DEMO = """
mutation ($phone: String!) {
  loginAsDemoPerson(phone: $phone, sessionKind: BEARER) { ... on LoggedIn { token } ... on Error { message } }
}
"""
UNREAD = "query { viewer { unreadNotifications } }"
REQUEST_CODE = "mutation ($phone: String!) { requestLoginCode(phone: $phone) { __typename } }"
LOGIN_WITH_CODE = """
mutation ($phone: String!, $code: String!) {
  loginWithCode(phone: $phone, code: $code, sessionKind: BEARER) { ... on LoggedIn { token } ... on Error { message } }
}
"""
REQUEST_FAMILY_LINK = """
mutation ($phone: String!) { requestFamilyLink(phone: $phone, relation: "儿子") { __typename } }
"""
MARK_READ = "mutation { markNotificationsRead { unread } }"
COMMUNITIES = "query { briefingCommunities { id name } }"
EMERGENCY = """
mutation ($ids: [ID!]!) {
  sendEmergencyNotice(communityIds: $ids, kind: WATER_CUT, title: "明天上午停水") {
    __typename ... on EmergencyNoticeSent { peopleNotified }
  }
}
"""


@pytest.fixture(scope="module")
def live(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp(f"live-{backend}")
    app = create_app(make_settings(tmp, make_database_url(backend, tmp, request)))
    with TestClient(app, client=("10.7.7.7", 4000)) as client:
        yield client


_waiter = ThreadPoolExecutor(max_workers=4)


def receive(ws: Any, timeout: float = 10) -> dict[str, Any]:
    """The next message, or a failure instead of a hang."""
    return _waiter.submit(ws.receive_json).result(timeout=timeout)


def post(client: TestClient, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def demo_token(client: TestClient, phone: str) -> str:
    return post(client, LOGIN_AS_DEMO, {"phone": phone})["loginAsDemoPerson"]["token"]


def new_person_token(client: TestClient, phone: str) -> str:
    assert post(client, REQUEST_CODE, {"phone": phone})["requestLoginCode"]["__typename"] == "LoginCodeSent"
    text = client.app.state.sms.last_to("+86" + phone)
    code = re.search(r"\b(\d{6})\b", text).group(1)
    return post(client, LOGIN_WITH_CODE, {"phone": phone, "code": code})["loginWithCode"]["token"]


def connect(ws: Any, payload: dict | None) -> dict:
    ws.send_json({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
    return receive(ws)


def test_count_now_and_whenever_it_changes(live):
    # Given a resident with a session, and their current unread count
    token = demo_token(live, RESIDENT_XIUSHAN)
    unread = post(live, UNREAD, token=token)["viewer"]["unreadNotifications"]
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        # When they subscribe with their token in the connection params
        assert connect(ws, {"authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        # Then the first value is the current count
        assert receive(ws) == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"unreadNotifications": unread}},
        }
        # When a family member asks to join their household (a new notification)
        son = new_person_token(live, "13912370001")
        assert post(live, REQUEST_FAMILY_LINK, {"phone": RESIDENT_XIUSHAN}, token=son)
        # Then the new count is pushed
        assert receive(ws) == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"unreadNotifications": unread + 1}},
        }
        # And reading them all pushes zero
        post(live, MARK_READ, token=token)
        assert receive(ws) == {"id": "1", "type": "next", "payload": {"data": {"unreadNotifications": 0}}}
        ws.send_json({"id": "1", "type": "complete"})


def test_other_peoples_notifications_are_not_pushed(live):
    # Given the steward subscribed
    token = demo_token(live, STEWARD_XIUSHAN)
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert connect(ws, {"authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
        ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        first = receive(ws)["payload"]["data"]["unreadNotifications"]
        # When the resident gets a notification
        son = new_person_token(live, "13912370002")
        post(live, REQUEST_FAMILY_LINK, {"phone": RESIDENT_XIUSHAN}, token=son)
        # Then nothing is pushed to the steward: a ping is answered before anything else arrives
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}
        assert post(live, UNREAD, token=token)["viewer"]["unreadNotifications"] == first


def test_a_notice_to_a_community_reaches_its_residents_live_and_nobody_else(live):
    # Given a resident of 秀山花园 and one of another community, both subscribed
    steward = demo_token(live, STEWARD_XIUSHAN)
    communities = post(live, COMMUNITIES, token=steward)["briefingCommunities"]
    [xiushan] = [c["id"] for c in communities if c["name"] == "秀山花园"]
    tokens = {
        who: demo_token(live, phone) for who, phone in (("own", RESIDENT_XIUSHAN), ("other", RESIDENT_JINGJU))
    }
    with (
        live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as own,
        live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as other,
    ):
        first = {}
        for who, ws in (("own", own), ("other", other)):
            assert connect(ws, {"authorization": f"Bearer {tokens[who]}"}) == {"type": "connection_ack"}
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            first[who] = receive(ws)["payload"]["data"]["unreadNotifications"]
        # When the steward sends an emergency notice to 秀山花园
        sent = post(live, EMERGENCY, {"ids": [xiushan]}, token=steward)["sendEmergencyNotice"]
        assert sent["peopleNotified"] > 1
        # Then its resident's count goes up at once
        assert receive(own)["payload"]["data"]["unreadNotifications"] == first["own"] + 1
        # And nothing reaches the other community's resident: a ping is answered before anything else arrives
        other.send_json({"type": "ping"})
        assert receive(other) == {"type": "pong"}
        assert post(live, UNREAD, token=tokens["other"])["viewer"]["unreadNotifications"] == first["other"]


def test_session_cookie_authenticates_too(live):
    token = demo_token(live, RESIDENT_XIUSHAN)
    live.cookies.set("laoyou_session", token)
    try:
        with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
            assert connect(ws, {}) == {"type": "connection_ack"}
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            assert receive(ws)["type"] == "next"
    finally:
        live.cookies.clear()


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"authorization": "Bearer forged-token"},
        {"authorization": "Basic abc"},
        {"authorization": ""},
    ],
)
def test_unauthenticated_connection_is_rejected(live, payload):
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 4403


def test_a_revoked_token_is_rejected(live):
    token = demo_token(live, RESIDENT_XIUSHAN)
    post(live, "mutation { logout { sessionsEnded } }", token=token)
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 4403


def test_a_page_on_another_site_cannot_use_the_session_cookie(live):
    # Given a browser logged in with the session cookie
    token = demo_token(live, RESIDENT_XIUSHAN)
    live.cookies.set("laoyou_session", token)
    try:
        # When a page on another site opens a WebSocket (the browser attaches the cookie; CORS does not apply)
        with pytest.raises(WebSocketDisconnect):
            with live.websocket_connect(
                "/graphql", subprotocols=[PROTOCOL], headers={"Origin": "https://evil.example"}
            ) as ws:
                connect(ws, {})
        # Then it is refused, while a page of our own origin may connect
        with live.websocket_connect(
            "/graphql", subprotocols=[PROTOCOL], headers={"Origin": "http://testserver"}
        ) as ws:
            assert connect(ws, {}) == {"type": "connection_ack"}
    finally:
        live.cookies.clear()
