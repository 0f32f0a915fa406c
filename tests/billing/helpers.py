"""Shared pieces of the billing tests: documents, actors, and the books' invariants."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.accounts import service as accounts
from laoyou.accounts.actor import Actor
from laoyou.billing import ledger
from laoyou.billing import service as billing
from laoyou.billing.models import Account, Bill, BillStatus, Fund, Payment, PaymentAllocation, Refund
from laoyou.core.phone import normalise_phone

MY_BILLS = """
query { myBills(unpaidOnly: true) { id period status household { id } community { name }
  amount { fen } outstanding { fen yuan } } }
"""

PAY_BILLS = """
mutation ($billIds: [ID!]!, $key: String!) {
  payBills(billIds: $billIds, idempotencyKey: $key) {
    __typename
    ... on PaymentSaved { payment { id status payUrl amount { fen } } }
    ... on Error { field message code }
  }
}
"""

PAYMENT = "query ($id: ID!) { payment(id: $id) { id status receiptUrl amount { fen capitals } bills { id status paid { fen } } } }"


async def actor_for(session: AsyncSession, phone: str) -> Actor:
    person = await accounts.person_by_phone(session, normalise_phone(phone))
    return Actor(person=person, grants=await accounts.live_grants(session, person.id))


async def check_books(session: AsyncSession) -> None:
    """Every entry balances within each fund and one community; every bill's paid amount is the sum of its
    allocations; each community's receivable equals what its bills still owe; payments add up."""
    assert await ledger.unbalanced_entries(session) == []
    rows = await session.exec(
        select(PaymentAllocation.bill_id, func.sum(PaymentAllocation.amount_fen)).group_by(
            PaymentAllocation.bill_id
        )
    )
    allocations = {bill_id: int(total) for bill_id, total in rows.all()}
    bills = list(await session.exec(select(Bill)))
    for bill in bills:
        assert bill.paid_fen == int(allocations.get(bill.id, 0)), bill
        assert (
            0 <= bill.paid_fen + bill.waived_fen <= bill.amount_fen
            or bill.status == BillStatus.cancelled.value
        )
    owed: dict[int, int] = {}
    for bill in bills:
        owed[bill.community_id] = owed.get(bill.community_id, 0) + bill.outstanding_fen
    balances = await ledger.balances(session, list(owed))
    for community_id, total in owed.items():
        assert balances.get((community_id, Fund.property_fee.value, Account.receivable.value), 0) == total
    for payment in await session.exec(select(Payment)):
        expected = payment.amount_fen if payment.status in ("paid", "refunded") else 0
        assert payment.applied_fen + payment.unapplied_fen + payment.refunded_fen == expected, payment


def typename(data: dict[str, Any]) -> str:
    return data["__typename"]


async def refund_payment(session: AsyncSession, **request: Any) -> Refund:
    """A refund as the refundPayment mutation makes it: recorded and committed, then sent."""
    recorded = await billing.do_request_refund(session, **request)
    await session.commit()
    return await billing.do_send_refund(session, refund=recorded)


def _first_pay_form(html: str) -> str:
    start = html.index("data-pay-months")
    return html[start : html.index("</form>", start)]


def pay_form(html: str) -> dict[str, Any]:
    """The fields the first home's Pay button on /bills sends as the page stands (every month still owed is
    ticked), for posting to /bills/pay."""
    form = _first_pay_form(html)
    fields: dict[str, Any] = {
        name: unescape(value)
        for name, value in re.findall(
            r'name="(csrf_token|household|key|method|expected)" value="([^"]*)"', form
        )
    }
    fields["bill"] = re.findall(r'name="bill" value="([^"]*)"[^>]* checked', form)
    fields["action"] = "pay"
    return fields


def months_owed(html: str) -> dict[str, int]:
    """What each month's box in the first home's form says it owes (fen), as the page's script adds up."""
    return {
        b: int(f)
        for b, f in re.findall(r'name="bill" value="([^"]*)" data-fen="(\d+)"', _first_pay_form(html))
    }
