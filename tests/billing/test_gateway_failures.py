"""Money at risk when the gateway misbehaves, driven through the sandbox: a refund whose answer is unclear is
never paid out twice, and money taken after an order expired is still credited (or given back) and reported."""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from laoyou.billing import service as billing
from laoyou.billing.gateways import RefundRequest, unit_of_work
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.jobs import run_billing_jobs
from laoyou.billing.models import Bill, BillStatus, LateMoney, Payment, PaymentMethod, Refund, RefundStatus
from laoyou.core.time import utcnow
from laoyou.graphql.types import encode_id

from ..conftest import RESIDENT_XIUSHAN, STEWARD_XIUSHAN, login_demo
from .helpers import PAY_BILLS, actor_for, check_books
from .test_payments import notify
from .test_refunds import paid_payment

REFUND = """
mutation ($id: ID!, $amount: Int!, $key: String!) {
  refundPayment(id: $id, amountFen: $amount, reason: "多缴", idempotencyKey: $key) {
    __typename
    ... on PaymentRefunded { payment { id } amount { fen } }
    ... on Error { field message code }
  }
}
"""

UNCLEAR = ["unsigned", "unknown_serial", "timeout", "5xx"]


@pytest.fixture
def sandbox():  # noqa: ANN201
    """The process's sandbox, put back as it was whatever the test left."""
    sandbox = gateways().sandbox
    sandbox.outbox.clear()
    yield sandbox
    sandbox.misbehaviour.answer = ""
    sandbox.misbehaviour.late_payment = False
    sandbox.misbehaviour.drop = False
    sandbox.outbox.clear()


def encoded(payment_id: int) -> str:
    return str(encode_id(payment_id))


# --- 1. a refund is recorded before it is sent and never asked for twice -----------------------------------


@pytest.mark.parametrize("fault", UNCLEAR)
async def test_an_unclear_refund_answer_leaves_it_pending_and_the_retry_asks_under_the_same_number(
    gql, client, db, sandbox, fault
):
    # Given a payment made through the sandbox, and its steward
    payment = await paid_payment(gql, client, db)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    key = secrets.token_hex(8)
    variables = {"id": encoded(payment.id), "amount": 200, "key": key}
    # When the steward refunds part of it and the gateway does it but its answer is lost or cannot be believed
    sandbox.misbehaviour.answer = fault
    first = (await steward(REFUND, variables))["data"]["refundPayment"]
    # Then the steward gets an answer, not a crash, and the refund waits, recorded under its number
    assert first["__typename"] == "PaymentRefunded", first
    [refund] = list(await db.exec(select(Refund).where(Refund.payment_id == payment.id)))
    assert refund.status == RefundStatus.pending.value and refund.out_refund_no
    # When the steward tries again with the same key, the gateway answering properly now
    sandbox.misbehaviour.answer = ""
    again = (await steward(REFUND, variables))["data"]["refundPayment"]
    # Then it is the same refund, asked under the same number: the gateway holds one refund of 200 fen
    assert again["__typename"] == "PaymentRefunded", again
    refunds = list(
        await db.exec(
            select(Refund).where(Refund.payment_id == payment.id).execution_options(populate_existing=True)
        )
    )
    assert [r.out_refund_no for r in refunds] == [refund.out_refund_no]
    at_gateway = sandbox.server.orders[payment.out_trade_no].refunds
    assert {number: r["amount"] for number, r in at_gateway.items()} == {refund.out_refund_no: 200}
    # And the gateway's REFUND.SUCCESS for it is accepted and posted once
    replies = [await notify(client, d) for d in sandbox.take_outbox()]
    assert replies and {r.status_code for r in replies} == {204}
    await db.refresh(refund)
    await db.refresh(payment)
    assert refund.status == RefundStatus.succeeded.value and payment.refunded_fen == 200
    await check_books(db)


async def test_a_refund_the_gateway_took_survives_a_failure_before_its_answer_is_recorded(
    gql, client, db, sandbox, monkeypatch
):
    # Given a paid payment, and a steward whose request fails after the gateway took the refund
    payment = await paid_payment(gql, client, db)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    variables = {"id": encoded(payment.id), "amount": 300, "key": secrets.token_hex(8)}

    async def lost(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the request died after the gateway answered")

    monkeypatch.setattr("laoyou.billing.service.refunds.record_refund_result", lost)
    assert (await steward(REFUND, variables, expect_errors=True))["errors"]
    monkeypatch.undo()
    # Then the refund was recorded before it was sent, under the number the gateway holds
    [refund] = list(await db.exec(select(Refund).where(Refund.payment_id == payment.id)))
    at_gateway = sandbox.server.orders[payment.out_trade_no].refunds
    assert refund.status == RefundStatus.pending.value and list(at_gateway) == [refund.out_refund_no]
    # When the steward tries again, it is asked under that number: one refund, confirmed, posted once
    again = (await steward(REFUND, variables))["data"]["refundPayment"]
    assert again["__typename"] == "PaymentRefunded", again
    assert list(sandbox.server.orders[payment.out_trade_no].refunds) == [refund.out_refund_no]
    await db.refresh(refund)
    await db.refresh(payment)
    assert refund.status == RefundStatus.succeeded.value and payment.refunded_fen == 300
    assert {(await notify(client, d)).status_code for d in sandbox.take_outbox()} <= {204}
    await check_books(db)


async def test_a_clear_refusal_fails_the_refund_and_tells_the_steward(gql, client, db, sandbox):
    # Given a payment whose money was already given back by hand on the merchant platform
    payment = await paid_payment(gql, client, db)
    with unit_of_work(db):
        await sandbox.create_refund(
            RefundRequest(
                out_trade_no=payment.out_trade_no,
                out_refund_no="BYHAND" + secrets.token_hex(4),
                amount_fen=payment.amount_fen,
                total_fen=payment.amount_fen,
            )
        )
    sandbox.outbox.clear()
    # When the steward refunds it here, the gateway refuses (nothing left to refund)
    steward = await login_demo(gql, STEWARD_XIUSHAN)
    variables = {"id": encoded(payment.id), "amount": 100, "key": secrets.token_hex(8)}
    result = (await steward(REFUND, variables))["data"]["refundPayment"]
    # Then the steward is told in plain words, and the refund is failed: nothing is posted
    assert (result["code"], result["message"]) == ("GATEWAY_ERROR", "The payment service refused the refund.")
    [refund] = list(await db.exec(select(Refund).where(Refund.payment_id == payment.id)))
    assert refund.status == RefundStatus.failed.value
    await db.refresh(payment)
    assert payment.refunded_fen == 0
    await check_books(db)


async def test_reconciliation_reports_unclear_answers_and_keeps_the_rest_of_its_batch(
    gql, client, db, sandbox
):
    # Given a refund whose confirmation never came, and a payment paid without its notification
    paid = await paid_payment(gql, client, db)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    sandbox.misbehaviour.drop = True
    refund = await billing.do_request_refund(
        db,
        actor=steward,
        payment_id=paid.id,
        amount_fen=100,
        reason="多缴",
        idempotency_key=secrets.token_hex(8),
    )
    await billing.do_send_refund(db, refund=refund)
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    bill = (
        await db.exec(
            select(Bill).where(col(Bill.household_id).in_(resident.household_ids), Bill.status == "open")
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
    assert sandbox.pay(payment.out_trade_no) == []
    # When reconciliation runs while every answer comes unsigned
    sandbox.misbehaviour.answer = "unsigned"
    later = utcnow() + timedelta(minutes=5)
    report = await run_billing_jobs(db, now=later, gateways={"sandbox": sandbox})
    # Then nothing escapes: the unclear answers are reported and the payment and refund still wait
    assert report.payments.get("unclear", 0) >= 1 and report.refunds.get("unclear", 0) >= 1
    await db.refresh(payment)
    await db.refresh(refund)
    assert payment.status == "pending" and refund.status == RefundStatus.pending.value
    # When the answers come through again, both are settled
    sandbox.misbehaviour.answer = ""
    report = await run_billing_jobs(db, now=later, gateways={"sandbox": sandbox})
    assert report.payments.get("applied") == 1 and report.refunds.get("applied") == 1
    await check_books(db)


@pytest.mark.parametrize("fault", UNCLEAR)
async def test_an_unclear_answer_to_a_new_order_is_a_translated_error(gql, db, sandbox, fault):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    bills = (await resident("query { myBills(unpaidOnly: true) { id } }"))["data"]["myBills"]
    sandbox.misbehaviour.answer = fault
    result = (await resident(PAY_BILLS, {"billIds": [bills[0]["id"]], "key": secrets.token_hex(8)}))["data"]
    assert result["payBills"]["code"] == "GATEWAY_ERROR"
    assert result["payBills"]["message"] == "The payment service did not answer. Please try again."


async def test_refresh_with_an_unclear_answer_leaves_the_payment_waiting(gql, sandbox):
    resident = await login_demo(gql, RESIDENT_XIUSHAN)
    bills = (await resident("query { myBills(unpaidOnly: true) { id } }"))["data"]["myBills"]
    started = (await resident(PAY_BILLS, {"billIds": [bills[0]["id"]], "key": secrets.token_hex(8)}))["data"]
    sandbox.misbehaviour.answer = "unknown_serial"
    refreshed = await resident(
        "mutation ($id: ID!) { refreshPayment(id: $id) { __typename ... on PaymentSaved { payment { status } } } }",
        {"id": started["payBills"]["payment"]["id"]},
    )
    assert refreshed["data"]["refreshPayment"]["payment"]["status"] == "pending"


# --- 2. orders expire, are closed at the gateway, and late money is never lost ---------------------------


async def start(db, sandbox) -> tuple[Payment, Bill]:  # noqa: ANN001
    resident = await actor_for(db, RESIDENT_XIUSHAN)
    bill = (
        await db.exec(
            select(Bill)
            .where(col(Bill.household_id).in_(resident.household_ids), Bill.status == "open")
            .order_by(Bill.id)
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
    return payment, bill


async def test_an_order_carries_its_expiry_to_the_gateway(db, sandbox):
    payment, _ = await start(db, sandbox)
    sent = json.loads(sandbox.server.requests[-1].content)
    # RFC 3339 in Beijing time, as WeChat Pay documents time_expire
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", sent["time_expire"]), sent
    assert payment.expires_at is not None
    assert abs(payment.expires_at.timestamp() - datetime.fromisoformat(sent["time_expire"]).timestamp()) < 1


async def test_expiry_closes_the_order_at_the_gateway_before_failing_the_payment(db, sandbox):
    payment, _ = await start(db, sandbox)
    after = payment.expires_at + timedelta(minutes=1)
    # When the gateway cannot be reached to close it, the payment is not failed
    sandbox.misbehaviour.answer = "5xx"
    assert (await billing.reconcile(db, gateways={"sandbox": sandbox}, now=after)).get("unclear") == 1
    await db.refresh(payment)
    assert payment.status == "pending"
    # When it can, the order is closed there first, then the payment fails
    sandbox.misbehaviour.answer = ""
    assert (await billing.reconcile(db, gateways={"sandbox": sandbox}, now=after)).get("expired") == 1
    await db.refresh(payment)
    assert payment.status == "failed" and sandbox.server.orders[payment.out_trade_no].state == "CLOSED"
    # And the closed order takes no money
    assert sandbox.pay(payment.out_trade_no) == []


async def test_money_taken_after_expiry_is_credited_and_reported(gql, client, db, sandbox):
    # Given an order that expired and whose payment failed
    payment, bill = await start(db, sandbox)
    after = payment.expires_at + timedelta(minutes=1)
    await billing.reconcile(db, gateways={"sandbox": sandbox}, now=after)
    await db.refresh(payment)
    assert payment.status == "failed"
    await db.commit()
    # When the gateway takes the resident's money for it all the same, and notifies
    sandbox.misbehaviour.late_payment = True
    [delivery] = sandbox.pay(payment.out_trade_no)
    assert (await notify(client, delivery)).status_code == 204
    # Then the money is credited to the bill
    await db.refresh(payment)
    await db.refresh(bill)
    assert payment.status == "paid" and payment.late == LateMoney.credited.value
    assert bill.status == BillStatus.paid.value and payment.applied_fen == payment.amount_fen
    # And the next reconciliation names it, once
    report = await run_billing_jobs(db, now=after, gateways={"sandbox": sandbox})
    assert report.payments.get("late_credited") == 1
    assert (await run_billing_jobs(db, now=after, gateways={"sandbox": sandbox})).payments.get(
        "late_credited"
    ) is None
    await check_books(db)


async def test_money_taken_after_expiry_for_bills_paid_meanwhile_is_given_back(gql, client, db, sandbox):
    # Given an expired, failed payment whose bill was then paid in cash at the office
    payment, bill = await start(db, sandbox)
    after = payment.expires_at + timedelta(minutes=1)
    await billing.reconcile(db, gateways={"sandbox": sandbox}, now=after)
    steward = await actor_for(db, STEWARD_XIUSHAN)
    await billing.do_record_office_payment(
        db,
        actor=steward,
        bill_ids=[bill.id],
        method=PaymentMethod.cash,
        amount_fen=bill.outstanding_fen,
        office_receipt_no="SJ-7",
        idempotency_key=secrets.token_hex(8),
    )
    await db.commit()
    # When the gateway takes the money for the closed order
    sandbox.misbehaviour.late_payment = True
    [delivery] = sandbox.pay(payment.out_trade_no)
    assert (await notify(client, delivery)).status_code == 204
    # Then it is received, and a refund of all of it is recorded, under its own number, before it is sent
    await db.refresh(payment)
    assert payment.status == "paid" and payment.late == LateMoney.refunded.value
    [refund] = list(await db.exec(select(Refund).where(Refund.payment_id == payment.id)))
    assert refund.amount_fen == payment.amount_fen and refund.status == RefundStatus.pending.value
    # When reconciliation runs, it sends the refund, and reports the late money
    report = await run_billing_jobs(db, now=after + timedelta(minutes=5), gateways={"sandbox": sandbox})
    assert report.payments.get("late_refunded") == 1
    assert (
        sandbox.server.orders[payment.out_trade_no].refunds[refund.out_refund_no]["amount"]
        == refund.amount_fen
    )
    # And the gateway's confirmation gives the money back once
    assert {(await notify(client, d)).status_code for d in sandbox.take_outbox()} == {204}
    await db.refresh(payment)
    await db.refresh(refund)
    assert refund.status == RefundStatus.succeeded.value and payment.status == "refunded"
    await check_books(db)
