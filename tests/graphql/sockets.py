"""A graphql-transport-ws client for an app in the test's own event loop, driven through ASGI (no server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

PROTOCOL = "graphql-transport-ws"
# How long a reply may take before the test gives up instead of hanging; no outcome depends on it.
PATIENCE = 20


class Socket:
    """One WebSocket to /graphql, driven through ASGI in the test's event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.to_app: asyncio.Queue[dict] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict] = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.close_code: int | None = None

    async def open(self, token: str | None, *, cookie: str | None = None) -> dict | None:
        """Connect (with the session cookie, if any) and send connection_init (with the bearer token, if any);
        the server's answer, or None when it closed the socket instead."""
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"sec-websocket-protocol", PROTOCOL.encode())]
            + ([(b"cookie", f"laoyou_session={cookie}".encode())] if cookie else []),
            "subprotocols": [PROTOCOL],
            "client": ("10.9.8.7", 5000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.create_task(self.app(scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        accepted = await asyncio.wait_for(self.from_app.get(), PATIENCE)
        assert accepted["type"] == "websocket.accept" and accepted.get("subprotocol") == PROTOCOL, accepted
        await self.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}}
        )
        return await self.receive()

    async def send(self, message: dict) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict | None:
        """The next message, or None once the server has closed the socket (its code in close_code)."""
        if self.close_code is not None:
            return None
        event = await asyncio.wait_for(self.from_app.get(), PATIENCE)
        if event["type"] == "websocket.close":
            self.close_code = event.get("code", 1000)
            return None
        assert event["type"] == "websocket.send", event
        return json.loads(event["text"] if event.get("text") is not None else event["bytes"])

    async def close(self) -> None:
        if self.task is None:
            return
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, PATIENCE)
