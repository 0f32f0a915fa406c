"""Timed billing work: overdue reminders and reconciliation with the gateways; the background bill run.

`run_billing_jobs` is one unit of work at a given time (tests move the clock; it never commits);
core.jobs runs it every few minutes in the embedded worker or in `laoyou worker`. `run_bill_job` drives a
bill run batch by batch, each batch its own unit of work (core.db.session_scope commits it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.billing import service as billing
from laoyou.billing.gateways import Gateway
from laoyou.billing.models import BillRun
from laoyou.core import jobs
from laoyou.core.db import session_scope
from laoyou.core.time import utcnow

log = logging.getLogger("laoyou.billing.jobs")


@dataclass
class BillingJobReport:
    """One round's reconciliation report: how many of each outcome. Payments: applied, duplicate, closed,
    waiting, unclear, expired, close_refused, and late_credited / late_refunded for money that arrived after
    its order expired (named once each); refunds: applied, duplicate, failed, waiting, unclear, rejected."""

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
    late = {kind: n for kind, n in report.payments.items() if kind.startswith("late_")}
    if late:
        log.warning("billing: money arrived after its order expired: %s", late)
    if report.reminded or report.payments or report.refunds:
        log.info(
            "billing: %s reminded, payments %s, refunds %s", report.reminded, report.payments, report.refunds
        )
    return report


async def run_bill_job(
    sessionmaker: Any,
    *,
    community_id: int,
    period: str,
    batch_size: int = 500,
    fail_after_batches: int | None = None,
) -> int:
    """The background bill run: one committed transaction per batch, so a killed run resumes from its cursor."""
    async with session_scope(sessionmaker) as session:
        run = await billing.do_start_bill_run(session, actor=None, community_id=community_id, period=period)
        run_id = run.id
    batches = 0
    while True:
        async with session_scope(sessionmaker) as session:
            run = await session.get(BillRun, run_id)
            handled = await billing.do_bill_run_step(session, run=run, batch_size=batch_size)
            batches += 1
            if fail_after_batches is not None and batches > fail_after_batches:
                raise RuntimeError("bill run killed on purpose")  # the transaction is rolled back
        if not handled:
            return run_id
