"""Timed work for work orders: SLA escalation, complaints shown to officials, auto-close after 7 days.

`run_ticket_jobs` is one unit of work at a given time (tests move the clock); the worker runs it every
few minutes (core.jobs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.core import jobs
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


@jobs.periodic("work_orders", every_seconds=300)
async def periodic_ticket_jobs(session: AsyncSession) -> JobReport:
    report = await run_ticket_jobs(session)
    if report.escalated or report.closed:
        log.info("work orders: %s escalated, %s closed", report.escalated, report.closed)
    return report
