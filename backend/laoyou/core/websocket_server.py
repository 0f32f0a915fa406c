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


class _Waiters:
    """The futures of those waiting, in a list made only while somebody waits."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future] | None = None

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            # Woken and cancelled in the same turn of the loop: the wake goes to the next one waiting.
            if waiter.done() and not waiter.cancelled():
                self._wake_one()
            raise
        finally:
            if self._waiters is not None:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None

    def _wake_one(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)


class Inbox(_Waiters):
    """What uvicorn asks of its receive queue (put_nowait, get, empty), unbounded, without asyncio.Queue's deques
    of waiters and its join() event."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_one()

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            await self._wait()
        return self._items.pop(0)


class Flag(_Waiters):
    """asyncio.Event's set, clear, is_set and wait, with its waiters' list made only while somebody waits (uvicorn
    waits on it only while the transport's buffer is full)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._wake_all()

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            await self._wait()
        return True


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
