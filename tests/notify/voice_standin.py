"""Local stand-ins for Alibaba Cloud's voice service and Tencent Cloud's VMS: real HTTP servers on loopback that
check a call request as the provider does (the signature recomputed from the canonical request with the shared
secret, the timestamp's age, the nonce, the template and its variable, the number, the play count, the
provider's one-call-a-minute limit for a number) and answer in the provider's JSON.

Like the SMS stand-ins (whose server and signing pieces they share), they are written from the providers'
published specifications, independently of backend/laoyou/notify/reach/voice.py and accounts/sms.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..accounts.sms_standins import ALIYUN_COMMON, AUTHORIZATION, StandIn, _hmac256, _rfc3986


@dataclass
class Placed:
    """A call the stand-in accepted."""

    call_id: str
    phone: str
    template: str
    variables: dict[str, str] | list[str]
    reference: str
    play_times: int
    show_number: str = ""


# --- Alibaba Cloud: Dyvmsapi 2017-05-25 SingleCallByTts, RPC style, HMAC-SHA1 1.0 ---------------------------------


def aliyun_expected_signature(secret: str, method: str, params: dict[str, str]) -> str:
    canonical = "&".join(
        f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    string_to_sign = f"{method}&{_rfc3986('/')}&{_rfc3986(canonical)}"
    return base64.b64encode(
        hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    ).decode()


@dataclass
class AliyunVoiceStandIn(StandIn):
    access_key_id: str = "LTAI5tVoiceStandIn"
    access_key_secret: str = "voice-stand-in-secret"
    templates: dict[str, tuple[str, ...]] = field(default_factory=dict)  # TtsCode -> its variables
    show_numbers: tuple[str, ...] = ()  # the numbers this account bought (CalledShowNumber)
    variable_limit: int = 20
    placed: list[Placed] = field(default_factory=list)
    seen_nonces: set[str] = field(default_factory=set)
    last_call: dict[str, float] = field(default_factory=dict)  # callee -> when it was last rung
    answer_status: int | None = None  # the next request is answered with this HTTP status (a provider fault)

    def __post_init__(self) -> None:
        super().__init__()

    def _error(self, status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse(
            {
                "RequestId": str(uuid.uuid4()).upper(),
                "HostId": "dyvmsapi.aliyuncs.com",
                "Code": code,
                "Message": message,
            },
            status_code=status,
        )

    def _refuse(self, code: str, message: str) -> JSONResponse:
        # A business refusal: HTTP 200 with the code.
        return JSONResponse({"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message})

    async def handle(self, request: Request) -> JSONResponse:
        if self.answer_status is not None:
            status, self.answer_status = self.answer_status, None
            return self._error(
                status, "ServiceUnavailable", "The request has failed due to a temporary failure."
            )
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params |= dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        missing = [name for name in ALIYUN_COMMON if name not in params]
        if missing:
            return self._error(400, f"Missing{missing[0]}", f"{missing[0]} is mandatory for this action.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            return self._error(400, "InvalidSignatureMethod", "Specified signature method is not supported.")
        if params["AccessKeyId"] != self.access_key_id:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        try:
            stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._error(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 15 * 60:
            return self._error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date header is expired."
            )
        expected = aliyun_expected_signature(self.access_key_secret, request.method, params)
        if not hmac.compare_digest(expected, params["Signature"]):
            return self._error(
                400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        if params["SignatureNonce"] in self.seen_nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.seen_nonces.add(params["SignatureNonce"])
        if params["Action"] != "SingleCallByTts" or params["Version"] != "2017-05-25":
            return self._error(
                400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
            )
        return self._call(params)

    def _call(self, params: dict[str, str]) -> JSONResponse:
        callee = params.get("CalledNumber", "")
        # Mainland numbers as 11 digits (or a landline with its area code); others with their country code.
        if not re.fullmatch(r"1\d{10}|0\d{9,11}|[2-9]\d{7,14}", callee):
            return self._refuse("isv.MOBILE_NUMBER_ILLEGAL", "号码格式非法")
        show = params.get("CalledShowNumber", "")
        if show and show not in self.show_numbers:
            return self._refuse("isv.DISPLAY_NUMBER_ILLEGAL", "外显号码不合法")
        variables = self.templates.get(params.get("TtsCode", ""))
        if variables is None:
            return self._refuse("isv.TTS_TEMPLATE_ILLEGAL", "文本转语音模板不合法")
        try:
            values = json.loads(params.get("TtsParam", "{}"))
        except ValueError:
            return self._refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return self._refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if any(name not in values for name in variables):
            return self._refuse("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if any(len(v) > self.variable_limit for v in values.values()):
            return self._refuse("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        play_times = params.get("PlayTimes", "3")
        if play_times not in ("1", "2", "3"):
            return self._refuse("isv.INVALID_PARAMETERS", "PlayTimes取值范围1~3")
        # The same callee is rung at most once a minute (and five times an hour, twenty a day).
        now = time.monotonic()
        if now - self.last_call.get(callee, -120.0) < 60:
            return self._refuse("isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控Permits:1")
        self.last_call[callee] = now
        call_id = f"{uuid.uuid4().int % 10**12}^{uuid.uuid4().int % 10**12}"
        self.placed.append(
            Placed(call_id, callee, params["TtsCode"], values, params.get("OutId", ""), int(play_times), show)
        )
        return JSONResponse(
            {"RequestId": str(uuid.uuid4()).upper(), "Code": "OK", "Message": "OK", "CallId": call_id}
        )


# --- Tencent Cloud: VMS API 3.0 SendTtsVoice 2020-09-02, TC3-HMAC-SHA256 ---------------------------------------------


def tencent_expected_signature(
    secret_key: str, *, headers: dict[str, str], signed: list[str], body: bytes, timestamp: int, service: str
) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = "".join(f"{name}:{lower.get(name, '').strip().lower()}\n" for name in signed)
    canonical = f"POST\n/\n\n{canonical_headers}\n{';'.join(signed)}\n{hashlib.sha256(body).hexdigest()}"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac256(_hmac256(_hmac256(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class TencentVoiceStandIn(StandIn):
    secret_id: str = "AKIDVoiceStandIn"
    secret_key: str = "voice-stand-in-secret-key"
    app_id: str = "1400000002"
    templates: dict[str, int] = field(default_factory=dict)  # TemplateId -> how many {n} it has
    placed: list[Placed] = field(default_factory=list)
    refuse_with: str | None = None  # the next call is refused with this error code

    def __post_init__(self) -> None:
        super().__init__()

    def _error(self, code: str, message: str) -> JSONResponse:
        # Tencent answers 200 with Response.Error for every refusal.
        return JSONResponse(
            {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}
        )

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        found = AUTHORIZATION.match(request.headers.get("authorization", ""))
        if found is None:
            return self._error("AuthFailure.InvalidAuthorization", "Authorization is not valid.")
        if found["id"] != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            timestamp = int(request.headers.get("x-tc-timestamp", ""))
        except ValueError:
            return self._error("InvalidParameter", "X-TC-Timestamp is not valid.")
        if abs(time.time() - timestamp) > 300:
            return self._error(
                "AuthFailure.SignatureExpire", "Signature expired. Timestamp is too far from now."
            )
        signed = found["headers"].split(";")
        if "content-type" not in signed or "host" not in signed or signed != sorted(signed):
            return self._error(
                "AuthFailure.SignatureFailure", "SignedHeaders must be sorted and hold content-type and host."
            )
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if found["date"] != date or found["service"] != "vms":
            return self._error("AuthFailure.SignatureFailure", "The credential scope does not match.")
        expected = tencent_expected_signature(
            self.secret_key,
            headers=dict(request.headers),
            signed=signed,
            body=body,
            timestamp=timestamp,
            service="vms",
        )
        if request.url.query or not hmac.compare_digest(expected, found["signature"]):
            return self._error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        if request.headers.get("x-tc-action") != "SendTtsVoice":
            return self._error("InvalidAction", "The action is not found.")
        if request.headers.get("x-tc-version") != "2020-09-02":
            return self._error("NoSuchVersion", "The version is not found.")
        if not request.headers.get("x-tc-region"):
            return self._error("MissingParameter", "The request is missing a required parameter `Region`.")
        try:
            data = json.loads(body)
        except ValueError:
            return self._error("InvalidParameter", "The body is not JSON.")
        return self._call(data)

    def _call(self, data: dict) -> JSONResponse:
        if self.refuse_with:
            code, self.refuse_with = self.refuse_with, None
            return self._error(code, "refused by the stand-in")
        if data.get("VoiceSdkAppid") != self.app_id:
            return self._error("InvalidParameterValue.SdkAppidNotExist", "SdkAppid not exist.")
        count = self.templates.get(str(data.get("TemplateId")))
        if count is None:
            return self._error(
                "FailedOperation.TemplateIncorrectOrUnapproved", "Template is incorrect or unapproved."
            )
        values = data.get("TemplateParamSet") or []
        if len(values) != count or not all(isinstance(v, str) for v in values):
            return self._error(
                "InvalidParameterValue.TemplateParameterFormatError", "The template parameters do not match."
            )
        if sum(len(v) for v in values) > 350:
            return self._error("InvalidParameterValue.TemplateParameterLengthLimit", "Over 350 characters.")
        phone = data.get("CalledNumber", "")
        if not isinstance(phone, str) or not re.fullmatch(r"\+[1-9]\d{7,14}", phone):
            return self._error("InvalidParameterValue.IncorrectPhoneNumber", "Incorrect phone number.")
        play_times = data.get("PlayTimes", 2)
        if play_times not in (1, 2, 3):
            return self._error("InvalidParameterValue", "PlayTimes is 1 to 3.")
        context = data.get("SessionContext", "")
        call_id = str(uuid.uuid4())
        self.placed.append(Placed(call_id, phone, str(data["TemplateId"]), list(values), context, play_times))
        return JSONResponse(
            {
                "Response": {
                    "SendStatus": {"CallId": call_id, "SessionContext": context},
                    "RequestId": str(uuid.uuid4()),
                }
            }
        )
