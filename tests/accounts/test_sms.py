"""Sending SMS: the console sender keeps what it sent; the HTTP gateway adapter posts JSON with a bearer token."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from laoyou.accounts.sms import (
    ConsoleSmsSender,
    HttpSmsGateway,
    SmsError,
    SmsKind,
    code_message,
    make_sms_sender,
)
from laoyou.core.settings import Settings

from ..conftest import graphql_client, make_database_url, make_settings, started

CODE = code_message(SmsKind.login_code, code="123456", minutes=5)


class Gateway:
    """A stand-in SMS gateway: records each request and answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: Response = JSONResponse({"ok": True, "id": "msg-1"})

    async def send(self, request: Request) -> Response:
        self.requests.append(
            {"headers": dict(request.headers), "json": await request.json(), "path": request.url.path}
        )
        return self.answer

    def client(self) -> httpx.AsyncClient:
        app = Starlette(routes=[Route("/v1/sms", self.send, methods=["POST"])])
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


@pytest.fixture
async def gateway():  # noqa: ANN201
    gateway = Gateway()
    async with gateway.client() as client:
        gateway.sender = HttpSmsGateway("http://gateway.test/v1/sms", "tok-123", "老友管家", client=client)
        yield gateway


async def test_the_gateway_gets_json_with_the_bearer_token(gateway):
    # When a code is sent through the gateway
    await gateway.sender.send("+8613812345678", CODE)
    # Then it received one POST with the number, the signature and the text, and the token
    assert len(gateway.requests) == 1
    request = gateway.requests[0]
    assert request["path"] == "/v1/sms"
    assert request["json"] == {
        "phone": "+8613812345678",
        "sign": "老友管家",
        "text": "【老友管家】您的登录验证码是 123456，5 分钟内有效。请不要告诉任何人。",
    }
    assert request["headers"]["authorization"] == "Bearer tok-123"
    assert request["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize(
    "answer",
    [
        Response("boom", status_code=500),
        Response("no", status_code=401),
        JSONResponse({"ok": False, "error": "quota"}),
        JSONResponse({"id": "msg-1"}),  # no "ok": not a yes
        Response(b"", status_code=200),
        Response("<html>ok</html>", status_code=200),  # a proxy's page is no yes either
    ],
)
async def test_a_refusal_or_error_raises_sms_error(gateway, answer):
    gateway.answer = answer
    with pytest.raises(SmsError):
        await gateway.sender.send("+8613812345678", CODE)


async def test_the_refusal_reason_is_in_the_error(gateway):
    gateway.answer = JSONResponse({"ok": False, "error": "quota exceeded"})
    with pytest.raises(SmsError, match="quota exceeded"):
        await gateway.sender.send("+8613812345678", CODE)


async def test_an_unreachable_gateway_raises_sms_error():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        sender = HttpSmsGateway("http://gateway.test/v1/sms", "tok", "老友管家", client=client)
        with pytest.raises(SmsError, match="unreachable"):
            await sender.send("+8613812345678", CODE)


async def test_the_console_sender_keeps_the_last_messages():
    sender = ConsoleSmsSender(keep=2)
    for code in ("111111", "222222", "333333"):
        await sender.send("+8613800000001", code_message(SmsKind.login_code, code=code, minutes=5))
    await sender.send("+8613800000002", code_message(SmsKind.password_code, code="444444", minutes=5))
    assert "333333" in sender.last_to("+8613800000001")
    assert "444444" in sender.last_to("+8613800000002")
    assert sender.last_to("+8613800000003") is None
    assert len(sender.sent) == 2


def test_settings_choose_the_sender():
    assert isinstance(make_sms_sender(Settings()), ConsoleSmsSender)
    http = make_sms_sender(
        Settings(sms_backend="http", sms_gateway_url="https://sms.example/v1", sms_gateway_token="t")
    )
    assert isinstance(http, HttpSmsGateway) and http.url == "https://sms.example/v1" and http.token == "t"
    with pytest.raises(ValueError, match="LAOYOU_SMS_GATEWAY_URL"):
        make_sms_sender(Settings(sms_backend="http"))
    with pytest.raises(ValueError, match="LAOYOU_SMS_BACKEND must be one of console, http, aliyun, tencent"):
        make_sms_sender(Settings(sms_backend="carrier-pigeon"))


async def test_a_failing_gateway_makes_request_login_code_fail_visibly(backend, tmp_path_factory, request):
    # Given an app whose SMS gateway refuses every connection (a port bound but never listening)
    tmp = tmp_path_factory.mktemp(f"sms-down-{backend}")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings = make_settings(
            tmp,
            make_database_url(backend, tmp, request),
            sms_backend="http",
            sms_gateway_url=f"http://127.0.0.1:{closed.getsockname()[1]}/v1/sms",
            sms_gateway_token="token",
        )
        async with started(settings, load_demo=False) as app, graphql_client(app) as gql:
            # When a code is asked for
            result = await gql(
                'mutation { requestLoginCode(phone: "13800000001") '
                "{ __typename ... on Error { code message } } }"
            )
    # Then the person is told it could not be sent, not that a code is on its way
    assert result["data"]["requestLoginCode"]["__typename"] == "LoginError", result
    assert result["data"]["requestLoginCode"]["code"] == "GATEWAY_ERROR"
