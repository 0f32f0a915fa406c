"""The background worker: publishes scheduled briefings, sends the push outbox and the climb's other channels.

Embedded (the default) it runs as a task in the app process, woken after each commit that queued pushes;
in production `laoyou worker` runs the same loop in its own process and polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import events
from laoyou.core.jobs import Outage, until_calm
from laoyou.core.pubsub import PubSub
from laoyou.notify.outbox import OUTBOX_CHANNEL, expand_fanouts
from laoyou.notify.reach.sender import ReachSender
from laoyou.notify.sender import PushSender, make_http_client
from laoyou.notify.vapid import VapidSigner

log = logging.getLogger("laoyou.worker")


__all__ = ["Worker", "make_http_client"]


class Worker:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        pubsub: PubSub,
        signer: VapidSigner,
        publish_due: Callable[[AsyncSession], Awaitable[int]],
        http: aiohttp.ClientSession | None = None,
        poll_seconds: float = 5.0,
        reach: ReachSender | None = None,
        alive: Path | None = None,
        shares_loop: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        # Briefings' scheduled publishing, passed by the app (notify sits below briefings and never imports it).
        self.publish_due = publish_due
        self.pubsub = pubsub
        self.sender = PushSender(sessionmaker=sessionmaker, signer=signer, http=http)
        self.poll_seconds = poll_seconds
        # The climb's steps on WeChat, SMS and voice (notify.reach), sent after the push outbox.
        self.reach = reach
        # Touched every round, also while the database is down: a health check sees the loop turning.
        self.alive = alive
        # Embedded, the worker shares the app's event loop: it lets the app's own work go first (until_calm).
        self.shares_loop = shares_loop
        self._wake = asyncio.Event()

    async def _after_the_app(self) -> None:
        if self.shares_loop:
            await until_calm()

    async def tick(self) -> None:
        """One round: due briefings go out (queueing their pushes), large notices fan out, then the outbox is
        drained."""
        async with self.sessionmaker() as session:
            try:
                published = await self.publish_due(session)
                await events.commit_and_publish(session, self.pubsub)
            except BaseException:
                await events.rollback(session)
                raise
        if published:
            log.info("published %s scheduled briefing(s)", published)
        # The commit that woke this round has just woken the app's live subscribers too: a notice to a
        # community is thousands of phones to tell at once, and its fan-out is thousands of rows to write.
        await self._after_the_app()
        await expand_fanouts(self.sessionmaker, self.pubsub)
        stats = await self.sender.drain()
        if stats.handled:
            log.info(
                "push: %s sent, %s retried, %s failed, %s devices gone",
                stats.sent,
                stats.retried,
                stats.failed,
                stats.gone,
            )
        if self.reach is not None:
            reached = await self.reach.drain()
            if reached.handled:
                log.info("reach: %s", dict(reached.outcomes))

    async def _listen(self) -> None:
        outage = Outage("the push worker's wake-ups")
        while True:
            try:
                async with self.pubsub.subscribe(OUTBOX_CHANNEL) as messages:
                    outage.succeeded()
                    async for _ in messages:
                        self._wake.set()
            except Exception as error:
                backoff = outage.failed(error)
                if backoff is None:
                    raise
                await asyncio.sleep(backoff)  # meanwhile the worker polls

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        listener = asyncio.create_task(self._listen())
        outage = Outage("the push worker")
        try:
            while not stop.is_set():
                self._wake.clear()
                wait = self.poll_seconds
                try:
                    await self.tick()
                    outage.succeeded()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # a bad round must not stop the worker
                    backoff = outage.failed(error)
                    if backoff is None:
                        log.exception("worker round failed")
                    else:
                        wait = max(wait, backoff)
                if self.alive is not None:
                    self.alive.touch()
                with contextlib.suppress(asyncio.TimeoutError):
                    waiter = asyncio.create_task(self._wake.wait())
                    stopper = asyncio.create_task(stop.wait())
                    try:
                        await asyncio.wait(
                            {waiter, stopper}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                        )
                    finally:
                        waiter.cancel()
                        stopper.cancel()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def close(self) -> None:
        await self.sender.aclose()
        if self.reach is not None:
            await self.reach.aclose()
