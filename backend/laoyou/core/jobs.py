"""Periodic jobs of every domain, run by the embedded worker or by `laoyou worker`.

A domain registers a unit of work that takes a session and never commits; the runner commits each
round and publishes its events, so a failed round changes nothing and is tried again next time.
laoyou.jobs imports the domains' job modules for the worker: the core knows none of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import events
from laoyou.core.pubsub import PubSub

log = logging.getLogger("laoyou.jobs")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[AsyncSession], Awaitable[Any]]


JOBS: dict[str, PeriodicJob] = {}


def periodic(name: str, *, every_seconds: float) -> Callable:
    """Register `async def job(session) -> report` to run every so often."""

    def register(
        function: Callable[[AsyncSession], Awaitable[Any]],
    ) -> Callable[[AsyncSession], Awaitable[Any]]:
        JOBS[name] = PeriodicJob(name, every_seconds, function)
        return function

    return register


async def run_once(job: PeriodicJob, sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub) -> Any:
    async with sessionmaker() as session:
        try:
            report = await job.run(session)
            await events.commit_and_publish(session, pubsub)
            return report
        except BaseException:
            await events.rollback(session)
            raise


async def run_periodic(
    sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub, stop: asyncio.Event, *, scale: float = 1.0
) -> None:
    """Run each registered job on its interval (scaled; 0 turns them off) until stop is set."""
    if scale <= 0:
        return
    next_at = {name: time.monotonic() + job.every_seconds * scale for name, job in JOBS.items()}
    while not stop.is_set():
        now = time.monotonic()
        for name, job in list(JOBS.items()):
            if next_at.get(name, now) <= now:
                next_at[name] = now + job.every_seconds * scale
                try:
                    report = await run_once(job, sessionmaker, pubsub)
                    log.debug("job %s: %s", name, report)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("job %s failed; it runs again next time", name)
        wait = max(0.05, min(next_at.values(), default=now + 60) - time.monotonic())
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            pass
