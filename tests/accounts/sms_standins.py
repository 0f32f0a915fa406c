"""Local stand-ins for Alibaba Cloud SMS and Tencent Cloud SMS: real HTTP servers on loopback that check a request
the way the provider does (the signature recomputed from the canonical request with the shared secret, the
timestamp's age, the nonce, the sign name, the template and its parameters) and answer in the provider's JSON.

They are written from the providers' published specifications, independently of backend/laoyou/accounts/sms.py,
so a signer that drifts from the specification fails against them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..support.servers import free_port


@dataclass
class Delivered:
    phone: str
    sign: str
    template: str
    params: list[str] | dict[str, str]


class StandIn:
    """A Starlette app served by uvicorn in a thread on a free loopback port, for the length of a `with`."""

    def __init__(self) -> None:
        self.delivered: list[Delivered] = []
        self.refuse_with: str | None = None  # the next send is refused with this business code
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        app = Starlette(routes=[Route("/", self.handle, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def handle(self, request: Request) -> JSONResponse:
        raise NotImplementedError

    def __enter__(self) -> StandIn:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stand-in did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


# --- Alibaba Cloud: Dysmsapi 2017-05-25 SendSms, RPC style, signature method HMAC-SHA1 1.0 ---------------------

ALIYUN_COMMON = (
    "AccessKeyId",
    "Action",
    "Format",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Signature",
    "Timestamp",
    "Version",
)


def _rfc3986(value: str) -> str:
    return quote(value.encode("utf-8"), safe="~")  # unreserved: letters, digits, - _ . ~ (quote keeps - _ .)


@dataclass
class AliyunStandIn(StandIn):
    access_key_id: str = "LTAI5tStandInKeyId"
    access_key_secret: str = "stand-in-secret"
    sign: str = "老友管家"
    templates: dict[str, tuple[str, ...]] = field(default_factory=dict)  # TemplateCode -> its variables
    seen_nonces: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__init__()

    def _error(self, status: int, code: str, message: str) -> JSONResponse:
        request_id = str(uuid.uuid4()).upper()
        return JSONResponse(
            {"RequestId": request_id, "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message},
            status_code=status,
        )

    async def handle(self, request: Request) -> JSONResponse:
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
        canonical = "&".join(
            f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(params.items()) if k != "Signature"
        )
        string_to_sign = f"{request.method}&{_rfc3986('/')}&{_rfc3986(canonical)}"
        expected = base64.b64encode(
            hmac.new(f"{self.access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        if not hmac.compare_digest(expected, params["Signature"]):
            return self._error(
                400,
                "SignatureDoesNotMatch",
                f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}",
            )
        if params["SignatureNonce"] in self.seen_nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.seen_nonces.add(params["SignatureNonce"])
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return self._error(
                400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
            )
        return self._send(params)

    def _send(self, params: dict[str, str]) -> JSONResponse:
        def business(code: str, message: str) -> JSONResponse:
            return JSONResponse({"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message})

        phone = params.get("PhoneNumbers", "")
        if not re.fullmatch(r"(\+?86|0086)?1\d{10}", phone):
            return business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") != self.sign:
            return business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        variables = self.templates.get(params.get("TemplateCode", ""))
        if variables is None:
            return business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam", "{}"))
        except ValueError:
            return business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if any(name not in values for name in variables):
            return business("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if self.refuse_with:
            code, self.refuse_with = self.refuse_with, None
            return business(code, "触发分钟级流控Permits:1")
        self.delivered.append(Delivered(phone, params["SignName"], params["TemplateCode"], values))
        return JSONResponse(
            {
                "Message": "OK",
                "RequestId": str(uuid.uuid4()).upper(),
                "Code": "OK",
                "BizId": f"{len(self.delivered)}^0",
            }
        )


# --- Tencent Cloud: SMS API 3.0 SendSms 2021-01-11, TC3-HMAC-SHA256 ------------------------------------------------

AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


@dataclass
class TencentStandIn(StandIn):
    secret_id: str = "AKIDStandInSecretId"
    secret_key: str = "stand-in-secret-key"
    app_id: str = "1400000001"
    sign: str = "老友管家"
    templates: dict[str, int] = field(default_factory=dict)  # TemplateId -> how many {n} it has
    fail_number_with: str | None = None  # the next send's number fails with this SendStatus code

    def __post_init__(self) -> None:
        super().__init__()

    def _error(self, code: str, message: str) -> JSONResponse:
        # Tencent answers 200 with Response.Error for every refusal of the request.
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
        if found["date"] != date or found["service"] != "sms":
            return self._error("AuthFailure.SignatureFailure", "The credential scope does not match.")
        headers = "".join(f"{name}:{request.headers.get(name, '').strip().lower()}\n" for name in signed)
        query = request.url.query
        canonical = f"POST\n/\n{query}\n{headers}\n{found['headers']}\n{hashlib.sha256(body).hexdigest()}"
        string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = _hmac256(_hmac256(_hmac256(f"TC3{self.secret_key}".encode(), date), "sms"), "tc3_request")
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, found["signature"]):
            return self._error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        if request.headers.get("x-tc-action") != "SendSms":
            return self._error("InvalidAction", "The action is not found.")
        if request.headers.get("x-tc-version") != "2021-01-11":
            return self._error("NoSuchVersion", "The version is not found.")
        try:
            data = json.loads(body)
        except ValueError:
            return self._error("InvalidParameter", "The body is not JSON.")
        return self._send(data)

    def _send(self, data: dict) -> JSONResponse:
        if data.get("SmsSdkAppId") != self.app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist.")
        if data.get("SignName") != self.sign:
            return self._error(
                "FailedOperation.SignatureIncorrectOrUnapproved", "Signature is incorrect or unapproved."
            )
        count = self.templates.get(str(data.get("TemplateId")))
        if count is None:
            return self._error(
                "FailedOperation.TemplateIncorrectOrUnapproved", "Template is incorrect or unapproved."
            )
        values = data.get("TemplateParamSet") or []
        if len(values) != count or not all(isinstance(v, str) for v in values):
            return self._error(
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                "The template parameters do not match the approved template.",
            )
        statuses = []
        for phone in data.get("PhoneNumberSet") or []:
            if self.fail_number_with:
                code, self.fail_number_with = self.fail_number_with, None
                statuses.append(
                    {
                        "SerialNo": "",
                        "PhoneNumber": phone,
                        "Fee": 0,
                        "SessionContext": "",
                        "Code": code,
                        "Message": "the number was refused",
                        "IsoCode": "CN",
                    }
                )
                continue
            if not re.fullmatch(r"\+861\d{10}", phone):
                statuses.append(
                    {
                        "SerialNo": "",
                        "PhoneNumber": phone,
                        "Fee": 0,
                        "SessionContext": "",
                        "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                        "Message": "incorrect phone number",
                        "IsoCode": "",
                    }
                )
                continue
            self.delivered.append(Delivered(phone, data["SignName"], str(data["TemplateId"]), list(values)))
            statuses.append(
                {
                    "SerialNo": f"2028:{uuid.uuid4().int % 10**20}",
                    "PhoneNumber": phone,
                    "Fee": 1,
                    "SessionContext": "",
                    "Code": "Ok",
                    "Message": "send success",
                    "IsoCode": "CN",
                }
            )
        return JSONResponse({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})
