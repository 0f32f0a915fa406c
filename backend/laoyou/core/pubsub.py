"""Publish/subscribe for live updates. In-process for the embedded default; other backends plug in here."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol


class PubSub(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str) -> Any: ...  # an async context manager yielding an async iterator


class InProcessPubSub:
    """Fan-out to subscribers in this process. A slow subscriber drops its oldest messages, never blocks."""

    def __init__(self, queue_size: int = 100) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._queue_size = queue_size

    async def ready(self) -> bool:
        """In one process there is nothing to be connected to."""
        return True

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        for queue in list(self._queues.get(channel, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._queues[channel].add(queue)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._queues[channel].discard(queue)
            if not self._queues[channel]:
                del self._queues[channel]

    def subscriber_count(self, channel: str) -> int:
        return len(self._queues.get(channel, ()))


class PostgresPubSub:
    """Events between app processes through PostgreSQL LISTEN/NOTIFY, with the same interface.

    Every process LISTENs on one PostgreSQL channel; a notification carries the logical channel and a small
    JSON message (ids, never rows: NOTIFY payloads are capped at 8000 bytes) and is fanned out to this
    process's subscribers of that channel. A process's own events come back to it the same way, so every
    process sees one order. When the listening connection is lost, it reconnects and tells every local
    subscriber to catch up ({"resync": true}): subscribers fetch what they missed from the database.
    """

    PG_CHANNEL = "laoyou_events"
    MAX_PAYLOAD = 8000

    def __init__(self, database_url: str, queue_size: int = 100) -> None:
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._local = InProcessPubSub(queue_size)
        self._listener: Any = None
        self._sender: Any = None
        self._lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()
        self._watchdog: asyncio.Task | None = None
        self._closed = False

    async def _connect_listener(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self._dsn)
        await connection.add_listener(self.PG_CHANNEL, self._on_notify)
        connection.add_termination_listener(lambda _c: self._lost())
        self._listener = connection

    async def start(self) -> None:
        if await self._ensure_listener():
            await self._resync()

    async def _ensure_listener(self) -> bool:
        """Listen if not listening; True when this was a reconnection after the listener was lost."""
        async with self._lock:
            if self._listener is not None and not self._listener.is_closed():
                return False
            lost = self._listener is not None
            await self._connect_listener()
            return lost

    async def _resync(self) -> None:
        """Whatever was published while nobody listened is in the database: every local subscriber catches up."""
        for channel in list(self._local._queues):
            await self._local.publish(channel, {"resync": True})

    async def ready(self) -> bool:
        """Listening: the LISTEN connection is up (connected now if it was not), so live events arrive."""
        try:
            await asyncio.wait_for(self.start(), timeout=2)
        except Exception:  # noqa: BLE001  (any failure to listen is "not ready"; /readyz says which part)
            return False
        return self._listener is not None and not self._listener.is_closed()

    def _lost(self) -> None:
        if self._closed or (self._watchdog and not self._watchdog.done()):
            return
        self._watchdog = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        # /readyz or a new subscriber may reconnect first (start()); then that one has told subscribers to catch up
        delay = 0.2
        while not self._closed:
            try:
                await self.start()
            except Exception:  # noqa: BLE001  (the database may be restarting)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2)
                continue
            return

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            channel, message = envelope["c"], envelope["m"]
        except (ValueError, KeyError, TypeError):
            return
        if self._local.subscriber_count(channel):
            asyncio.get_running_loop().create_task(self._local.publish(channel, message))

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        payload = json.dumps({"c": channel, "m": message}, separators=(",", ":"), ensure_ascii=False)
        if len(payload.encode()) > self.MAX_PAYLOAD:
            raise ValueError("pub/sub messages carry ids, not rows; this one is over 8000 bytes")
        import asyncpg

        async with self._send_lock:
            for attempt in (1, 2):
                try:
                    if self._sender is None or self._sender.is_closed():
                        self._sender = await asyncpg.connect(self._dsn)
                    await self._sender.execute("SELECT pg_notify($1, $2)", self.PG_CHANNEL, payload)
                    return
                except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
                    self._sender = None
                    if attempt == 2:
                        raise

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        await self.start()
        async with self._local.subscribe(channel) as messages:
            yield messages

    def subscriber_count(self, channel: str) -> int:
        return self._local.subscriber_count(channel)

    async def close(self) -> None:
        self._closed = True
        for connection in (self._listener, self._sender):
            if connection is not None and not connection.is_closed():
                await connection.close()
        self._listener = self._sender = None


def make_pubsub(settings: Any) -> InProcessPubSub | PostgresPubSub:
    """LAOYOU_PUBSUB: inprocess (the embedded default) or postgres (several app processes on one database)."""
    if settings.pubsub == "postgres":
        if not settings.effective_database_url.startswith("postgresql"):
            raise ValueError("LAOYOU_PUBSUB=postgres needs LAOYOU_DATABASE_URL to be a PostgreSQL database")
        return PostgresPubSub(settings.effective_database_url)
    return InProcessPubSub()
