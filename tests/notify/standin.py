"""A local push-service stand-in: an ASGI app that receives the sender's real requests, checks the VAPID JWT
(ES256 over the push origin), decrypts the body with the subscription's private key using http_ece (an
independent RFC 8291 implementation), and answers what the test tells it to (201, 404, 410, 429, 5xx). `serve` runs it on a loopback port, so the sender
reaches it through its real HTTP client, as it reaches FCM or Mozilla's autopush."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import ssl
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import http_ece
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

ORIGIN = "https://push.test"  # replaced by the loopback address while served


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
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

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
    origin: str = ORIGIN
    held: dict[str, tuple[asyncio.Event, asyncio.Event]] = field(default_factory=dict)
    hanging: list[asyncio.Event] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None  # what a client must trust to reach it, once served

    def new_device(self) -> Device:
        path = f"/push/{b64url(os.urandom(12))}"
        device = Device(
            endpoint=self.origin + path,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
        )
        self.devices[path] = device
        return device

    def answer(self, device: Device, *responses: int | tuple[int, dict[str, str]]) -> None:
        """The next requests to this device get these answers, in order; then 201."""
        self.plans[device.endpoint.removeprefix(self.origin)].extend(responses)

    def hold(self, device: Device) -> tuple[asyncio.Event, asyncio.Event]:
        """The next request to this device hangs (a slow network) until the second event is set or the
        stand-in stops; the first event tells that it arrived."""
        reached, release = asyncio.Event(), asyncio.Event()
        self.held[device.endpoint.removeprefix(self.origin)] = (reached, release)
        return reached, release

    def for_device(self, device: Device) -> list[Received]:
        return [r for r in self.received if self.origin + r.path == device.endpoint]

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
        public.verify(
            encode_dss_signature(r, s), f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256())
        )
        claims = json.loads(unb64url(claims_b64))
        assert claims["aud"] == self.origin, claims
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600, claims
        assert claims["sub"].startswith(("mailto:", "https:", "http:")), claims
        return claims

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        if scope["path"] in self.held:
            reached, release = self.held.pop(scope["path"])
            self.hanging.append(release)
            reached.set()
            await release.wait()
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
            plain = http_ece.decrypt(
                body, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
            )
            payload = json.loads(plain)
        self.received.append(
            Received(path=path, headers=headers, payload=payload, status=status, jwt_claims=claims)
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})


@cache
def certificate() -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (push services are https only; so is a subscription)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push stand-in")])
    # OpenSSL checks it against the real clock; the tests' clock may be a day off from it (tests/clock.py).
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="push-standin-"))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


@contextlib.asynccontextmanager
async def serve(standin: PushStandIn) -> AsyncIterator[PushStandIn]:
    """Run the stand-in with uvicorn over TLS on a free loopback port in this event loop; devices made from
    now on have endpoints there, and standin.ssl_context is what a client trusts to reach it."""
    import uvicorn

    cert, key = certificate()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    standin.origin = f"https://127.0.0.1:{sock.getsockname()[1]}"
    standin.ssl_context = ssl.create_default_context(cafile=cert)
    server = uvicorn.Server(
        uvicorn.Config(
            standin, lifespan="off", log_level="error", access_log=False, ssl_certfile=cert, ssl_keyfile=key
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield standin
    finally:
        for release in standin.hanging:
            release.set()
        server.should_exit = True
        await task
        sock.close()
