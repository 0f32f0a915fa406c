"""The stewards' refund page: from a household's payments, the amount (all that is left by default) and a
reason, a step to confirm them, then what the payment service said in plain words with the refund's number."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.gateways import RefundRequest, unit_of_work
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.models import Bill, BillStatus, Payment, PaymentMethod, Refund, RefundStatus

from ..conftest import OFFICIAL_XIUSHAN, STEWARD_XIUSHAN, STEWARD_YUEYANG
from ..web.conftest import csrf_in, log_in
from .helpers import actor_for, check_books
from .test_payments import notify
from .test_refunds import paid_payment


@pytest.fixture
def sandbox():  # noqa: ANN201
    """The process's sandbox, put back as it was whatever the test left."""
    sandbox = gateways().sandbox
    sandbox.outbox.clear()
    yield sandbox
    sandbox.misbehaviour.answer = ""
    sandbox.outbox.clear()


async def refunds_of(db, payment: Payment) -> list[Refund]:  # noqa: ANN001
    return list(
        await db.exec(
            select(Refund).where(Refund.payment_id == payment.id).execution_options(populate_existing=True)
        )
    )


async def confirm_step(client, payment: Payment, amount: str, reason: str = "多缴了一个月") -> dict[str, str]:  # noqa: ANN001
    """The steward writes the amount and reason and presses Next: the fields of the confirm step's form."""
    page = await client.get(f"/staff/payments/{payment.id}/refund")
    checked = await client.post(
        f"/staff/payments/{payment.id}/refund",
        data={"csrf_token": csrf_in(page.text), "amount": amount, "reason": reason},
    )
    assert checked.status_code == 200 and "确定退给" in checked.text, checked.text
    form = checked.text[checked.text.index('action="/staff/payments/') :]
    return dict(re.findall(r'name="(csrf_token|amount|reason|key)" value="([^"]*)"', form))


async def test_a_steward_finds_the_payment_and_the_whole_remaining_amount_is_offered(gql, client, db):
    # Given a payment made through the sandbox
    payment = await paid_payment(gql, client, db)
    await log_in(client, STEWARD_XIUSHAN)
    # When the steward opens the household's bills
    household = await client.get(f"/staff/households/{payment.household_id}/bills")
    # Then the payment is listed with a link to refund it
    assert payment.receipt_number in household.text
    assert f'href="/staff/payments/{payment.id}/refund"' in household.text
    # And its refund page offers the whole amount, and asks for a reason
    page = await client.get(f"/staff/payments/{payment.id}/refund")
    assert page.status_code == 200
    assert re.search(
        rf'name="amount"[^>]*value="{payment.amount_fen // 100}\.{payment.amount_fen % 100:02d}"', page.text
    )
    assert re.search(r'name="reason"[^>]*required', page.text)


async def test_nothing_is_recorded_before_the_steward_confirms(gql, client, db):
    payment = await paid_payment(gql, client, db)
    await log_in(client, STEWARD_XIUSHAN)
    fields = await confirm_step(client, payment, "1.00")
    assert fields["amount"] == "1.00" and fields["reason"] == "多缴了一个月" and fields["key"]
    assert await refunds_of(db, payment) == []


async def test_a_refund_the_sandbox_has_not_confirmed_yet_is_shown_as_waiting_with_its_number(
    gql, client, db, sandbox
):
    # Given a payment and the steward at the confirm step for 1 yuan
    payment = await paid_payment(gql, client, db)
    await log_in(client, STEWARD_XIUSHAN)
    fields = await confirm_step(client, payment, "1.00")
    # When the steward confirms
    done = await client.post(f"/staff/payments/{payment.id}/refund/send", data=fields)
    # Then the page gives the refund's number and says plainly that it waits and must not be done again
    [refund] = await refunds_of(db, payment)
    assert done.status_code == 200 and refund.amount_fen == 100
    assert f"退款单号 {refund.out_refund_no}" in done.text
    assert refund.status == RefundStatus.pending.value and "请不要再退一次" in done.text
    # And pressing confirm again (a double tap) asks for the same refund, never a second one
    again = await client.post(f"/staff/payments/{payment.id}/refund/send", data=fields)
    assert again.status_code == 200 and len(await refunds_of(db, payment)) == 1
    # And once the sandbox confirms, the payment's refunds say so
    for delivery in list(sandbox.outbox):
        await notify(client, delivery)
    page = await client.get(f"/staff/payments/{payment.id}/refund")
    [refund] = await refunds_of(db, payment)
    assert refund.status == RefundStatus.succeeded.value and "已退 1.00 元" in page.text
    await check_books(db)


async def test_an_unclear_answer_leaves_the_refund_pending_and_the_page_says_so(gql, client, db, sandbox):
    payment = await paid_payment(gql, client, db)
    await log_in(client, STEWARD_XIUSHAN)
    fields = await confirm_step(client, payment, "2.00")
    sandbox.misbehaviour.answer = "timeout"
    done = await client.post(f"/staff/payments/{payment.id}/refund/send", data=fields)
    [refund] = await refunds_of(db, payment)
    assert done.status_code == 200 and refund.status == RefundStatus.pending.value
    assert "支付机构还没有确认" in done.text and refund.out_refund_no in done.text


async def test_cash_given_back_at_the_office_is_refunded_at_once(client, db):
    # Given cash taken at the office for a bill
    steward = await actor_for(db, STEWARD_XIUSHAN)
    bill = (
        await db.exec(
            select(Bill)
            .where(Bill.community_id.in_(await billing.writable_community_ids(db, steward) or set()))
            .where(Bill.status == BillStatus.open.value)
            .limit(1)
        )
    ).one()
    payment = await billing.do_record_office_payment(
        db,
        actor=steward,
        bill_ids=[bill.id],
        method=PaymentMethod.cash,
        amount_fen=bill.outstanding_fen,
        office_receipt_no="SJ-" + secrets.token_hex(3),
        idempotency_key=secrets.token_hex(8),
    )
    await log_in(client, STEWARD_XIUSHAN)
    # When the steward gives all of it back through the page
    fields = await confirm_step(
        client, payment, f"{payment.amount_fen // 100}.{payment.amount_fen % 100:02d}"
    )
    done = await client.post(f"/staff/payments/{payment.id}/refund/send", data=fields)
    # Then it is refunded, with its number, and nothing more can be given back
    [refund] = await refunds_of(db, payment)
    assert refund.status == RefundStatus.succeeded.value
    assert "已退回" in done.text and refund.out_refund_no in done.text
    assert "这笔付款已没有可退的钱。" in (await client.get(f"/staff/payments/{payment.id}/refund")).text
    db.expire_all()  # the page's own session gave the bill back its amount
    await check_books(db)


async def test_a_refusal_is_shown_as_not_refunded_and_nothing_moves(gql, client, db, sandbox):
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
    await log_in(client, STEWARD_XIUSHAN)
    fields = await confirm_step(client, payment, "1.00")
    # When the steward confirms and the payment service refuses
    done = await client.post(f"/staff/payments/{payment.id}/refund/send", data=fields)
    # Then the page says so in plain words, lists the refund as not refunded, and nothing is posted
    [refund] = await refunds_of(db, payment)
    assert done.status_code == 400 and refund.status == RefundStatus.failed.value
    assert "支付服务拒绝了这笔退款。" in done.text
    assert refund.out_refund_no in done.text and "未退款" in done.text
    await check_books(db)


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [("", "多缴", "请输入大于零的金额。"), ("abc", "多缴", "请输入大于零的金额。"), ("1.00", "  ", None)],
)
async def test_a_missing_amount_or_reason_is_a_translated_error_and_nothing_is_recorded(
    gql, client, db, amount, reason, message
):
    payment = await paid_payment(gql, client, db)
    await log_in(client, STEWARD_XIUSHAN)
    page = await client.get(f"/staff/payments/{payment.id}/refund")
    for action in ("refund", "refund/send"):
        answer = await client.post(
            f"/staff/payments/{payment.id}/{action}",
            data={"csrf_token": csrf_in(page.text), "amount": amount, "reason": reason, "key": "k" * 16},
        )
        assert answer.status_code == 400 and 'role="alert"' in answer.text
        if message:
            assert message in answer.text
    assert await refunds_of(db, payment) == []


async def test_more_than_is_left_is_refused_at_the_confirm_and_nothing_moves(gql, client, db):
    payment = await paid_payment(gql, client, db)
    await log_in(client, STEWARD_XIUSHAN)
    too_much = payment.amount_fen + 1
    fields = await confirm_step(client, payment, f"{too_much // 100}.{too_much % 100:02d}")
    done = await client.post(f"/staff/payments/{payment.id}/refund/send", data=fields)
    assert done.status_code == 400 and 'role="alert"' in done.text
    assert await refunds_of(db, payment) == []


@pytest.mark.parametrize("phone", [STEWARD_YUEYANG, OFFICIAL_XIUSHAN])
async def test_a_steward_of_another_community_or_an_official_cannot_refund(gql, client, db, phone):
    payment = await paid_payment(gql, client, db)
    await log_in(client, phone)
    home = await client.get("/")
    answer = await client.post(
        f"/staff/payments/{payment.id}/refund/send",
        data={"csrf_token": csrf_in(home.text), "amount": "1.00", "reason": "伪造", "key": "k" * 16},
    )
    assert answer.status_code in (403, 404)
    assert await refunds_of(db, payment) == []


async def test_an_official_reads_the_households_bills_without_the_money_forms_she_cannot_use(gql, client, db):
    # Given a paid payment, and the community's official (who reads the books but takes no money)
    payment = await paid_payment(gql, client, db)
    await log_in(client, OFFICIAL_XIUSHAN)
    # When she opens the household's bills
    household = await client.get(f"/staff/households/{payment.household_id}/bills")
    # Then she reads them, and is offered no refund, cash or waiver the service would refuse her
    assert household.status_code == 200 and payment.receipt_number in household.text
    assert "/refund" not in household.text
    assert "/bills/cash" not in household.text and "/bills/waive" not in household.text
    assert "/bills/qr" not in household.text
