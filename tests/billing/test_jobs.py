"""The billing jobs with a moved clock: overdue reminders at most once per bill per day (in the app and on
the phone, through accounts.do_notify), and reconciliation of payments whose notification never came."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlmodel import col, func, select

from laoyou.accounts.models import Notification
from laoyou.billing import service as billing
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.jobs import run_billing_jobs
from laoyou.billing.models import Bill, BillStatus, PaymentMethod
from laoyou.core import jobs
from laoyou.core.time import SHANGHAI, utcnow
from laoyou.jobs import load_domain_jobs

from ..conftest import RESIDENT_XIUSHAN
from .helpers import actor_for, check_books


def shanghai_time(*, days_ahead: int, hour: int) -> datetime:
    """That hour in Shanghai, some days from now, as UTC."""
    day = utcnow().astimezone(SHANGHAI) + timedelta(days=days_ahead)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)


async def reminders(db, person_id: int) -> int:  # noqa: ANN001
    return await db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.person_id == person_id, Notification.kind == "bill_overdue")
    )


async def test_overdue_bills_are_reminded_once_a_day_and_pushed(db, monkeypatch):
    # Given the demo resident with bills of past months still owed, and a stand-in for the push outbox
    pushed = []

    async def enqueue(session, **kwargs):  # noqa: ANN001, ANN003, ANN202
        pushed.append(kwargs)
        return 0

    monkeypatch.setattr("laoyou.notify.outbox.do_enqueue", enqueue)
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    now = shanghai_time(days_ahead=40, hour=10)  # an hour later is the same day, whenever the test runs
    owed = list(
        await db.exec(
            select(Bill).where(
                col(Bill.household_id).in_(resident.household_ids),
                col(Bill.status).in_(["open", "partly_paid"]),
            )
        )
    )
    assert owed
    # When the jobs run, and run again an hour later
    first = await run_billing_jobs(db, now=now, gateways={})
    before = await reminders(db, resident.person_id)
    again = await run_billing_jobs(db, now=now + timedelta(hours=1), gateways={})
    # Then each overdue bill was reminded once, in the app and as a push, and not again the same day
    assert first.reminded >= len(owed) and again.reminded == 0
    assert before >= len(owed) and await reminders(db, resident.person_id) == before
    assert any(p["kind"] == "bill_overdue" and resident.person_id in p["person_ids"] for p in pushed)
    # When a day passes, the bills still owed are reminded again; a paid bill is not
    steward = await actor_for(db, "13800000011")
    await billing.do_record_office_payment(
        db,
        actor=steward,
        bill_ids=[owed[0].id],
        method=PaymentMethod.cash,
        amount_fen=owed[0].outstanding_fen,
        office_receipt_no="SJ-9",
        idempotency_key=secrets.token_hex(8),
    )
    next_day = await run_billing_jobs(db, now=now + timedelta(days=1), gateways={})
    assert next_day.reminded == first.reminded - 1
    assert (await db.get(Bill, owed[0].id)).status == BillStatus.paid.value


async def test_a_bill_reminded_early_in_the_morning_is_not_reminded_again_that_day(db):
    # Given the demo resident's overdue bills, reminded at 04:00 Shanghai time (20:00 UTC the day before)
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    early = shanghai_time(days_ahead=40, hour=4)
    first = await run_billing_jobs(db, now=early, gateways={})
    before = await reminders(db, resident.person_id)
    # When the jobs run again at 07:00, the same day in Shanghai
    again = await run_billing_jobs(db, now=early + timedelta(hours=3), gateways={})
    # Then nobody is reminded twice that day
    assert first.reminded > 0 and again.reminded == 0
    assert await reminders(db, resident.person_id) == before


async def test_reconciliation_in_the_job_finds_a_payment_whose_notification_was_lost(db):
    # Given a payment whose notification the sandbox never sends
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    sandbox = gateways().sandbox
    bill = (
        await db.exec(
            select(Bill).where(
                col(Bill.household_id).in_(resident.household_ids),
                col(Bill.status).in_(["open", "partly_paid"]),
            )
        )
    ).first()
    payment = await billing.do_pay_bills(
        db,
        actor=resident,
        bill_ids=[bill.id],
        method=PaymentMethod.sandbox,
        idempotency_key=secrets.token_hex(8),
        gateway=sandbox,
    )
    sandbox.misbehaviour.drop = True
    try:
        assert sandbox.pay(payment.out_trade_no) == []
    finally:
        sandbox.misbehaviour.drop = False
    # When the job runs right away, then five minutes later
    soon = await run_billing_jobs(db, now=utcnow(), gateways={"sandbox": sandbox})
    later = await run_billing_jobs(db, now=utcnow() + timedelta(minutes=5), gateways={"sandbox": sandbox})
    # Then the payment is left alone while young, then found paid and applied once
    assert soon.payments == {} and later.payments == {"applied": 1}
    await db.refresh(payment)
    assert payment.status == "paid"
    assert (
        await run_billing_jobs(db, now=utcnow() + timedelta(minutes=10), gateways={"sandbox": sandbox})
    ).payments == {}
    await check_books(db)


def test_the_billing_job_is_registered_for_the_worker():
    load_domain_jobs()
    assert "billing" in jobs.JOBS and jobs.JOBS["billing"].every_seconds <= 600
