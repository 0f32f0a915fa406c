"""Persisted operations over WebSocket (graphql-transport-ws): the same rules as over POST."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from laoyou.app import create_app

from ..accounts.test_notifications_live import PROTOCOL, SUBSCRIBE, connect, demo_token, live, receive  # noqa: F401
from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN


@pytest.fixture(scope="module")
def persisted_only(live) -> Iterator[Any]:  # noqa: F811
    """The live app's deployment restarted in persisted-only mode (one database: sessions carry over)."""
    from starlette.testclient import TestClient

    settings = live.app.state.settings.model_copy(update={"persisted_only": True})
    with TestClient(create_app(settings), client=("10.7.7.7", 4000)) as client:
        yield client


def by_hash(live, name: str) -> dict:  # noqa: ANN001, F811
    operation = live.app.state.persisted[name]
    return {
        "operationName": name,
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": operation.sha256}},
    }


@contextmanager
def connected(live, token: str) -> Iterator[Any]:  # noqa: ANN001, F811
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert connect(ws, {"authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
        yield ws


def test_a_subscription_may_be_sent_by_its_hash(live):  # noqa: F811
    token = demo_token(live, RESIDENT_XIUSHAN)
    with connected(live, token) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": by_hash(live, "UnreadNotifications")})
        answer = receive(ws)
        assert answer["type"] == "next" and isinstance(answer["payload"]["data"]["unreadNotifications"], int)


def test_persisted_only_refuses_a_residents_raw_subscription_and_keeps_the_connection(live, persisted_only):  # noqa: F811
    token = demo_token(live, RESIDENT_XIUSHAN)  # logged in before the switch
    with connected(persisted_only, token) as ws:
        # A document of the resident's own making is refused, as over POST
        ws.send_json({"id": "raw", "type": "subscribe", "payload": {"query": SUBSCRIBE + " "}})
        assert receive(ws) == {
            "id": "raw",
            "type": "error",
            "payload": [{"message": "PersistedQueryRequired"}],
        }
        # So is a hash the server does not know
        unknown = {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(b"x").hexdigest()}}
        }
        ws.send_json({"id": "unknown", "type": "subscribe", "payload": unknown})
        assert receive(ws) == {
            "id": "unknown",
            "type": "error",
            "payload": [{"message": "PersistedQueryNotFound"}],
        }
        # And the app's own subscription, by its hash, still runs on the same connection
        app_subscription = by_hash(persisted_only, "UnreadNotifications")
        ws.send_json({"id": "app", "type": "subscribe", "payload": app_subscription})
        answer = receive(ws)
        assert answer["id"] == "app" and answer["type"] == "next"


def test_persisted_only_lets_staff_subscribe_with_their_own_documents(live, persisted_only):  # noqa: F811
    token = demo_token(live, STEWARD_XIUSHAN)  # logged in before the switch
    with connected(persisted_only, token) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE + " "}})
        assert receive(ws)["type"] == "next"


def test_the_older_graphql_ws_protocol_is_not_offered(live):  # noqa: F811
    # A second protocol would be a second door to keep the same rules on; the app speaks graphql-transport-ws.
    with pytest.raises(WebSocketDisconnect) as refused:
        with live.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {}})
            receive(ws, timeout=5)
    assert refused.value.code == 4406  # graphql-transport-ws's "Subprotocol not acceptable"
