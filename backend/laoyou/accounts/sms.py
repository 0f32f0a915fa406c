"""Sending SMS: a message is a kind and its values, sent by the console (the embedded default), the HTTP
gateway adapter, Alibaba Cloud SMS or Tencent Cloud SMS.

Chinese carriers deliver only templates approved in advance, with values filled in: so a message is never free
text. Each kind is one sentence here (the console and the HTTP gateway send it as text) and one approved template
at a provider (LAOYOU_SMS_TEMPLATE_<KIND>), which gets only the kind's variables.

The providers' official Python SDKs are synchronous (requests, or their Tea runtime) and would block the event
loop or need a thread per message; their signing is short and published, so it is written here, on httpx's
async client: Alibaba's RPC signature (HMAC-SHA1, version 1.0) and Tencent's TC3-HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

import httpx

from laoyou.core import i18n
from laoyou.core.phone import national
from laoyou.core.settings import Settings

log = logging.getLogger("laoyou.sms")

ALIYUN_URL = "https://dysmsapi.aliyuncs.com/"
TENCENT_URL = "https://sms.tencentcloudapi.com/"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class SmsError(Exception):
    """The gateway did not take the message."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code  # the provider's own error code, when it gave one


def _(message: str) -> str:
    """Marks a msgid for extraction; translated when the text is rendered."""
    return message


class SmsKind(StrEnum):
    login_code = "login_code"
    password_code = "password_code"
    notice = "notice"  # a notice that climbed to SMS because it was not opened elsewhere (notify.reach)


# Kinds a provider may lack a template for: sending one then fails and is logged, logins keep working.
OPTIONAL_KINDS = frozenset({SmsKind.notice})


@dataclass(frozen=True)
class Wording:
    text: str  # an English msgid, rendered in the reader's language for the console and the HTTP gateway
    variables: tuple[str, ...]  # what a provider's approved template is given, in order ({1}, {2} at Tencent)


WORDINGS: dict[SmsKind, Wording] = {
    SmsKind.login_code: Wording(
        _(
            "[%(sign)s] Your login code is %(code)s. It works for %(minutes)s minutes. Never tell it to anyone."
        ),
        ("code",),
    ),
    SmsKind.password_code: Wording(
        _(
            "[%(sign)s] Your code to set your staff password is %(code)s. It works for %(minutes)s "
            "minutes. Never tell it to anyone."
        ),
        ("code",),
    ),
    SmsKind.notice: Wording(
        _("[%(sign)s] %(title)s Please open Laoyou to read it."),
        ("title",),
    ),
}


@dataclass(frozen=True)
class SmsMessage:
    kind: SmsKind
    params: Mapping[str, str] = field(default_factory=dict)

    def text(self, sign: str) -> str:
        return i18n.gettext(WORDINGS[self.kind].text, sign=sign, **self.params)

    def template_params(self) -> dict[str, str]:
        return {name: str(self.params[name]) for name in WORDINGS[self.kind].variables}


def approved_template(templates: Mapping[SmsKind, str], kind: SmsKind) -> str:
    """A provider's template for the kind; an optional kind left without one is refused before any request."""
    template = templates.get(kind, "")
    if not template:
        raise SmsError(f"no approved template for {kind.value} ({template_variable(kind)} is empty)")
    return template


def code_message(kind: SmsKind, *, code: str, minutes: int) -> SmsMessage:
    return SmsMessage(kind, {"code": code, "minutes": str(minutes)})


@dataclass
class SentSms:
    phone: str
    text: str


class SmsSender(Protocol):
    async def send(self, phone: str, message: SmsMessage) -> None: ...

    async def aclose(self) -> None: ...


class ConsoleSmsSender:
    """Writes each message to the log and keeps the last ones in memory (the demo and tests read them)."""

    def __init__(self, sign: str = "老友管家", keep: int = 200) -> None:
        self.sign = sign
        self.sent: deque[SentSms] = deque(maxlen=keep)

    async def send(self, phone: str, message: SmsMessage) -> None:
        text = message.text(self.sign)
        self.sent.append(SentSms(phone, text))
        log.warning("SMS to %s: %s", phone, text)

    async def aclose(self) -> None:
        """Nothing is held open."""

    def last_to(self, phone: str) -> str | None:
        for message in reversed(self.sent):
            if message.phone == phone:
                return message.text
        return None


async def _post(client: httpx.AsyncClient, what: str, url: str, **kwargs: object) -> httpx.Response:
    """One POST, tried once more only when the connection never opened, so the provider has nothing yet. A
    timeout after sending is not retried: the provider may have taken the message, and a retry could text the
    same code twice (paid twice, or refused by the provider's one-a-minute limit); the request fails, nothing of
    it is kept, and the person asks again."""
    try:
        return await client.post(url, **kwargs)  # type: ignore[arg-type]
    except (httpx.ConnectError, httpx.ConnectTimeout):
        pass
    except httpx.HTTPError as exc:
        raise _failure(what, exc) from exc
    try:
        return await client.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise _failure(what, exc) from exc


def _failure(what: str, exc: httpx.HTTPError) -> SmsError:
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return SmsError(f"{what} did not answer in time")
    return SmsError(f"{what} unreachable: {exc}")


def _json(response: httpx.Response, what: str) -> dict:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SmsError(f"{what} answered {response.status_code} without JSON")
    return body


class _HttpSender:
    """A provider reached over HTTP: its connection pool is closed at shutdown, unless the caller lent it."""

    client: httpx.AsyncClient
    _lent: bool

    def _use(self, client: httpx.AsyncClient | None) -> None:
        self._lent = client is not None
        self.client = client or httpx.AsyncClient(timeout=TIMEOUT)

    async def aclose(self) -> None:
        if not self._lent:
            await self.client.aclose()


class HttpSmsGateway(_HttpSender):
    """Posts {phone, sign, text} as JSON with a bearer token; any 2xx with "ok": true is success."""

    def __init__(self, url: str, token: str, sign: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.token = token
        self.sign = sign
        self._use(client)

    async def send(self, phone: str, message: SmsMessage) -> None:
        response = await _post(
            self.client,
            "SMS gateway",
            self.url,
            json={"phone": phone, "sign": self.sign, "text": message.text(self.sign)},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if response.status_code // 100 != 2:
            raise SmsError(f"SMS gateway answered {response.status_code}")
        body = _json(response, "SMS gateway")
        if not body.get("ok", False):
            raise SmsError(f"SMS gateway refused the message: {body.get('error', 'unknown')}")


# --- Alibaba Cloud SMS (Dysmsapi 2017-05-25, SendSms), RPC signature HMAC-SHA1 1.0 ---------------------------


def aliyun_encode(value: str) -> str:
    """RFC 3986 percent-encoding as Alibaba's signature uses it: only A-Z a-z 0-9 - _ . ~ are left as they are."""
    return quote(value, safe="-_.~")


def aliyun_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(
        f"{aliyun_encode(k)}={aliyun_encode(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"


def aliyun_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    digest = hmac.new(
        f"{secret}&".encode(), aliyun_string_to_sign(method, params).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def aliyun_timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AliyunSms(_HttpSender):
    """Alibaba Cloud SMS: one SendSms per message, signed; the answer's Code is "OK" or the refusal's code."""

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign: str,
        templates: Mapping[SmsKind, str],
        url: str = ALIYUN_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign = sign
        self.templates = dict(templates)
        self.url = url
        self._use(client)

    def signed_params(self, phone: str, message: SmsMessage, *, now: datetime, nonce: str) -> dict[str, str]:
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            # Mainland numbers as 11 digits; others as country code and number, without the plus.
            "PhoneNumbers": national(phone).lstrip("+"),
            "SignName": self.sign,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce,
            "SignatureVersion": "1.0",
            "TemplateCode": approved_template(self.templates, message.kind),
            "TemplateParam": json.dumps(message.template_params(), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": aliyun_timestamp(now),
            "Version": "2017-05-25",
        }
        params["Signature"] = aliyun_signature(self.access_key_secret, "POST", params)
        return params

    async def send(self, phone: str, message: SmsMessage) -> None:
        params = self.signed_params(phone, message, now=datetime.now(UTC), nonce=secrets.token_hex(16))
        # The signature covers every parameter; a retry before any connection carries the same nonce, which
        # the provider never saw.
        response = await _post(self.client, "Alibaba Cloud SMS", self.url, data=params)
        body = _json(response, "Alibaba Cloud SMS")
        code = str(body.get("Code", ""))
        if code != "OK":
            raise SmsError(
                f"Alibaba Cloud SMS refused the message: {code or response.status_code} "
                f"{body.get('Message', '')} (RequestId {body.get('RequestId', '?')})",
                code=code,
            )


# --- Tencent Cloud SMS (API 3.0, SendSms 2021-01-11), TC3-HMAC-SHA256 -------------------------------------------


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tencent_signing_key(secret_key: str, date: str, service: str) -> bytes:
    key = hmac.new(f"TC3{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, service.encode(), hashlib.sha256).digest()
    return hmac.new(key, b"tc3_request", hashlib.sha256).digest()


def tencent_string_to_sign(
    *, headers: Mapping[str, str], signed_headers: list[str], payload: bytes, timestamp: int, service: str
) -> str:
    """The canonical POST to / with no query, hashed into TC3's string to sign; header names lower-cased."""
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lower[name].strip().lower()}\n" for name in signed_headers)
    canonical = "\n".join(
        ["POST", "/", "", canonical_headers, ";".join(signed_headers), _sha256_hex(payload)]
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    return f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256_hex(canonical.encode())}"


def tencent_signature(secret_key: str, string_to_sign: str, *, timestamp: int, service: str) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    key = tencent_signing_key(secret_key, date, service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class TencentSms(_HttpSender):
    """Tencent Cloud SMS: one SendSms per message, signed; a Response.Error or a SendStatusSet Code other than
    "Ok" is a refusal."""

    SIGNED_HEADERS = ["content-type", "host", "x-tc-action"]

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        app_id: str,
        sign: str,
        templates: Mapping[SmsKind, str],
        region: str = "ap-guangzhou",
        url: str = TENCENT_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.app_id = app_id
        self.sign = sign
        self.templates = dict(templates)
        self.region = region
        self.url = url
        self._use(client)

    def signed_request(
        self, phone: str, message: SmsMessage, *, timestamp: int
    ) -> tuple[dict[str, str], bytes]:
        payload = json.dumps(
            {
                "PhoneNumberSet": [phone],
                "SmsSdkAppId": self.app_id,
                "SignName": self.sign,
                "TemplateId": approved_template(self.templates, message.kind),
                "TemplateParamSet": list(message.template_params().values()),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Host": httpx.URL(self.url).netloc.decode(),
            "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        string_to_sign = tencent_string_to_sign(
            headers=headers,
            signed_headers=self.SIGNED_HEADERS,
            payload=payload,
            timestamp=timestamp,
            service="sms",
        )
        signature = tencent_signature(self.secret_key, string_to_sign, timestamp=timestamp, service="sms")
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        headers["Authorization"] = (
            f"TC3-HMAC-SHA256 Credential={self.secret_id}/{date}/sms/tc3_request, "
            f"SignedHeaders={';'.join(self.SIGNED_HEADERS)}, Signature={signature}"
        )
        return headers, payload

    async def send(self, phone: str, message: SmsMessage) -> None:
        headers, payload = self.signed_request(phone, message, timestamp=int(datetime.now(UTC).timestamp()))
        response = await _post(self.client, "Tencent Cloud SMS", self.url, content=payload, headers=headers)
        answer = _json(response, "Tencent Cloud SMS").get("Response")
        if not isinstance(answer, dict):
            raise SmsError(f"Tencent Cloud SMS answered {response.status_code} without a Response")
        request_id = answer.get("RequestId", "?")
        if isinstance(answer.get("Error"), dict):
            error = answer["Error"]
            raise SmsError(
                f"Tencent Cloud SMS refused the message: {error.get('Code')} {error.get('Message', '')} "
                f"(RequestId {request_id})",
                code=str(error.get("Code", "")),
            )
        statuses = answer.get("SendStatusSet") or [{}]
        status = statuses[0] if isinstance(statuses[0], dict) else {}
        if status.get("Code") != "Ok":
            raise SmsError(
                f"Tencent Cloud SMS refused the message: {status.get('Code')} {status.get('Message', '')} "
                f"(RequestId {request_id})",
                code=str(status.get("Code", "")),
            )


# --- choosing the sender ---------------------------------------------------------------------------------------

BACKENDS = ("console", "http", "aliyun", "tencent")


def template_variable(kind: SmsKind) -> str:
    return f"LAOYOU_SMS_TEMPLATE_{kind.value.upper()}"


def _templates(settings: Settings) -> dict[SmsKind, str]:
    return {kind: getattr(settings, f"sms_template_{kind.value}").strip() for kind in SmsKind}


def sms_settings_problem(settings: Settings) -> str:
    """What the chosen backend lacks, as one line naming the variables; empty when it has everything."""
    backend = settings.sms_backend
    if backend not in BACKENDS:
        return f"LAOYOU_SMS_BACKEND must be one of {', '.join(BACKENDS)} (not {backend!r})"
    required: dict[str, str] = {}
    if backend == "http":
        required = {"LAOYOU_SMS_GATEWAY_URL": settings.sms_gateway_url}
    elif backend == "aliyun":
        required = {
            "LAOYOU_SMS_ALIYUN_ACCESS_KEY_ID": settings.sms_aliyun_access_key_id,
            "LAOYOU_SMS_ALIYUN_ACCESS_KEY_SECRET": settings.sms_aliyun_access_key_secret,
        }
    elif backend == "tencent":
        required = {
            "LAOYOU_SMS_TENCENT_SECRET_ID": settings.sms_tencent_secret_id,
            "LAOYOU_SMS_TENCENT_SECRET_KEY": settings.sms_tencent_secret_key,
            "LAOYOU_SMS_TENCENT_APP_ID": settings.sms_tencent_app_id,
        }
    if backend in ("aliyun", "tencent"):
        required["LAOYOU_SMS_SIGN_NAME"] = settings.sms_sign_name
        required |= {
            template_variable(kind): value
            for kind, value in _templates(settings).items()
            if kind not in OPTIONAL_KINDS
        }
    absent = [name for name, value in required.items() if not value.strip()]
    if absent:
        return f"LAOYOU_SMS_BACKEND={backend} needs {', '.join(absent)}"
    if backend == "tencent":
        wrong = [
            name
            for name, value in {
                "LAOYOU_SMS_TENCENT_APP_ID": settings.sms_tencent_app_id,
                **{
                    template_variable(k): v
                    for k, v in _templates(settings).items()
                    if v or k not in OPTIONAL_KINDS
                },
            }.items()
            if not value.strip().isdigit()
        ]
        if wrong:
            return f"{', '.join(wrong)}: Tencent Cloud SMS ids are numbers (SmsSdkAppId 1400…, template ids)"
    if backend == "aliyun":
        wrong = [
            template_variable(k)
            for k, v in _templates(settings).items()
            if not v.startswith("SMS_") and (v or k not in OPTIONAL_KINDS)
        ]
        if wrong:
            return f"{', '.join(wrong)}: Alibaba Cloud SMS template codes look like SMS_123456789"
    return ""


def describe_sms(settings: Settings) -> str:
    """What check-config shows of the SMS backend: where it sends and which templates, never a secret."""
    backend = settings.sms_backend
    if backend == "http":
        shown = f"http to {settings.sms_gateway_url or '(no gateway URL)'}"
        return shown + (", with a token" if settings.sms_gateway_token else ", without a token")
    if backend in ("aliyun", "tencent"):
        url = settings.sms_api_url or (ALIYUN_URL if backend == "aliyun" else TENCENT_URL)
        templates = ", ".join(f"{k.value} {v or '(none)'}" for k, v in _templates(settings).items())
        shown = f"{backend} at {url}, sign {settings.sms_sign_name or '(none)'}, templates: {templates}"
        if backend == "tencent":
            shown += f", app {settings.sms_tencent_app_id or '(none)'}, region {settings.sms_tencent_region}"
        return shown
    return backend


def make_sms_sender(settings: Settings) -> SmsSender:
    problem = sms_settings_problem(settings)
    if problem:
        raise ValueError(problem)
    match settings.sms_backend:
        case "http":
            return HttpSmsGateway(
                settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_sign_name
            )
        case "aliyun":
            return AliyunSms(
                access_key_id=settings.sms_aliyun_access_key_id.strip(),
                access_key_secret=settings.sms_aliyun_access_key_secret.strip(),
                sign=settings.sms_sign_name.strip(),
                templates=_templates(settings),
                url=settings.sms_api_url or ALIYUN_URL,
            )
        case "tencent":
            return TencentSms(
                secret_id=settings.sms_tencent_secret_id.strip(),
                secret_key=settings.sms_tencent_secret_key.strip(),
                app_id=settings.sms_tencent_app_id.strip(),
                sign=settings.sms_sign_name.strip(),
                templates=_templates(settings),
                region=settings.sms_tencent_region,
                url=settings.sms_api_url or TENCENT_URL,
            )
    return ConsoleSmsSender(settings.sms_sign_name)
