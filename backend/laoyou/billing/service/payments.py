"""Payments: online orders through a gateway, office payments, applying a payment once, and reconciliation."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.billing import ledger
from laoyou.billing.gateways import (
    Gateway,
    GatewayError,
    GatewayRefused,
    OrderRequest,
    TradeResult,
    TradeState,
    unit_of_work,
)
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import (
    Account,
    Bill,
    LateMoney,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    PaymentNotification,
    PaymentStatus,
    RefusedNotification,
)
from laoyou.billing.service.bills import access_bill, bills_by_ids, lock_bill, restatus
from laoyou.billing.service.common import (
    PF,
    billing_channel,
    check_can_write,
    check_idempotency_key,
    insert_ignoring,
    load_community,
    log,
    request_fingerprint,
)
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.events import announce
from laoyou.core.pagination import Page
from laoyou.core.text import check_text
from laoyou.core.time import SHANGHAI, as_utc, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Household

MAX_BILLS_PER_PAYMENT = 24
# How long an online order can be paid. The gateway is told (time_expire), and reconciliation closes the order
# there once it has passed, before the payment is failed here.
ORDER_LIFETIME = timedelta(hours=2)
# How long after its order expired a failed payment is still asked about: money taken for it all the same
# (reconcile) is notified by WeChat Pay for about a day (sandbox.RETRY_INTERVALS), and if none of those
# notifications gets through, only asking finds it.
LATE_MONEY_WINDOW = timedelta(days=1)


def _new_trade_no() -> str:
    return "LY" + utcnow().strftime("%Y%m%d%H%M%S") + secrets.token_hex(5).upper()


def _new_receipt_no(community_id: int) -> str:
    return f"R{utcnow().astimezone(SHANGHAI):%Y%m%d}{community_id:04d}{secrets.token_hex(4).upper()}"


async def _existing(session: AsyncSession, payer_id: int, key: str) -> Payment | None:
    return (
        await session.exec(
            select(Payment).where(Payment.payer_id == payer_id, Payment.idempotency_key == key)
        )
    ).first()


async def _payable_bills(session: AsyncSession, bill_ids: list[int]) -> list[Bill]:
    if not bill_ids or len(bill_ids) > MAX_BILLS_PER_PAYMENT or len(set(bill_ids)) != len(bill_ids):
        raise LaoyouError(ErrorCode.INVALID, "Choose the bills to pay.", field="billIds")
    found = await bills_by_ids(session, bill_ids)
    if len(found) != len(bill_ids):
        raise NotFound()
    bills = [found[i] for i in bill_ids]
    if len({b.household_id for b in bills}) != 1:
        raise LaoyouError(ErrorCode.INVALID, "Pay the bills of one home at a time.", field="billIds")
    return bills


async def do_pay_bills(
    session: AsyncSession,
    *,
    actor: Actor,
    bill_ids: list[int],
    method: PaymentMethod | None,
    idempotency_key: str,
    gateway: Gateway | None,
    client_ip: str = "",
) -> Payment:
    """A resident, or family for a linked household, starts paying one or several bills online.

    A retry with the same key returns the first payment; the same key with other bills is refused. A method
    this process has no gateway for (none at all, or the sandbox in production) is refused.
    """
    actor.require_login()
    key = check_idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(bills=sorted(bill_ids), method=method.value if method else "")
    existing = await _existing(session, actor.person_id, key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if method is None or not method.is_online or gateway is None:
        raise LaoyouError(ErrorCode.INVALID, "That way of paying is not available.", field="method")
    bills = await _payable_bills(session, bill_ids)
    if bills[0].household_id not in actor.household_ids:
        raise NotFound()
    amount = sum(b.outstanding_fen for b in bills)
    if amount <= 0 or any(b.outstanding_fen <= 0 for b in bills):
        raise LaoyouError(ErrorCode.NOTHING_TO_PAY, "Nothing is owed on these bills.", field="billIds")
    household = await session.get(Household, bills[0].household_id)
    community = await load_community(session, household.community_id)
    out_trade_no = _new_trade_no()
    expires_at = utcnow() + ORDER_LIFETIME
    periods = "、".join(sorted({b.period for b in bills}))
    try:
        with unit_of_work(session):
            created = await gateway.create_order(
                OrderRequest(
                    out_trade_no=out_trade_no,
                    amount_fen=amount,
                    description=f"{community.name} 物业费 {periods}"[:127],
                    client_ip=client_ip,
                    expires_at=expires_at,
                )
            )
    except GatewayError as exc:
        log.warning("order creation failed: %s", exc)
        raise LaoyouError(
            ErrorCode.GATEWAY_ERROR, "The payment service did not answer. Please try again."
        ) from None
    payment = Payment(
        household_id=household.id,
        community_id=household.community_id,
        district_id=household.district_id,
        payer_id=actor.person_id,
        method=method.value,
        amount_fen=amount,
        status=PaymentStatus.pending.value,
        out_trade_no=out_trade_no,
        receipt_number=_new_receipt_no(household.community_id),
        pay_url=created.pay_url or created.code_url,
        idempotency_key=key,
        request_hash=fingerprint,
        bill_ids=[b.id for b in bills],
        expires_at=expires_at,
    )
    session.add(payment)
    await session.flush()
    return payment


async def do_record_office_payment(
    session: AsyncSession,
    *,
    actor: Actor,
    bill_ids: list[int],
    method: PaymentMethod,
    amount_fen: int,
    office_receipt_no: str,
    idempotency_key: str,
) -> Payment:
    """A steward records cash or a bank transfer taken at the office, with its receipt number."""
    actor.require_login()
    key = check_idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(
        bills=sorted(bill_ids), method=method.value, amount=amount_fen, receipt=office_receipt_no.strip()
    )
    existing = await _existing(session, actor.person_id, key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if method not in (PaymentMethod.cash, PaymentMethod.bank_transfer):
        raise LaoyouError(ErrorCode.INVALID, "That way of paying is not available.", field="method")
    bills = await _payable_bills(session, bill_ids)
    for bill in bills:
        await access_bill(session, actor=actor, bill_id=bill.id)
    await check_can_write(session, actor, bills[0].community_id)
    if not office_receipt_no.strip():
        raise LaoyouError(ErrorCode.INVALID, "Write the receipt number.", field="officeReceiptNo")
    check_text(office_receipt_no, field="officeReceiptNo")
    owed = sum(b.outstanding_fen for b in bills)
    if amount_fen <= 0 or amount_fen > owed:
        raise LaoyouError(
            ErrorCode.INVALID,
            "The amount must be more than zero and no more than what is owed.",
            field="amountFen",
        )
    payment = Payment(
        household_id=bills[0].household_id,
        community_id=bills[0].community_id,
        district_id=bills[0].district_id,
        payer_id=actor.person_id,
        method=method.value,
        amount_fen=amount_fen,
        status=PaymentStatus.pending.value,
        out_trade_no=_new_trade_no(),
        receipt_number=_new_receipt_no(bills[0].community_id),
        office_receipt_no=office_receipt_no.strip()[:50],
        idempotency_key=key,
        request_hash=fingerprint,
        bill_ids=[b.id for b in bills],
    )
    session.add(payment)
    await session.flush()
    await apply_payment(session, payment=payment, transaction_id="")
    return payment


async def apply_payment(session: AsyncSession, *, payment: Payment, transaction_id: str) -> bool:
    """Mark a payment paid and allocate it to its bills, exactly once; True if this call applied it.

    Money for an order already closed or failed here (paid after it expired) is received all the same: it is
    credited to its bills, and what they no longer owe is held to be given back (record_trade)."""
    paid_at = utcnow()
    late = False
    for was in (PaymentStatus.pending, PaymentStatus.failed):
        result = await session.exec(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == was.value)
            .values(status=PaymentStatus.paid.value, paid_at=paid_at, transaction_id=transaction_id or None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            late = was == PaymentStatus.failed
            break
    else:
        return False
    # This call won the guarded update: the row is ours to finish; no refresh round trip is needed.
    for name, value in (
        ("status", PaymentStatus.paid.value),
        ("paid_at", paid_at),
        ("transaction_id", transaction_id or None),
    ):
        set_committed_value(payment, name, value)
    remaining = payment.amount_fen
    allocations = []
    for bill_id in payment.bill_ids:
        bill = await lock_bill(session, bill_id)
        share = min(remaining, max(bill.outstanding_fen, 0))
        if share <= 0:
            continue
        bill.paid_fen += share
        restatus(bill)
        session.add(bill)
        allocations.append(
            {
                "payment_id": payment.id,
                "bill_id": bill.id,
                "community_id": bill.community_id,
                "district_id": bill.district_id,
                "amount_fen": share,
                "created_at": utcnow(),
            }
        )
        remaining -= share
    if allocations:
        await session.execute(insert(PaymentAllocation), allocations)
    applied = payment.amount_fen - remaining
    payment.applied_fen = applied
    payment.unapplied_fen = remaining  # the bills were settled another way meanwhile: held as 预收
    if late:
        payment.late = (LateMoney.refunded if remaining else LateMoney.credited).value
    session.add(payment)
    await ledger.post(
        session,
        community_id=payment.community_id,
        district_id=payment.district_id,
        kind="payment",
        legs=[
            debit(PF, Account.cash, payment.amount_fen),
            credit(PF, Account.receivable, applied),
            credit(PF, Account.advance_received, remaining),
        ],
        memo=payment.receipt_number,
        ref_type="payment",
        ref_id=payment.id,
        created_by_id=payment.payer_id,
    )
    await session.flush()
    announce(session, f"payment:{payment.id}", {"status": PaymentStatus.paid.value})
    announce(session, billing_channel(payment.community_id), {"kind": "payment", "payment": payment.id})
    return True


async def refuse_notification(
    session: AsyncSession,
    *,
    provider: str,
    reason: str,
    headers: dict[str, str],
    body: bytes,
    trade: TradeResult | None = None,
) -> None:
    log.warning("refused %s notification: %s", provider, reason)
    session.add(
        RefusedNotification(
            provider=provider,
            reason=reason[:200],
            out_trade_no=(trade.out_trade_no if trade else "")[:64],
            transaction_id=(trade.transaction_id if trade else "")[:64],
            headers=json.dumps(headers, ensure_ascii=False)[:2000],
            body=body.decode("utf-8", "replace")[:8000],
        )
    )
    await session.flush()


async def record_trade(
    session: AsyncSession,
    *,
    gateway: Gateway,
    trade: TradeResult,
    source: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> str:
    """Record a provider's word on an order once (by transaction id), check it, and apply it once.

    Returns applied, duplicate, ignored or refused.
    """
    provider = gateway.name
    if trade.state != TradeState.success:
        return "ignored"
    payment = (await session.exec(select(Payment).where(Payment.out_trade_no == trade.out_trade_no))).first()
    reason = None
    if payment is None or payment.method != provider:
        reason = "unknown order"
    elif trade.merchant_id != gateway.merchant_id:
        reason = "merchant does not match"
    elif trade.amount_fen != payment.amount_fen:
        reason = "amount does not match"
    elif not trade.transaction_id:
        reason = "no transaction id"
    if reason:
        await refuse_notification(
            session, provider=provider, reason=reason, headers=headers or {}, body=body, trade=trade
        )
        return "refused"
    # Recorded once by the provider's transaction id, in one statement: a duplicate (even one delivered
    # concurrently) inserts nothing and returns no row, with no savepoint or pre-check round trip.
    values = {
        "provider": provider,
        "transaction_id": trade.transaction_id,
        "out_trade_no": trade.out_trade_no,
        "amount_fen": trade.amount_fen,
        "merchant_id": trade.merchant_id,
        "source": source,
        "payment_id": payment.id,
        "community_id": payment.community_id,
        "district_id": payment.district_id,
        "received_at": utcnow(),
    }
    recorded = (
        await session.execute(
            insert_ignoring(session, PaymentNotification.__table__, ["provider", "transaction_id"])
            .values(**values)
            .returning(PaymentNotification.__table__.c.id)
        )
    ).first()
    if recorded is None:
        return "duplicate"
    if not await apply_payment(session, payment=payment, transaction_id=trade.transaction_id):
        return "duplicate"
    if payment.late:
        log.warning(
            "%s: %s fen received after the order expired (%s)",
            payment.out_trade_no,
            trade.amount_fen,
            payment.late,
        )
    if payment.late == LateMoney.refunded.value:
        from laoyou.billing.service.refunds import do_refund_late_money  # refunds builds on payments

        await do_refund_late_money(session, payment=payment)
    return "applied"


async def access_payment(session: AsyncSession, *, actor: Actor, payment_id: int) -> Payment:
    actor.require_login()
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise NotFound()
    if payment.payer_id == actor.person_id or payment.household_id in actor.household_ids:
        return payment
    staff = await estates.staff_community_ids(session, actor)
    if actor.is_staff and (staff is None or payment.community_id in staff):
        return payment
    raise NotFound()


async def access_payment_to_confirm(session: AsyncSession, *, actor: Actor, out_trade_no: str) -> Payment:
    """A payment waiting at a cashier, for the person who started it or one who may pay for its household."""
    actor.require_login()
    payment = (await session.exec(select(Payment).where(Payment.out_trade_no == out_trade_no))).first()
    if payment is None or not (
        payment.payer_id == actor.person_id or payment.household_id in actor.household_ids
    ):
        raise NotFound()  # staff may see payments, but only the payer's side confirms one
    return payment


async def do_refresh_payment(
    session: AsyncSession, *, actor: Actor, payment_id: int, gateway: Gateway | None
) -> Payment:
    """The result page's "check again": ask the gateway about a payment still waiting for its notification."""
    payment = await access_payment(session, actor=actor, payment_id=payment_id)
    if payment.status == PaymentStatus.pending.value and gateway is not None:
        await _query_and_apply(session, gateway=gateway, payment=payment)
        await session.refresh(payment)
    return payment


async def _query_and_apply(session: AsyncSession, *, gateway: Gateway, payment: Payment) -> str:
    """Ask the gateway about one order; an unclear answer (none, a 5xx, one not believed) changes nothing."""
    try:
        with unit_of_work(session):
            trade = await gateway.query_order(payment.out_trade_no)
    except GatewayError as exc:
        log.warning("query of %s failed: %s", payment.out_trade_no, exc)
        return "unclear"
    if trade.state == TradeState.success:
        return await record_trade(session, gateway=gateway, trade=trade, source="query")
    if trade.state == TradeState.closed:
        await _fail(session, payment)
        return "closed"
    return "waiting"


async def _fail(session: AsyncSession, payment: Payment) -> None:
    await session.exec(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PaymentStatus.pending.value)
        .values(status=PaymentStatus.failed.value)
    )


async def _close_expired(session: AsyncSession, *, gateway: Gateway, payment: Payment) -> str:
    """Close an expired order at the gateway, then fail the payment; if the gateway does not close it (it was
    paid meanwhile, or the answer is unclear) the payment stays pending and the next round asks again."""
    try:
        with unit_of_work(session):
            await gateway.close_order(payment.out_trade_no)
    except GatewayRefused as exc:
        log.warning("closing %s refused: %s", payment.out_trade_no, exc)
        return "close_refused"
    except GatewayError as exc:
        log.warning("closing %s failed: %s", payment.out_trade_no, exc)
        return "unclear"
    await _fail(session, payment)
    return "expired"


async def reconcile(
    session: AsyncSession,
    *,
    gateways: dict[str, Gateway],
    older_than: timedelta = timedelta(minutes=2),
    expire_after: timedelta = ORDER_LIFETIME,
    now: datetime | None = None,
) -> dict[str, int]:
    """Ask the gateways about online payments whose notification never came, close the orders that expired,
    ask again for a while about the failed ones (LATE_MONEY_WINDOW), and report, once each, money that arrived
    after its order expired (late_credited, late_refunded).

    The report counts each outcome; an unclear answer about one payment is counted and the batch goes on.
    `expire_after` dates orders made before they carried their expiry."""
    now = now or utcnow()
    cutoff = now - older_than
    pending = list(
        await session.exec(
            select(Payment)
            .where(
                Payment.status == PaymentStatus.pending.value,
                Payment.created_at <= cutoff,
                col(Payment.method).in_(list(gateways)),
            )
            .order_by(Payment.id)
            .limit(1000)
        )
    )
    counts: dict[str, int] = {}
    for payment in pending:
        gateway = gateways[payment.method]
        outcome = await _query_and_apply(session, gateway=gateway, payment=payment)
        expires_at = as_utc(payment.expires_at or payment.created_at + expire_after)
        if outcome == "waiting" and expires_at <= now:
            outcome = await _close_expired(session, gateway=gateway, payment=payment)
        counts[outcome] = counts.get(outcome, 0) + 1
    failed = await session.exec(
        select(Payment)
        .where(
            Payment.status == PaymentStatus.failed.value,
            col(Payment.expires_at) >= now - LATE_MONEY_WINDOW,
            col(Payment.method).in_(list(gateways)),
        )
        .order_by(Payment.id)
        .limit(1000)
    )
    for payment in list(failed):
        # Most are closed there and stay so: only what changed is counted (its money is reported below).
        outcome = await _query_and_apply(session, gateway=gateways[payment.method], payment=payment)
        if outcome not in ("closed", "waiting", "unclear"):
            counts[outcome] = counts.get(outcome, 0) + 1
    for kind in await _report_late_money(session, now=now):
        counts[f"late_{kind}"] = counts.get(f"late_{kind}", 0) + 1
    await session.flush()
    return counts


async def _report_late_money(session: AsyncSession, *, now: datetime) -> list[str]:
    """Claim the late money not yet reported (once, however many workers run) and say what became of each."""
    late = list(
        await session.exec(
            select(Payment)
            .where(col(Payment.late).is_not(None), col(Payment.late_reported_at).is_(None))
            .order_by(Payment.id)
            .limit(1000)
        )
    )
    kinds = []
    for payment in late:
        claimed = await session.exec(
            update(Payment)
            .where(Payment.id == payment.id, col(Payment.late_reported_at).is_(None))
            .values(late_reported_at=now)
        )
        if claimed.rowcount == 1:
            kinds.append(payment.late)
    return kinds


async def list_my_payments(
    session: AsyncSession, *, actor: Actor, first: int, after: int | None
) -> Page[Payment]:
    actor.require_login()
    households = actor.household_ids
    query = select(Payment).where(
        (Payment.payer_id == actor.person_id) | col(Payment.household_id).in_(households)
    )
    if after is not None:
        query = query.where(Payment.id < after)
    rows = list(await session.exec(query.order_by(col(Payment.id).desc()).limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


async def payment_bills(session: AsyncSession, payment: Payment) -> list[Bill]:
    found = await bills_by_ids(session, payment.bill_ids)
    return [found[i] for i in payment.bill_ids if i in found]
