"""Timed work for work orders: SLA escalation, complaints shown to officials, auto-close after 7 days.

`run_ticket_jobs` is one unit of work at a given time (tests move the clock); `run_forever` calls it
every few minutes in the embedded app.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import events
from laoyou.core.pubsub import PubSub
from laoyou.core.time import utcnow
from laoyou.tickets import service as tickets

log = logging.getLogger("laoyou.tickets.jobs")


@dataclass
class JobReport:
    escalated: int
    closed: int


async def run_ticket_jobs(session: AsyncSession, *, now: datetime | None = None) -> JobReport:
    """Escalate what is overdue and close what was done a week ago without a rating. Never commits."""
    now = now or utcnow()
    escalated = await tickets.run_escalations(session, now=now)
    closed = await tickets.run_auto_close(session, now=now)
    return JobReport(escalated=escalated, closed=closed)


async def run_forever(sessionmaker: async_sessionmaker[AsyncSession], pubsub: PubSub, *, every_seconds: float) -> None:
    while True:
        await asyncio.sleep(every_seconds)
        try:
            async with sessionmaker() as session:
                report = await run_ticket_jobs(session)
                await events.commit_and_publish(session, pubsub)
            if report.escalated or report.closed:
                log.info("work orders: %s escalated, %s closed", report.escalated, report.closed)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed round is logged and tried again next time
            log.exception("work order jobs failed")
