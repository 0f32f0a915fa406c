"""Alipay (开放平台, RSA2): signed requests, async notify verification, the exact `success` reply, trade query.

The rules, as published: the string to sign is every parameter except `sign` (and, for notifications,
`sign_type`) with a non-empty value, sorted by name, joined as k=v with &, values not URL-encoded; the
signature is SHA256withRSA in base64. An API response is verified over the raw JSON of its
`<method>_response` node. A notification is answered with the seven bytes `success`, or Alipay retries.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from laoyou.billing.gateways import (
    GatewayError,
    GatewayRefused,
    InvalidNotification,
    OrderCreated,
    OrderRequest,
    RefundRequest,
    RefundResult,
    RefundState,
    Reply,
    TradeResult,
    TradeState,
    UnverifiedAnswer,
)
from laoyou.billing.gateways.wechatpay import rsa_sign, rsa_verify
from laoyou.billing.money import parse_yuan, yuan
from laoyou.core.time import SHANGHAI, utcnow

GATEWAY_URL = "https://openapi.alipay.com/gateway.do"


def sign_content(params: dict[str, Any], *, exclude: tuple[str, ...] = ("sign",)) -> str:
    return "&".join(
        f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] not in ("", None)
    )


def sign_params(private_key: rsa.RSAPrivateKey, params: dict[str, Any]) -> str:
    return rsa_sign(private_key, sign_content(params))


def response_node(raw: str, method: str) -> str | None:
    """The exact text of the response node, as signed by Alipay."""
    key = method.replace(".", "_") + "_response"
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*', raw)
    if not match:
        return None
    start = match.end()
    depth, in_string, escape = 0, False, False
    for index in range(start, len(raw)):
        char = raw[index]
        if in_string:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return raw[start : index + 1]
    return None


_STATES = {
    "TRADE_SUCCESS": TradeState.success,
    "TRADE_FINISHED": TradeState.success,
    "WAIT_BUYER_PAY": TradeState.not_paid,
    "TRADE_CLOSED": TradeState.closed,
}


class AlipayGateway:
    name = "alipay"

    def __init__(
        self,
        *,
        app_id: str,
        private_key: rsa.RSAPrivateKey,
        alipay_public_key: rsa.RSAPublicKey,
        seller_id: str,
        notify_url: str,
        return_url: str = "",
        gateway_url: str = GATEWAY_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str = "",
    ) -> None:
        if not seller_id:
            raise ValueError("Alipay's seller id (the 2088… partner id) is needed to check notifications")
        self.app_id = app_id
        self.merchant_id = app_id  # a notification's app_id must be ours
        self.seller_id = seller_id  # and its seller_id the account the money goes to
        self.private_key = private_key
        self.alipay_public_key = alipay_public_key
        self.notify_url = notify_url
        self.return_url = return_url
        self.gateway_url = gateway_url
        self.transport = transport
        self.proxy = proxy or None

    def _common(self, method: str, biz: dict[str, Any]) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        params["sign"] = sign_params(self.private_key, params)
        return params

    async def create_order(self, order: OrderRequest) -> OrderCreated:
        """Alipay's page/wap pay is a signed redirect: nothing is sent until the person opens it."""
        method = "alipay.trade.page.pay" if order.kind == "page" else "alipay.trade.wap.pay"
        biz = {
            "out_trade_no": order.out_trade_no,
            "total_amount": yuan(order.amount_fen),
            "subject": order.description[:256],
            "product_code": "FAST_INSTANT_TRADE_PAY" if order.kind == "page" else "QUICK_WAP_WAY",
        }
        if order.expires_at is not None:
            # Absolute, counted from now (timeout_express of wap pay only starts when the password is typed).
            biz["time_expire"] = order.expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        params = self._common(method, biz)
        params["notify_url"] = self.notify_url
        if self.return_url:
            params["return_url"] = self.return_url
        params["sign"] = sign_params(self.private_key, {k: v for k, v in params.items() if k != "sign"})
        return OrderCreated(pay_url=f"{self.gateway_url}?{urlencode(params)}")

    async def _call(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        """One signed API call; the answer's node is believed only with Alipay's signature over its raw text."""
        params = self._common(method, biz)
        try:
            async with httpx.AsyncClient(transport=self.transport, proxy=self.proxy, timeout=10) as client:
                response = await client.post(self.gateway_url, data=params)
        except httpx.HTTPError as exc:
            raise GatewayError(f"Alipay unreachable: {exc}") from exc
        raw = response.text
        node = response_node(raw, method)
        try:
            signature = json.loads(raw).get("sign", "")
        except ValueError as exc:
            raise GatewayError("Alipay answered something that is not JSON") from exc
        if node is None or not rsa_verify(self.alipay_public_key, node, signature):
            raise UnverifiedAnswer("Alipay's answer is not signed by Alipay")
        return json.loads(node)

    async def query_order(self, out_trade_no: str) -> TradeResult:
        data = await self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if data.get("code") != "10000":
            return TradeResult(out_trade_no=out_trade_no, state=TradeState.not_paid)
        return TradeResult(
            out_trade_no=data.get("out_trade_no", ""),
            state=_STATES.get(data.get("trade_status", ""), TradeState.unknown),
            transaction_id=data.get("trade_no", ""),
            amount_fen=parse_yuan(data.get("total_amount", "0")),
            merchant_id=self.app_id,
        )

    async def close_order(self, out_trade_no: str) -> None:
        """alipay.trade.close. A trade Alipay never created (the person never opened the cashier) cannot be
        paid after its time_expire either; a paid one is refused (GatewayRefused)."""
        data = await self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if data.get("code") == "10000" or data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return
        if str(data.get("code", "")).startswith("4"):  # 40xxx: refused, nothing done
            raise GatewayRefused(f"Alipay refused to close: {data.get('sub_code', '')}")
        raise GatewayError(f"Alipay did not close: {data.get('code', '')} {data.get('sub_code', '')}")

    async def create_refund(self, refund: RefundRequest) -> RefundResult:
        """alipay.trade.refund: synchronous; out_request_no makes a repeated request the same refund."""
        data = await self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": refund.out_trade_no,
                "refund_amount": yuan(refund.amount_fen),
                "out_request_no": refund.out_refund_no,
                "refund_reason": refund.reason[:256],
            },
        )
        if data.get("code") == "10000":
            return RefundResult(
                out_refund_no=refund.out_refund_no,
                state=RefundState.success,
                refund_id=f"{data.get('trade_no', '')}/{refund.out_refund_no}",
                amount_fen=refund.amount_fen,
                out_trade_no=data.get("out_trade_no", ""),
                merchant_id=self.app_id,
            )
        if data.get("code") == "20000" or data.get("sub_code") == "ACQ.SYSTEM_ERROR":
            # Unknown outcome: ask again later with the same out_request_no.
            return RefundResult(
                out_refund_no=refund.out_refund_no,
                state=RefundState.processing,
                amount_fen=refund.amount_fen,
                out_trade_no=refund.out_trade_no,
            )
        if str(data.get("code", "")).startswith("4"):  # 40xxx: refused, nothing done
            raise GatewayRefused(
                f"Alipay refused the refund: {data.get('sub_code', '')} {data.get('sub_msg', '')}"
            )
        raise GatewayError(
            f"Alipay did not answer the refund: {data.get('code', '')} {data.get('sub_code', '')}"
        )

    async def query_refund(self, out_refund_no: str, out_trade_no: str = "") -> RefundResult:
        data = await self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": out_trade_no, "out_request_no": out_refund_no},
        )
        if data.get("code") != "10000":
            return RefundResult(out_refund_no=out_refund_no, state=RefundState.processing)
        # Documented: with no refund amount the refund did not happen; retry it under the same out_request_no.
        done = data.get("refund_status", "REFUND_SUCCESS") == "REFUND_SUCCESS" and data.get("refund_amount")
        return RefundResult(
            out_refund_no=out_refund_no,
            state=RefundState.success if done else RefundState.not_found,
            refund_id=f"{data.get('trade_no', '')}/{out_refund_no}",
            amount_fen=parse_yuan(data.get("refund_amount") or "0"),
            out_trade_no=data.get("out_trade_no", ""),
            merchant_id=self.app_id,
        )

    async def verify_notification(self, headers: dict[str, str], body: bytes) -> TradeResult:
        from urllib.parse import parse_qsl

        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidNotification("malformed body") from exc
        signature = params.get("sign", "")
        if params.get("sign_type", "RSA2") != "RSA2" or not signature:
            raise InvalidNotification("unsigned or not RSA2")
        if not rsa_verify(
            self.alipay_public_key, sign_content(params, exclude=("sign", "sign_type")), signature
        ):
            raise InvalidNotification("bad signature")
        try:
            amount = parse_yuan(params.get("total_amount", ""))
        except ValueError as exc:
            raise InvalidNotification("bad amount") from exc
        # Alipay's documented checks after the signature: the order and amount (record_trade), and that the
        # notification is for this app and the money went to this seller.
        if params.get("app_id") != self.app_id:
            raise InvalidNotification("another app")
        if params.get("seller_id") != self.seller_id:
            raise InvalidNotification("another seller")
        return TradeResult(
            out_trade_no=params.get("out_trade_no", ""),
            state=_STATES.get(params.get("trade_status", ""), TradeState.unknown),
            transaction_id=params.get("trade_no", ""),
            amount_fen=amount,
            merchant_id=params.get("app_id", ""),
        )

    def success_reply(self) -> Reply:
        return Reply(200, b"success", "text/plain")

    def failure_reply(self, message: str) -> Reply:
        return Reply(200, b"failure", "text/plain")


def notification_params(private_key: rsa.RSAPrivateKey, params: dict[str, str]) -> dict[str, str]:
    """Sign a notification as Alipay would (the tests use it with a key they make)."""
    signed = dict(params)
    signed["sign_type"] = "RSA2"
    signed["sign"] = rsa_sign(private_key, sign_content(signed, exclude=("sign", "sign_type")))
    return signed


def notify_time() -> str:
    return datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
