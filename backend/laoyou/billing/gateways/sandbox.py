"""The sandbox: a WeChat Pay APIv3 server that runs inside the app, the embedded default.

It has its own platform key, merchant key and APIv3 key (made with `cryptography` when the app starts),
answers the real WeChatPayGateway adapter over an in-process httpx transport (checking the merchant's
request signature and signing its answers), shows a one-tap cashier page to the demo resident, and sends
notifications in the exact APIv3 format. For tests it misbehaves on purpose: duplicate, dropped (a
notification that never comes), held back and released out of order, stale, or forged.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from laoyou.billing.gateways import OrderCreated, OrderRequest, Reply, TradeResult
from laoyou.billing.gateways.wechatpay import (
    WeChatPayGateway,
    encrypt_resource,
    notify_message,
    parse_authorization,
    request_message,
    rsa_sign,
    rsa_verify,
)
from laoyou.core.time import SHANGHAI

SANDBOX_MCHID = "1900000109"
SANDBOX_APPID = "wxlaoyousandbox01"


@dataclass
class SandboxOrder:
    out_trade_no: str
    amount_fen: int
    description: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class Misbehaviour:
    duplicate: bool = False  # every notification is sent twice
    drop: bool = False  # notifications are never sent (reconciliation must find the payment)
    hold: bool = False  # notifications are kept back until released (then in any order)
    stale: bool = False  # timestamps 10 minutes old
    forge: bool = False  # signed with a key that is not the platform's
    held: list[Delivery] = field(default_factory=list)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SandboxServer:
    """The provider's side."""

    def __init__(self, *, clock: Any = time.time) -> None:
        self.mchid = SANDBOX_MCHID
        self.appid = SANDBOX_APPID
        self.platform_key = _key()
        self.platform_serial = secrets.token_hex(20).upper()
        self.merchant_key = _key()
        self.merchant_serial = secrets.token_hex(20).upper()
        self.apiv3_key = secrets.token_hex(16).encode()  # 32 ASCII characters, as WeChat Pay issues them
        self.orders: dict[str, SandboxOrder] = {}
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self._forger = None

    # --- the APIv3 endpoints the adapter calls ---------------------------------------------------------

    def _signed(self, status: int, payload: dict[str, Any] | None) -> httpx.Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload is not None else b""
        return httpx.Response(status, content=body, headers=self.sign_headers(body))

    def sign_headers(self, body: bytes, *, timestamp: int | None = None, key: rsa.RSAPrivateKey | None = None
                     ) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16).upper()
        signature = rsa_sign(key or self.platform_key, notify_message(ts, nonce, body).decode())
        return {"Content-Type": "application/json", "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature, "Wechatpay-Serial": self.platform_serial,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048", "Request-ID": secrets.token_hex(8)}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.content.decode()
        path = request.url.raw_path.decode()
        try:
            auth = parse_authorization(request.headers.get("authorization", ""))
        except ValueError:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        message = request_message(request.method, path, auth.get("timestamp", ""), auth.get("nonce_str", ""), body)
        if (auth.get("mchid") != self.mchid or auth.get("serial_no") != self.merchant_serial
                or not rsa_verify(self.merchant_key.public_key(), message, auth.get("signature", ""))
                or abs(self.clock() - int(auth.get("timestamp") or 0)) > 300):
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        if request.method == "POST" and path.startswith("/v3/pay/transactions/"):
            data = json.loads(body)
            if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
                return self._signed(400, {"code": "PARAM_ERROR", "message": "商户号或应用号不符"})
            number = data["out_trade_no"]
            existing = self.orders.get(number)
            if existing and existing.amount_fen != data["amount"]["total"]:
                return self._signed(400, {"code": "OUT_TRADE_NO_USED", "message": "商户订单号重复"})
            self.orders.setdefault(number, SandboxOrder(number, data["amount"]["total"], data.get("description", "")))
            kind = path.rsplit("/", 1)[-1]
            if kind == "native":
                return self._signed(200, {"code_url": f"weixin://wxpay/bizpayurl?pr=sandbox{number}"})
            if kind == "jsapi":
                return self._signed(200, {"prepay_id": f"wx{number}"})
            return self._signed(200, {"h5_url": f"/pay/sandbox/{number}"})
        if request.method == "GET" and path.startswith("/v3/pay/transactions/out-trade-no/"):
            number = path.split("/")[-1].split("?")[0]
            order = self.orders.get(number)
            if order is None:
                return self._signed(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            return self._signed(200, self.transaction(order))
        return self._signed(404, {"code": "NOT_FOUND", "message": "无此接口"})

    def transaction(self, order: SandboxOrder, *, amount_fen: int | None = None, mchid: str | None = None
                    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "appid": self.appid, "mchid": mchid or self.mchid, "out_trade_no": order.out_trade_no,
            "trade_type": "MWEB", "trade_state": order.state,
            "trade_state_desc": "支付成功" if order.state == "SUCCESS" else "未支付",
            "amount": {"total": order.amount_fen if amount_fen is None else amount_fen, "currency": "CNY"},
        }
        if order.state == "SUCCESS":
            total = data["amount"]["total"]
            data.update({"transaction_id": order.transaction_id, "bank_type": "OTHERS", "attach": "",
                         "success_time": order.success_time, "payer": {"openid": "o-sandbox-payer"}})
            data["amount"].update({"payer_total": total, "payer_currency": "CNY"})
        return data

    # --- paying and notifying ---------------------------------------------------------------------------

    def pay(self, out_trade_no: str) -> SandboxOrder:
        order = self.orders[out_trade_no]
        if order.state != "SUCCESS":
            order.state = "SUCCESS"
            order.transaction_id = "4200" + secrets.token_hex(12)
            order.success_time = datetime.fromtimestamp(self.clock(), SHANGHAI).isoformat(timespec="seconds")
        return order

    def notification(self, order: SandboxOrder, *, stale: bool = False, forge: bool = False,
                     amount_fen: int | None = None, mchid: str | None = None) -> Delivery:
        """One TRANSACTION.SUCCESS notification, byte for byte as WeChat Pay sends it."""
        plaintext = json.dumps(self.transaction(order, amount_fen=amount_fen, mchid=mchid), ensure_ascii=False,
                               separators=(",", ":")).encode()
        envelope = {
            "id": secrets.token_hex(18), "create_time": order.success_time, "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": encrypt_resource(self.apiv3_key, plaintext),
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self.clock()) - (600 if stale else 0)
        if forge and self._forger is None:
            self._forger = _key()
        headers = self.sign_headers(body, timestamp=timestamp, key=self._forger if forge else None)
        return Delivery(headers, body)


class SandboxGateway:
    """The merchant's side: the real WeChat Pay adapter, pointed at the in-process sandbox server."""

    name = "sandbox"

    def __init__(self, *, notify_url: str = "/billing/notify/sandbox", clock: Any = time.time) -> None:
        self.server = SandboxServer(clock=clock)
        self.merchant_id = self.server.mchid
        self.misbehaviour = Misbehaviour()
        self.adapter = WeChatPayGateway(
            mchid=self.server.mchid, appid=self.server.appid, serial_no=self.server.merchant_serial,
            private_key=self.server.merchant_key, apiv3_key=self.server.apiv3_key,
            platform_keys={self.server.platform_serial: self.server.platform_key.public_key()},
            notify_url=notify_url, base_url="https://sandbox.laoyou.invalid",
            transport=httpx.MockTransport(self.server.handle), clock=clock,
        )

    async def create_order(self, order: OrderRequest) -> OrderCreated:
        return await self.adapter.create_order(OrderRequest(
            out_trade_no=order.out_trade_no, amount_fen=order.amount_fen, description=order.description,
            client_ip=order.client_ip, kind="h5"))

    async def query_order(self, out_trade_no: str) -> TradeResult:
        return await self.adapter.query_order(out_trade_no)

    def verify_notification(self, headers: dict[str, str], body: bytes) -> TradeResult:
        return self.adapter.verify_notification(headers, body)

    def success_reply(self) -> Reply:
        return self.adapter.success_reply()

    def failure_reply(self, message: str) -> Reply:
        return self.adapter.failure_reply(message)

    def pay(self, out_trade_no: str) -> list[Delivery]:
        """The person taps Pay: the order succeeds and the notifications to deliver now are returned."""
        order = self.server.pay(out_trade_no)
        m = self.misbehaviour
        delivery = self.server.notification(order, stale=m.stale, forge=m.forge)
        deliveries = [delivery, delivery] if m.duplicate else [delivery]
        if m.drop:
            return []
        if m.hold:
            m.held.extend(deliveries)
            return []
        return deliveries

    def release(self, *, reverse: bool = True) -> list[Delivery]:
        held, self.misbehaviour.held = self.misbehaviour.held, []
        return held[::-1] if reverse else held
