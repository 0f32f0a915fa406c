"""The keys WeChat Pay signs its answers and notifications with, named by the Wechatpay-Serial header.

Two modes, both possible at once while a merchant moves from one to the other:
- platform certificates (平台证书): the serial is the certificate's serial number in hex, and WeChat Pay rotates
  them, publishing the next one at GET /v3/certificates before it signs with it. Each certificate there is
  AEAD_AES_256_GCM-encrypted under the merchant's APIv3 key, so one that decrypts came from WeChat Pay.
- the platform public key (微信支付公钥): one key whose id is PUB_KEY_ID_…, downloaded by the operator from the
  merchant platform and configured; the API does not serve it.

Downloaded certificates are kept in the data directory (not the database): they are read while verifying an
answer inside a business transaction, and a certificate must not vanish with that transaction's rollback; a
restart then needs no network. They are kept as WeChat Pay sent them, still encrypted: a file changed by someone
without the APIv3 key does not decrypt and is ignored. Several app servers each keep their own copy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
REFRESH_INTERVAL_SECONDS = 60  # an unknown serial downloads the certificates at most this often

log = logging.getLogger(__name__)


def serial_key(serial: str) -> str:
    """One spelling per serial: certificate serials are hex numbers (any case, leading zeros or not), public
    key ids are names."""
    spelled = serial.strip().upper()
    if spelled.startswith(PUBLIC_KEY_ID_PREFIX):
        return spelled
    try:
        return format(int(spelled, 16), "X")
    except ValueError:
        return spelled


def is_public_key_id(serial: str) -> bool:
    return serial.strip().upper().startswith(PUBLIC_KEY_ID_PREFIX)


@dataclass(frozen=True)
class PlatformKey:
    serial: str
    public_key: rsa.RSAPublicKey
    expires_at: float | None = None  # seconds since the epoch; None: configured, kept while configured


def decrypt_certificates(apiv3_key: bytes, entries: list[dict[str, Any]]) -> list[PlatformKey]:
    """The certificates of a /v3/certificates answer (its `data`), each decrypted and checked: it must decrypt
    under the APIv3 key, hold an RSA key, and carry the serial it is listed under. One that does not is left out."""
    keys = []
    for entry in entries:
        try:
            encrypted = entry["encrypt_certificate"]
            if encrypted.get("algorithm") != "AEAD_AES_256_GCM":
                raise ValueError("unsupported algorithm")
            pem = AESGCM(apiv3_key).decrypt(
                str(encrypted["nonce"]).encode(),
                base64.b64decode(encrypted["ciphertext"]),
                str(encrypted.get("associated_data") or "").encode(),
            )
            certificate = x509.load_pem_x509_certificate(pem)
            public_key = certificate.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise ValueError("not an RSA key")
            if certificate.serial_number != int(str(entry["serial_no"]), 16):
                raise ValueError("listed under another serial")
        except (InvalidTag, KeyError, ValueError, TypeError, AttributeError) as exc:
            log.warning("WeChat Pay platform certificate left out: %s", str(exc)[:200] or type(exc).__name__)
            continue
        keys.append(
            PlatformKey(str(entry["serial_no"]), public_key, certificate.not_valid_after_utc.timestamp())
        )
    return keys


class PlatformKeys:
    """The keys this merchant believes: configured ones (a platform certificate, the platform public key) and
    downloaded certificates, by serial."""

    def __init__(
        self,
        configured: dict[str, rsa.RSAPublicKey],
        *,
        apiv3_key: bytes,
        store: Path | None,
        clock: Callable[[], float],
    ) -> None:
        self.apiv3_key = apiv3_key
        self.store = store
        self.clock = clock
        self._keys = {serial_key(serial): PlatformKey(serial, key) for serial, key in configured.items()}
        self._entries: dict[str, dict[str, Any]] = {}  # serial -> the encrypted entry, as downloaded
        self._last_refresh = -math.inf
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        if store is not None and store.is_file():
            self._load(store)

    def get(self, serial: str) -> rsa.RSAPublicKey | None:
        """The key of a serial, unless its certificate has expired."""
        key = self._keys.get(serial_key(serial))
        if key is None or (key.expires_at is not None and key.expires_at < self.clock()):
            return None
        return key.public_key

    def serials(self) -> list[str]:
        return [key.serial for key in self._keys.values()]

    def add(self, entries: list[dict[str, Any]], keys: list[PlatformKey]) -> None:
        """Downloaded certificates (already decrypted from entries), kept with those still valid."""
        self._keep(entries, keys)
        now = self.clock()
        for serial in [s for s, k in self._keys.items() if k.expires_at is not None and k.expires_at < now]:
            del self._keys[serial]
            self._entries.pop(serial, None)
        if self.store is not None:
            self._save(self.store)

    async def refresh(self, serial: str, download: Callable[[], Awaitable[None]]) -> rsa.RSAPublicKey | None:
        """The key of a serial not known yet, after downloading the certificates: one download at a time however
        many notifications ask together, and at most once a minute (anyone can post a made-up serial). A public
        key id is never downloaded: the API does not serve public keys."""
        if is_public_key_id(serial):
            return None
        async with self._the_lock():
            key = self.get(serial)
            if key is not None:  # downloaded while this one waited
                return key
            if self.clock() - self._last_refresh < REFRESH_INTERVAL_SECONDS:
                return None
            self._last_refresh = self.clock()
            await download()
            return self.get(serial)

    def _the_lock(self) -> asyncio.Lock:
        # A lock belongs to one event loop; the process's gateways outlive a loop in tests and CLI commands.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _load(self, store: Path) -> None:
        try:
            entries = json.loads(store.read_text())["certificates"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("WeChat Pay certificates in %s not read: %s", store, exc)
            return
        keys = [
            key
            for key in decrypt_certificates(self.apiv3_key, entries)
            if key.expires_at is None or key.expires_at >= self.clock()
        ]
        self._keep(entries, keys)

    def _keep(self, entries: list[dict[str, Any]], keys: list[PlatformKey]) -> None:
        by_serial = {
            serial_key(str(entry.get("serial_no", ""))): entry for entry in entries if isinstance(entry, dict)
        }
        for key in keys:
            self._keys.setdefault(serial_key(key.serial), key)
            self._entries[serial_key(key.serial)] = by_serial[serial_key(key.serial)]

    def _save(self, store: Path) -> None:
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            partial = store.with_suffix(".partial")
            partial.write_text(json.dumps({"certificates": list(self._entries.values())}, indent=1))
            os.replace(partial, store)  # whole or not at all, whatever stops the process
        except (
            OSError
        ) as exc:  # believed all the same until the process ends; downloaded again after a restart
            log.warning("WeChat Pay certificates not kept in %s: %s", store, exc)
