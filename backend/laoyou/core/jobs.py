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
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import events
from laoyou.core.db import DATABASE_UNREACHABLE
from laoyou.core.metrics import Metrics
from laoyou.core.pubsub import PubSub

log = logging.getLogger("laoyou.jobs")
SelectT = TypeVar("SelectT", bound=Select)


def unreachable(error: BaseException) -> bool:
    """The database cannot be reached: refused, reset, lost mid-statement, a host name that does not resolve
    (OSError), or a server that refuses sessions while it starts or shuts down (SQLSTATE class 08 "connection
    exception" and 57 "operator intervention"), as the driver's error or anything it caused."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, (*DATABASE_UNREACHABLE, OSError)):
            return True
        if str(getattr(seen, "sqlstate", "") or "")[:2] in ("08", "57"):
            return True
        seen = seen.__cause__
    return False


def _first_line(error: BaseException) -> str:
    """What went wrong, without the statement SQLAlchemy appends to it."""
    return (str(error).splitlines() or [""])[0][:200]


class Outage:
    """The database being down, as this process's loops see it: the first loop that cannot reach it says so
    in one line and the first that gets through again says that; a loop in between waits longer each time
    (1, 2, 4 … up to 15 s) instead of logging a traceback a round."""

    down = False  # for the whole process: one line per outage, whichever loop notices

    def __init__(self, what: str, *, first: float = 1.0, longest: float = 15.0) -> None:
        self.what = what
        self.first = first
        self.longest = longest
        self.delay = 0.0

    def failed(self, error: BaseException) -> float | None:
        """How long to wait before trying again when `error` says the database cannot be reached; None for
        any other failure, which the caller reports as its own."""
        if not unreachable(error):
            return None
        if not Outage.down:
            Outage.down = True
            log.warning(
                "database unreachable (%s: %s), noticed by %s; trying again with growing pauses",
                type(error).__name__,
                _first_line(getattr(error, "orig", None) or error),
                self.what,
            )
        self.delay = min(self.longest, max(self.first, self.delay * 2))
        return self.delay

    def succeeded(self) -> None:
        if self.delay:
            self.delay = 0.0
            if Outage.down:
                Outage.down = False
                log.warning("database reachable again (%s)", self.what)


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


async def until_calm(
    *, step: float = 0.005, late: float = 0.005, calm: float = 0.05, patience: float = 1.0
) -> None:
    """Wait until the event loop has had `calm` seconds of room, or `patience` seconds have passed.

    For background work that shares the app's event loop (the embedded worker and periodic jobs). A short
    sleep that comes back more than `late` after its time means callbacks were queued before it: a request
    being answered, or thousands of live subscribers being told of an event. That goes first; the wait
    gives up after `patience`, so under steady load the background work is delayed, never starved.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    quiet_since = loop.time()
    while loop.time() - quiet_since < calm and loop.time() < deadline:
        asked = loop.time()
        await asyncio.sleep(step)
        if loop.time() - asked > step + late:
            quiet_since = loop.time()


async def run_periodic(
    sessionmaker: async_sessionmaker[AsyncSession],
    pubsub: PubSub,
    stop: asyncio.Event,
    *,
    scale: float = 1.0,
    metrics: Metrics | None = None,
    shares_loop: bool = False,
) -> None:
    """Run each registered job on its interval (scaled; 0 turns them off) until stop is set; each run is
    counted in metrics (by job and outcome) when given. `shares_loop`: the app's requests run on this event
    loop too (embedded), so each round waits for a calm moment first (until_calm)."""
    if scale <= 0:
        return
    next_at = {name: time.monotonic() + job.every_seconds * scale for name, job in JOBS.items()}
    outage = Outage("the periodic jobs")
    while not stop.is_set():
        now = time.monotonic()
        backoff = None
        if shares_loop and any(at <= now for at in next_at.values()):
            await until_calm()
        for name, job in list(JOBS.items()):
            if next_at.get(name, now) <= now:
                next_at[name] = now + job.every_seconds * scale
                try:
                    report = await run_once(job, sessionmaker, pubsub)
                    log.debug("job %s: %s", name, report)
                    outcome = "ok"
                    outage.succeeded()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # noqa: BLE001  (reported here; the job runs again next time)
                    outcome = "failed"
                    backoff = outage.failed(error)
                    if backoff is None:
                        log.exception("job %s failed; it runs again next time", name)
                if metrics is not None:
                    metrics.jobs.labels(name, outcome).inc()
                if backoff is not None:  # the other due jobs would fail the same way: they wait too
                    break
        wait = max(0.05, min(next_at.values(), default=now + 60) - time.monotonic())
        if backoff is not None:
            wait = max(wait, backoff)
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            pass
