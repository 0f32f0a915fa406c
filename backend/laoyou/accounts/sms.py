"""Sending SMS: a console sender for the embedded default and an HTTP gateway adapter."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import httpx

from laoyou.core.settings import Settings

log = logging.getLogger("laoyou.sms")


class SmsError(Exception):
    """The gateway did not take the message."""


@dataclass
class SentSms:
    phone: str
    text: str


class SmsSender(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class ConsoleSmsSender:
    """Writes each message to the log and keeps the last ones in memory (the demo and tests read them)."""

    def __init__(self, keep: int = 200) -> None:
        self.sent: deque[SentSms] = deque(maxlen=keep)

    async def send(self, phone: str, text: str) -> None:
        self.sent.append(SentSms(phone, text))
        log.warning("SMS to %s: %s", phone, text)

    def last_to(self, phone: str) -> str | None:
        for message in reversed(self.sent):
            if message.phone == phone:
                return message.text
        return None


class HttpSmsGateway:
    """Posts {phone, sign, text} as JSON with a bearer token; any 2xx with "ok": true is success."""

    def __init__(self, url: str, token: str, sign: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.token = token
        self.sign = sign
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0))

    async def send(self, phone: str, text: str) -> None:
        try:
            response = await self.client.post(
                self.url,
                json={"phone": phone, "sign": self.sign, "text": text},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError as exc:
            raise SmsError(f"SMS gateway unreachable: {exc}") from exc
        if response.status_code // 100 != 2:
            raise SmsError(f"SMS gateway answered {response.status_code}")
        body = response.json() if response.content else {}
        if not body.get("ok", False):
            raise SmsError(f"SMS gateway refused the message: {body.get('error', 'unknown')}")


def make_sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_backend == "http":
        if not settings.sms_gateway_url:
            raise ValueError("LAOYOU_SMS_GATEWAY_URL is required when LAOYOU_SMS_BACKEND=http")
        return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_sign_name)
    if settings.sms_backend == "console":
        return ConsoleSmsSender()
    raise ValueError(f"unknown LAOYOU_SMS_BACKEND {settings.sms_backend!r}")
