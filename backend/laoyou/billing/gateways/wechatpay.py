"""WeChat Pay APIv3 (直连商户): signed requests over httpx, notify verification and decryption.

The rules, as published: a request's signature is RSA-SHA256 (PKCS#1 v1.5) over
"METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n", sent as
`Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`.
WeChat Pay signs its responses and notifications over "TIMESTAMP\\nNONCE\\nBODY\\n" with the platform key
named by Wechatpay-Serial (a platform certificate, downloaded from /v3/certificates as it rotates, or the
platform public key PUB_KEY_ID_…: wechat_keys.py); a timestamp more than 5 minutes from now is refused. A
notification's resource
is AEAD_AES_256_GCM under the merchant's APIv3 key. Success is answered with 200/204 and no body; failure
with 4XX/5XX and {"code": "FAIL", "message": "…"}.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
    lower_headers,
)
from laoyou.billing.gateways.wechat_keys import PlatformKeys, decrypt_certificates, serial_key
from laoyou.core.time import SHANGHAI

API_BASE = "https://api.mch.weixin.qq.com"  # the backup domain is https://api2.mch.weixin.qq.com
NOTIFY_WINDOW_SECONDS = 300
SCHEMA = "WECHATPAY2-SHA256-RSA2048"


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an RSA private key is needed")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        from cryptography import x509

        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("an RSA public key is needed")
    return key


def rsa_sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_key: rsa.RSAPublicKey, message: str | bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(
            signature,
            message.encode() if isinstance(message, str) else message,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> str:
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n"


def authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    url: str,
    body: str,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header of one APIv3 request; url is the path with its query string."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16).upper()
    signature = rsa_sign(private_key, request_message(method, url, timestamp, nonce, body))
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    schema, _, rest = header.partition(" ")
    if schema != SCHEMA:
        raise ValueError("unknown schema")
    fields = {}
    for part in rest.split(","):
        key, _, value = part.partition("=")
        fields[key.strip()] = value.strip().strip('"')
    return fields


def notify_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def encrypt_resource(
    apiv3_key: bytes, plaintext: bytes, associated_data: str = "transaction", nonce: str | None = None
) -> dict[str, str]:
    """What WeChat Pay does to a notification's resource (the sandbox and the tests use it)."""
    nonce = nonce or secrets.token_hex(6)  # 12 characters
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {
        "original_type": "transaction",
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def decrypt_resource(apiv3_key: bytes, resource: dict[str, Any]) -> bytes:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise InvalidNotification("unsupported algorithm")
    try:
        return AESGCM(apiv3_key).decrypt(
            str(resource["nonce"]).encode(),
            base64.b64decode(resource["ciphertext"]),
            str(resource.get("associated_data") or "").encode(),
        )
    except (InvalidTag, KeyError, ValueError, TypeError) as exc:
        raise InvalidNotification("resource cannot be decrypted") from exc


def trade_result(data: dict[str, Any]) -> TradeResult:
    state = data.get("trade_state", "")
    mapped = {
        "SUCCESS": TradeState.success,
        "NOTPAY": TradeState.not_paid,
        "USERPAYING": TradeState.not_paid,
        "CLOSED": TradeState.closed,
        "PAYERROR": TradeState.closed,
        "REVOKED": TradeState.closed,
    }
    amount = data.get("amount") or {}
    return TradeResult(
        out_trade_no=str(data.get("out_trade_no", "")),
        state=mapped.get(state, TradeState.unknown),
        transaction_id=str(data.get("transaction_id") or ""),
        amount_fen=int(amount.get("total") or 0),
        merchant_id=str(data.get("mchid", "")),
    )


def refund_result(data: dict[str, Any]) -> RefundResult:
    """A refund as the refund API answers it (`status`) or as a refund notification tells it (`refund_status`)."""
    state = str(data.get("status") or data.get("refund_status") or "")
    amount = data.get("amount") or {}
    return RefundResult(
        out_refund_no=str(data.get("out_refund_no", "")),
        state={
            "SUCCESS": RefundState.success,
            "PROCESSING": RefundState.processing,
            "CLOSED": RefundState.closed,
            "ABNORMAL": RefundState.abnormal,
        }.get(state, RefundState.processing),
        refund_id=str(data.get("refund_id") or ""),
        amount_fen=int(amount.get("refund") or 0),
        out_trade_no=str(data.get("out_trade_no", "")),
        merchant_id=str(data.get("mchid", "")),
    )


class WeChatPayGateway:
    """A merchant's view of WeChat Pay APIv3."""

    name = "wechat"

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        serial_no: str,
        private_key: rsa.RSAPrivateKey,
        apiv3_key: bytes,
        platform_keys: dict[str, rsa.RSAPublicKey],
        notify_url: str,
        base_url: str = API_BASE,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Any = time.time,
        certificate_store: Path | None = None,
        proxy: str = "",
    ) -> None:
        """platform_keys: the configured ones (a platform certificate, the platform public key) by serial;
        certificates downloaded later are kept in certificate_store."""
        if len(apiv3_key) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.merchant_id = mchid
        self.appid = appid
        self.serial_no = serial_no
        self.private_key = private_key
        self.apiv3_key = apiv3_key
        self.notify_url = notify_url
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.proxy = proxy or None
        self.clock = clock
        self.platform_keys = PlatformKeys(
            platform_keys, apiv3_key=apiv3_key, store=certificate_store, clock=lambda: self.clock()
        )

    # --- requests -----------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        response = await self._send(method, path, body)
        # Responses are signed like notifications; an unsigned or forged answer is not believed, refusals
        # included (a refusal ends a refund for good).
        try:
            await self._verify_signed(lower_headers(response.headers), response.content)
        except InvalidNotification as exc:
            raise UnverifiedAnswer(
                f"WeChat Pay's answer ({response.status_code}) is not believed: {exc}"
            ) from exc
        if response.status_code == 404:
            return {}
        if response.status_code >= 300:
            raise GatewayRefused(f"WeChat Pay answered {response.status_code}: {response.text[:200]}")
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise GatewayError("WeChat Pay answered something that is not JSON") from exc

    async def _send(self, method: str, path: str, body: str) -> httpx.Response:
        """One signed request; its answer unless it is a failure (5xx) or never came."""
        headers = {
            "Authorization": authorization(
                mchid=self.merchant_id,
                serial_no=self.serial_no,
                private_key=self.private_key,
                method=method,
                url=path,
                body=body,
            ),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "laoyou/0.1",
        }
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, transport=self.transport, proxy=self.proxy, timeout=10
            ) as client:
                response = await client.request(
                    method, path, content=body.encode() if body else None, headers=headers
                )
        except httpx.HTTPError as exc:  # a timeout included: the request may have been carried out
            raise GatewayError(f"WeChat Pay unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise GatewayError(f"WeChat Pay answered {response.status_code}: {response.text[:200]}")
        return response

    async def create_order(self, order: OrderRequest) -> OrderCreated:
        payload: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.merchant_id,
            "description": order.description[:127],
            "out_trade_no": order.out_trade_no,
            "notify_url": self.notify_url,
            "amount": {"total": order.amount_fen, "currency": "CNY"},
        }
        if order.expires_at is not None:
            payload["time_expire"] = time_expire(order.expires_at)
        if order.kind == "jsapi":
            payload["payer"] = {"openid": order.payer_openid}
            data = await self._request("POST", "/v3/pay/transactions/jsapi", payload)
            return OrderCreated(jsapi_params=self.jsapi_params(data["prepay_id"]))
        if order.kind == "native":
            data = await self._request("POST", "/v3/pay/transactions/native", payload)
            return OrderCreated(code_url=data["code_url"])
        payload["scene_info"] = {"payer_client_ip": h5_payer_ip(order.client_ip), "h5_info": {"type": "Wap"}}
        data = await self._request("POST", "/v3/pay/transactions/h5", payload)
        return OrderCreated(pay_url=data["h5_url"])

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """What WeixinJSBridge.invoke('getBrandWCPayRequest') needs, signed with the merchant key."""
        timestamp, nonce, package = str(int(self.clock())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        sign = rsa_sign(self.private_key, f"{self.appid}\n{timestamp}\n{nonce}\n{package}\n")
        return {
            "appId": self.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": sign,
        }

    async def query_order(self, out_trade_no: str) -> TradeResult:
        data = await self._request(
            "GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.merchant_id}"
        )
        if not data:
            return TradeResult(out_trade_no=out_trade_no, state=TradeState.not_paid)
        return trade_result(data)

    async def close_order(self, out_trade_no: str) -> None:
        """POST …/out-trade-no/{no}/close (204): the order takes no payment after it. A paid order is refused
        (GatewayRefused); an order WeChat Pay does not know cannot be paid either."""
        await self._request(
            "POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.merchant_id}
        )

    # --- refunds ------------------------------------------------------------------------------------

    async def create_refund(self, refund: RefundRequest) -> RefundResult:
        """POST /v3/refund/domestic/refunds; the same out_refund_no is the same refund at WeChat Pay."""
        payload: dict[str, Any] = {
            "out_trade_no": refund.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "reason": refund.reason[:80],
            "notify_url": self.notify_url,
            "amount": {"refund": refund.amount_fen, "total": refund.total_fen, "currency": "CNY"},
        }
        if refund.transaction_id:
            payload["transaction_id"] = refund.transaction_id
            del payload["out_trade_no"]  # one of the two names the order
        data = await self._request("POST", "/v3/refund/domestic/refunds", payload)
        if not data:
            raise GatewayRefused("WeChat Pay does not know the order")
        return refund_result(data)

    async def query_refund(self, out_refund_no: str, out_trade_no: str = "") -> RefundResult:
        data = await self._request("GET", f"/v3/refund/domestic/refunds/{out_refund_no}")
        if not data:
            return RefundResult(out_refund_no=out_refund_no, state=RefundState.not_found)
        return refund_result(data)

    # --- platform certificates --------------------------------------------------------------------

    async def download_certificates(self) -> None:
        """GET /v3/certificates: the platform certificates in use and the next one, each decrypted with the
        APIv3 key. The answer is signed by one of them (or by a certificate already known)."""
        response = await self._send("GET", "/v3/certificates", "")
        if response.status_code >= 300:
            raise GatewayRefused(f"WeChat Pay answered {response.status_code}: {response.text[:200]}")
        try:
            entries = response.json()["data"]
            keys = decrypt_certificates(self.apiv3_key, entries)
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayError("WeChat Pay's certificates are not understood") from exc
        headers = lower_headers(response.headers)
        listed = {serial_key(key.serial): key.public_key for key in keys}
        serial = headers.get("wechatpay-serial", "")
        try:
            self._check_signature(
                headers, response.content, self.platform_keys.get(serial) or listed.get(serial_key(serial))
            )
        except InvalidNotification as exc:
            raise UnverifiedAnswer(f"WeChat Pay's certificates are not believed: {exc}") from exc
        self.platform_keys.add(entries, keys)

    # --- notifications ------------------------------------------------------------------------------

    async def _verify_signed(self, headers: dict[str, str], body: bytes) -> None:
        serial = self._signature_headers(headers)[3]  # complete and in time, before any download
        key = self.platform_keys.get(serial)
        if key is None:
            try:
                key = await self.platform_keys.refresh(serial, self.download_certificates)
            except GatewayError as exc:
                raise InvalidNotification(
                    f"unknown platform serial; certificates not downloaded: {exc}"
                ) from exc
        self._check_signature(headers, body, key)

    def _check_signature(self, headers: dict[str, str], body: bytes, key: rsa.RSAPublicKey | None) -> None:
        """Raises InvalidNotification unless key (None: the serial is unknown) signed body in time."""
        timestamp, nonce, signature, _ = self._signature_headers(headers)
        if key is None:
            raise InvalidNotification("unknown platform certificate serial")
        if not rsa_verify(key, notify_message(timestamp, nonce, body), signature):
            raise InvalidNotification("bad signature")

    def _signature_headers(self, headers: dict[str, str]) -> tuple[str, str, str, str]:
        """Wechatpay-Timestamp, -Nonce, -Signature and -Serial, all there and the timestamp in time."""
        timestamp = headers.get("wechatpay-timestamp", "")
        nonce = headers.get("wechatpay-nonce", "")
        signature = headers.get("wechatpay-signature", "")
        serial = headers.get("wechatpay-serial", "")
        if not (timestamp and nonce and signature and serial):
            raise InvalidNotification("signature headers missing")
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > NOTIFY_WINDOW_SECONDS:
            raise InvalidNotification("timestamp outside the 5-minute window")
        return timestamp, nonce, signature, serial

    async def verify_notification(self, headers: dict[str, str], body: bytes) -> TradeResult | RefundResult:
        """A payment (TRANSACTION.*) or a refund (REFUND.*) notification, verified and decrypted."""
        headers = lower_headers(headers)
        await self._verify_signed(headers, body)
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidNotification("malformed body") from exc
        try:
            data = json.loads(decrypt_resource(self.apiv3_key, resource))
        except ValueError as exc:
            raise InvalidNotification("malformed resource") from exc
        if not isinstance(data, dict):
            raise InvalidNotification("malformed resource")
        if str(envelope.get("event_type", "")).startswith("REFUND."):
            return refund_result(data)
        return trade_result(data)

    def success_reply(self) -> Reply:
        return Reply(204)

    def failure_reply(self, message: str) -> Reply:
        return Reply(400, json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False).encode())


def time_expire(moment: datetime) -> str:
    """The order's time_expire as the API documents it: RFC 3339 in Beijing time, 2026-06-08T10:34:56+08:00."""
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def is_payer_address(text: str) -> bool:
    """An address a phone can have: not a loopback or unspecified one, which is what a request seems to come
    from when its reverse proxy is not trusted (LAOYOU_TRUSTED_PROXIES) and the proxy's header is ignored."""
    try:
        address = ip_address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def h5_payer_ip(client_ip: str) -> str:
    """H5 requires the payer's own address (IPv4 or IPv6), which WeChat Pay compares with the phone's; one not
    known is refused here rather than replaced by an address that is not the payer's."""
    if not is_payer_address(client_ip):
        raise GatewayRefused("the payer's address is not known: H5 needs scene_info.payer_client_ip")
    return client_ip


def url_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
