"""Timed billing work: overdue reminders and reconciliation with the gateways.

`run_billing_jobs` is one unit of work at a given time (tests move the clock; it never commits);
core.jobs runs it every few minutes in the embedded worker or in `laoyou worker`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.billing import service as billing
from laoyou.billing.gateways import Gateway
from laoyou.core import jobs
from laoyou.core.time import utcnow

log = logging.getLogger("laoyou.billing.jobs")


@dataclass
class BillingJobReport:
    reminded: int = 0
    payments: dict[str, int] = field(default_factory=dict)
    refunds: dict[str, int] = field(default_factory=dict)


async def run_billing_jobs(
    session: AsyncSession, *, now: datetime | None = None, gateways: dict[str, Gateway] | None = None
) -> BillingJobReport:
    """Remind overdue bills (once per bill per day; do_notify also queues the push), then ask the gateways
    about payments and refunds whose notification never came."""
    now = now or utcnow()
    if gateways is None:
        from laoyou.billing.gateways.registry import gateways as registry

        gateways = registry().by_name
    report = BillingJobReport()
    report.reminded = await billing.do_remind_overdue(session, now=now)
    report.payments = await billing.reconcile(session, gateways=gateways, now=now)
    report.refunds = await billing.reconcile_refunds(
        session, gateways=gateways, older_than=timedelta(minutes=2), now=now
    )
    return report


@jobs.periodic("billing", every_seconds=300)
async def periodic_billing_jobs(session: AsyncSession) -> BillingJobReport:
    report = await run_billing_jobs(session)
    if report.reminded or report.payments or report.refunds:
        log.info(
            "billing: %s reminded, payments %s, refunds %s", report.reminded, report.payments, report.refunds
        )
    return report
