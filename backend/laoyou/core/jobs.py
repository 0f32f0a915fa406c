"""Periodic jobs of every domain, run by the embedded worker or by `laoyou worker`.

A domain registers a unit of work that takes a session and never commits; the runner commits each
round and publishes its events, so a failed round changes nothing and is tried again next time.
laoyou.jobs imports the domains' job modules for the worker: the core knows none of them.

Any number of app processes and workers may run the same job at once, so a job claims what it does before
doing it: it selects the due rows with `due` and acts only on the rows its `claim` changed. The claim is in
the round's transaction with what the job does, so a runner that dies mid-round frees its claims with the
rollback, and the next round takes them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import events
from laoyou.core.metrics import Metrics
from laoyou.core.pubsub import PubSub

log = logging.getLogger("laoyou.jobs")
SelectT = TypeVar("SelectT", bound=Select)


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


def due(query: SelectT) -> SelectT:
    """The due rows a round is about to claim. On PostgreSQL they are locked for the round and rows another
    runner holds are skipped (that runner is handling them), so runners share the work instead of queueing
    on each other's rows; SQLite has no row locks and the statement is unchanged."""
    return query.with_for_update(skip_locked=True)


async def claim(
    session: AsyncSession, model: Any, ids: list[int], *still_due: ColumnElement, **values: Any
) -> list[int]:
    """Mark the rows of these ids that are still due with `values` (which must make them no longer due), and
    return the ids this runner claimed: act on these only.

    A guarded UPDATE: on PostgreSQL a row another runner changed is re-checked once its transaction ends, on
    SQLite writers take turns at the write gate and the UPDATE reads what the one before committed; either way
    each row is claimed by one runner. On SQLite the session's copy of a row may be older than the claim:
    refresh what you read of the rows you act on.
    """
    if not ids:
        return []
    claimed = await session.exec(
        update(model).where(col(model.id).in_(ids), *still_due).values(**values).returning(model.id)
    )
    return list(claimed.scalars())


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
    sessionmaker: async_sessionmaker[AsyncSession],
    pubsub: PubSub,
    stop: asyncio.Event,
    *,
    scale: float = 1.0,
    metrics: Metrics | None = None,
) -> None:
    """Run each registered job on its interval (scaled; 0 turns them off) until stop is set; each run is
    counted in metrics (by job and outcome) when given."""
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
                    outcome = "ok"
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("job %s failed; it runs again next time", name)
                    outcome = "failed"
                if metrics is not None:
                    metrics.jobs.labels(name, outcome).inc()
        wait = max(0.05, min(next_at.values(), default=now + 60) - time.monotonic())
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            pass
