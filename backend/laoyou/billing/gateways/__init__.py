"""Payment gateways behind one interface: WeChat Pay APIv3, Alipay, and the embedded sandbox.

A gateway creates orders, verifies the notifications it sends (raising InvalidNotification), answers
with the provider's documented reply, and tells the state of an order when asked (reconciliation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


class InvalidNotification(Exception):
    """A notification that must not be believed: bad signature, stale, undecryptable or malformed."""


class GatewayError(Exception):
    """The gateway could not be reached or refused the request."""


class Gateway(Protocol):
    name: str
    merchant_id: str

    async def create_order(self, order: OrderRequest) -> OrderCreated: ...

    async def query_order(self, out_trade_no: str) -> TradeResult: ...

    def verify_notification(self, headers: dict[str, str], body: bytes) -> TradeResult: ...

    def success_reply(self) -> Reply: ...

    def failure_reply(self, message: str) -> Reply: ...


def lower_headers(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in dict(headers).items()}
