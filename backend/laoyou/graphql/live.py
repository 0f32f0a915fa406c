"""What every long-lived subscription needs: a short session per fetch, and waking on any of its channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from laoyou.graphql.context import Info


@asynccontextmanager
async def listen(pubsub: Any, channels: list[str]) -> AsyncIterator[asyncio.Queue]:
    """Subscribe to several channels at once; every event (its content does not matter) lands in one queue."""
    wake: asyncio.Queue = asyncio.Queue(maxsize=1)

    async def pump(messages: AsyncIterator[Any]) -> None:
        async for _ in messages:
            if wake.empty():
                wake.put_nowait(True)  # events coalesce: a subscriber fetches everything new anyway

    async with AsyncExitStack() as stack:
        tasks = []
        for channel in channels:
            messages = await stack.enter_async_context(pubsub.subscribe(channel))
            tasks.append(asyncio.create_task(pump(messages)))
        try:
            yield wake
        finally:
            for task in tasks:
                task.cancel()


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
