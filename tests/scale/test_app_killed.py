"""The app process killed (SIGKILL) in the middle of a bill run and of a payment's notification: after a restart
nothing is lost or doubled: one bill per household and month, the payment settled once, the books balanced."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.billing.models import Bill, BillRun, Payment, PaymentAllocation
from laoyou.billing.models import SandboxOrder as SandboxRow
from laoyou.core.time import utcnow

from ..billing.helpers import check_books
from ..conftest import BACKENDS, RESIDENT_XIUSHAN, STEWARD_XIUSHAN
from ..support.servers import AppProcess
from .test_jobs_once import eventually

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="kills a process mid-transaction on PostgreSQL"),
]

PERIOD = "2030-03"
COMMUNITIES = "query { viewer { staffCommunities { id name } } }"
RUN = """mutation ($c: ID!, $p: String!) { runBills(communityId: $c, period: $p) {
  __typename ... on BillRunProgress { run { total processed created finished } } ... on Error { message } } }"""
BILLS = "query { myBills(first: 60) { id status outstanding { fen } waitingPayment { id } } }"
PAY = """mutation ($ids: [ID!]!, $key: String!) { payBills(billIds: $ids, idempotencyKey: $key, method: sandbox) {
  __typename ... on PaymentSaved { payment { id payUrl } } ... on Error { message } } }"""
ENV = {"LAOYOU_JOBS_INTERVAL_SCALE": "0.001"}  # the reconciliation every few hundred milliseconds


def kill(app: AppProcess) -> None:
    app.process.kill()
    app.process.wait(10)
    app.log.close()


@asynccontextmanager
async def books_held(engine) -> AsyncIterator[None]:  # noqa: ANN001
    """The journal locked against writes: whatever posts to the books waits there, in the middle of its
    transaction (the bill run after writing its bills, a notification after settling its payment)."""
    async with engine.connect() as connection:
        await connection.execute(text("LOCK TABLE journal_entry IN SHARE MODE"))
        yield
        await connection.rollback()


async def stuck_mid_write(engine, what: str) -> None:  # noqa: ANN001
    """Until another session holds a transaction that has written and now waits for the journal."""
    async with engine.connect() as connection:
        deadline = time.monotonic() + 60
        while not await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_xid IS NOT NULL AND wait_event_type = 'Lock'"
            )
        ):
            assert time.monotonic() < deadline, f"never caught {what}"
            await connection.rollback()
            await asyncio.sleep(0.05)


async def test_an_app_killed_in_a_bill_run_and_a_payment_notification_loses_and_doubles_nothing(
    pg_cluster, tmp_path: Path
):
    # Given a PostgreSQL database with the demo and one app process (its jobs inside it)
    url = pg_cluster.create_database(f"laoyou_appkill_{uuid.uuid4().hex[:8]}")
    engine = create_async_engine(url)
    app = AppProcess(tmp_path, url, **ENV)
    try:
        await asyncio.to_thread(app.wait_ready)
        steward = await asyncio.to_thread(app.login, STEWARD_XIUSHAN)
        communities = await asyncio.to_thread(app.graphql, steward, COMMUNITIES)
        community = communities["viewer"]["staffCommunities"][0]["id"]

        # When the steward runs a month's bills and the app is killed in the middle of writing them
        async with books_held(engine):
            running = asyncio.create_task(
                asyncio.to_thread(
                    httpx.post,
                    f"{app.url}/graphql",
                    json={"query": RUN, "variables": {"c": community, "p": PERIOD}},
                    headers={"Authorization": f"Bearer {steward}"},
                    timeout=60,
                )
            )
            await stuck_mid_write(engine, "the bill run")
            await asyncio.to_thread(kill, app)
        await asyncio.gather(running, return_exceptions=True)
        async with AsyncSession(engine) as db:
            half = list(await db.exec(select(BillRun).where(BillRun.period == PERIOD)))
            assert not half or half[0].finished_at is None, "the run finished before it was caught"

        # and the app starts again and the steward presses again
        app = AppProcess(tmp_path, url, **ENV)
        await asyncio.to_thread(app.wait_ready)
        steward = await asyncio.to_thread(app.login, STEWARD_XIUSHAN)
        progress = await asyncio.to_thread(app.graphql, steward, RUN, {"c": community, "p": PERIOD})
        run = progress["runBills"]["run"]
        assert run["finished"] and run["processed"] == run["total"], run

        # Then each household has one bill for the month, every one of them
        async with AsyncSession(engine) as db:
            per_household = Counter(
                await db.exec(
                    select(Bill.household_id).where(
                        Bill.period == PERIOD, Bill.community_id == int(community)
                    )
                )
            )
            assert len(per_household) == run["total"] and set(per_household.values()) == {1}
            await check_books(db)

        # When a resident pays a bill at the sandbox cashier and the app is killed once the gateway took the
        # money, before (or while) its notification is handled
        resident = await asyncio.to_thread(app.login, RESIDENT_XIUSHAN)
        bills = (await asyncio.to_thread(app.graphql, resident, BILLS))["myBills"]
        bill = next(b for b in bills if b["outstanding"]["fen"] > 0 and not b["waitingPayment"])
        paid = await asyncio.to_thread(
            app.graphql, resident, PAY, {"ids": [bill["id"]], "key": uuid.uuid4().hex}
        )
        payment_id = int(paid["payBills"]["payment"]["id"])
        cashier = httpx.URL(paid["payBills"]["payment"]["payUrl"]).path
        async with AsyncSession(engine) as db, books_held(engine):
            confirming = asyncio.create_task(
                asyncio.to_thread(
                    httpx.post,
                    f"{app.url}{cashier}",
                    data={"csrf_token": "t"},
                    headers={"Authorization": f"Bearer {resident}", "Cookie": "laoyou_csrf=t"},
                    timeout=60,
                )
            )
            out_trade_no = cashier.rsplit("/", 1)[1]
            await stuck_mid_write(engine, "the payment's notification")
            taken = await db.scalar(select(SandboxRow.state).where(SandboxRow.out_trade_no == out_trade_no))
            assert taken == "SUCCESS", "the gateway took the money before the notification came"
            await asyncio.to_thread(kill, app)
        await asyncio.gather(confirming, return_exceptions=True)
        async with AsyncSession(engine) as db:
            db.expire_all()
            assert (await db.get(Payment, payment_id)).status == "pending"
            # The reconciliation asks the gateway about payments two minutes old: this one is made that old
            await db.exec(
                update(Payment)
                .where(col(Payment.id) == payment_id)
                .values(created_at=utcnow() - timedelta(minutes=3))
            )
            await db.commit()

        # and the app starts again
        app = AppProcess(tmp_path, url, **ENV)
        await asyncio.to_thread(app.wait_ready)

        # Then the payment is settled (by the reconciliation, if its notification was lost), once
        async with AsyncSession(engine) as db:

            async def settled() -> bool:
                db.expire_all()
                return (await db.get(Payment, payment_id)).status == "paid"

            await eventually(settled, "the payment settled by the reconciliation")
            allocations = list(
                await db.exec(select(PaymentAllocation).where(PaymentAllocation.payment_id == payment_id))
            )
            assert [a.bill_id for a in allocations] == [int(bill["id"])]
            paid_bill = await db.get(Bill, int(bill["id"]))
            assert paid_bill.paid_fen == bill["outstanding"]["fen"] == allocations[0].amount_fen
            await check_books(db)
    finally:
        if app.process.poll() is None:
            app.stop()
        await engine.dispose()
