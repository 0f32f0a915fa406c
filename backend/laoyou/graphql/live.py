"""What every long-lived subscription needs: a short session per fetch, waking on any of its channels, and
one query for the many subscribers one event wakes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core.pubsub import Subscription
from laoyou.graphql.context import Info


def listen(pubsub: Any, channels: list[str]) -> AbstractAsyncContextManager[Subscription]:
    """Subscribe to several channels at once; `await wake.get()` returns once any of them had an event since.

    Events coalesce (a queue of one): the subscriber fetches everything new anyway, so what an event says
    does not matter, and a burst of them wakes it once. The pub/sub's own context manager, not one wrapping
    it: every open subscription holds what it enters for its life.
    """
    return pubsub.subscribe(*channels, queue_size=1)


class Scoped:
    """A short database session with fresh loaders for one fetch inside a long subscription.

    The WebSocket's context is shared by all its subscriptions, so one at a time holds it: from the fetch
    until the yielded value has been resolved and sent (the generator resumes and leaves the block).
    """

    def __init__(self, info: Info, *, lazy: bool = False) -> None:
        self.context = info.context
        self.lock = self.context.__dict__.setdefault("_subscription_lock", asyncio.Lock())
        self.lazy = lazy  # open the session only if a resolver asks for it

    async def __aenter__(self) -> Any:
        await self.lock.acquire()
        self.context._session = None if self.lazy else self.context.sessionmaker()
        self.context.__dict__.pop("loaders", None)
        return self.context._session

    async def __aexit__(self, *exc: object) -> None:
        try:
            session, self.context._session = self.context._session, None
            self.context.__dict__.pop("loaders", None)
            if session is not None:
                await session.close()
        finally:
            self.lock.release()


K = TypeVar("K")
V = TypeVar("V")


class Gathered(Generic[K, V]):
    """One question that many live subscriptions ask at about the same time, each for its own key (her unread
    count, say), asked of the database once per turn of the event loop.

    An event heard by five thousand phones wakes five thousand subscriptions at once; a session and a query
    each would take seconds. Those that ask while a query runs wait for the next one, so a burst costs a
    query or two. A key the fetch does not answer gets `missing`; a failed fetch fails those who asked.
    """

    def __init__(self, fetch: Callable[[AsyncSession, list[K]], Awaitable[dict[K, V]]], missing: V) -> None:
        self.fetch = fetch
        self.missing = missing
        # Per database (an app's sessionmaker): tests run several apps, each asking its own.
        self._asking: WeakKeyDictionary[Any, dict[K, list[asyncio.Future[V]]]] = WeakKeyDictionary()
        self._queries: set[asyncio.Task] = set()  # held, or the loop might collect a running query

    async def get(self, sessionmaker: Any, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        asking = self._asking.get(sessionmaker)
        if asking is None:  # nobody is asking this database yet: this one asks for everyone who comes
            asking = self._asking[sessionmaker] = {}
            query = asyncio.get_running_loop().create_task(self._ask(sessionmaker, asking))
            self._queries.add(query)
            query.add_done_callback(self._queries.discard)
        asking.setdefault(key, []).append(future)
        return await future

    async def _ask(self, sessionmaker: Any, asking: dict[K, list[asyncio.Future[V]]]) -> None:
        try:
            try:
                await asyncio.sleep(0)  # the others woken by the same event join before the query goes out
            finally:
                del self._asking[sessionmaker]  # from here on, whoever asks starts the next query
            async with sessionmaker() as session:
                found = await self.fetch(session, list(asking))
        except BaseException as exc:  # every asker hears of it (cancelled too, when the app stops)
            for future in (f for waiting in asking.values() for f in waiting):
                if not future.done():
                    future.set_exception(exc) if isinstance(exc, Exception) else future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        for key, waiting in asking.items():
            for future in waiting:
                if not future.done():  # its subscription may have ended meanwhile
                    future.set_result(found.get(key, self.missing))
