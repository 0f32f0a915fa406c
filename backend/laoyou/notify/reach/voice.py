"""Voice call notification: the phone rings and a voice reads the notice's title from an approved text-to-speech
template, by the console (the embedded default: the call is logged), Alibaba Cloud's voice service or Tencent
Cloud's VMS; and the providers' call reports (she answered; she pressed 1) read back into CallReports.

Like SMS, a call reads only an approved template with its variables filled in: one template per priority
(LAOYOU_VOICE_TEMPLATE_EMERGENCY, _IMPORTANT) with one variable, the notice's title. The requests are signed
with the functions accounts/sms.py already has (Alibaba's RPC HMAC-SHA1 and Tencent's TC3-HMAC-SHA256), on
httpx's async client.

Press 1 to confirm: Alibaba Cloud reports a key pressed during a call in its call-status message
(VoiceCallReport, status 300000, the key in `dtmf`); Tencent Cloud posts a key-press callback
(`voicekey_callback`). Whether a notification call listens for a key is the provider's and the template's
(Alibaba documents key menus for its IvrCall, not for SingleCallByTts): where none comes back, answering is all
the report says, and an answered call is what the climb learns.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from laoyou.accounts.sms import (
    SmsError,
    _HttpSender,
    _json,
    _post,
    aliyun_signature,
    aliyun_timestamp,
    tencent_signature,
    tencent_string_to_sign,
)
from laoyou.core.phone import national
from laoyou.core.settings import Settings
from laoyou.notify.reach.channels import CallReport, ChannelFailed, Notice, VoiceSender

log = logging.getLogger("laoyou.voice")

ALIYUN_URL = "https://dyvmsapi.aliyuncs.com/"
TENCENT_URL = "https://vms.tencentcloudapi.com/"
BACKENDS = ("none", "console", "aliyun", "tencent")
PRIORITIES = ("emergency", "important")  # a template each; any other priority reads the important one
# The title as the template's variable, cut to what the provider takes: Alibaba's TTS variables are short (20
# characters is the safe length for an approved notification template); Tencent allows 350 for the whole
# message, and the template's own words need their share.
ALIYUN_TITLE_LIMIT = 20
TENCENT_TITLE_LIMIT = 50
CALLBACK_TOKEN_LENGTH = 16  # the report URL's secret part: long enough that it cannot be guessed

# Refusals that may pass: the provider's throttling (the same number at most once a minute at Alibaba) and its
# own faults. A wrong template, number or key fails for good.
ALIYUN_RETRY = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
        "InternalError",
        "isp.SYSTEM_ERROR",
        "SignatureNonceUsed",  # a new request carries a new nonce
    }
)
TENCENT_RETRY_PREFIXES = (
    "InternalError",
    "RequestLimitExceeded",
    "LimitExceeded",
    "FailedOperation.FrequencyLimit",
)


def template_variable(priority: str) -> str:
    return f"LAOYOU_VOICE_TEMPLATE_{priority.upper()}"


def template_for(templates: Mapping[str, str], notice: Notice) -> str:
    return templates.get(notice.priority) or templates["important"]


def _answer(response: httpx.Response, what: str) -> dict:
    try:
        return _json(response, what)
    except SmsError as exc:
        raise ChannelFailed(str(exc), retry=response.status_code >= 500) from exc


# --- the console ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedCall:
    call_id: str
    phone: str
    title: str
    reference: str


class ConsoleVoice:
    """Writes each call to the log and keeps the last ones in memory (the demo and tests read them)."""

    def __init__(self, keep: int = 200) -> None:
        self.calls: deque[PlacedCall] = deque(maxlen=keep)

    async def call(self, phone: str, notice: Notice, *, reference: str) -> str:
        placed = PlacedCall(f"console-{secrets.token_hex(8)}", phone, notice.title, reference)
        self.calls.append(placed)
        log.warning(
            "Voice call to %s reads: %s (call %s, reference %s)",
            phone,
            notice.title,
            placed.call_id,
            reference,
        )
        return placed.call_id

    async def aclose(self) -> None:
        """Nothing is held open."""

    def last_to(self, phone: str) -> PlacedCall | None:
        for placed in reversed(self.calls):
            if placed.phone == phone:
                return placed
        return None


# --- Alibaba Cloud voice service (Dyvmsapi 2017-05-25, SingleCallByTts) -------------------------------------------


class AliyunVoice(_HttpSender):
    """One SingleCallByTts per call, signed; the answer's Code is "OK" with the CallId, or the refusal's code."""

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        templates: Mapping[str, str],
        show_number: str = "",
        play_times: int = 2,
        url: str = ALIYUN_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.templates = dict(templates)
        self.show_number = show_number
        self.play_times = play_times
        self.url = url
        self._use(client)

    def signed_params(
        self, phone: str, notice: Notice, *, reference: str, now: datetime, nonce: str
    ) -> dict[str, str]:
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SingleCallByTts",
            # Mainland numbers as 11 digits; others as country code and number, without the plus.
            "CalledNumber": national(phone).lstrip("+"),
            "Format": "JSON",
            "PlayTimes": str(self.play_times),
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": nonce,
            "SignatureVersion": "1.0",
            "Timestamp": aliyun_timestamp(now),
            "TtsCode": template_for(self.templates, notice),
            "TtsParam": json.dumps(
                {"title": notice.title[:ALIYUN_TITLE_LIMIT]}, ensure_ascii=False, separators=(",", ":")
            ),
            "Version": "2017-05-25",
        }
        # Without a number of our own the call goes out in the provider's public mode, from its pool.
        if self.show_number:
            params["CalledShowNumber"] = self.show_number
        if reference:
            params["OutId"] = reference  # echoed back in the call reports as out_id
        params["Signature"] = aliyun_signature(self.access_key_secret, "POST", params)
        return params

    async def call(self, phone: str, notice: Notice, *, reference: str) -> str:
        params = self.signed_params(
            phone, notice, reference=reference, now=datetime.now(UTC), nonce=secrets.token_hex(16)
        )
        try:
            response = await _post(self.client, "Alibaba Cloud voice", self.url, data=params)
        except SmsError as exc:
            raise ChannelFailed(str(exc), retry=True) from exc
        body = _answer(response, "Alibaba Cloud voice")
        code = str(body.get("Code", ""))
        call_id = body.get("CallId")
        if code == "OK" and isinstance(call_id, str) and call_id:
            return call_id
        raise ChannelFailed(
            f"Alibaba Cloud voice refused the call: {code or response.status_code} {body.get('Message', '')} "
            f"(RequestId {body.get('RequestId', '?')})",
            retry=code in ALIYUN_RETRY or response.status_code >= 500,
            code=code,
        )


# --- Tencent Cloud VMS (API 3.0, SendTtsVoice 2020-09-02), TC3-HMAC-SHA256 -----------------------------------------


class TencentVoice(_HttpSender):
    """One SendTtsVoice per call, signed; Response.SendStatus.CallId, or Response.Error's code."""

    SIGNED_HEADERS = ["content-type", "host", "x-tc-action"]

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        app_id: str,
        templates: Mapping[str, str],
        play_times: int = 2,
        region: str = "ap-guangzhou",
        url: str = TENCENT_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.app_id = app_id
        self.templates = dict(templates)
        self.play_times = play_times
        self.region = region
        self.url = url
        self._use(client)

    def signed_request(
        self, phone: str, notice: Notice, *, reference: str, timestamp: int
    ) -> tuple[dict[str, str], bytes]:
        payload = json.dumps(
            {
                "TemplateId": template_for(self.templates, notice),
                "TemplateParamSet": [notice.title[:TENCENT_TITLE_LIMIT]],
                "CalledNumber": phone,  # E.164, with the plus
                "VoiceSdkAppid": self.app_id,
                "PlayTimes": self.play_times,
                "SessionContext": reference,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Host": httpx.URL(self.url).netloc.decode(),
            "X-TC-Action": "SendTtsVoice",
            "X-TC-Version": "2020-09-02",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
        }
        string_to_sign = tencent_string_to_sign(
            headers=headers,
            signed_headers=self.SIGNED_HEADERS,
            payload=payload,
            timestamp=timestamp,
            service="vms",
        )
        signature = tencent_signature(self.secret_key, string_to_sign, timestamp=timestamp, service="vms")
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        headers["Authorization"] = (
            f"TC3-HMAC-SHA256 Credential={self.secret_id}/{date}/vms/tc3_request, "
            f"SignedHeaders={';'.join(self.SIGNED_HEADERS)}, Signature={signature}"
        )
        return headers, payload

    async def call(self, phone: str, notice: Notice, *, reference: str) -> str:
        headers, payload = self.signed_request(
            phone, notice, reference=reference, timestamp=int(datetime.now(UTC).timestamp())
        )
        try:
            response = await _post(
                self.client, "Tencent Cloud VMS", self.url, content=payload, headers=headers
            )
        except SmsError as exc:
            raise ChannelFailed(str(exc), retry=True) from exc
        answer = _answer(response, "Tencent Cloud VMS").get("Response")
        if not isinstance(answer, dict):
            raise ChannelFailed(
                f"Tencent Cloud VMS answered {response.status_code} without a Response",
                retry=response.status_code >= 500,
            )
        request_id = answer.get("RequestId", "?")
        error = answer.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", ""))
            raise ChannelFailed(
                f"Tencent Cloud VMS refused the call: {code} {error.get('Message', '')} (RequestId {request_id})",
                retry=code.startswith(TENCENT_RETRY_PREFIXES) or response.status_code >= 500,
                code=code,
            )
        status = answer.get("SendStatus")
        call_id = status.get("CallId") if isinstance(status, dict) else None
        if not isinstance(call_id, str) or not call_id:
            raise ChannelFailed(
                f"Tencent Cloud VMS answered without a CallId (RequestId {request_id})", retry=False
            )
        return call_id


# --- the providers' call reports --------------------------------------------------------------------------------


class ReportError(ValueError):
    """A report body that is not what the provider sends."""


# Alibaba's call status codes that mean she picked up: heard it all, hung up early, answered (the status
# message while ringing), pressed a key.
ALIYUN_ANSWERED = frozenset({"200000", "200001", "200102", "300000"})


def _loads(body: bytes) -> object:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReportError("the body is not JSON") from None


def _text(item: Mapping[str, object], name: str, *, required: bool = False) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise ReportError(f"a report lacks {name}")
        return ""
    if not isinstance(value, str | int):
        raise ReportError(f"{name} is not text")
    return str(value)


def parse_aliyun_report(body: bytes) -> list[CallReport]:
    """Alibaba's HTTP push of VoiceReport (the call's record, after it ends) and VoiceCallReport (its states
    while it runs, a key press among them): a JSON array of objects with call_id, status_code, out_id and, for
    a key press, dtmf."""
    items = _loads(body)
    if not isinstance(items, list):
        raise ReportError("the body is not a JSON array of reports")
    reports = []
    for item in items:
        if not isinstance(item, dict):
            raise ReportError("a report is not a JSON object")
        status = _text(item, "status_code", required=True)
        keypress = _text(item, "dtmf")
        answered = status in ALIYUN_ANSWERED or bool(keypress) or bool(_text(item, "start_time"))
        reports.append(
            CallReport(
                call_id=_text(item, "call_id", required=True),
                answered=answered,
                keypress=keypress,
                reference=_text(item, "out_id"),
            )
        )
    return reports


# Tencent's voice callbacks, one object each: the call's outcome, a key pressed, and why it could not ring.
# A voice code's callback is of no call Laoyou places, and is not accepted.
TENCENT_CALLBACKS = ("voiceprompt_callback", "voicekey_callback", "voice_failure_callback")


def _tencent_report(kind: str, item: object) -> CallReport:
    if not isinstance(item, dict):
        raise ReportError(f"{kind} is not a JSON object")
    call_id = _text(item, "callid", required=True)
    if kind == "voiceprompt_callback":
        # result: 0 she answered, 1 she did not, 2 the call failed.
        return CallReport(call_id=call_id, answered=_text(item, "result", required=True) == "0")
    if kind == "voicekey_callback":
        return CallReport(call_id=call_id, answered=True, keypress=_text(item, "keypress", required=True))
    return CallReport(call_id=call_id, answered=False)


def parse_tencent_callback(body: bytes) -> list[CallReport]:
    """Tencent's voice callback: an object holding voiceprompt_callback (result, callid, fee…),
    voicekey_callback (callid, keypress) or voice_failure_callback (callid, failure_code…). Tencent does not
    echo SessionContext in them: a report is known by its call id alone."""
    data = _loads(body)
    if not isinstance(data, dict):
        raise ReportError("the body is not a JSON object")
    kinds = [kind for kind in TENCENT_CALLBACKS if kind in data]
    if not kinds:
        raise ReportError(f"the body holds none of {', '.join(TENCENT_CALLBACKS)}")
    return [_tencent_report(kind, data[kind]) for kind in kinds]


# --- choosing the sender ---------------------------------------------------------------------------------------


def _templates(settings: Settings) -> dict[str, str]:
    return {priority: getattr(settings, f"voice_template_{priority}").strip() for priority in PRIORITIES}


def voice_settings_problem(settings: Settings) -> str:
    """What the chosen backend lacks, as one line naming the variables; empty when it has everything."""
    backend = settings.voice_backend
    if backend not in BACKENDS:
        return f"LAOYOU_VOICE_BACKEND must be one of {', '.join(BACKENDS)} (not {backend!r})"
    if backend in ("none", "console"):
        return ""
    if backend == "aliyun":
        required = {
            "LAOYOU_VOICE_ALIYUN_ACCESS_KEY_ID": settings.voice_aliyun_access_key_id,
            "LAOYOU_VOICE_ALIYUN_ACCESS_KEY_SECRET": settings.voice_aliyun_access_key_secret,
        }
    else:
        required = {
            "LAOYOU_VOICE_TENCENT_SECRET_ID": settings.voice_tencent_secret_id,
            "LAOYOU_VOICE_TENCENT_SECRET_KEY": settings.voice_tencent_secret_key,
            "LAOYOU_VOICE_TENCENT_APP_ID": settings.voice_tencent_app_id,
        }
    required |= {template_variable(p): v for p, v in _templates(settings).items()}
    # Without the reports nothing says she answered or pressed 1, and every call would climb on.
    required["LAOYOU_VOICE_CALLBACK_TOKEN"] = settings.voice_callback_token
    absent = [name for name, value in required.items() if not value.strip()]
    if absent:
        return f"LAOYOU_VOICE_BACKEND={backend} needs {', '.join(absent)}"
    if len(settings.voice_callback_token.strip()) < CALLBACK_TOKEN_LENGTH:
        return f"LAOYOU_VOICE_CALLBACK_TOKEN must be at least {CALLBACK_TOKEN_LENGTH} characters"
    if backend == "tencent":
        numbers = {"LAOYOU_VOICE_TENCENT_APP_ID": settings.voice_tencent_app_id}
        numbers |= {template_variable(p): v for p, v in _templates(settings).items()}
        wrong = [name for name, value in numbers.items() if not value.strip().isdigit()]
        if wrong:
            return (
                f"{', '.join(wrong)}: Tencent Cloud VMS ids are numbers (VoiceSdkAppid 1400…, template ids)"
            )
    if backend == "aliyun":
        wrong = [template_variable(p) for p, v in _templates(settings).items() if not v.startswith("TTS_")]
        if wrong:
            return f"{', '.join(wrong)}: Alibaba Cloud voice TTS template codes look like TTS_123456789"
    return ""


def make_voice_sender(settings: Settings) -> VoiceSender | None:
    """The configured voice provider; None when this deployment places no calls (voice is then unavailable
    and a notice climbs past it)."""
    problem = voice_settings_problem(settings)
    if problem:
        raise ValueError(problem)
    match settings.voice_backend:
        case "none":
            return None
        case "aliyun":
            return AliyunVoice(
                access_key_id=settings.voice_aliyun_access_key_id.strip(),
                access_key_secret=settings.voice_aliyun_access_key_secret.strip(),
                templates=_templates(settings),
                show_number=settings.voice_show_number.strip(),
                play_times=settings.voice_play_times,
                url=settings.voice_api_url or ALIYUN_URL,
            )
        case "tencent":
            return TencentVoice(
                secret_id=settings.voice_tencent_secret_id.strip(),
                secret_key=settings.voice_tencent_secret_key.strip(),
                app_id=settings.voice_tencent_app_id.strip(),
                templates=_templates(settings),
                play_times=settings.voice_play_times,
                region=settings.voice_tencent_region,
                url=settings.voice_api_url or TENCENT_URL,
            )
    return ConsoleVoice()
