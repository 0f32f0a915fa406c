"""VAPID (RFC 8292): the app's key pair, made on first start and kept in the data directory, or given in settings.

The JWT is signed once per push-service origin and reused until it is close to expiry: signing costs as much
as encrypting a message, and push services accept one token for many requests.
"""

from __future__ import annotations

import base64
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from laoyou.core.settings import Settings

TOKEN_LIFETIME = 12 * 3600  # push services refuse tokens valid for more than 24 hours
RENEW_BEFORE = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _load_private(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text)
        if len(raw) == 32:
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        else:
            key = serialization.load_der_private_key(raw, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID private key must be a P-256 EC key")
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def key_path(settings: Settings) -> Path:
    return settings.data_dir / "vapid" / "private_key.pem"


def load_or_create_private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    """The settings' key, else the one kept in the data directory, else a new one written there (0600)."""
    if settings.vapid_private_key:
        key = _load_private(settings.vapid_private_key)
        if settings.vapid_public_key and settings.vapid_public_key.strip() != public_key_b64(key):
            raise ValueError("LAOYOU_VAPID_PUBLIC_KEY does not match LAOYOU_VAPID_PRIVATE_KEY")
        return key
    path = key_path(settings)
    if path.exists():
        return _load_private(path.read_text())
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: two processes starting at once end with one key, never half a file.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    try:
        os.link(tmp, path)  # fails if another process won the race: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _load_private(path.read_text())


def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def cached_origin_of(endpoint: str) -> str:
    """origin_of, remembered by everything before the path (the origin is a function of it): a fan-out asks
    for thousands of endpoints on a handful of push services, and urlsplit is a tenth of a push's event-loop cost."""
    cut = endpoint.find("/", endpoint.find("//") + 2)
    return _origin_of_prefix(endpoint if cut < 0 else endpoint[:cut])


@functools.lru_cache(maxsize=1024)
def _origin_of_prefix(prefix: str) -> str:
    return origin_of(prefix)


@dataclass
class VapidSigner:
    """Signs `Authorization: vapid t=…, k=…` headers, one token per push-service origin, reused until near expiry."""

    private_key: ec.EllipticCurvePrivateKey
    subject: str
    _vapid: Vapid = field(init=False)
    _cache: dict[str, tuple[str, float]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._vapid = Vapid(private_key=self.private_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> VapidSigner:
        # Push services want a contact: mailto: or an https: address (an http: one is refused).
        subject = settings.vapid_subject or (
            settings.public_url if settings.public_url.startswith("https:") else "mailto:push@laoyou.invalid"
        )
        return cls(private_key=load_or_create_private_key(settings), subject=subject)

    @property
    def public_key(self) -> str:
        """The applicationServerKey browsers subscribe with."""
        return public_key_b64(self.private_key)

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        now = time.time() if now is None else now
        audience = cached_origin_of(endpoint)
        cached = self._cache.get(audience)
        if cached and cached[1] - now > RENEW_BEFORE:
            return cached[0]
        expires = int(now) + TOKEN_LIFETIME
        header = self._vapid.sign({"aud": audience, "exp": expires, "sub": self.subject})["Authorization"]
        self._cache[audience] = (header, expires)
        return header


_signers: dict[tuple[str, ...], VapidSigner] = {}


def signer_for(settings: Settings) -> VapidSigner:
    """One signer per configuration, so the key file is read once and tokens are shared across requests."""
    key = (
        str(settings.data_dir.resolve()),
        settings.vapid_private_key,
        settings.vapid_public_key,
        settings.vapid_subject,
        settings.public_url,
    )
    if key not in _signers:
        _signers[key] = VapidSigner.from_settings(settings)
    return _signers[key]
