"""uvicorn's WebSocket protocol, lighter per idle socket.

A resident's phone holds its socket open all day and a process holds thousands of them (bench/live.py). uvicorn's
websockets-sansio protocol keeps, for each socket's whole life, the upgrade request and the 101 response with their
parsed headers (about 5 KB; the app reads the headers once, from the ASGI scope, which holds its own copy), and an
asyncio.Queue and an asyncio.Event that allocate four deques of 64 slots each before a message arrives (about 4 KB).
This subclass lets go of the handshake once it is answered and keeps its inbox and its writable flag in small
objects that allocate only while somebody waits.

It reaches into uvicorn's attributes (`queue`, `writable`, `request`, `response`), so pyproject.toml bounds uvicorn
from above; tests/core/test_websocket_server.py runs a real server with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class Inbox:
    """What uvicorn asks of its receive queue (put_nowait, get, empty), unbounded, without asyncio.Queue's deques
    of waiters and its join() event."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                if self._items and not waiter.cancelled():  # pragma: no cover - woken and cancelled together
                    self._wake_one()
                raise
            finally:
                if self._waiters is not None and not self._waiters:
                    self._waiters = None
        return self._items.pop(0)


class Flag:
    """asyncio.Event's set, clear, is_set and wait, with its waiters' list made only while somebody waits (uvicorn
    waits on it only while the transport's buffer is full)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # Read by nobody after this: the scope carries the headers. The request is dropped, and its headers
        # emptied, because websockets' parser keeps the request it parsed for as long as it parses frames.
        event.headers.clear()
        self.request = None

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete:
            # The 101 (or a refusal) has been written; uvicorn reads the response only until then.
            self.response = None


# How `laoyou serve` (and the browser tests' server) runs sockets. Per-message deflate is off: it kept a compressor
# and a decompressor per socket (about 60 KB of the server's memory) for messages of a few bytes.
SOCKET_OPTIONS: dict[str, Any] = {"ws": LeanWebSocketProtocol, "ws_per_message_deflate": False}
