"""TURN logins for calls under coturn's shared-secret scheme ("TURN REST API"): Laoyou and coturn share a
secret, and each caller gets a login of their own that coturn checks without asking Laoyou, and that stops
working at its expiry. A leaked login relays for one person, for hours, not for everyone, for ever."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TurnLogin:
    username: str
    credential: str


def turn_login(secret: str, person_id: int, *, now: datetime, seconds: int) -> TurnLogin:
    """username "<expiry unix time>:<person id>" (coturn reads the expiry before the colon);
    credential base64(HMAC-SHA1(secret, username)), as coturn computes it."""
    expires = int((now + timedelta(seconds=seconds)).timestamp())
    username = f"{expires}:{person_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnLogin(username=username, credential=base64.b64encode(digest).decode())


def turn_urls(raw: str) -> list[str]:
    return [url.strip() for url in raw.split(",") if url.strip()]
