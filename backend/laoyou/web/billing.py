"""Billing on the web: the gateways' notify endpoints, and the installing of billing's page groups (web.bills
for the resident, web.staff_billing for staff, web.sandbox_cashier in demo and dev)."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from laoyou.billing import service as billing
from laoyou.billing.gateways import lower_headers
from laoyou.billing.gateways.registry import gateways
from laoyou.core.db import session_scope
from laoyou.core.settings import Settings
from laoyou.web.render import add_pages


async def deliver(
    session,  # noqa: ANN001
    provider: str,
    headers: dict[str, str],
    body: bytes,
    *,
    settings: Settings,
) -> tuple[int, bytes, str, str]:
    """Hand one notification to the billing service (the notify endpoint and the sandbox cashier share this
    road); the caller ends the unit of work, one per notification."""
    gateway = gateways(settings).get(provider)
    if gateway is None:
        raise HTTPException(404, "no such gateway")
    reply, outcome = await billing.do_receive_notification(
        session, gateway=gateway, headers=headers, body=body
    )
    return reply.status_code, reply.body, reply.media_type, outcome


async def notify(provider: str, request: Request) -> Response:
    """A gateway's notification of a payment or refund."""
    body = await request.body()
    # This endpoint is its request's boundary (no page, no GraphQL): one unit of work per notification.
    async with session_scope(request.app.state.sessionmaker, request.app.state.pubsub) as session:
        status, content, media_type, _ = await deliver(
            session, provider, lower_headers(request.headers), body, settings=request.app.state.settings
        )
    return Response(content, status_code=status, media_type=media_type)


def install(app: FastAPI) -> None:
    from laoyou.web import bills, sandbox_cashier, staff_billing

    app.add_api_route("/billing/notify/{provider}", notify, methods=["POST"], include_in_schema=False)
    add_pages(app, bills.PAGES)
    if not app.state.settings.is_production:
        add_pages(app, sandbox_cashier.PAGES)
    add_pages(app, staff_billing.PAGES)


def _(message: str) -> str:
    """Marks a msgid for extraction; the templates translate these words with _(value)."""
    return message


# Words the templates show by value: bill and payment states, methods, phases, funds and accounts.
LABELS = (
    _("open"),
    _("partly_paid"),
    _("paid"),
    _("waived"),
    _("cancelled"),
    _("statement"),
    _("pending"),
    _("failed"),
    _("refunded"),
    _("sandbox"),
    _("wechat"),
    _("alipay"),
    _("cash"),
    _("bank_transfer"),
    _("trial"),
    _("cost"),
    _("market"),
    _("draft"),
    _("active"),
    _("retired"),
    _("property_fee"),
    _("maintenance_fund"),
    _("public_income"),
    _("receivable"),
    _("fee_income"),
    _("fee_waived"),
    _("advance_received"),
    _("shared_cost_payable"),
    _("fund_balance"),
    _("income"),
    _("expense"),
)
