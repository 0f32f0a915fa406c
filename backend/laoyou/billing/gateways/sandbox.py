"""The sandbox: a WeChat Pay APIv3 server that runs inside the app, the embedded default.

It has its own platform key, merchant key and APIv3 key (made with `cryptography` when the app starts),
answers the real WeChatPayGateway adapter over an in-process httpx transport (checking the merchant's
request signature and signing its answers), shows a one-tap cashier page to the demo resident, and sends
notifications in the exact APIv3 format. For tests it misbehaves on purpose: duplicate, dropped (a
notification that never comes), held back and released out of order, stale, or forged notifications; answers
to the adapter's requests that time out, fail with a 5xx, come unsigned or signed under an unknown serial (each
after the request was carried out, the worst case for the merchant); a payment taken after the order
expired or was closed; a platform certificate rotation (rotate_certificate: a new serial signs everything,
served at /v3/certificates); and notification retries re-signed with fresh timestamps on WeChat Pay's schedule
(deliver).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from laoyou.billing.gateways import (
    UNIT_OF_WORK,
    OrderCreated,
    OrderRequest,
    RefundRequest,
    RefundResult,
    Reply,
    TradeResult,
)
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
# WeChat Pay's notification retries when an answer is not 2xx or takes over 5 s, in seconds after the previous
# try ("通知频率为15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m", APIv3 支付通知).
RETRY_INTERVALS = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)


@dataclass
class SandboxOrder:
    out_trade_no: str
    amount_fen: int
    description: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    time_expire: str = ""  # RFC 3339, as the order was created with
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # out_refund_no -> the refund


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
    # How the API answers the adapter, after doing what it was asked: "" (properly), "timeout", "5xx",
    # "unsigned", or "unknown_serial" (signed by a platform key the merchant has not been given).
    answer: str = ""
    late_payment: bool = False  # the cashier takes money for an order past its time_expire or closed
    held: list[Delivery] = field(default_factory=list)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class PlatformCertificate:
    key: rsa.RSAPrivateKey
    serial: str  # the certificate's serial number as WeChat Pay writes it: 40 hex digits, leading zeros kept
    pem: bytes
    effective: datetime
    expires: datetime


def _certificate(now: float) -> PlatformCertificate:
    key = _key()
    number = secrets.randbits(156) | 1  # under 40 hex digits: its serial starts with a zero
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Laoyou sandbox platform")])
    effective = datetime.fromtimestamp(now, UTC) - timedelta(days=1)
    expires = effective + timedelta(days=5 * 365)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(number)
        .not_valid_before(effective)
        .not_valid_after(expires)
        .sign(key, hashes.SHA256())
    )
    return PlatformCertificate(
        key, format(number, "040X"), certificate.public_bytes(serialization.Encoding.PEM), effective, expires
    )


class SandboxServer:
    """The provider's side."""

    def __init__(self, *, clock: Any = time.time, misbehaviour: Misbehaviour | None = None) -> None:
        self.mchid = SANDBOX_MCHID
        self.appid = SANDBOX_APPID
        self.clock = clock
        self.certificates: list[PlatformCertificate] = []  # the oldest first; the last one signs
        self.rotate_certificate()
        self.merchant_key = _key()
        self.merchant_serial = secrets.token_hex(20).upper()
        self.apiv3_key = secrets.token_hex(16).encode()  # 32 ASCII characters, as WeChat Pay issues them
        self.orders: dict[str, SandboxOrder] = {}
        self.requests: list[httpx.Request] = []
        self.misbehaviour = misbehaviour or Misbehaviour()
        self._forger = None
        self._stranger = None

    @property
    def platform_key(self) -> rsa.RSAPrivateKey:
        return self.certificates[-1].key

    @property
    def platform_serial(self) -> str:
        return self.certificates[-1].serial

    def rotate_certificate(self) -> str:
        """A new platform certificate signs every answer and notification from now on; the old ones stay listed
        at /v3/certificates until they expire, as WeChat Pay does. Its serial is returned."""
        self.certificates.append(_certificate(self.clock()))
        return self.platform_serial

    def certificate_list(self) -> dict[str, Any]:
        """GET /v3/certificates: each certificate encrypted under the merchant's APIv3 key."""
        return {
            "data": [
                {
                    "serial_no": c.serial,
                    "effective_time": c.effective.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                    "expire_time": c.expires.astimezone(SHANGHAI).isoformat(timespec="seconds"),
                    "encrypt_certificate": {
                        k: v
                        for k, v in encrypt_resource(self.apiv3_key, c.pem, "certificate").items()
                        if k != "original_type"
                    },
                }
                for c in self.certificates
            ]
        }

    # --- the APIv3 endpoints the adapter calls ---------------------------------------------------------

    def _signed(self, status: int, payload: dict[str, Any] | None) -> httpx.Response:
        body = (
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            if payload is not None
            else b""
        )
        return httpx.Response(status, content=body, headers=self.sign_headers(body))

    def sign_headers(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        key: rsa.RSAPrivateKey | None = None,
        serial: str | None = None,
    ) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16).upper()
        signature = rsa_sign(key or self.platform_key, notify_message(ts, nonce, body).decode())
        return {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or self.platform_serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": secrets.token_hex(8),
        }

    # --- its own records, kept in the app's database when a unit of work is at hand --------------------

    async def load(self, out_trade_no: str) -> SandboxOrder | None:
        order = self.orders.get(out_trade_no)
        session = UNIT_OF_WORK.get()
        if order is None and session is not None:
            from sqlmodel import select

            from laoyou.billing.models import SandboxOrder as Row

            row = (await session.exec(select(Row).where(Row.out_trade_no == out_trade_no))).first()
            if row is not None:
                order = SandboxOrder(
                    row.out_trade_no,
                    row.amount_fen,
                    row.description,
                    row.state,
                    row.transaction_id,
                    row.success_time,
                    row.time_expire,
                    dict(row.refunds or {}),
                )
                self.orders[out_trade_no] = order
        return order

    async def save(self, order: SandboxOrder) -> None:
        session = UNIT_OF_WORK.get()
        if session is None:
            return
        from sqlmodel import select

        from laoyou.billing.models import SandboxOrder as Row
        from laoyou.core.time import utcnow

        row = (await session.exec(select(Row).where(Row.out_trade_no == order.out_trade_no))).first()
        if row is None:
            row = Row(out_trade_no=order.out_trade_no, amount_fen=order.amount_fen)
        row.description = order.description[:200]
        row.state, row.transaction_id, row.success_time, row.time_expire = (
            order.state,
            order.transaction_id,
            order.success_time,
            order.time_expire,
        )
        row.refunds = {k: dict(v) for k, v in order.refunds.items()}
        row.updated_at = utcnow()
        session.add(row)
        await session.flush()

    def refund_json(self, order: SandboxOrder, number: str) -> dict[str, Any]:
        refund = order.refunds[number]
        return {
            "mchid": self.mchid,
            "refund_id": refund["refund_id"],
            "out_refund_no": number,
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "status": refund["status"],
            "refund_status": refund["status"],
            "success_time": refund.get("success_time", ""),
            "create_time": refund["create_time"],
            "amount": {
                "total": order.amount_fen,
                "refund": refund["amount"],
                "payer_total": order.amount_fen,
                "payer_refund": refund["amount"],
                "currency": "CNY",
            },
        }

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """The API as the adapter meets it: the answer, then whatever misbehaviour spoils it."""
        answer = await self._answer(request)
        fault = self.misbehaviour.answer
        if fault == "timeout":
            raise httpx.ReadTimeout("the sandbox kept its answer", request=request)
        if fault == "5xx":
            return self._signed(500, {"code": "SYSTEM_ERROR", "message": "系统错误，请稍后重试"})
        if fault == "unsigned":
            return httpx.Response(answer.status_code, content=answer.content)
        if fault == "unknown_serial":
            if self._stranger is None:
                self._stranger = (_key(), secrets.token_hex(20).upper())
            key, serial = self._stranger
            return httpx.Response(
                answer.status_code,
                content=answer.content,
                headers=self.sign_headers(answer.content, key=key, serial=serial),
            )
        return answer

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = request.content.decode()
        path = request.url.raw_path.decode()
        try:
            auth = parse_authorization(request.headers.get("authorization", ""))
        except ValueError:
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        message = request_message(
            request.method, path, auth.get("timestamp", ""), auth.get("nonce_str", ""), body
        )
        if (
            auth.get("mchid") != self.mchid
            or auth.get("serial_no") != self.merchant_serial
            or not rsa_verify(self.merchant_key.public_key(), message, auth.get("signature", ""))
            or abs(self.clock() - int(auth.get("timestamp") or 0)) > 300
        ):
            return self._signed(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        if request.method == "GET" and path == "/v3/certificates":
            return self._signed(200, self.certificate_list())
        if request.method == "POST" and path == "/v3/refund/domestic/refunds":
            return await self._refund(json.loads(body))
        if request.method == "GET" and path.startswith("/v3/refund/domestic/refunds/"):
            number = path.split("/")[-1].split("?")[0]
            order = next((o for o in self.orders.values() if number in o.refunds), None)
            if order is None and UNIT_OF_WORK.get() is not None:
                order = await self._order_of_refund(number)
            if order is None:
                return self._signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})
            return self._signed(200, self.refund_json(order, number))
        if request.method == "POST" and path.endswith("/close"):
            return await self._close(path.split("/")[-2], json.loads(body))
        if request.method == "POST" and path.startswith("/v3/pay/transactions/"):
            data = json.loads(body)
            if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
                return self._signed(400, {"code": "PARAM_ERROR", "message": "商户号或应用号不符"})
            number = data["out_trade_no"]
            existing = await self.load(number)
            if existing and existing.amount_fen != data["amount"]["total"]:
                return self._signed(400, {"code": "OUT_TRADE_NO_USED", "message": "商户订单号重复"})
            if existing is None:
                existing = self.orders[number] = SandboxOrder(
                    number,
                    data["amount"]["total"],
                    data.get("description", ""),
                    time_expire=str(data.get("time_expire") or ""),
                )
                await self.save(existing)
            kind = path.rsplit("/", 1)[-1]
            if kind == "native":
                return self._signed(200, {"code_url": f"weixin://wxpay/bizpayurl?pr=sandbox{number}"})
            if kind == "jsapi":
                return self._signed(200, {"prepay_id": f"wx{number}"})
            return self._signed(200, {"h5_url": f"/pay/sandbox/{number}"})
        if request.method == "GET" and path.startswith("/v3/pay/transactions/out-trade-no/"):
            number = path.split("/")[-1].split("?")[0]
            order = await self.load(number)
            if order is None:
                return self._signed(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
            return self._signed(200, self.transaction(order))
        return self._signed(404, {"code": "NOT_FOUND", "message": "无此接口"})

    async def _close(self, number: str, data: dict[str, Any]) -> httpx.Response:
        """Close an unpaid order (204, no body); a paid one is refused."""
        if data.get("mchid") != self.mchid:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "商户号不符"})
        order = await self.load(number)
        if order is None:
            return self._signed(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        if order.state == "SUCCESS":
            return self._signed(400, {"code": "ORDERPAID", "message": "订单已支付"})
        order.state = "CLOSED"
        await self.save(order)
        return self._signed(204, None)

    def payable(self, order: SandboxOrder) -> bool:
        """Open and not past its time_expire (unless the sandbox takes late money on purpose)."""
        if order.state == "SUCCESS" or self.misbehaviour.late_payment:
            return True
        expired = (
            bool(order.time_expire) and datetime.fromisoformat(order.time_expire).timestamp() < self.clock()
        )
        return order.state == "NOTPAY" and not expired

    async def _order_of_refund(self, number: str) -> SandboxOrder | None:
        from sqlalchemy import String, cast

        from laoyou.billing.models import SandboxOrder as Row

        session = UNIT_OF_WORK.get()
        rows = await session.exec(
            Row.__table__.select().where(cast(Row.__table__.c.refunds, String).contains(number))
        )
        for row in rows:
            order = await self.load(row.out_trade_no)
            if order is not None and number in order.refunds:
                return order
        return None

    async def _refund(self, data: dict[str, Any]) -> httpx.Response:
        """The refund API: idempotent by out_refund_no; never more than was paid; PROCESSING, then a
        REFUND.SUCCESS notification when the sandbox's bank has moved the money (refund_succeeds)."""
        order = await self.load(str(data.get("out_trade_no", "")))
        if order is None and data.get("transaction_id"):
            order = next(
                (o for o in self.orders.values() if o.transaction_id == data["transaction_id"]), None
            )
        if order is None:
            return self._signed(404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        amount = data.get("amount") or {}
        number = str(data.get("out_refund_no", ""))
        if not number or int(amount.get("total") or 0) != order.amount_fen:
            return self._signed(400, {"code": "PARAM_ERROR", "message": "订单金额或退款单号不符"})
        existing = order.refunds.get(number)
        if existing is not None:
            if existing["amount"] != int(amount.get("refund") or 0):
                return self._signed(400, {"code": "INVALID_REQUEST", "message": "退款单号重复"})
            return self._signed(200, self.refund_json(order, number))
        if order.state != "SUCCESS":
            return self._signed(403, {"code": "INVALID_REQUEST", "message": "订单未支付"})
        refund = int(amount.get("refund") or 0)
        refunded = sum(r["amount"] for r in order.refunds.values() if r["status"] != "CLOSED")
        if refund <= 0 or refunded + refund > order.amount_fen:
            return self._signed(403, {"code": "NOT_ENOUGH", "message": "可退金额不足"})
        order.refunds[number] = {
            "refund_id": "5030" + secrets.token_hex(12),
            "amount": refund,
            "status": "PROCESSING",
            "create_time": datetime.fromtimestamp(self.clock(), SHANGHAI).isoformat(timespec="seconds"),
        }
        await self.save(order)
        return self._signed(200, self.refund_json(order, number))

    def refund_succeeds(self, out_refund_no: str) -> Delivery | None:
        """The money is back with the payer: the refund is SUCCESS and its notification is made."""
        order = next((o for o in self.orders.values() if out_refund_no in o.refunds), None)
        if order is None:
            return None
        refund = order.refunds[out_refund_no]
        if refund["status"] != "SUCCESS":
            refund["status"] = "SUCCESS"
            refund["success_time"] = datetime.fromtimestamp(self.clock(), SHANGHAI).isoformat(
                timespec="seconds"
            )
        plaintext = json.dumps(
            {k: v for k, v in self.refund_json(order, out_refund_no).items() if k != "status"},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        envelope = {
            "id": secrets.token_hex(18),
            "create_time": refund["success_time"],
            "resource_type": "encrypt-resource",
            "event_type": "REFUND.SUCCESS",
            "summary": "退款成功",
            "resource": {
                **encrypt_resource(self.apiv3_key, plaintext, associated_data="refund"),
                "original_type": "refund",
            },
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        return Delivery(self.sign_headers(body), body)

    def transaction(
        self, order: SandboxOrder, *, amount_fen: int | None = None, mchid: str | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "appid": self.appid,
            "mchid": mchid or self.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": "MWEB",
            "trade_state": order.state,
            "trade_state_desc": "支付成功" if order.state == "SUCCESS" else "未支付",
            "amount": {"total": order.amount_fen if amount_fen is None else amount_fen, "currency": "CNY"},
        }
        if order.state == "SUCCESS":
            total = data["amount"]["total"]
            data.update(
                {
                    "transaction_id": order.transaction_id,
                    "bank_type": "OTHERS",
                    "attach": "",
                    "success_time": order.success_time,
                    "payer": {"openid": "o-sandbox-payer"},
                }
            )
            data["amount"].update({"payer_total": total, "payer_currency": "CNY"})
        return data

    # --- paying and notifying ---------------------------------------------------------------------------

    def pay(self, out_trade_no: str) -> SandboxOrder:
        """The payer pays: an order that takes no payment any more (expired, closed) stays as it is."""
        order = self.orders[out_trade_no]
        if order.state != "SUCCESS" and self.payable(order):
            order.state = "SUCCESS"
            order.transaction_id = "4200" + secrets.token_hex(12)
            order.success_time = datetime.fromtimestamp(self.clock(), SHANGHAI).isoformat(timespec="seconds")
        return order

    def notification(
        self,
        order: SandboxOrder,
        *,
        stale: bool = False,
        forge: bool = False,
        amount_fen: int | None = None,
        mchid: str | None = None,
    ) -> Delivery:
        """One TRANSACTION.SUCCESS notification, byte for byte as WeChat Pay sends it."""
        plaintext = json.dumps(
            self.transaction(order, amount_fen=amount_fen, mchid=mchid),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        envelope = {
            "id": secrets.token_hex(18),
            "create_time": order.success_time,
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
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
        self.misbehaviour = Misbehaviour()
        self.server = SandboxServer(clock=clock, misbehaviour=self.misbehaviour)
        self.merchant_id = self.server.mchid
        self.outbox: list[Delivery] = []
        self.adapter = WeChatPayGateway(
            mchid=self.server.mchid,
            appid=self.server.appid,
            serial_no=self.server.merchant_serial,
            private_key=self.server.merchant_key,
            apiv3_key=self.server.apiv3_key,
            platform_keys={self.server.platform_serial: self.server.platform_key.public_key()},
            notify_url=notify_url,
            base_url="https://sandbox.laoyou.invalid",
            transport=httpx.MockTransport(self.server.handle),
            clock=clock,
        )

    async def create_order(self, order: OrderRequest) -> OrderCreated:
        """Every order is paid at the sandbox's own cashier page, tapped or scanned, never at WeChat's H5 page,
        so it is made as Native (an H5 order needs the payer's address, which a test's caller may lack)."""
        await self.adapter.create_order(
            OrderRequest(
                out_trade_no=order.out_trade_no,
                amount_fen=order.amount_fen,
                description=order.description,
                kind="native",
                expires_at=order.expires_at,
            )
        )
        return OrderCreated(pay_url=f"/pay/sandbox/{order.out_trade_no}")

    async def query_order(self, out_trade_no: str) -> TradeResult:
        return await self.adapter.query_order(out_trade_no)

    async def close_order(self, out_trade_no: str) -> None:
        await self.adapter.close_order(out_trade_no)

    async def verify_notification(self, headers: dict[str, str], body: bytes) -> TradeResult | RefundResult:
        return await self.adapter.verify_notification(headers, body)

    async def load(self, out_trade_no: str) -> SandboxOrder | None:
        """An order from memory or, after a restart, from the database (within gateways.unit_of_work)."""
        return await self.server.load(out_trade_no)

    async def save(self, out_trade_no: str) -> None:
        order = self.server.orders.get(out_trade_no)
        if order is not None:
            await self.server.save(order)

    async def create_refund(self, refund: RefundRequest) -> RefundResult:
        """Asks the sandbox for a refund; its bank pays it back at once and the REFUND.SUCCESS notification
        waits in `outbox` for whoever delivers (the page that asked, a test), with the misbehaviours; so it
        does when the answer to the request was lost or spoiled, as the money moved all the same."""
        try:
            return await self.adapter.create_refund(refund)
        finally:
            order = self.server.orders.get(refund.out_trade_no)
            if (
                order is not None
                and order.refunds.get(refund.out_refund_no, {}).get("status") == "PROCESSING"
            ):
                delivery = self.server.refund_succeeds(refund.out_refund_no)
                await self.server.save(order)
                self._send([delivery] if delivery else [])

    async def query_refund(self, out_refund_no: str, out_trade_no: str = "") -> RefundResult:
        return await self.adapter.query_refund(out_refund_no, out_trade_no)

    def take_outbox(self) -> list[Delivery]:
        taken, self.outbox = self.outbox, []
        return taken

    def _send(self, deliveries: list[Delivery]) -> None:
        m = self.misbehaviour
        if m.duplicate:
            deliveries = [d for d in deliveries for _ in (0, 1)]
        if m.drop:
            return
        if m.hold:
            m.held.extend(deliveries)
            return
        self.outbox.extend(deliveries)

    def success_reply(self) -> Reply:
        return self.adapter.success_reply()

    def failure_reply(self, message: str) -> Reply:
        return self.adapter.failure_reply(message)

    def pay(self, out_trade_no: str) -> list[Delivery]:
        """The person taps Pay: the order succeeds and the notifications to deliver now are returned (none when
        the order takes no payment any more)."""
        order = self.server.pay(out_trade_no)
        if order.state != "SUCCESS":
            return []
        m = self.misbehaviour
        delivery = self.server.notification(order, stale=m.stale, forge=m.forge)
        deliveries = [delivery, delivery] if m.duplicate else [delivery]
        if m.drop:
            return []
        if m.hold:
            m.held.extend(deliveries)
            return []
        return deliveries

    async def deliver(
        self,
        delivery: Delivery,
        send: Callable[[Delivery], Awaitable[int]],
        *,
        wait: Callable[[float], Awaitable[None]],
    ) -> list[int]:
        """One notification delivered as WeChat Pay delivers it: at once, then after each of RETRY_INTERVALS
        until an answer is 2xx, every retry re-signed with a fresh timestamp and nonce (the body unchanged). send
        posts a delivery and gives the answer's status; wait lets that many seconds pass (a test moves its
        clock). The statuses, one per try."""
        statuses = []
        for interval in (0, *RETRY_INTERVALS):
            await wait(interval)
            statuses.append(await send(Delivery(self.server.sign_headers(delivery.body), delivery.body)))
            if 200 <= statuses[-1] < 300:
                break
        return statuses

    def release(self, *, reverse: bool = True) -> list[Delivery]:
        held, self.misbehaviour.held = self.misbehaviour.held, []
        return held[::-1] if reverse else held
