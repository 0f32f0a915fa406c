"""A local push-service stand-in: an ASGI app that receives the sender's real requests, checks the VAPID JWT
(ES256 over the push origin), decrypts the body with the subscription's private key using http_ece (an
independent RFC 8291 implementation), and answers what the test tells it to (201, 404, 410, 429, 5xx)."""

from __future__ import annotations

import base64
import json
import os
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ORIGIN = "https://push.test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """What a browser keeps: its private key and auth secret; the server gets endpoint, p256dh and auth."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    @property
    def keys(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "p256dh": self.p256dh, "auth": b64url(self.auth)}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    payload: dict[str, Any] | None
    status: int
    jwt_claims: dict[str, Any] | None


@dataclass
class PushStandIn:
    devices: dict[str, Device] = field(default_factory=dict)
    plans: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    received: list[Received] = field(default_factory=list)
    verify: bool = True
    vapid_public_key: str | None = None  # when set, the k= key must be this one

    def new_device(self) -> Device:
        path = f"/push/{b64url(os.urandom(12))}"
        device = Device(endpoint=ORIGIN + path, private_key=ec.generate_private_key(ec.SECP256R1()), auth=os.urandom(16))
        self.devices[path] = device
        return device

    def answer(self, device: Device, *responses: int | tuple[int, dict[str, str]]) -> None:
        """The next requests to this device get these answers, in order; then 201."""
        self.plans[device.endpoint.removeprefix(ORIGIN)].extend(responses)

    def for_device(self, device: Device) -> list[Received]:
        return [r for r in self.received if ORIGIN + r.path == device.endpoint]

    def check_vapid(self, authorization: str) -> dict[str, Any]:
        scheme, _, rest = authorization.partition(" ")
        assert scheme == "vapid", authorization
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        token, key = parts["t"], parts["k"]
        if self.vapid_public_key:
            assert key == self.vapid_public_key
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        assert header["alg"] == "ES256"
        signature = unb64url(signature_b64)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        public.verify(encode_dss_signature(r, s), f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(unb64url(claims_b64))
        assert claims["aud"] == ORIGIN, claims
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
        assert claims["sub"].startswith(("mailto:", "https:", "http:")), claims
        return claims

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        device = self.devices.get(path)
        status, extra = 201, {}
        claims = payload = None
        try:
            if self.verify:
                claims = self.check_vapid(headers.get("authorization", ""))
        except (AssertionError, InvalidSignature, KeyError, ValueError):
            status = 401
        if device is None:
            status = 404
        elif status == 201:
            plan = self.plans[path]
            if plan:
                answer = plan.popleft()
                status, extra = (answer, {}) if isinstance(answer, int) else answer
            assert headers.get("content-encoding") == "aes128gcm"
            plain = http_ece.decrypt(body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm")
            payload = json.loads(plain)
        self.received.append(Received(path=path, headers=headers, payload=payload, status=status, jwt_claims=claims))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in extra.items()]})
        await send({"type": "http.response.body", "body": b""})
