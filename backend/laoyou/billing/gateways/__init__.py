"""Payment gateways behind one interface: WeChat Pay APIv3, Alipay, and the embedded sandbox.

A gateway creates orders, verifies the notifications it sends (raising InvalidNotification), answers
with the provider's documented reply, and tells the state of an order when asked (reconciliation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class TradeState(StrEnum):
    success = "SUCCESS"
    not_paid = "NOTPAY"
    closed = "CLOSED"
    unknown = "UNKNOWN"


@dataclass(frozen=True)
class OrderRequest:
    out_trade_no: str
    amount_fen: int
    description: str
    client_ip: str = ""
    kind: str = "h5"  # jsapi, h5, native (WeChat); page, wap (Alipay)
    payer_openid: str = ""
    expires_at: datetime | None = None  # after it the gateway takes no payment for the order


@dataclass(frozen=True)
class OrderCreated:
    pay_url: str = ""  # where the person goes to pay (H5, Alipay, the sandbox cashier)
    code_url: str = ""  # a QR code's content (Native)
    jsapi_params: dict[str, str] = field(default_factory=dict)  # for WeixinJSBridge (JSAPI)


@dataclass(frozen=True)
class TradeResult:
    """What a notification or an order query says about one order."""

    out_trade_no: str
    state: TradeState
    transaction_id: str = ""
    amount_fen: int = 0
    merchant_id: str = ""


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: bytes = b""
    media_type: str = "application/json"


class RefundState(StrEnum):
    success = "SUCCESS"
    processing = "PROCESSING"
    closed = "CLOSED"  # refused or withdrawn at the gateway: no money moved
    abnormal = "ABNORMAL"  # the payer's account cannot take it back; handled by hand at the gateway
    not_found = "NOT_FOUND"  # the gateway has no such refund: the request never arrived, send it again


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str  # the merchant's number: the same number never refunds twice
    amount_fen: int
    total_fen: int  # the original order's amount
    reason: str = ""
    transaction_id: str = ""


@dataclass(frozen=True)
class RefundResult:
    """What a refund answer, a refund query or a refund notification says about one refund."""

    out_refund_no: str
    state: RefundState
    refund_id: str = ""
    amount_fen: int = 0
    out_trade_no: str = ""
    merchant_id: str = ""


class InvalidNotification(Exception):
    """A notification that must not be believed: bad signature, stale, undecryptable or malformed."""


class GatewayError(Exception):
    """No clear answer: the gateway could not be reached, timed out, failed (5xx), or answered something that
    cannot be believed. What was asked may or may not have been done: ask again under the same number."""


class GatewayRefused(GatewayError):
    """A clear, signed refusal (4xx): what was asked was not done."""


class UnverifiedAnswer(GatewayError, InvalidNotification):
    """An answer to our request that is unsigned, signed under an unknown serial or forged: not believed, so
    the outcome is unclear (the request may well have been carried out)."""


class Gateway(Protocol):
    name: str
    merchant_id: str

    async def create_order(self, order: OrderRequest) -> OrderCreated: ...

    async def query_order(self, out_trade_no: str) -> TradeResult: ...

    async def close_order(self, out_trade_no: str) -> None: ...

    async def verify_notification(
        self, headers: dict[str, str], body: bytes
    ) -> TradeResult | RefundResult: ...

    async def create_refund(self, refund: RefundRequest) -> RefundResult: ...

    async def query_refund(self, out_refund_no: str, out_trade_no: str) -> RefundResult: ...

    def success_reply(self) -> Reply: ...

    def failure_reply(self, message: str) -> Reply: ...


def lower_headers(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(headers).items()}


# The unit of work of the request or job talking to a gateway. Only a gateway that lives inside the app (the
# sandbox) uses it, to keep its own side of the world in the same database.
UNIT_OF_WORK: ContextVar[Any] = ContextVar("laoyou_gateway_unit_of_work", default=None)


@contextlib.contextmanager
def unit_of_work(session: Any) -> Iterator[None]:
    token = UNIT_OF_WORK.set(session)
    try:
        yield
    finally:
        UNIT_OF_WORK.reset(token)
