"""Payments: online orders through a gateway, office payments, applying a payment once, and reconciliation."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, insert, update
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
from laoyou.billing.gateways.wechatpay import is_payer_address
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
    load_community,
    log,
    request_fingerprint,
)
from laoyou.billing.service.wechat import wechat_openid
from laoyou.core.db import insert_ignoring
from laoyou.core.errors import ErrorCode, LaoyouError, NotFound
from laoyou.core.events import announce
from laoyou.core.pagination import Page
from laoyou.core.text import check_text
from laoyou.core.time import SHANGHAI, as_utc, utcnow
from laoyou.estates import service as estates
from laoyou.estates.models import Household

MAX_BILLS_PER_PAYMENT = 24
JSAPI_PACKAGE = "prepay_id="  # a JSAPI order keeps, as its pay_url, the package WeixinJSBridge is handed
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


async def waiting_payments_by_household(
    session: AsyncSession, household_ids: list[int]
) -> dict[int, list[Payment]]:
    """Households' online payments still waiting for the gateway's word, oldest first."""
    found: dict[int, list[Payment]] = {}
    rows = await session.exec(
        select(Payment)
        .where(col(Payment.household_id).in_(household_ids), Payment.status == PaymentStatus.pending.value)
        .order_by(Payment.id)
    )
    for payment in rows:
        found.setdefault(payment.household_id, []).append(payment)
    return found


async def waiting_payments(session: AsyncSession, *, household_id: int) -> list[Payment]:
    return (await waiting_payments_by_household(session, [household_id])).get(household_id, [])


def _resumable(
    payment: Payment, *, actor: Actor, bill_ids: list[int], method: PaymentMethod, kind: str
) -> bool:
    """The payer's own order for exactly these bills, paid the same way (a JSAPI order inside WeChat, another
    outside) and still open at the gateway: pressing Pay again after leaving the cashier goes back to it
    rather than being refused."""
    expires_at = payment.expires_at and as_utc(payment.expires_at)
    return (
        payment.payer_id == actor.person_id
        and payment.method == method.value
        and payment.pay_url.startswith(JSAPI_PACKAGE) == (kind == "jsapi")
        and sorted(payment.bill_ids) == sorted(bill_ids)
        and bool(payment.pay_url)
        and expires_at is not None
        and expires_at > utcnow() + timedelta(minutes=5)
    )


async def _owed_bills(session: AsyncSession, *, actor: Actor, bill_ids: list[int]) -> list[Bill]:
    actor.require_login()
    bills = await _payable_bills(session, bill_ids)
    if bills[0].household_id not in actor.household_ids:
        raise NotFound()
    if any(b.outstanding_fen <= 0 for b in bills):
        raise LaoyouError(ErrorCode.NOTHING_TO_PAY, "Nothing is owed on these bills.", field="billIds")
    return sorted(bills, key=lambda b: (b.period_start, b.id))


def _check_not_waiting(bills: list[Bill], waiting: list[Payment]) -> None:
    busy: set[int] = set()
    for payment in waiting:
        busy |= {b.id for b in bills} & set(payment.bill_ids)
    if busy:
        raise LaoyouError(
            ErrorCode.PAYMENT_WAITING,
            "A payment for %(period)s is still waiting for the payment service. Open it in My receipts.",
            field="billIds",
            period=next(b.period for b in bills if b.id in busy),
        )


async def check_bills_to_pay(session: AsyncSession, *, actor: Actor, bill_ids: list[int]) -> list[Bill]:
    """The bills a resident (or family, for a linked household) chose to pay online, oldest first, or why not.

    Every one must be of one of the payer's households, still owed, and in no payment still waiting for the
    gateway (two open orders for one month could both be paid: the second's money would only be held).

    Older months are not forced first: a resident who disputes an old month (a complaint not yet settled)
    may still pay this one. The page lists the months oldest first and ticks every one, and overdue
    reminders go on asking for what is left.
    """
    bills = await _owed_bills(session, actor=actor, bill_ids=bill_ids)
    _check_not_waiting(bills, await waiting_payments(session, household_id=bills[0].household_id))
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
    jsapi_appid: str | None = None,
) -> Payment:
    """A resident, or family for a linked household, starts paying one or several bills online (check_bills_to_pay
    says which may be paid together).

    A retry with the same key returns the first payment; the same key with other bills is refused. A method
    this process has no gateway for (none at all, or the sandbox in production) is refused. With
    `jsapi_appid` (inside WeChat) the order is paid in WeChat as the person's openid under that official
    account, which must be known first; otherwise WeChat Pay is H5, which needs the payer's address.
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
    bills = await _owed_bills(session, actor=actor, bill_ids=bill_ids)
    waiting = await waiting_payments(session, household_id=bills[0].household_id)
    kind, openid = "h5", ""
    if method == PaymentMethod.wechat and jsapi_appid:
        kind, openid = "jsapi", await wechat_openid(session, person_id=actor.person_id, appid=jsapi_appid)
        if not openid:
            raise LaoyouError(
                ErrorCode.WECHAT_PAYER_UNKNOWN, "WeChat must first tell us who is paying.", field="method"
            )
    elif method == PaymentMethod.wechat and not is_payer_address(client_ip):
        raise LaoyouError(
            ErrorCode.INVALID,
            "Your phone's network address could not be told, and WeChat Pay needs it. "
            "Please pay inside WeChat or at the office.",
            field="method",
        )
    resumed = next(
        (p for p in waiting if _resumable(p, actor=actor, bill_ids=bill_ids, method=method, kind=kind)), None
    )
    if resumed is not None:
        return resumed
    return await _start_online_order(
        session,
        bills=bills,
        payer_id=actor.person_id,
        method=method,
        gateway=gateway,
        order=OrderRequest("", 0, "", client_ip=client_ip, kind=kind, payer_openid=openid),
        key=key,
        fingerprint=fingerprint,
        waiting=waiting,
    )


async def do_start_counter_payment(
    session: AsyncSession,
    *,
    actor: Actor,
    bill_ids: list[int],
    method: PaymentMethod | None,
    idempotency_key: str,
    gateway: Gateway | None,
) -> Payment:
    """At the office counter, or for a printed bill: an order shown as a QR code (WeChat Pay Native), so the
    resident, or a son or daughter anywhere, scans it and pays. Staff who may write the community's books
    start it; the money is the household's like any other payment."""
    actor.require_login()
    key = check_idempotency_key(idempotency_key)
    fingerprint = request_fingerprint(bills=sorted(bill_ids), method=method.value if method else "", qr=True)
    existing = await _existing(session, actor.person_id, key)
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise LaoyouError(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                "This payment was already started with other details.",
                field="idempotencyKey",
            )
        return existing
    if method not in (PaymentMethod.wechat, PaymentMethod.sandbox) or gateway is None:
        raise LaoyouError(ErrorCode.INVALID, "Paying by QR code is not available.", field="method")
    bills = await _payable_bills(session, bill_ids)
    for bill in bills:
        await access_bill(session, actor=actor, bill_id=bill.id)
    await check_can_write(session, actor, bills[0].community_id)
    return await _start_online_order(
        session,
        bills=bills,
        payer_id=actor.person_id,
        method=method,
        gateway=gateway,
        order=OrderRequest("", 0, "", kind="native"),
        key=key,
        fingerprint=fingerprint,
    )


async def _start_online_order(
    session: AsyncSession,
    *,
    bills: list[Bill],
    payer_id: int,
    method: PaymentMethod,
    gateway: Gateway,
    order: OrderRequest,
    key: str,
    fingerprint: str,
    waiting: list[Payment] | None = None,
) -> Payment:
    """Create the order at the gateway for what the bills owe, then the pending payment; `order` says how it
    is paid (kind, the payer's address or openid). No bill may be in another order still waiting (`waiting`,
    the household's, when the caller has them already)."""
    if waiting is None:
        waiting = await waiting_payments(session, household_id=bills[0].household_id)
    _check_not_waiting(bills, waiting)
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
                replace(
                    order,
                    out_trade_no=out_trade_no,
                    amount_fen=amount,
                    description=f"{community.name} 物业费 {periods}"[:127],
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
        payer_id=payer_id,
        method=method.value,
        amount_fen=amount,
        status=PaymentStatus.pending.value,
        out_trade_no=out_trade_no,
        receipt_number=_new_receipt_no(household.community_id),
        # Where paying goes on: a page (H5, Alipay, the sandbox cashier), a QR code's content (Native), or the
        # prepay package the WeChat bridge is handed (JSAPI), signed afresh each time it is shown.
        pay_url=created.pay_url or created.code_url or created.jsapi_params.get("package", ""),
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


async def list_household_payments(
    session: AsyncSession, *, actor: Actor, household_id: int, first: int, after: int | None
) -> Page[Payment]:
    """A household's payments, newest first, for its own people and the staff who serve it."""
    await estates.access_household(session, actor=actor, household_id=household_id)
    query = select(Payment).where(Payment.household_id == household_id)
    if after is not None:
        query = query.where(Payment.id < after)
    rows = list(await session.exec(query.order_by(col(Payment.id).desc()).limit(first + 1)))
    return Page(rows[:first], len(rows) > first)


async def payment_bills(session: AsyncSession, payment: Payment) -> list[Bill]:
    found = await bills_by_ids(session, payment.bill_ids)
    return [found[i] for i in payment.bill_ids if i in found]


async def payment_counts(session: AsyncSession) -> dict[str, int]:
    """How many payments are in each state, across the installation: an operator's figure (/metrics), not a
    person's, so it has no actor."""
    rows = await session.exec(select(Payment.status, func.count()).group_by(Payment.status))
    counts = {status.value: 0 for status in PaymentStatus}
    counts.update({status: count for status, count in rows})
    return counts
