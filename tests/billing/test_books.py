"""Bill runs, waivers, refunds and the books: balanced, per community, and only stewards write."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.gateways import lower_headers
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.jobs import run_bill_job
from laoyou.billing.models import Bill, BillRun, BillStatus, Fund, Payment, PaymentMethod
from laoyou.core.errors import LaoyouError, NotFound, PermissionDenied
from laoyou.estates.models import Community

from ..conftest import ADMIN, OFFICIAL_XIUSHAN, RESIDENT_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG, login_demo
from .helpers import actor_for, check_books, refund_payment

FUND_BALANCES = "query ($c: ID!) { fundBalances(communityId: $c) { fund cash { fen } } }"
RECORD_INCOME = """
mutation ($c: ID!, $amount: Int!) {
  recordIncome(communityId: $c, fund: public_income, amountFen: $amount, memo: "停车费") {
    __typename ... on Error { code message }
  }
}
"""


async def community_id(db, name: str) -> int:  # noqa: ANN001
    return (await db.exec(select(Community.id).where(Community.name == name))).one()


async def test_bill_run_is_idempotent_and_a_killed_run_resumes_to_the_same_result(app, db):
    xiushan = await community_id(db, "秀山花园")
    maker = app.state.sessionmaker
    # Given a run killed after its first batch (the second batch's transaction is rolled back)
    try:
        await run_bill_job(maker, community_id=xiushan, period="2030-01", batch_size=7, fail_after_batches=1)
    except RuntimeError:
        pass
    partial = list(await db.exec(select(Bill).where(Bill.period == "2030-01", Bill.community_id == xiushan)))
    assert 0 < len(partial) < 20
    # When it runs again, and once more
    await run_bill_job(maker, community_id=xiushan, period="2030-01", batch_size=7)
    await run_bill_job(maker, community_id=xiushan, period="2030-01", batch_size=7)
    # And an uninterrupted run bills the next month
    await run_bill_job(maker, community_id=xiushan, period="2030-02", batch_size=7)

    async def result(period: str) -> list[tuple]:
        rows = await db.exec(
            select(Bill)
            .where(Bill.period == period, Bill.community_id == xiushan)
            .order_by(Bill.household_id)
        )
        return [(b.household_id, b.amount_fen, b.lines, b.status) for b in rows]

    # Then the resumed run equals the uninterrupted one: every household once, same amounts
    resumed, straight = await result("2030-01"), await result("2030-02")
    assert resumed == straight and len({r[0] for r in resumed}) == len(resumed) == 20
    run = (
        await db.exec(select(BillRun).where(BillRun.period == "2030-01", BillRun.community_id == xiushan))
    ).one()
    assert run.created == 20 and run.finished_at is not None
    await check_books(db)


async def test_trial_phase_issues_zero_amount_statements(db):
    jingju = await community_id(db, "京剧院小区")
    statements = list(await db.exec(select(Bill).where(Bill.community_id == jingju)))
    assert statements and all(b.amount_fen == 0 and b.would_be_fen > 0 for b in statements)
    assert {b.status for b in statements} == {BillStatus.statement.value}


async def test_a_fund_never_pays_more_than_it_holds(db):
    xiushan = await community_id(db, "秀山花园")
    steward = await actor_for(db, STEWARD_XIUSHAN)
    held = await billing.ledger.cash_balance(db, xiushan, Fund.public_income)
    try:
        await billing.do_record_expense(
            db, actor=steward, community_id=xiushan, fund=Fund.public_income, amount_fen=held + 1, memo="x"
        )
        raise AssertionError("an expense beyond the fund was accepted")
    except LaoyouError as exc:
        assert exc.code == "INSUFFICIENT_FUNDS"
    # Another community's steward cannot spend Xiushan's money at all
    stranger = await actor_for(db, STEWARD_YUEYANG)
    for attempt in (billing.do_record_expense, billing.do_record_income):
        try:
            await attempt(
                db, actor=stranger, community_id=xiushan, fund=Fund.public_income, amount_fen=1, memo="x"
            )
            raise AssertionError("a stranger wrote to another community's books")
        except NotFound:
            pass


async def test_shared_cost_is_apportioned_exactly(db):
    assert billing.apportion(100, {1: 1, 2: 1, 3: 1}) == {1: 34, 2: 33, 3: 33}
    admin = await actor_for(db, ADMIN)
    district = (await db.exec(select(Community.district_id).where(Community.name == "新风新村"))).one()
    entries = await billing.do_apportion_shared_cost(
        db, actor=admin, district_id=district, amount_fen=1000001, key="households", memo="共享保洁"
    )
    assert len(entries) == 9
    await check_books(db)


async def test_official_reads_books_but_cannot_write_and_a_resident_cannot_post(gql, db):
    xiushan = str(await community_id(db, "秀山花园"))
    official = await login_demo(gql, OFFICIAL_XIUSHAN)
    funds = (await official(FUND_BALANCES, {"c": xiushan}))["data"]["fundBalances"]
    assert {f["fund"] for f in funds} == {"property_fee", "maintenance_fund", "public_income"}
    denied = await official(RECORD_INCOME, {"c": xiushan, "amount": 100}, expect_errors=True)
    assert denied["data"] is None
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    assert (await resident(RECORD_INCOME, {"c": xiushan, "amount": 100}, expect_errors=True))["data"] is None
    assert (await resident(FUND_BALANCES, {"c": xiushan}, expect_errors=True))["data"] is None
    stranger = await login_demo(gql, STEWARD_YUEYANG)
    assert (await stranger(FUND_BALANCES, {"c": xiushan}, expect_errors=True))["data"] is None
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    done = (await steward(RECORD_INCOME, {"c": xiushan, "amount": 100}))["data"]["recordIncome"]
    assert done["__typename"] == "LedgerEntryRecorded"


async def test_collection_rate_by_count_and_amount(gql, db):
    xiushan = await community_id(db, "秀山花园")
    steward = await actor_for(db, STEWARD_XIUSHAN)
    period = (
        await db.exec(select(Bill.period).where(Bill.community_id == xiushan).order_by(Bill.period))
    ).first()
    rate = await billing.collection_rate(db, actor=steward, period=period, community_id=xiushan)
    bills = list(await db.exec(select(Bill).where(Bill.community_id == xiushan, Bill.period == period)))
    assert rate.billed_count == len(bills) and rate.paid_count == sum(b.status == "paid" for b in bills)
    assert rate.billed_fen == sum(b.amount_fen for b in bills) and rate.paid_fen == sum(
        b.paid_fen for b in bills
    )
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    try:
        await billing.collection_rate(db, actor=resident, period=period, community_id=xiushan)
        raise AssertionError("a resident read the collection rate")
    except PermissionDenied:
        pass


OPS = st.lists(
    st.tuples(
        st.sampled_from(["pay", "notify", "dup", "release", "cash", "waive", "refund", "reconcile"]),
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=1, max_value=100),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS)
async def test_any_sequence_keeps_the_books_balanced(db, ops):
    """Bills, online payments, duplicate and out-of-order notifications, cash, waivers and refunds, in any order:
    every entry balances, every bill's paid amount is the sum of its allocations, receivables match the bills."""
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    sandbox = gateways().sandbox
    household = next(iter(resident.resident_household_ids))
    orders: list[Payment] = []
    sandbox.misbehaviour.hold = True
    try:
        for op, pick, percent in ops:
            bills = list(await db.exec(select(Bill).where(Bill.household_id == household).order_by(Bill.id)))
            open_bills = [b for b in bills if b.outstanding_fen > 0]
            try:
                if op == "pay" and open_bills:
                    chosen = open_bills[pick % len(open_bills) :][:2]
                    orders.append(
                        await billing.do_pay_bills(
                            db,
                            actor=resident,
                            bill_ids=[b.id for b in chosen],
                            method=PaymentMethod.sandbox,
                            idempotency_key=secrets.token_hex(8),
                            gateway=sandbox,
                        )
                    )
                elif op in ("notify", "dup") and orders:
                    sandbox.pay(orders[pick % len(orders)].out_trade_no)
                    if op == "dup" and sandbox.misbehaviour.held:
                        sandbox.misbehaviour.held.append(sandbox.misbehaviour.held[-1])
                elif op == "release":
                    for d in sandbox.release(reverse=bool(pick % 2)):
                        await billing.do_receive_notification(
                            db, gateway=sandbox, headers=lower_headers(d.headers), body=d.body
                        )
                elif op == "cash" and open_bills:
                    bill = open_bills[pick % len(open_bills)]
                    await billing.do_record_office_payment(
                        db,
                        actor=steward,
                        bill_ids=[bill.id],
                        method=PaymentMethod.cash,
                        amount_fen=max(1, bill.outstanding_fen * percent // 100),
                        office_receipt_no="SJ1",
                        idempotency_key=secrets.token_hex(8),
                    )
                elif op == "waive" and open_bills:
                    await billing.do_waive_bill(
                        db, actor=steward, bill_id=open_bills[pick % len(open_bills)].id, reason="困难户"
                    )
                elif op == "refund":
                    paid = list(
                        await db.exec(
                            select(Payment).where(Payment.household_id == household, Payment.status == "paid")
                        )
                    )
                    if paid:
                        p = paid[pick % len(paid)]
                        amount = max(1, (p.amount_fen - p.refunded_fen) * percent // 100)
                        await refund_payment(
                            db,
                            actor=steward,
                            payment_id=p.id,
                            amount_fen=amount,
                            reason="多缴",
                            idempotency_key=secrets.token_hex(8),
                        )
                elif op == "reconcile":
                    await billing.reconcile(
                        db, gateways={"sandbox": sandbox}, older_than=billing.timedelta(0)
                    )
            except LaoyouError:
                pass
            await check_books(db)
    finally:
        sandbox.misbehaviour.hold = False
        sandbox.misbehaviour.held.clear()
        await db.rollback()
