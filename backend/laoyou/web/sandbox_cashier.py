"""The sandbox cashier (stands in for WeChat Pay's own page): demo and dev only, for the payer's side only."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response

from laoyou.billing import service as billing
from laoyou.billing.gateways import lower_headers, unit_of_work
from laoyou.billing.gateways.registry import gateways
from laoyou.billing.models import Payment
from laoyou.billing.money import yuan
from laoyou.core.errors import NotFound
from laoyou.web.billing import deliver
from laoyou.web.render import Page, PageRoute, form_with_csrf


async def sandbox_order(page: Page) -> tuple[Payment, object]:
    number = page.request.path_params["out_trade_no"]
    try:
        payment = await billing.access_payment_to_confirm(
            page.context.session, actor=page.context.actor, out_trade_no=number
        )
    except NotFound:
        raise HTTPException(404, "not found") from None
    with unit_of_work(page.context.session):
        # from the database after a restart
        order = await gateways(page.request.app.state.settings).sandbox.load(number)
    if order is None:
        raise HTTPException(404, "not found")
    return payment, order


async def sandbox_cashier(page: Page) -> Response:
    payment, order = await sandbox_order(page)
    return page.render(
        "billing/sandbox_pay.html",
        payment_id=payment.id,
        order=order,
        amount=yuan(order.amount_fen),
        merchant=gateways(page.request.app.state.settings).sandbox.merchant_id,
    )


async def sandbox_confirm(page: Page) -> Response:
    await form_with_csrf(page.request)
    payment, order = await sandbox_order(page)
    settings = page.request.app.state.settings
    sandbox = gateways(settings).sandbox
    deliveries = sandbox.pay(order.out_trade_no)
    with unit_of_work(page.context.session):
        await sandbox.save(order.out_trade_no)
    await page.context.commit()
    for delivery in deliveries:
        # In-process, on the page's session: byte for byte what the notify endpoint receives, and like it
        # one unit of work per notification.
        await deliver(
            page.context.session,
            "sandbox",
            lower_headers(delivery.headers),
            delivery.body,
            settings=settings,
        )
        await page.context.commit()
    return page.redirect(f"/payments/{payment.id}")


PAGES = (
    PageRoute("GET", "/pay/sandbox/{out_trade_no}", sandbox_cashier),
    PageRoute("POST", "/pay/sandbox/{out_trade_no}", sandbox_confirm),
)
