"""The payment providers' notify endpoint: verify, record once, apply once, answer as the provider expects."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from laoyou.billing.gateways import Gateway, InvalidNotification, RefundResult, Reply
from laoyou.billing.service.common import log
from laoyou.billing.service.payments import record_trade
from laoyou.billing.service.refunds import record_refund_result
from laoyou.core.logs import BoundedLog

unverified_log = BoundedLog(log)


async def do_receive_notification(
    session: AsyncSession, *, gateway: Gateway, headers: dict[str, str], body: bytes
) -> tuple[Reply, str]:
    """The notify endpoint's work: verify, record once, apply once, answer as the provider expects."""
    try:
        trade = await gateway.verify_notification(headers, body)
    except InvalidNotification as exc:
        # Anyone can post here: what the gateway did not sign is logged (bounded) and never stored, so nobody
        # fills the database from outside. A signed notification that does not match its order is kept below.
        unverified_log.warning("refused %s notification: %s", gateway.name, str(exc)[:200])
        return gateway.failure_reply(str(exc)), "refused"
    if isinstance(trade, RefundResult):
        outcome = await record_refund_result(
            session, gateway=gateway, result=trade, source="notify", headers=headers, body=body
        )
    else:
        outcome = await record_trade(
            session, gateway=gateway, trade=trade, source="notify", headers=headers, body=body
        )
    if outcome == "refused":
        return gateway.failure_reply("order does not match"), outcome
    return gateway.success_reply(), outcome
