"""A WebSocket to /graphql goes straight to the GraphQL view (graphql/router.py GraphQLSockets), past FastAPI's
routing, yet still through what sockets use: the request log's id, the metrics' count of open sockets, and the
same context and refusals as before."""

from __future__ import annotations

import pytest
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..accounts.test_notifications_live import PROTOCOL, SUBSCRIBE, connect, demo_token, live, receive  # noqa: F401
from ..conftest import RESIDENT_XIUSHAN


def open_sockets(client) -> float:  # noqa: ANN001
    return client.app.state.metrics.registry.get_sample_value("laoyou_websockets_open")


def test_a_live_socket_is_counted_while_open_and_carries_a_request_id(live):  # noqa: F811
    token = demo_token(live, RESIDENT_XIUSHAN)
    before = open_sockets(live)
    with live.websocket_connect(
        "/graphql", subprotocols=[PROTOCOL], headers={"X-Request-ID": "phone-42"}
    ) as ws:
        # The request log's id is in the answer to the upgrade, as on every request
        assert (b"x-request-id", b"phone-42") in [(k.lower(), v) for k, v in ws.extra_headers]
        assert connect(ws, {"authorization": f"Bearer {token}"}) == {"type": "connection_ack"}
        assert open_sockets(live) == before + 1
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        answer = receive(ws)
        assert answer["type"] == "next" and isinstance(answer["payload"]["data"]["unreadNotifications"], int)
    assert open_sockets(live) == before


def test_a_stranger_is_still_refused_on_the_direct_path(live):  # noqa: F811
    with live.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        with pytest.raises(WebSocketDisconnect) as closed:
            receive(ws)
    assert closed.value.code == 4403


def test_other_socket_paths_still_go_through_the_routes(live):  # noqa: F811
    """Only /graphql is taken aside: a socket route elsewhere is reached through the routes as before."""

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("heard " + await websocket.receive_text())
        await websocket.close()

    routes = live.app.router.routes
    routes.append(WebSocketRoute("/graphql-echo", echo))
    try:
        with live.websocket_connect("/graphql-echo") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "heard hello"
        with pytest.raises(WebSocketDisconnect), live.websocket_connect("/graphql/nowhere"):
            pass
    finally:
        routes.pop()


def test_an_accepted_socket_lets_go_of_its_upgrade_headers():
    """A browser's upgrade carries cookies, its user agent and languages: read once for the context, then not
    kept for the socket's whole life (graphql/router.py forget_upgrade_headers, bench/live.py)."""
    from laoyou.graphql.router import forget_upgrade_headers

    scope = {
        "type": "websocket",
        "path": "/graphql",
        "headers": [(b"cookie", b"laoyou_session=abc"), (b"user-agent", b"Mozilla/5.0 (Linux; Android 8)")],
    }
    websocket = WebSocket(scope, receive=None, send=None)
    assert websocket.cookies == {"laoyou_session": "abc"} and websocket.headers["user-agent"].startswith(
        "Mozilla"
    )
    forget_upgrade_headers(websocket)
    assert scope["headers"] == [] and websocket.cookies == {} and "user-agent" not in websocket.headers
