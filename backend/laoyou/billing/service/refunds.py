"""Refunds: money given back, posted once when the gateway (or the office) confirms it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts.actor import Actor
from laoyou.billing import ledger
from laoyou.billing.gateways import (
    Gateway,
    GatewayError,
    GatewayRefused,
    RefundRequest,
    RefundResult,
    RefundState,
    unit_of_work,
)
from laoyou.billing.ledger import credit, debit
from laoyou.billing.models import (
    Account,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from laoyou.billing.service.bills import lock_bill, restatus
from laoyou.billing.service.common import PF, check_can_write, check_idempotency_key, log, request_fingerprint
from laoyou.billing.service.payments import access_payment, refuse_notification
from laoyou.core.errors import ErrorCode, LaoyouError
from laoyou.core.events import announce
from laoyou.core.text import check_text
from laoyou.core.time import utcnow


def _new_refund_no() -> str:
    return "RF" + utcnow().strftime("%Y%m%d%H%M%S") + secrets.token_hex(6).upper()


async def do_request_refund(
    session: AsyncSession,
    *,
    actor: Actor,
    payment_id: int,
    amount_fen: int,
    reason: str,
    idempotency_key: str,
) -> Refund:
    """Give money back: the first half, recorded before anything is sent. Cash and transfers are posted at
    once; an online refund is recorded pending under a fresh out_refund_no, which the caller commits before
    do_send_refund asks the gateway. A retry with the same key returns the same refund (to be sent again under
    its number, never a new one)."""
    payment = await access_payment(session, actor=actor, payment_id=payment_id)
    await check_can_write(session, actor, payment.community_id)
    key = check_idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(payment=payment_id, amount=amount_fen, reason=reason.strip())
    existing = (
        await session.exec(
            select(Refund).where(Refund.created_by_id == actor.person_id, Refund.idempotency_key == key)
        )
    ).first()
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if not reason.strip():
        raise LaoyouError(ErrorCode.INVALID, "Say why the money is refunded.", field="reason")
    check_text(reason, field="reason")
    payment = await _lock_payment(session, payment_id)
    if (
        payment.status != PaymentStatus.paid.value
        or amount_fen <= 0
        or amount_fen > await _refundable(session, payment)
    ):
        raise LaoyouError(
            ErrorCode.INVALID,
            "The amount must be more than zero and no more than what was paid.",
            field="amountFen",
        )
    refund = await _record_refund(
        session,
        payment=payment,
        amount_fen=amount_fen,
        reason=reason.strip()[:200],
        created_by_id=actor.person_id,
        idempotency_key=key,
        request_hash=fingerprint,
    )
    if not PaymentMethod(payment.method).is_online:
        await _confirm_refund(session, refund=refund, provider_refund_id="")
    return refund


async def _lock_payment(session: AsyncSession, payment_id: int) -> Payment:
    return (
        await session.exec(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()


def refundable_fen(payment: Payment, refunds: list[Refund]) -> int:
    """_refundable for a payment whose refunds are at hand (a page listing them): nothing once not paid."""
    if payment.status != PaymentStatus.paid.value:
        return 0
    asked = sum(r.amount_fen for r in refunds if r.status == RefundStatus.pending.value)
    return payment.amount_fen - payment.refunded_fen - asked


async def _refundable(session: AsyncSession, payment: Payment) -> int:
    """What is left to give back: paid, less what was refunded and what refunds still pending ask for."""
    asked = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment.id, Refund.status == RefundStatus.pending.value
        )
    )
    return payment.amount_fen - payment.refunded_fen - int(asked or 0)


async def _record_refund(
    session: AsyncSession,
    *,
    payment: Payment,
    amount_fen: int,
    reason: str,
    created_by_id: int,
    idempotency_key: str,
    request_hash: str,
) -> Refund:
    refund = Refund(
        payment_id=payment.id,
        community_id=payment.community_id,
        district_id=payment.district_id,
        amount_fen=amount_fen,
        reason=reason,
        created_by_id=created_by_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        out_refund_no=_new_refund_no(),
        status=RefundStatus.pending.value,
    )
    session.add(refund)
    await session.flush()
    return refund


async def do_refund_late_money(session: AsyncSession, *, payment: Payment) -> Refund | None:
    """Money that came for a closed order and found its bills paid another way goes back to the payer: a
    refund of what was held unapplied, recorded here and sent by reconciliation (reconcile_refunds) once
    this unit of work is committed. It is in the payer's name: it is their money going back to them."""
    payment = await _lock_payment(session, payment.id)
    amount_fen = min(payment.unapplied_fen, await _refundable(session, payment))
    if amount_fen <= 0:
        return None
    return await _record_refund(
        session,
        payment=payment,
        amount_fen=amount_fen,
        reason="支付超时后到账，账单已另行缴清，自动退回",
        created_by_id=payment.payer_id,
        idempotency_key=f"late-{payment.out_trade_no}",
        request_hash=request_fingerprint(late=payment.out_trade_no, amount=amount_fen),
    )


async def do_send_refund(session: AsyncSession, *, refund: Refund, gateway: Gateway | None = None) -> Refund:
    """The second half: ask the gateway for a recorded refund, under its own number. An unclear answer (no
    answer, a 5xx, one that is not believed) leaves it pending for reconciliation; a clear refusal fails it."""
    if refund.status != RefundStatus.pending.value:
        return refund
    payment = await session.get(Payment, refund.payment_id)
    if not PaymentMethod(payment.method).is_online:
        return refund
    if gateway is None:
        from laoyou.billing.gateways.registry import gateways as registry

        gateway = registry().get(payment.method)
    if gateway is None:
        raise LaoyouError(ErrorCode.GATEWAY_ERROR, "The payment service did not answer. Please try again.")
    outcome = await _send_refund(session, refund=refund, payment=payment, gateway=gateway)
    await session.refresh(refund)
    if outcome == "rejected":
        raise LaoyouError(ErrorCode.GATEWAY_ERROR, "The payment service refused the refund.")
    return refund


async def _send_refund(session: AsyncSession, *, refund: Refund, payment: Payment, gateway: Gateway) -> str:
    """One request for a recorded refund; returns what record_refund_result returns, unclear, or rejected
    (the gateway clearly refused: the refund failed, nothing moved)."""
    try:
        with unit_of_work(session):
            result = await gateway.create_refund(
                RefundRequest(
                    out_trade_no=payment.out_trade_no,
                    out_refund_no=refund.out_refund_no,
                    amount_fen=refund.amount_fen,
                    total_fen=payment.amount_fen,
                    reason=refund.reason,
                    transaction_id=payment.transaction_id or "",
                )
            )
    except GatewayRefused as exc:
        log.warning("refund %s refused by the gateway: %s", refund.out_refund_no, exc)
        await session.exec(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == RefundStatus.pending.value)
            .values(status=RefundStatus.failed.value)
        )
        return "rejected"
    except GatewayError as exc:
        # The request may or may not have been carried out: the refund stays pending under its number, and
        # reconciliation asks about it (the same number never refunds twice).
        log.warning("refund %s: %s", refund.out_refund_no, exc)
        return "unclear"
    return await record_refund_result(session, gateway=gateway, result=result, source="answer")


async def record_refund_result(
    session: AsyncSession,
    *,
    gateway: Gateway,
    result: RefundResult,
    source: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> str:
    """The gateway's word on a refund (answer, notification or query): checked, and posted once on success.

    Returns applied, duplicate, waiting, failed, not_found or refused."""
    refund = (await session.exec(select(Refund).where(Refund.out_refund_no == result.out_refund_no))).first()
    payment = await session.get(Payment, refund.payment_id) if refund is not None else None
    reason = None
    if refund is None or payment is None or payment.method != gateway.name:
        reason = "unknown refund"
    elif result.merchant_id and result.merchant_id != gateway.merchant_id:
        reason = "merchant does not match"
    elif result.out_trade_no and result.out_trade_no != payment.out_trade_no:
        reason = "order does not match"
    elif result.state == RefundState.success and result.amount_fen != refund.amount_fen:
        reason = "amount does not match"
    if reason:
        if source == "notify":
            await refuse_notification(
                session, provider=gateway.name, reason=reason, headers=headers or {}, body=body
            )
        else:
            log.warning("refund %s refused (%s): %s", result.out_refund_no, source, reason)
        return "refused"
    if result.state == RefundState.success:
        applied = await _confirm_refund(session, refund=refund, provider_refund_id=result.refund_id)
        return "applied" if applied else "duplicate"
    if result.state in (RefundState.closed, RefundState.abnormal):
        done = await session.exec(
            update(Refund)
            .where(Refund.id == refund.id, Refund.status == RefundStatus.pending.value)
            .values(status=RefundStatus.failed.value, provider_refund_id=result.refund_id)
        )
        return "failed" if done.rowcount else "duplicate"
    if result.state == RefundState.not_found:
        return "not_found"
    return "waiting"


async def _confirm_refund(session: AsyncSession, *, refund: Refund, provider_refund_id: str) -> bool:
    """pending -> succeeded exactly once; then the bills reopen and the books post the refund."""
    done = await session.exec(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status == RefundStatus.pending.value)
        .values(
            status=RefundStatus.succeeded.value,
            confirmed_at=utcnow(),
            provider_refund_id=provider_refund_id[:64],
        )
    )
    if done.rowcount != 1:
        return False
    await session.refresh(refund)
    await _apply_refund(session, refund=refund)
    return True


async def _apply_refund(session: AsyncSession, *, refund: Refund) -> None:
    """First what was held unapplied, then the latest allocations; the bills reopen."""
    payment = (
        await session.exec(
            select(Payment)
            .where(Payment.id == refund.payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    amount_fen = refund.amount_fen
    from_unapplied = min(amount_fen, payment.unapplied_fen)
    remaining = amount_fen - from_unapplied
    reversed_total = 0
    allocations = list(
        await session.exec(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment.id)
            .order_by(col(PaymentAllocation.id).desc())
        )
    )
    net: dict[int, int] = {}
    for allocation in reversed(allocations):
        net[allocation.bill_id] = net.get(allocation.bill_id, 0) + allocation.amount_fen
    for bill_id in reversed(payment.bill_ids):
        if remaining <= 0:
            break
        share = min(remaining, net.get(bill_id, 0))
        if share <= 0:
            continue
        bill = await lock_bill(session, bill_id)
        bill.paid_fen -= share
        restatus(bill)
        session.add(bill)
        session.add(
            PaymentAllocation(
                payment_id=payment.id,
                bill_id=bill_id,
                community_id=bill.community_id,
                district_id=bill.district_id,
                amount_fen=-share,
                refund_id=refund.id,
            )
        )
        remaining -= share
        reversed_total += share
    payment.unapplied_fen -= from_unapplied
    payment.applied_fen -= reversed_total
    payment.refunded_fen += amount_fen
    if payment.refunded_fen == payment.amount_fen:
        payment.status = PaymentStatus.refunded.value
    session.add(payment)
    await ledger.post(
        session,
        community_id=payment.community_id,
        district_id=payment.district_id,
        kind="refund",
        legs=[
            debit(PF, Account.advance_received, from_unapplied),
            debit(PF, Account.receivable, reversed_total),
            credit(PF, Account.cash, amount_fen),
        ],
        memo=refund.reason,
        ref_type="refund",
        ref_id=refund.id,
        created_by_id=refund.created_by_id,
    )
    await session.flush()
    announce(session, f"payment:{payment.id}", {"status": payment.status})


async def reconcile_refunds(
    session: AsyncSession,
    *,
    gateways: dict[str, Gateway],
    older_than: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
) -> dict[str, int]:
    """Ask the gateways about refunds whose confirmation never came, and send again, under the same number,
    those the gateway never received. An unclear answer is counted and the rest of the batch goes on."""
    cutoff = (now or utcnow()) - older_than
    rows = list(
        await session.exec(
            select(Refund, Payment)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Refund.status == RefundStatus.pending.value,
                Refund.created_at <= cutoff,
                col(Payment.method).in_(list(gateways)),
            )
            .order_by(Refund.id)
            .limit(1000)
        )
    )
    counts: dict[str, int] = {}
    for refund, payment in rows:
        gateway = gateways[payment.method]
        try:
            with unit_of_work(session):
                result = await gateway.query_refund(refund.out_refund_no, payment.out_trade_no)
        except GatewayError as exc:
            log.warning("refund query %s failed: %s", refund.out_refund_no, exc)
            outcome = "unclear"
        else:
            outcome = await record_refund_result(session, gateway=gateway, result=result, source="query")
        if outcome == "not_found":
            outcome = await _send_refund(session, refund=refund, payment=payment, gateway=gateway)
        counts[outcome] = counts.get(outcome, 0) + 1
    await session.flush()
    return counts
