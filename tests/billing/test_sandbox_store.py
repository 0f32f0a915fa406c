"""The embedded sandbox keeps its orders and refunds in the database: a restart loses nothing."""

from __future__ import annotations

from sqlmodel import select

from laoyou.billing import service as billing
from laoyou.billing.gateways import registry
from laoyou.billing.models import Payment, SandboxOrder

from .helpers import check_books, pay_form


async def test_an_order_started_before_a_restart_is_paid_after_it(client, db, monkeypatch):
    # Given the demo resident who started paying on the pages (the order is at the sandbox)
    await client.get("/login")
    csrf = client.cookies.get("laoyou_csrf")
    await client.post("/login/demo", data={"phone": "+8613800000001", "csrf_token": csrf})
    csrf = client.cookies.get("laoyou_csrf")  # the login gave a new token; the pages now carry it
    bills = await client.get("/bills")
    form = pay_form(bills.text)
    paying = await client.post("/bills/pay", data={**form, "csrf_token": csrf})
    cashier = paying.headers["location"]
    number = cashier.rsplit("/", 1)[-1]
    row = (await db.exec(select(SandboxOrder).where(SandboxOrder.out_trade_no == number))).one()
    assert row.state == "NOTPAY" and row.amount_fen > 0
    # When the app restarts (the sandbox in memory is gone: new keys, no orders)
    monkeypatch.setattr(registry, "_gateways", None)
    assert number not in registry.gateways().sandbox.server.orders
    # Then the cashier still knows the order, and paying it goes through
    assert (await client.get(cashier)).status_code == 200
    done = await client.post(cashier, data={"csrf_token": csrf})
    assert done.status_code == 303
    payment = (
        await db.exec(
            select(Payment).where(Payment.out_trade_no == number).execution_options(populate_existing=True)
        )
    ).one()
    assert payment.status == "paid"
    await db.refresh(row)
    assert row.state == "SUCCESS" and row.transaction_id == payment.transaction_id
    # And after another restart, reconciliation's query finds the order paid at the sandbox
    monkeypatch.setattr(registry, "_gateways", None)
    sandbox = registry.gateways().sandbox
    from laoyou.billing.gateways import unit_of_work

    with unit_of_work(db):
        trade = await sandbox.query_order(number)
    assert trade.state == billing.TradeState.success and trade.transaction_id == payment.transaction_id
    await check_books(db)
