"""Publish/subscribe for live updates. In-process for the embedded default; other backends plug in here."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol


class PubSub(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    # An async context manager yielding a Subscription: the messages of all these channels, in one queue.
    def subscribe(self, *channels: str, queue_size: int | None = None) -> Any: ...

    # A listener called on each message instead (see InProcessPubSub.follow); the answer stops it.
    async def follow(self, listener: Listener, *channels: str) -> Callable[[], None]: ...


class Listener(Protocol):
    """What a channel delivers to: called in the publisher's turn of the loop, so it must not block."""

    def put(self, message: dict[str, Any]) -> None: ...


class Subscription:
    """One subscriber's messages, from every channel it listens on; an async iterator, or `await get()`.

    Thousands of these stay open at once (a phone per resident), so it is a list (a deque starts with a block
    of 64 slots) and, while its reader waits, one future: no task and no asyncio.Queue (whose events and
    counters cost several times more). Full, it drops its oldest message: a slow reader never blocks the
    publisher.
    """

    __slots__ = ("_messages", "_size", "_waiter")

    def __init__(self, size: int) -> None:
        self._messages: list[dict[str, Any]] = []
        self._size = size
        self._waiter: asyncio.Future[None] | None = None

    def put(self, message: dict[str, Any]) -> None:
        if len(self._messages) >= self._size:
            del self._messages[0]
        self._messages.append(message)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> dict[str, Any]:
        while not self._messages:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._messages.pop(0)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self.get()


@asynccontextmanager
async def _subscribed(pubsub: PubSub, size: int, channels: tuple[str, ...]) -> AsyncIterator[Subscription]:
    subscription = Subscription(size)
    stop = await pubsub.follow(subscription, *channels)
    try:
        yield subscription
    finally:
        stop()


class InProcessPubSub:
    """Fan-out to subscribers in this process. A slow subscriber drops its oldest messages, never blocks."""

    def __init__(self, queue_size: int = 100) -> None:
        self._queues: dict[str, set[Listener]] = defaultdict(set)
        self._queue_size = queue_size

    async def ready(self) -> bool:
        """In one process there is nothing to be connected to."""
        return True

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.deliver(channel, message)

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        for subscription in list(self._queues.get(channel, ())):
            subscription.put(message)

    def subscribe(
        self, *channels: str, queue_size: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Listen on these channels; `queue_size=1` for a subscriber that only needs to know something changed
        (events coalesce: it fetches everything new anyway)."""
        return _subscribed(self, queue_size or self._queue_size, channels)

    async def follow(self, listener: Listener, *channels: str) -> Callable[[], None]:
        """Deliver these channels' messages to `listener.put` until the answer is called. For what thousands
        hold open and rarely hear (a socket following its account): no queue to read and no task reading it."""
        for channel in channels:
            self._queues[channel].add(listener)

        def stop() -> None:
            for channel in channels:
                listeners = self._queues.get(channel)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._queues[channel]

        return stop

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
        self._queue_size = queue_size
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
            self._local.deliver(channel, {"resync": True})

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
        self._local.deliver(channel, message)  # at once: a task per notification would only add a loop turn

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

    def subscribe(
        self, *channels: str, queue_size: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        return _subscribed(self, queue_size or self._queue_size, channels)  # follow() starts listening

    async def follow(self, listener: Listener, *channels: str) -> Callable[[], None]:
        await self.start()
        return await self._local.follow(listener, *channels)

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
