"""The WebSocket protocol `laoyou serve` runs (core/websocket_server.py): uvicorn's, lighter per idle socket, and
still a whole WebSocket server. A real uvicorn serves a small ASGI app with it; the client is the websockets
package, as another phone would be."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import uvicorn
import websockets

from laoyou.core.websocket_server import SOCKET_OPTIONS, Flag, Inbox, LeanWebSocketProtocol

from ..support.servers import free_port


class EchoApp:
    """Accepts, says which headers it was given, then echoes every message until the client closes."""

    def __init__(self) -> None:
        self.protocols: list[LeanWebSocketProtocol] = []
        self.disconnects: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})
        headers = dict(scope["headers"])
        await send({"type": "websocket.send", "text": headers.get(b"x-phone", b"").decode()})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnects.append(message)
                return
            await send({"type": "websocket.send", "text": "heard " + message["text"]})


@contextlib.asynccontextmanager
async def serving(app):  # noqa: ANN001, ANN201
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **SOCKET_OPTIONS)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn says so by this flag only
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/", server
    finally:
        server.should_exit = True
        await task


async def test_a_socket_is_accepted_with_its_headers_and_echoed_in_order_then_lets_go_of_its_handshake():
    app = EchoApp()
    async with (
        serving(app) as (url, server),
        websockets.connect(
            url, subprotocols=["graphql-transport-ws"], additional_headers={"X-Phone": "13800000001"}
        ) as ws,
    ):
        assert ws.subprotocol == "graphql-transport-ws"
        assert await ws.recv() == "13800000001"
        for word in ("一", "二", "三"):
            await ws.send(word)
        assert [await ws.recv() for _ in range(3)] == ["heard 一", "heard 二", "heard 三"]
        (protocol,) = [p for p in server.server_state.connections if isinstance(p, LeanWebSocketProtocol)]
        # The memory this protocol is for: the upgrade request and its answer are not kept once answered.
        assert protocol.request is None and protocol.response is None
        assert isinstance(protocol.queue, Inbox) and isinstance(protocol.writable, Flag)
    for _ in range(100):
        if app.disconnects:
            break
        await asyncio.sleep(0.01)
    assert app.disconnects and app.disconnects[0]["code"] == 1000


async def test_the_inbox_hands_out_in_order_and_a_cancelled_wait_loses_nothing():
    inbox = Inbox()
    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == ["a", "b"]
    assert inbox.empty()

    # Woken and cancelled in the same turn of the loop: the item goes to the next one waiting.
    first, second = asyncio.create_task(inbox.get()), asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("c")
    first.cancel()
    assert await second == "c"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_the_flag_holds_writers_back_until_it_is_set_again():
    flag = Flag()
    assert not flag.is_set()
    writer = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not writer.done()
    flag.set()
    assert await writer is True
    flag.clear()
    cancelled = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    flag.set()
    assert await flag.wait() is True
